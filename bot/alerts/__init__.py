"""Spike alerts: scanning causes on the clock, posting and growing one alert per spike."""
