"""Edges of the system: exchange clients, storage, kill switch. Swappable implementations."""
