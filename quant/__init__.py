"""Perpetua's pure core: numbers in, numbers out.

Nothing in this package imports dagster, ccxt or httpx (enforced by an import-linter contract).
"""
