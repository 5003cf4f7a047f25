"""An ASGI app's routes as a flat list, for tests that inventory what an app serves."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def flatten(routes: Iterable[Any]) -> list[Any]:
    """The app's routes in matching order, included routers opened up."""
    flat: list[Any] = []
    for route in routes:
        included = getattr(route, "original_router", None)
        flat.extend(flatten(included.routes) if included is not None else [route])
    return flat
