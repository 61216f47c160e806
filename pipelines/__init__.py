"""Dagster wiring: partitions, Definitions, jobs, schedules, sensors, environments and the CLI."""
