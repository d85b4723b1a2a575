"""Benchmarks, run as scripts: .venv/bin/python benchmarks/<name>.py (see docs/benchmarks.md)."""
