"""The baseline of `make bench`: a WebSocket that relays a provider's stream
straight to the client, with no broker in between.

It speaks the same frames as the gateway (`hello`/`ready`, `prompt` ->
`accepted`, `delta`..., `done`) and reads the provider the way the workers do
(the `openai` SDK on its aiohttp transport for the connection, raw SSE lines
parsed with orjson), so the difference the benchmark measures is what the
broker path adds.

    python bench/direct_relay.py --port 9000 --provider http://127.0.0.1:8100/v1
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
import uuid
from typing import Any

import openai
import orjson
import uvloop
from websockets.asyncio.server import ServerConnection, serve

log = logging.getLogger("bench.relay")


async def _relay(ws: ServerConnection, client: openai.AsyncOpenAI, frame: dict[str, Any]) -> None:
    message_id = str(uuid.uuid4())
    await ws.send(
        orjson.dumps({"type": "accepted", "request_id": frame["request_id"], "message_id": message_id})
    )
    started = time.perf_counter()
    first: float | None = None
    parts: list[str] = []
    usage: dict[str, int] = {}
    seq = 0
    async with client.chat.completions.with_streaming_response.create(
        model=frame["model"],
        messages=frame["messages"],
        stream=True,
        stream_options={"include_usage": True},
    ) as response:
        async for line in response.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = orjson.loads(line[6:])
            if chunk.get("usage"):
                usage = chunk["usage"]
            for choice in chunk.get("choices") or ():
                text = (choice.get("delta") or {}).get("content")
                if text:
                    first = first or time.perf_counter()
                    parts.append(text)
                    seq += 1
                    await ws.send(
                        orjson.dumps({"type": "delta", "message_id": message_id, "seq": seq, "text": text})
                    )
    elapsed = time.perf_counter() - (first or started)
    done = {
        "type": "done",
        "message_id": message_id,
        "seq": seq + 1,
        "text": "".join(parts),
        "finish_reason": "stop",
        "usage": {"prompt_tokens": usage.get("prompt_tokens", 0), "completion_tokens": len(parts)},
        "metrics": {"ttft_ms": ((first or started) - started) * 1000, "tokens_per_s": len(parts) / elapsed},
    }
    await ws.send(orjson.dumps(done))


async def main(port: int, provider: str) -> None:
    client = openai.AsyncOpenAI(
        base_url=provider, api_key="bench", max_retries=0, http_client=openai.DefaultAioHttpClient()
    )

    async def handler(ws: ServerConnection) -> None:
        hello = orjson.loads(await ws.recv())
        await ws.send(
            orjson.dumps({"type": "ready", "session_id": hello.get("session_id") or str(uuid.uuid4())})
        )
        tasks: set[asyncio.Task[None]] = set()
        async for raw in ws:
            frame = orjson.loads(raw)
            if frame.get("type") == "prompt":
                task = asyncio.create_task(_relay(ws, client, frame))
                tasks.add(task)
                task.add_done_callback(tasks.discard)

    async with serve(handler, "127.0.0.1", port, max_size=None, compression=None):
        sys.stdout.write(f"relay ready on {port}\n")
        sys.stdout.flush()
        await asyncio.Future()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--provider", required=True)
    args = parser.parse_args()
    uvloop.run(main(args.port, args.provider))
