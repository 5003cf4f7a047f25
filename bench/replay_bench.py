"""Replay speed: events/s rebuilding history from the `audit.events` stream and
from history's own audit log, into fresh PostgreSQL databases.

N conversations' events (a prompt and its answer, a follow-up and its answer,
every tenth renamed) are published on `chat.events` the way the gateway and
the workers publish them; a real history consumer stores them (the live
ingestion rate is recorded too, titles it asks for included); then it stops
and `python -m parley_history replay --from-stream` and `--from-log` rebuild
the projection in two fresh databases, as processes. Events/s are the
command's own count over its own replay time, the final idle wait on the
stream left out; the wall time of each command (migrations included) is
recorded beside it.

    python bench/replay_bench.py [--conversations 500] [--out bench/results/replay.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import aio_pika
import uvloop
from procstat import list_queues, loadavg, machine
from results import write_result

from parley_contracts import (
    ChatMessage,
    CompletionFinished,
    ConversationRenamed,
    DomainEvent,
    PromptSubmitted,
    Usage,
    new_id,
    utcnow,
)
from parley_contracts.topology import AUDIT_EVENTS, CHAT_EVENTS, HISTORY_EVENTS
from parley_platform.rabbit import declare
from parley_testkit import ServiceProcess, amqp_url_from_env, isolated_vhost

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from e2e.stack import postgres_database

_IDLE_S = 1.0
_PUBLISH_BATCH = 200
_AUDIT_KEY = {"PARLEY_HISTORY_AUDIT_KEY": "parley-bench-history-audit-key-0123456789"}
"""Signs the audit chain of the history processes the benchmark starts (replay re-signs it)."""


def _count(url: str) -> int:
    done = subprocess.run(
        ["psql", url, "-tAc", "SELECT count(*) FROM audit_log"], capture_output=True, text=True, check=False
    )
    return int(done.stdout.strip() or 0) if done.returncode == 0 else 0


def conversation_events(conversations: int) -> list[DomainEvent]:
    """A prompt and its answer, a follow-up and its answer, every tenth conversation renamed."""
    events: list[DomainEvent] = []
    now = utcnow()
    for i in range(conversations):
        user = f"user{i % 50}"
        conversation = new_id()
        parent = None
        for turn in range(2):
            session = new_id()
            at = now + timedelta(seconds=2 * turn)
            prompt = PromptSubmitted(
                user_id=user,
                session_id=session,
                request_id=f"r-{i}-{turn}",
                conversation_id=conversation,
                message_id=new_id(),
                prompt_message_id=new_id(),
                parent_id=parent,
                model="bench-model",
                messages=(ChatMessage(role="user", content=f"Question {turn} of conversation {i}"),),
                reply_to=f"session.{session}",
                occurred_at=at,
            )
            answer = CompletionFinished(
                user_id=user,
                conversation_id=conversation,
                message_id=prompt.message_id,
                model="bench-model",
                worker_id="w1",
                text=f"Answer {turn} of conversation {i}: " + "word " * 40,
                finish_reason="stop",
                usage=Usage(prompt_tokens=8, completion_tokens=48),
                ttft_ms=12.0,
                tokens_per_s=50.0,
                occurred_at=at + timedelta(seconds=1),
            )
            events += [prompt, answer]
            parent = prompt.message_id
        if i % 10 == 0:
            events.append(ConversationRenamed(user_id=user, conversation_id=conversation, title=f"Chat {i}"))
    return events


async def _publish(amqp_url: str, events: list[DomainEvent]) -> float:
    """Publish with confirms, a batch at a time; the seconds it took."""
    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel(publisher_confirms=True)
        await declare(channel, AUDIT_EVENTS)
        exchange = await channel.get_exchange(CHAT_EVENTS.name)
        began = time.perf_counter()
        for start in range(0, len(events), _PUBLISH_BATCH):
            await asyncio.gather(
                *(
                    exchange.publish(
                        aio_pika.Message(e.to_json(), delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                        routing_key=e.type,
                    )
                    for e in events[start : start + _PUBLISH_BATCH]
                )
            )
        return time.perf_counter() - began
    finally:
        await connection.close()


def _settle(url: str, at_least: int, timeout: float) -> int:
    """Poll the audit log's row count until it reaches `at_least` and stops moving."""
    deadline = time.monotonic() + timeout
    last = -1
    while time.monotonic() < deadline:
        count = _count(url)
        if count >= at_least and count == last:
            return count
        last = count
        time.sleep(1.0)
    raise RuntimeError(f"history stored {last} of at least {at_least} events within {timeout} s")


def _wait_queue(amqp_url: str, name: str, history: ServiceProcess, timeout: float = 60) -> None:
    """Until the consumer has declared its queue, so that nothing is published before it."""
    deadline = time.monotonic() + timeout
    while not any(q.name == name for q in list_queues(amqp_url)):
        if not history.running or time.monotonic() > deadline:
            raise RuntimeError(f"history never declared {name}: {history.log_text()[-2000:]}")
        time.sleep(0.5)


def _replay(source: str, into: str, amqp_url: str, *flags: str) -> dict[str, Any]:
    env = {**os.environ, "PARLEY_HISTORY_DATABASE_URL": source, "AMQP_URL": amqp_url, **_AUDIT_KEY}
    command = [sys.executable, "-m", "parley_history", "replay", *flags, "--into", into]
    began = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=1800, check=False)
    wall = time.perf_counter() - began
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(flags)} failed: {done.stderr[-2000:]}")
    report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    seconds = report["seconds"] - (_IDLE_S if "--from-stream" in flags else 0.0)
    return {
        **report,
        "replay_s": round(seconds, 2),
        "events_per_s": round(report["events"] / seconds, 1),
        "wall_s": round(wall, 2),
        "rows": _count(into),
    }


def bench(args: argparse.Namespace) -> dict[str, Any]:
    events = conversation_events(args.conversations)
    with (
        isolated_vhost(amqp_url_from_env(), prefix="parley-bench") as amqp_url,
        postgres_database("bench_replay_src") as source,
        postgres_database("bench_replay_stream") as from_stream,
        postgres_database("bench_replay_log") as from_log,
    ):
        env = {
            "AMQP_URL": amqp_url,
            "PARLEY_HISTORY_DATABASE_URL": source,
            "PARLEY_HISTORY_LOG_LEVEL": "WARNING",
            **_AUDIT_KEY,
        }
        subprocess.run(
            [sys.executable, "-m", "parley_history", "migrate"], env={**os.environ, **env}, check=True
        )
        history = ServiceProcess(
            [sys.executable, "-m", "parley_history", "consume"], env, name="bench-history"
        )
        history.start()
        try:
            _wait_queue(amqp_url, HISTORY_EVENTS.name, history)
            began = time.perf_counter()
            publish_s = uvloop.run(_publish(amqp_url, events))
            stored = _settle(source, len(events), timeout=600)
            ingest_s = time.perf_counter() - began
        finally:
            history.terminate(timeout=15)
        live = {
            "published": len(events),
            "stored": stored,
            "publish_s": round(publish_s, 2),
            "ingest_s": round(ingest_s, 2),
            "events_per_s": round(stored / ingest_s, 1),
            "note": "until the audit log stops growing (1 s polls): a lower bound",
        }
        stream = _replay(source, from_stream, amqp_url, "--from-stream", "--idle-s", str(_IDLE_S))
        log = _replay(source, from_log, amqp_url, "--from-log")
    return {"conversations": args.conversations, "live": live, "from_stream": stream, "from_log": log}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--conversations", type=int, default=500)
    parser.add_argument("--out", type=Path, default=Path("bench/results/replay.json"))
    args = parser.parse_args()
    started = machine()
    result = bench(args)
    sys.stdout.write(json.dumps(result, indent=1) + "\n")
    write_result(
        args.out,
        "replay",
        {
            "command": "python bench/replay_bench.py " + " ".join(sys.argv[1:]),
            "machine": started,
            "loadavg_end": loadavg(),
            **result,
        },
    )


if __name__ == "__main__":
    main()
