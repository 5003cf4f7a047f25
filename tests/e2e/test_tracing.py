"""One prompt, one trace: from the WebSocket frame through `prompt.submitted`,
the worker's consume, the provider call and the token stream, to history's and
auth's consumers. Every service runs as a real process and exports over OTLP
to a collector in this test, configured only by the standard OTEL_* variables."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from parley_testkit import FakeProvider, TestIssuer
from parley_testkit.otlp import CollectedSpan, OtlpCollector

from .stack import Client, Stack, postgres_database

PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def collector() -> Iterator[OtlpCollector]:
    with OtlpCollector() as running:
        yield running


@pytest.fixture(scope="module")
def traced_stack(
    vhost_url: str, provider: FakeProvider, issuer: TestIssuer, models_file: Path, collector: OtlpCollector
) -> Iterator[Stack]:
    otel = collector.env()
    with (
        postgres_database("parley_e2e_trace_auth") as auth_db,
        postgres_database("parley_e2e_trace_history") as history_db,
    ):
        stack = Stack(amqp_url=vhost_url, provider=provider, issuer=issuer, models_file=models_file)
        try:
            stack.start_auth(auth_db, **otel)
            stack.start_history(history_db, **otel)
            stack.start_worker(**otel)
            stack.start_gateway(**otel)
            stack.wait_models(stack.gateways[0], workers=1)
            yield stack
        finally:
            stack.close()


def _register(base_url: str) -> str:
    email = f"trace-{uuid.uuid4().hex[:8]}@e2e.parley.dev"
    with httpx.Client(base_url=base_url, timeout=10) as http:
        account = {"email": email, "display_name": "Tracer", "password": PASSWORD}
        created = http.post("/api/auth/register", json=account)
        assert created.status_code == 201, created.text
        login = http.post("/api/auth/login", json={"email": email, "password": PASSWORD})
        assert login.status_code == 200, login.text
        token: str = login.json()["access_token"]
        return token


def _describe(spans: list[CollectedSpan]) -> str:
    return "\n".join(f"{s.service:18} {s.kind:9} {s.name} ({s.span_id} <- {s.parent_span_id})" for s in spans)


async def test_one_prompt_is_one_connected_trace_across_the_services(
    traced_stack: Stack, collector: OtlpCollector, capsys: pytest.CaptureFixture[str]
) -> None:
    gateway = traced_stack.gateways[0]
    client = await Client.connect(gateway, _register(gateway.http))
    accepted = await client.prompt("Trace me")
    assert accepted["type"] == "accepted", accepted
    message_id = accepted["message_id"]
    assert (await client.until(message_id))[-1]["type"] == "done"
    await client.close()

    def root(spans: list[CollectedSpan]) -> CollectedSpan | None:
        return next(
            (
                s
                for s in spans
                if s.name == "ws prompt" and s.attributes.get("parley.message_id") == message_id
            ),
            None,
        )

    def in_trace(spans: list[CollectedSpan]) -> list[CollectedSpan]:
        first = root(spans)
        return [s for s in spans if first is not None and s.trace_id == first.trace_id]

    def connected(trace: list[CollectedSpan]) -> bool:
        ids = {s.span_id for s in trace}
        return all(s.parent_span_id in ids for s in trace if s.parent_span_id is not None)

    def complete(spans: list[CollectedSpan]) -> bool:
        trace = in_trace(spans)
        services = {(s.service, s.kind) for s in trace}
        # Spans arrive as each service exports them (history's title request adds a few
        # more): wait until every parent is there too.
        return (
            connected(trace)
            and {
                ("parley-gateway", "server"),
                ("parley-gateway", "producer"),
                ("parley-inference", "consumer"),
                ("parley-inference", "client"),
                ("parley-history", "consumer"),
                ("parley-auth", "consumer"),
            }
            <= services
        )

    assert collector.wait_for(complete, timeout=15), _describe(collector.spans)
    trace = in_trace(collector.spans)
    first = root(trace)
    assert first is not None
    assert first.service == "parley-gateway"
    assert first.parent_span_id is None
    # Connected: one root, every other span's parent a span of the same trace.
    assert [s for s in trace if s.parent_span_id is None] == [first]
    # The provider call happens inside the worker's streaming span, inside its consume.
    by_id = {s.span_id: s for s in trace}
    (streaming,) = [
        s for s in trace if s.name == "stream to session" and s.attributes["parley.message_id"] == message_id
    ]
    (provider_call,) = [s for s in trace if s.kind == "client" and s.parent_span_id == streaming.span_id]
    assert provider_call.service == "parley-inference"
    assert by_id[streaming.parent_span_id or ""].kind == "consumer"

    # The metrics of that chat, as Prometheus scrapes them from the gateway.
    async with httpx.AsyncClient(timeout=5) as http:
        samples = _samples((await http.get(f"{gateway.ops}/metrics")).text)
    assert samples['parley_gateway_prompts_total{outcome="accepted"}'] == 1
    assert samples["parley_gateway_time_to_first_token_seconds_count"] == 1
    assert samples["parley_gateway_delta_frames_total"] >= 1
    register = (
        'parley_http_request_duration_seconds_count{method="POST",route="/api/auth/{path:path}",status="201"}'
    )
    assert samples[register] == 1
    with capsys.disabled():
        print(f"\ntrace of one chat ({first.trace_id}):\n{_describe(trace)}")  # noqa: T201
        print("gateway metrics of that chat:")  # noqa: T201
        for name, value in sorted(samples.items()):
            shown = name.startswith("parley_gateway_") and "_created" not in name and "_bucket" not in name
            if shown and value:
                print(f"  {name} {value}")  # noqa: T201


def _samples(text: str) -> dict[str, float]:
    samples: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            samples[name] = float(value)
    return samples
