"""stackgame agents."""
