"""Parley's history service: conversations projected from events, search, export,
a hash-chained audit log of every consumed event, and replay."""

__version__ = "0.1.0"
