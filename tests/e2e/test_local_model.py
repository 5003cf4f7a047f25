"""The default local model (llama.cpp + SmolLM2-135M) through the whole spine."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import parley_localmodel
from parley_testkit import FakeProvider, ServiceProcess, TestIssuer, free_port

from .stack import Client, Stack

ALIAS = parley_localmodel.MODEL_ALIAS


@pytest.fixture(scope="module")
def model_server() -> Iterator[str]:
    port = free_port()
    server = ServiceProcess(
        parley_localmodel.server_command(port, threads=2),
        parley_localmodel.server_env(),
        name="llama-server",
        inherit_env=False,
    )
    with server:
        server.wait_ready(f"http://127.0.0.1:{port}/v1/models", timeout=60)
        yield f"http://127.0.0.1:{port}/v1"


@pytest.fixture
def local_stack(
    vhost_url: str, provider: FakeProvider, issuer: TestIssuer, model_server: str, tmp_path: Path
) -> Iterator[Stack]:
    models = tmp_path / "models.yaml"
    models.write_text(
        f"models:\n  - name: {ALIAS}\n    base_url: {model_server}\n    model: {ALIAS}\n"
        "    max_tokens: 64\n    context_window: 2048\n    concurrency: 1\n"
        "    extra:\n      repeat_penalty: 1.1\n"
    )
    stack = Stack(amqp_url=vhost_url, provider=provider, issuer=issuer, models_file=models)
    try:
        # A real model on a busy 2-core machine may take seconds for its first token.
        stack.start_worker(PARLEY_INFERENCE_PROVIDER_READ_TIMEOUT_S="30")
        gateway = stack.start_gateway()
        models_listed = stack.wait_models(gateway, workers=1, model=ALIAS)
        assert [m["name"] for m in models_listed] == [ALIAS]
        yield stack
    finally:
        stack.close()


async def test_a_real_model_streams_a_real_answer(local_stack: Stack) -> None:
    client = await Client.connect(local_stack.gateways[0], local_stack.token("alice"))
    try:
        accepted = await client.prompt("Say hello in one short sentence.", model=ALIAS, max_tokens=24)
        assert accepted["type"] == "accepted", accepted
        frames = await client.until(accepted["message_id"], timeout=90)
    finally:
        await client.close()
    done = frames[-1]
    assert done["type"] == "done", done
    assert done["text"].strip()
    assert done["text"] == "".join(f["text"] for f in frames if f["type"] == "delta")
    assert done["finish_reason"] in {"stop", "length"}
    # llama.cpp's stream carries no usage: the worker counts it.
    assert 0 < done["usage"]["completion_tokens"] <= 24
    assert done["usage"]["prompt_tokens"] > 0
    assert done["metrics"]["ttft_ms"] > 0
    sys.stderr.write(f"local model: {done['metrics']} {done['usage']}\n")
