"""Benchmarks: what Dagster costs on top of the pure computation (``make bench``, see BENCHMARKS.md)."""
