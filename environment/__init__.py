"""stackgame environment."""
