"""The empirical game of the stack and the solution concepts that solve it."""
