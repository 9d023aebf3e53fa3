"""CI systems' own configuration read into what greenci plans with (Zuul), so their jobs can be scheduled."""
