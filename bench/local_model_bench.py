"""The default local model through the whole path against the model server alone.

Starts llama.cpp's server with SmolLM2-135M (`parley_localmodel`), a worker and a
gateway on a fresh vhost, then sends the same prompts one at a time straight to
the server (the `openai` SDK, streaming) and through Parley (WebSocket), and
prints the median time to first token and tokens/s of both, with ratios.

    python bench/local_model_bench.py [--prompts 8] [--max-tokens 64]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import openai
import orjson
import uvloop
import websockets

import parley_localmodel
from parley_testkit import (
    FakeProvider,
    ServiceProcess,
    TestIssuer,
    amqp_url_from_env,
    free_port,
    isolated_vhost,
)

ISSUER, AUDIENCE = "parley-bench", "parley"
ALIAS = parley_localmodel.MODEL_ALIAS
PROMPTS = [
    "Say hello.",
    "What is the capital of France?",
    "Name three colours.",
    "Count from one to five.",
    "What is two plus two?",
    "Write one sentence about the sea.",
]
Sample = tuple[float, float]  # (ttft_ms, tokens/s)


async def _direct(client: openai.AsyncOpenAI, prompt: str, max_tokens: int) -> Sample:
    started = time.perf_counter()
    first: float | None = None
    chunks = 0
    stream = await client.chat.completions.create(
        model=ALIAS,
        messages=[{"role": "user", "content": prompt}],
        max_tokens=max_tokens,
        stream=True,
        extra_body={"repeat_penalty": 1.1},
    )
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            first = first or time.perf_counter()
            chunks += 1
    end = time.perf_counter()
    first = first or end
    return (first - started) * 1000, (chunks - 1) / (end - first) if chunks > 1 and end > first else 0.0


async def _parley(ws_url: str, token: str, prompt: str, max_tokens: int) -> Sample:
    async with websockets.connect(ws_url, compression=None) as ws:
        await ws.send(
            orjson.dumps({"type": "hello", "token": token, "session_id": None, "last_seq": None}).decode()
        )
        await ws.recv()
        frame = {
            "type": "prompt",
            "request_id": str(uuid.uuid4()),
            "conversation_id": None,
            "parent_id": None,
            "model": ALIAS,
            "messages": [{"role": "user", "content": prompt}],
            "params": {"max_tokens": max_tokens},
        }
        started = time.perf_counter()
        await ws.send(orjson.dumps(frame).decode())
        first: float | None = None
        async for raw in ws:
            message = orjson.loads(raw)
            if message["type"] == "delta" and first is None:
                first = time.perf_counter()
            elif message["type"] == "done":
                end = time.perf_counter()
                tokens = int(message["usage"]["completion_tokens"])
                first = first or end
                rate = (tokens - 1) / (end - first) if tokens > 1 and end > first else 0.0
                return (first - started) * 1000, rate
            elif message["type"] == "error":
                raise RuntimeError(f"{message['code']}: {message['message']}")
    raise RuntimeError("the socket closed")


def _line(label: str, direct: list[Sample], parley: list[Sample]) -> str:
    d_ttft, p_ttft = statistics.median(s[0] for s in direct), statistics.median(s[0] for s in parley)
    d_rate, p_rate = statistics.median(s[1] for s in direct), statistics.median(s[1] for s in parley)
    return (
        f"{label}: TTFT p50 server {d_ttft:.1f} ms, through Parley {p_ttft:.1f} ms "
        f"(+{p_ttft - d_ttft:.1f} ms); tokens/s p50 server {d_rate:.1f}, through Parley {p_rate:.1f} "
        f"(ratio {p_rate / d_rate:.2f})"
    )


def _models_file(model_url: str, max_tokens: int) -> Path:
    fd, name = tempfile.mkstemp(prefix="parley-local-bench-", suffix=".yaml")
    os.close(fd)
    path = Path(name)
    path.write_text(
        f"models:\n  - name: {ALIAS}\n    base_url: {model_url}\n    model: {ALIAS}\n"
        f"    max_tokens: {max_tokens}\n    context_window: 2048\n    concurrency: 1\n"
        "    extra:\n      repeat_penalty: 1.1\n"
    )
    return path


def _remove(path: Path) -> None:
    path.unlink(missing_ok=True)


async def bench(args: argparse.Namespace) -> None:
    issuer = TestIssuer(issuer=ISSUER, audience=AUDIENCE)
    model_port, gateway_port, ops_port = free_port(), free_port(), free_port()
    model_url = f"http://127.0.0.1:{model_port}/v1"
    with (
        isolated_vhost(amqp_url_from_env(), prefix="parley-bench") as amqp_url,
        FakeProvider(issuer=issuer) as jwks,
    ):
        models = _models_file(model_url, args.max_tokens)
        env = {
            "AMQP_URL": amqp_url,
            "PORT": str(gateway_port),
            "PARLEY_GATEWAY_OPS_PORT": str(ops_port),
            "PARLEY_MODELS_FILE": str(models),
            "PARLEY_GATEWAY_JWKS_URL": jwks.jwks_url,
            "PARLEY_GATEWAY_JWT_ISSUER": ISSUER,
            "PARLEY_GATEWAY_JWT_AUDIENCE": AUDIENCE,
            "PARLEY_GATEWAY_PROMPTS_PER_MINUTE": "1000",
            "PARLEY_INFERENCE_EGRESS_ALLOW": "127.0.0.0/8,::1",  # the model server on this host
        }
        server = ServiceProcess(
            parley_localmodel.server_command(model_port),
            parley_localmodel.server_env(),
            name="bench-llama",
            inherit_env=False,
        )
        worker = ServiceProcess([sys.executable, "-m", "parley_inference"], env, name="bench-worker")
        gateway = ServiceProcess([sys.executable, "-m", "parley_gateway"], env, name="bench-gateway")
        try:
            server.start()
            server.wait_ready(f"{model_url}/models", timeout=60)
            worker.start()
            gateway.start()
            gateway.wait_ready(f"http://127.0.0.1:{ops_port}/readyz", timeout=30)
            worker.wait_log("serving models", timeout=30)
            await asyncio.sleep(1.5)  # the first heartbeat reaches the gateway
            token = issuer.token("bench", expires_in=3600)
            ws_url = f"ws://127.0.0.1:{gateway_port}/ws"
            client = openai.AsyncOpenAI(
                base_url=model_url, api_key="none", http_client=openai.DefaultAioHttpClient()
            )
            await _direct(client, "warm up", 8)
            direct: list[Sample] = []
            parley: list[Sample] = []
            for i in range(args.prompts):
                prompt = PROMPTS[i % len(PROMPTS)]
                # Alternate who goes first: llama.cpp reuses the cached prompt of the
                # previous request, which would favour the second of each pair.
                if i % 2:
                    parley.append(await _parley(ws_url, token, prompt, args.max_tokens))
                    direct.append(await _direct(client, prompt, args.max_tokens))
                else:
                    direct.append(await _direct(client, prompt, args.max_tokens))
                    parley.append(await _parley(ws_url, token, prompt, args.max_tokens))
            sys.stdout.write(
                _line(f"{args.prompts} prompts, up to {args.max_tokens} tokens", direct, parley) + "\n"
            )
        finally:
            for process in (gateway, worker, server):
                process.terminate(timeout=10)
            _remove(models)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--prompts", type=int, default=8)
    parser.add_argument("--max-tokens", type=int, default=64)
    uvloop.run(bench(parser.parse_args()))


if __name__ == "__main__":
    main()
