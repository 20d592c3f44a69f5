"""Benchmarks: each module prints its figures; run as `python -m bench.<name>` (not part of the tests)."""
