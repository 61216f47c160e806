"""Thin Dagster assets, one module per group: read the window, call ``quant/``, return."""
