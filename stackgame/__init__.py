"""stackgame stackgame."""
