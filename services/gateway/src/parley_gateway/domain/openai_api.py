"""The OpenAI-compatible HTTP API's shapes: requests in, chunks, completions
and errors out (OpenAI's chat-completions format), from Parley's stream frames.

Only what a chat needs is accepted: one choice (`n` 1), text content (a string
or text parts), `temperature`, `max_tokens` / `max_completion_tokens`,
`top_p`, `stream` and `stream_options.include_usage`. Other OpenAI fields are
ignored, as many compatible servers do; tools and images are refused clearly.
Which HTTP status an error gets is the route's business (`entrypoints/openai.py`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from parley_contracts import ChatMessage, GenerationParams
from parley_gateway.domain.frames import MAX_MESSAGES, MAX_MODEL_CHARS


@dataclass(frozen=True)
class InvalidRequest(Exception):
    """A request body Parley does not accept; `param` names the field, when there is one."""

    message: str
    param: str | None = None


class _TextPart(BaseModel):
    model_config = ConfigDict(extra="ignore")
    type: Literal["text"]
    text: str


class _Message(BaseModel):
    model_config = ConfigDict(extra="ignore")
    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[_TextPart]

    @property
    def text(self) -> str:
        return self.content if isinstance(self.content, str) else "".join(p.text for p in self.content)

    @model_validator(mode="after")
    def _no_nul(self) -> Self:
        ChatMessage(role="user", content=self.text)  # the contract's own checks (no NUL)
        return self

    def to_chat(self) -> ChatMessage:
        return ChatMessage(role="system" if self.role == "developer" else self.role, content=self.text)


class _StreamOptions(BaseModel):
    model_config = ConfigDict(extra="ignore")
    include_usage: bool = False


class ChatCompletionRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    model: str = Field(min_length=1, max_length=MAX_MODEL_CHARS)
    messages: list[_Message] = Field(min_length=1, max_length=MAX_MESSAGES)
    stream: bool | None = False
    """OpenAI's optional fields take `null` for their default."""
    stream_options: _StreamOptions | None = None
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    n: int | None = 1
    tools: list[Any] | None = None

    @field_validator("n")
    @classmethod
    def _one_choice(cls, value: int | None) -> int | None:
        if value is not None and value != 1:
            raise ValueError("only n=1 is supported")
        return value

    @field_validator("tools")
    @classmethod
    def _no_tools(cls, value: list[Any] | None) -> list[Any] | None:
        if value:
            raise ValueError("tools are not supported")
        return value

    @property
    def include_usage(self) -> bool:
        return self.stream_options is not None and self.stream_options.include_usage

    def chat_messages(self) -> tuple[ChatMessage, ...]:
        return tuple(m.to_chat() for m in self.messages)

    def params(self) -> GenerationParams:
        return GenerationParams(
            temperature=self.temperature,
            top_p=self.top_p,
            # `max_completion_tokens` wins when given at all: a 0 there is refused, not skipped.
            max_tokens=self.max_tokens if self.max_completion_tokens is None else self.max_completion_tokens,
        )


def parse_request(body: bytes) -> ChatCompletionRequest:
    """The request, or `InvalidRequest` naming the first problem."""
    try:
        request = ChatCompletionRequest.model_validate_json(body)
        request.params()  # the ranges Parley accepts
        return request
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(part) for part in first["loc"] if part != "body")
        message = f"{where}: {first['msg']}" if where else str(first["msg"])
        if first["type"] == "json_invalid":
            message = "the request body is not valid JSON"
        raise InvalidRequest(message, where or None) from None


_FINISH_REASONS = {"stop", "length", "content_filter", "tool_calls"}


def finish_reason(reason: str) -> str:
    return reason if reason in _FINISH_REASONS else "stop"


def usage_body(usage: dict[str, Any]) -> dict[str, int]:
    prompt, completion = int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0))
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


@dataclass
class Completion:
    """One answer's identity in OpenAI's terms: `chatcmpl-<message id>`."""

    message_id: str
    model: str
    created: int = field(default_factory=lambda: int(time.time()))

    @property
    def id(self) -> str:
        return f"chatcmpl-{self.message_id}"

    def chunk(
        self, delta: dict[str, str], finish: str | None = None, usage: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": None,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }
        if usage is not None:
            body["usage"] = usage
        return body

    def usage_chunk(self, usage: dict[str, Any]) -> dict[str, Any]:
        """The last chunk when `stream_options.include_usage`: no choices, the usage."""
        body = self.chunk({}, usage=usage_body(usage))
        body["choices"] = []
        return body

    def whole(self, text: str, reason: str, usage: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": None,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text, "refusal": None},
                    "logprobs": None,
                    "finish_reason": finish_reason(reason),
                }
            ],
            "usage": usage_body(usage),
        }


def models_list(names: list[str], created: int) -> dict[str, Any]:
    return {
        "object": "list",
        "data": [{"id": name, "object": "model", "created": created, "owned_by": "parley"} for name in names],
    }
