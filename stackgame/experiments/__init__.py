"""Scripted experiments: batch specs, the executor, batch reports, the theses."""
