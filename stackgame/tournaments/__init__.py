"""Round-robin tournaments of strategies on matrix games and on the stack."""
