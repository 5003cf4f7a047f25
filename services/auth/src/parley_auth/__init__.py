"""Parley's auth service: accounts, access tokens and their JWKS, refresh rotation, roles, API keys,
usage and quotas."""
