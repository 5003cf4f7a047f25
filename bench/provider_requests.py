"""The worker's CPU per provider request, by conversation length: the `openai`
SDK's typed `create()` as an SDK user would call it (the baseline) against the
worker's adapter (`OpenAIChatModel`, which hands the body over as it is), in
one process, alternating, against the test provider (one token per answer,
so that the request dominates).

    python bench/provider_requests.py [--messages 1 10 100] [--out bench/results/provider_requests.json]

CPU is this process's own (`time.process_time`), so the provider's share is
not in it; each figure is the median of `--rounds` rounds of `--requests`
requests, 50 at once.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, cast

import openai
import uvloop
from openai.types.chat import ChatCompletionMessageParam
from procstat import machine
from results import write_result

from parley_contracts import ChatMessage, GenerationParams
from parley_inference.adapters.llm import OpenAIChatModel
from parley_inference.domain.catalog import ModelSpec
from parley_platform.egress import EgressPolicy
from parley_testkit import ServiceProcess, free_port

Request = Callable[[tuple[ChatMessage, ...]], Awaitable[None]]
_AT_ONCE = 50


def conversation(n: int) -> tuple[ChatMessage, ...]:
    """A system prompt, then user and assistant turns of a few sentences each."""
    turns = [ChatMessage(role="system", content="You are a helpful assistant. Answer briefly.")]
    for i in range(n - 1):
        role = "user" if i % 2 == 0 else "assistant"
        turns.append(ChatMessage(role=role, content=f"Turn {i}: " + "a sentence of a usual length. " * 6))
    return tuple(turns)


def sdk_request(client: openai.AsyncOpenAI) -> Request:
    """The baseline: the SDK's typed arguments, read raw (as the worker did before)."""

    async def request(messages: tuple[ChatMessage, ...]) -> None:
        async with client.chat.completions.with_streaming_response.create(
            model="test-model",
            messages=cast(
                list[ChatCompletionMessageParam], [{"role": m.role, "content": m.content} for m in messages]
            ),
            max_tokens=64,
            stream=True,
            stream_options={"include_usage": True},
        ) as response:
            async for _ in response.iter_lines():
                pass

    return request


def adapter_request(model: OpenAIChatModel, spec: ModelSpec) -> Request:
    async def request(messages: tuple[ChatMessage, ...]) -> None:
        async for _ in model.stream(spec, messages, GenerationParams(max_tokens=64)):
            pass

    return request


async def cpu_per_request(request: Request, messages: tuple[ChatMessage, ...], requests: int) -> float:
    """Microseconds of this process's CPU per request, `_AT_ONCE` requests at a time."""
    began = time.process_time()
    for _ in range(requests // _AT_ONCE):
        await asyncio.gather(*(request(messages) for _ in range(_AT_ONCE)))
    return (time.process_time() - began) * 1e6 / (requests // _AT_ONCE * _AT_ONCE)


async def bench(args: argparse.Namespace, base_url: str) -> list[dict[str, Any]]:
    spec = ModelSpec(name="bench", base_url=base_url, model="test-model", max_tokens=64)
    model = OpenAIChatModel(egress=EgressPolicy.parse("127.0.0.0/8,::1"))  # a server on this host
    model.warm_up([spec])
    client = openai.AsyncOpenAI(api_key="none", base_url=base_url, http_client=openai.DefaultAioHttpClient())
    ways = {"sdk": sdk_request(client), "parley": adapter_request(model, spec)}
    rows = []
    try:
        for n in args.messages:
            messages = conversation(n)
            for request in ways.values():  # warm: connections open, imports done
                await cpu_per_request(request, messages, _AT_ONCE)
            runs: dict[str, list[float]] = {name: [] for name in ways}
            for _ in range(args.rounds):
                for name, request in ways.items():
                    runs[name].append(await cpu_per_request(request, messages, args.requests))
            sdk, parley = statistics.median(runs["sdk"]), statistics.median(runs["parley"])
            rows.append({"messages": n, "sdk_us": round(sdk), "parley_us": round(parley), "runs": runs})
            sys.stdout.write(
                f"{n:>4} messages: SDK typed create {sdk:8.0f} us, Parley's adapter {parley:8.0f} us "
                f"of CPU per request (x{parley / sdk:.2f})\n"
            )
    finally:
        await model.aclose()
        await client.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, nargs="+", default=[1, 10, 100])
    parser.add_argument("--requests", type=int, default=200, help="requests per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path("bench/results/provider_requests.json"))
    args = parser.parse_args()
    started = machine()
    port = free_port()
    provider = ServiceProcess(
        [
            sys.executable,
            "-m",
            "parley_testkit.provider",
            "--port",
            str(port),
            "--tokens",
            "1",
            "--rate",
            "0",
        ],
        {},
        name="bench-provider",
    )
    with provider:
        provider.wait_log("http://", timeout=30)
        rows = uvloop.run(bench(args, f"http://127.0.0.1:{port}/v1"))
    command = "python bench/provider_requests.py " + " ".join(sys.argv[1:])
    target = write_result(
        args.out, "provider_requests", {"command": command.strip(), "machine": started, "rows": rows}
    )
    sys.stdout.write(f"wrote {target}\n")


if __name__ == "__main__":
    main()
