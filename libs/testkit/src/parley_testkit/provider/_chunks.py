"""The bytes of OpenAI's chat-completions responses, built cheaply."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import orjson

DONE = b"data: [DONE]\n\n"

_ERROR_KINDS: dict[int, tuple[str, str]] = {
    400: ("invalid_request_error", "invalid_request"),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("permission_error", "permission_denied"),
    404: ("invalid_request_error", "model_not_found"),
    429: ("requests", "rate_limit_exceeded"),
    500: ("server_error", "server_error"),
    503: ("server_error", "service_unavailable"),
}


class ChunkEncoder:
    """Encodes the SSE chunks of one stream.

    The constant head of every chunk is rendered once, so a token chunk costs a
    single `orjson.dumps` of the token string: the provider must keep up with
    hundreds of concurrent streams.
    """

    def __init__(self, completion_id: str, created: int, model: str) -> None:
        head = orjson.dumps(
            {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
            }
        )
        self._head = b"data: " + head[:-1]
        self._token_prefix = self._head + b',"choices":[{"index":0,"delta":{"content":'
        self._token_suffix = b'},"logprobs":null,"finish_reason":null}]}\n\n'

    def role(self) -> bytes:
        delta = {"role": "assistant", "content": ""}
        return self._chunk({"choices": [_choice(delta, None)]})

    def token(self, token: str) -> bytes:
        return self._token_prefix + orjson.dumps(token) + self._token_suffix

    def finish(self, reason: str) -> bytes:
        return self._chunk({"choices": [_choice({}, reason)]})

    def usage(self, usage: dict[str, int]) -> bytes:
        return self._chunk({"choices": [], "usage": usage})

    def _chunk(self, rest: dict[str, Any]) -> bytes:
        return self._head + b"," + orjson.dumps(rest)[1:] + b"\n\n"


def _choice(delta: dict[str, str], finish_reason: str | None) -> dict[str, Any]:
    return {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}


def completion_body(
    completion_id: str,
    created: int,
    model: str,
    *,
    text: str,
    finish_reason: str,
    usage: dict[str, int],
) -> bytes:
    return orjson.dumps(
        {
            "id": completion_id,
            "object": "chat.completion",
            "created": created,
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "logprobs": None,
                    "finish_reason": finish_reason,
                }
            ],
            "usage": usage,
        }
    )


def error_body(status: int, message: str | None = None) -> bytes:
    fallback = (
        ("server_error", f"http_{status}") if status >= 500 else ("invalid_request_error", f"http_{status}")
    )
    error_type, code = _ERROR_KINDS.get(status, fallback)
    if message is None:
        try:
            message = f"Scripted error: {status} {HTTPStatus(status).phrase}"
        except ValueError:
            message = f"Scripted error: {status}"
    return orjson.dumps({"error": {"message": message, "type": error_type, "param": None, "code": code}})


def usage_for(body: dict[str, Any], completion_tokens: int) -> dict[str, int]:
    prompt_tokens = _prompt_words(body.get("messages"))
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def _prompt_words(messages: object) -> int:
    """Words in the messages' text: a stable stand-in for a prompt token count."""
    if not isinstance(messages, list):
        return 0
    words = 0
    for message in messages:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            words += len(content.split())
        elif isinstance(content, list):
            for part in content:
                text = part.get("text") if isinstance(part, dict) else None
                if isinstance(text, str):
                    words += len(text.split())
    return words
