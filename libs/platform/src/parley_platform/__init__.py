"""Parley's shared runtime: settings, telemetry, HTTP middleware, access tokens, egress
checks, sealing, and the broker topology made real (`rabbit`)."""
