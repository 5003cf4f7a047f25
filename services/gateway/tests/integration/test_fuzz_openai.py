"""Hypothesis fuzzes the OpenAI-compatible API of a real gateway process:
`POST /v1/chat/completions` with bodies that are not JSON, not an object,
deeply nested, oversized, or a request with one field wrong (and valid
requests for a model nobody serves), and both `/v1` routes with hostile
`Authorization` headers and the JWT attack list.

Proves: every answer is the 4xx the fault calls for, in OpenAI's error shape
(`{"error": {"message", "type", "param", "code"}}`), never a 500; and no
`prompt.submitted` reaches the broker."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from uuid import uuid4

import aio_pika
import httpx
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parley_testkit.attacks import ATTACKS
from tests.integration import fuzzing as fz
from tests.integration.conftest import GatewayProcess, KeyRing

UNSERVED_MODEL = "nobody-serves-this"
VALID_REQUEST: dict[str, Any] = {
    "model": UNSERVED_MODEL,
    "messages": [fz.VALID_MESSAGE],
    "temperature": 0.5,
    "max_tokens": 16,
}
ERROR_TYPES = {"invalid_request_error", "authentication_error", "rate_limit_error", "api_error"}

_wrong_fields: dict[str, st.SearchStrategy[Any]] = {
    "model": fz.required_text(fz.MAX_MODEL_CHARS),
    # `"content": []` is no fault here: OpenAI's content may be a list of text parts, and none is "".
    "messages": fz.bad_messages.filter(lambda messages: not _has_empty_parts(messages)),
    "temperature": fz.bad_temperature,
    "top_p": fz.bad_top_p,
    "max_tokens": fz.bad_max_tokens,
    "max_completion_tokens": fz.bad_max_tokens,
    "n": st.integers(min_value=2, max_value=2**31)
    | st.integers(min_value=-(2**31), max_value=0)
    | fz.containers,
    "tools": st.lists(fz.junk, min_size=1, max_size=3),
    "stream": fz.containers | st.floats(min_value=2.0, max_value=1e9) | st.text(alphabet="xyz!", min_size=1),
    "stream_options": st.lists(fz.junk, max_size=3) | fz.numbers | st.text(max_size=5).map(lambda t: t + "!"),
}

_READ_FIELDS = {*VALID_REQUEST, *_wrong_fields}
"""Fields the API reads: junk in any of them is a 400, not an extra it ignores."""


def _has_empty_parts(messages: Any) -> bool:
    return isinstance(messages, list) and any(
        isinstance(message, dict) and message.get("content") == [] for message in messages
    )


@dataclass(frozen=True)
class Body:
    label: str
    content: bytes
    status: int


def _json_body(label: str, value: Any, status: int = 400) -> Body:
    text = fz.encode(value)
    if len(text.encode()) > fz.MAX_FRAME_BYTES:
        status = 413
    return Body(label, text.encode(), status)


bodies = st.one_of(
    st.sampled_from(sorted(_wrong_fields)).flatmap(
        lambda name: _wrong_fields[name].map(lambda value: _json_body(name, {**VALID_REQUEST, name: value}))
    ),
    st.sampled_from(["model", "messages"]).map(
        lambda name: _json_body(f"no {name}", {k: v for k, v in VALID_REQUEST.items() if k != name})
    ),
    fz.not_an_object.map(lambda value: _json_body("not-an-object", value)),
    fz.too_deep.map(lambda value: _json_body("deep", value)),
    st.binary(max_size=100)
    .filter(lambda data: not fz.is_json(data))
    .map(lambda data: Body("not-json", data, 400)),
    st.integers(1, 4096).map(
        lambda pad: Body(
            "oversized", json.dumps({**VALID_REQUEST, "pad": "x" * (fz.MAX_FRAME_BYTES + pad)}).encode(), 413
        )
    ),
    st.dictionaries(st.text(max_size=8).filter(lambda k: k not in _READ_FIELDS), fz.junk, max_size=3).map(
        lambda extra: _json_body("unserved model", {**extra, **VALID_REQUEST}, 404)
    ),
)
hostile_credentials = st.one_of(
    st.just(""),
    st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=60).map(
        lambda t: f"Bearer {t}"
    ),
    st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=60).map(
        lambda t: f"Basic {t}"
    ),
    st.text(alphabet="abc.-_", min_size=1, max_size=60).map(lambda t: f"Bearer {t}.{t}.{t}"),
).filter(lambda header: not header.removeprefix("Bearer ").strip().startswith("pk_"))
"""`pk_` keys are left out: this gateway has no auth service to exchange them with (a 503)."""


def assert_openai_error(response: httpx.Response, status: int, context: object) -> None:
    assert response.status_code == status, (context, response.status_code, response.text[:500])
    body = response.json()
    assert set(body) == {"error"}, (context, body)
    error = body["error"]
    assert set(error) == {"message", "type", "param", "code"}, (context, body)
    assert isinstance(error["message"], str), (context, body)
    assert error["message"], (context, body)
    assert error["type"] in ERROR_TYPES, (context, body)
    assert error["param"] is None or isinstance(error["param"], str), (context, body)
    assert error["code"] is None or isinstance(error["code"], str), (context, body)


fuzz_gateway = fz.gateway_fixture("gateway-fuzz-openai")


@dataclass
class Api:
    http: httpx.AsyncClient
    token: str
    prompts: aio_pika.abc.AbstractQueue

    async def published(self) -> int:
        count = 0
        while await self.prompts.get(no_ack=True, fail=False) is not None:
            count += 1
        return count


@pytest.fixture
async def api(fuzz_gateway: GatewayProcess, amqp_url: str, keyring: KeyRing) -> AsyncIterator[Api]:
    connection = await aio_pika.connect(amqp_url)
    prompts = await fz.submitted_prompts(connection)
    token = keyring.token(f"fuzz-{uuid4().hex[:8]}", expires_in=3600)
    async with httpx.AsyncClient(base_url=fuzz_gateway.url, timeout=15) as http:
        yield Api(http, token, prompts)
    await connection.close()


@pytest.mark.timeout(300)
@settings(fz.FUZZ, max_examples=300)
@given(body=bodies)
async def test_chat_completions_answers_every_bad_body_with_an_openai_4xx(api: Api, body: Body) -> None:
    response = await api.http.post(
        "/v1/chat/completions",
        content=body.content,
        headers={"Authorization": f"Bearer {api.token}", "Content-Type": "application/json"},
    )
    assert_openai_error(response, body.status, (body.label, body.content[:300]))
    assert await api.published() == 0, body.label


@pytest.mark.timeout(300)
@settings(fz.FUZZ, max_examples=100)
@given(credential=hostile_credentials, path=st.sampled_from(["/v1/models", "/v1/chat/completions"]))
async def test_both_routes_answer_a_hostile_credential_with_an_openai_401(
    api: Api, credential: str, path: str
) -> None:
    headers = {"Authorization": credential.strip()} if credential.strip() else {}
    if path == "/v1/models":
        response = await api.http.get(path, headers=headers)
    else:
        response = await api.http.post(path, json={**VALID_REQUEST, "model": "m"}, headers=headers)
    assert_openai_error(response, 401, (path, credential))
    assert response.json()["error"]["type"] == "authentication_error"
    assert await api.published() == 0


async def test_the_control_a_valid_token_lists_models_and_an_unserved_model_is_a_404(api: Api) -> None:
    """The same token and body shape get past authentication and validation (so the 4xx above are
    about the fault fuzzed, not a wrong token)."""
    headers = {"Authorization": f"Bearer {api.token}"}
    models = await api.http.get("/v1/models", headers=headers)
    assert models.status_code == 200, models.text
    assert models.json()["object"] == "list", models.text
    response = await api.http.post("/v1/chat/completions", json=VALID_REQUEST, headers=headers)
    assert_openai_error(response, 404, "control")
    assert response.json()["error"]["code"] == "model_not_found"
    assert orjson.loads(response.content)["error"]["message"]


@pytest.mark.parametrize(
    ("make_token", "_ws_code"), [(m, c) for _, m, c in ATTACKS], ids=[a[0] for a in ATTACKS]
)
async def test_the_jwt_attack_list_gets_an_openai_401_on_both_routes(
    api: Api, keyring: KeyRing, make_token: Any, _ws_code: str
) -> None:
    headers = {"Authorization": f"Bearer {make_token(keyring)}"}
    models = await api.http.get("/v1/models", headers=headers)
    assert_openai_error(models, 401, "models")
    chat = await api.http.post("/v1/chat/completions", json=VALID_REQUEST, headers=headers)
    assert_openai_error(chat, 401, "chat")
    assert chat.json()["error"]["code"] == "invalid_api_key"
    assert await api.published() == 0
