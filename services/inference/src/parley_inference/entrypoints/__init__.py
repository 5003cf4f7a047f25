"""Broker subscribers and the worker's lifecycle."""
