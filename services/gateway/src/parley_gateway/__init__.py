"""Parley's gateway: the WebSocket edge of the chat platform.

`python -m parley_gateway` runs it; `create_app(Settings())` builds the ASGI app.
"""

from parley_gateway.bootstrap import Gateway, bootstrap
from parley_gateway.entrypoints.app import create_app
from parley_gateway.settings import Settings

__all__ = ["Gateway", "Settings", "bootstrap", "create_app"]
