"""Tenant-wide failures grouped by cause, their card, and the replay of a cause."""
