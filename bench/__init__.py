"""Benchmarks: `nfc-hospital bench NAME` runs bench/NAME.py and prints its figures."""
