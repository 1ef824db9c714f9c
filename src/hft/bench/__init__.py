"""Benchmarks, each run as ``hft bench <name>`` and printing machine-readable JSON."""
