"""OpenAPI descriptions of answers that several routes share."""

from __future__ import annotations

from typing import Any

BAD_REQUEST: dict[int | str, dict[str, Any]] = {
    400: {"description": "A body that is not JSON, or a cursor this service did not issue"}
}
