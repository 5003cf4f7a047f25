"""A minimal terminal client: send one prompt over `/ws` and stream the answer.

python scripts/chat.py --token <access token> "Why is the sky blue?"
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import urllib.request
import uuid

import websockets


def _first_model(base_url: str) -> str:
    with urllib.request.urlopen(f"{base_url}/api/models", timeout=5) as response:
        models = json.load(response)["models"]
    if not models:
        sys.exit("no live worker serves a model yet; is an inference worker running?")
    return str(models[0]["name"])


async def chat(url: str, token: str, model: str, prompt: str) -> int:
    async with websockets.connect(f"{url.replace('http', 'ws', 1)}/ws") as ws:
        await ws.send(json.dumps({"type": "hello", "token": token, "session_id": None, "last_seq": None}))
        ready = json.loads(await ws.recv())
        if ready.get("type") != "ready":
            sys.stderr.write(f"refused: {ready.get('message', ready)}\n")
            return 1
        request: dict[str, object] = {
            "type": "prompt",
            "request_id": str(uuid.uuid4()),
            "conversation_id": None,
            "parent_id": None,
            "model": model,
            "messages": [{"role": "user", "content": prompt}],
            "params": {},
        }
        await ws.send(json.dumps(request))
        async for raw in ws:
            frame = json.loads(raw)
            kind = frame.get("type")
            if kind == "delta":
                sys.stdout.write(frame["text"])
                sys.stdout.flush()
            elif kind == "restart":
                sys.stdout.write("\n[the answer restarts on another worker]\n")
            elif kind == "done":
                metrics = frame.get("metrics") or {}
                sys.stdout.write(
                    f"\n[{frame['finish_reason']}; {frame['usage']}; ttft {metrics.get('ttft_ms')} ms; "
                    f"{metrics.get('tokens_per_s')} tokens/s]\n"
                )
                return 0
            elif kind == "error":
                sys.stderr.write(f"\nerror {frame['code']}: {frame['message']}\n")
                return 1
    return 1


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("prompt")
    parser.add_argument("--token", required=True, help="an access token (make dev prints one)")
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--model", help="default: the first model a live worker serves")
    args = parser.parse_args()
    model = args.model or _first_model(args.url)
    return asyncio.run(chat(args.url, args.token, model, args.prompt))


if __name__ == "__main__":
    sys.exit(main())
