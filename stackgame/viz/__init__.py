"""The SolaraViz page and the drawings it shares with the run report."""
