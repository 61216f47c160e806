"""Placeholder: strategies of this family are being written."""
