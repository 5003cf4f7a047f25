"""`parley`: a terminal client for Parley.

    parley chat "Why is the sky blue?"      one answer, streamed, then exit
    parley chat                              interactive: a conversation across turns;
                                             Ctrl-C stops the answer, Ctrl-D (or Ctrl-C at the prompt) quits
    parley models                            the models live workers serve

The gateway URL and access token come from --url/--token or PARLEY_URL/PARLEY_TOKEN.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import urllib.error
import urllib.request
from typing import Any

from parley_cli.session import Answer, ChatError, ChatSession, Turn

DEFAULT_URL = "http://127.0.0.1:8000"
EXIT_ERROR = 1
EXIT_USAGE = 2


class TerminalOutput:
    def __init__(self) -> None:
        self.restarts = 0

    def text(self, chunk: str) -> None:
        sys.stdout.write(chunk)
        sys.stdout.flush()

    def restart(self) -> None:
        self.restarts += 1
        sys.stdout.write("\n[the answer restarts]\n")
        sys.stdout.flush()


def _fail(message: str, code: int = EXIT_ERROR) -> int:
    sys.stderr.write(f"parley: {message}\n")
    return code


def list_models(url: str) -> list[dict[str, Any]]:
    try:
        with urllib.request.urlopen(f"{url.rstrip('/')}/api/models", timeout=10) as response:
            models: list[dict[str, Any]] = json.load(response)["models"]
    except (OSError, ValueError, KeyError) as exc:
        raise ChatError("unreachable", f"cannot list models at {url}: {exc}") from exc
    return models


def _summary(answer: Answer) -> str:
    metrics, usage = answer.metrics, answer.usage
    parts = [answer.finish_reason]
    if usage:
        parts.append(f"{usage.get('prompt_tokens', '?')} + {usage.get('completion_tokens', '?')} tokens")
    if metrics.get("ttft_ms") is not None:
        parts.append(f"first token {metrics['ttft_ms']:.0f} ms")
    if metrics.get("tokens_per_s") is not None:
        parts.append(f"{metrics['tokens_per_s']:.1f} tokens/s")
    return f"\n[{'; '.join(parts)}]\n"


async def _ask(session: ChatSession, turn: Turn) -> Answer:
    """One answer; SIGINT while it streams sends `stop` instead of quitting."""
    loop = asyncio.get_running_loop()
    stopping: set[asyncio.Task[None]] = set()

    def on_interrupt() -> None:
        task = loop.create_task(session.stop())
        stopping.add(task)
        task.add_done_callback(stopping.discard)

    loop.add_signal_handler(signal.SIGINT, on_interrupt)
    try:
        answer = await session.ask(turn, TerminalOutput())
    finally:
        loop.remove_signal_handler(signal.SIGINT)
    sys.stdout.write(_summary(answer))
    sys.stdout.flush()
    return answer


async def _lines() -> asyncio.StreamReader:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    try:
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    except ValueError:  # a regular file: read it whole
        reader.feed_data(sys.stdin.buffer.read())
        reader.feed_eof()
    return reader


async def chat(args: argparse.Namespace) -> int:
    model = args.model or next((m["name"] for m in list_models(args.url)), None)
    if model is None:
        return _fail("no live worker serves a model yet: is an inference worker running?")
    params: dict[str, Any] = {}
    if args.temperature is not None:
        params["temperature"] = args.temperature
    if args.max_tokens is not None:
        params["max_tokens"] = args.max_tokens
    history = [{"role": "system", "content": args.system}] if args.system else []
    turn = Turn(model=model, messages=history, params=params)
    session = await ChatSession.open(args.url, args.token)
    try:
        if args.prompt:
            turn.messages = [*history, {"role": "user", "content": " ".join(args.prompt)}]
            await _ask(session, turn)
            return 0
        return await _interactive(session, turn)
    finally:
        await session.close()


async def _interactive(session: ChatSession, turn: Turn) -> int:
    reader = await _lines()
    interactive = sys.stdin.isatty()
    while True:
        if interactive:
            sys.stdout.write("you> ")
            sys.stdout.flush()
        raw = await reader.readline()
        if not raw:
            return 0
        line = raw.decode().strip()
        if not line:
            continue
        turn.messages = [*turn.messages, {"role": "user", "content": line}]
        try:
            answer = await _ask(session, turn)
        except ChatError as exc:
            if exc.code == "closed":
                raise
            sys.stdout.write(f"\n[error {exc.code}: {exc.message}]\n")
            turn.messages = turn.messages[:-1]
            continue
        turn.messages = [*turn.messages, {"role": "assistant", "content": answer.text}]
        turn.conversation_id, turn.parent_id = answer.conversation_id, answer.message_id


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="parley", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", default=os.environ.get("PARLEY_URL", DEFAULT_URL), help="gateway URL")
    commands = parser.add_subparsers(dest="command", required=True)
    chat_cmd = commands.add_parser("chat", help="chat with a model")
    chat_cmd.add_argument("prompt", nargs="*", help="one prompt; none for an interactive conversation")
    chat_cmd.add_argument("--token", default=os.environ.get("PARLEY_TOKEN"), help="access token")
    chat_cmd.add_argument("--model", help="default: the first model a live worker serves")
    chat_cmd.add_argument("--system", help="a system prompt for the conversation")
    chat_cmd.add_argument("--temperature", type=float)
    chat_cmd.add_argument("--max-tokens", type=int)
    commands.add_parser("models", help="list the models live workers serve")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "models":
            for model in list_models(args.url):
                sys.stdout.write(f"{model['name']}\t{model.get('workers', '?')} worker(s)\n")
            return 0
        if not args.token:
            return _fail("no access token: pass --token or set PARLEY_TOKEN", EXIT_USAGE)
        return asyncio.run(chat(args))
    except ChatError as exc:
        return _fail(exc.message if exc.code in {"unreachable", "closed"} else f"{exc.code}: {exc.message}")
    except KeyboardInterrupt:
        sys.stdout.write("\n")
        return 0


if __name__ == "__main__":
    sys.exit(main())
