"""Plain-loop references of published methods, for tests and benchmarks only."""
