"""OpenAPI descriptions of answers that several routes share, and the checks behind them."""

from __future__ import annotations

from typing import Any

NOT_UNICODE = "the request holds text that is not valid Unicode (an unpaired surrogate such as \\ud800)"

BAD_REQUEST: dict[int | str, dict[str, Any]] = {
    400: {
        "description": "A body that is not JSON or holds text that is not valid Unicode (an unpaired "
        "surrogate), or a cursor this service did not issue"
    }
}
UNAUTHENTICATED: dict[int | str, dict[str, Any]] = {
    401: {
        "description": "No access token, or one that is invalid, expired, or issued before its "
        "account was disabled (`WWW-Authenticate: Bearer`)"
    }
}
CONVERSATION_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such conversation for this user"}
}


def has_unpaired_surrogate(value: object) -> bool:
    """Whether a parsed JSON value holds a lone surrogate anywhere (JSON's `\\ud800` escape
    reads as one; UTF-8 cannot encode it, so no answer or database could hold it)."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return False
    if isinstance(value, dict):
        return any(has_unpaired_surrogate(k) or has_unpaired_surrogate(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(has_unpaired_surrogate(item) for item in value)
    return False
