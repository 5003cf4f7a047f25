"""Use cases: what the gateway does for a frame or a broker message.

Each takes a command and its collaborators (ports and domain objects) and
returns a result or raises `GatewayError`; the WebSocket edge turns that into
frames. `prompts` (admission, publishing, stopping), `snapshots` (resume and
resync requests), `broker_events` (heartbeats, control commands, quota, every
gateway's prompts and their outcomes), `reports` (the live models, admin stats).
"""
