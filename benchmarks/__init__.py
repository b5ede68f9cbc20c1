"""Benchmarks: scripts that print figures (run them with .venv/bin/python -m benchmarks.NAME)."""
