"""Benchmarks for ws: ``bench/run.py`` (side by side with the peers) and ``bench/codec.py``."""
