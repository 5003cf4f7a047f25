"""`python -m parley_history serve|consume|migrate|verify|replay|openapi`."""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import logging
import signal
import sys
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import uvicorn
import uvloop
from pydantic import ValidationError

from parley_history import services
from parley_history.adapters.database import make_engine, migrate
from parley_history.adapters.rabbit import read_stream
from parley_history.adapters.repository import SqlHistoryStore
from parley_history.bootstrap import bootstrap
from parley_history.entrypoints.app import create_app, openapi_document
from parley_history.settings import Settings
from parley_platform.database import async_database_url
from parley_platform.telemetry import TelemetryConfigError, service_telemetry

log = logging.getLogger("parley_history")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m parley_history", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser(
        "serve", help="the REST API (and the event consumer unless PARLEY_HISTORY_CONSUMER=0)"
    )
    commands.add_parser("consume", help="the event consumer alone")
    commands.add_parser(
        "migrate", help="upgrade the schema as its owner, then grant PARLEY_HISTORY_RUNTIME_ROLE its rights"
    )
    verify = commands.add_parser(
        "verify", help="walk the audit log's signed hash chain; exit 1 naming the first broken row"
    )
    verify.add_argument(
        "--require-signed", action="store_true", help="count unsigned rows (written before the key) as broken"
    )
    replay = commands.add_parser("replay", help="rebuild the projection in a fresh database")
    source = replay.add_mutually_exclusive_group(required=True)
    source.add_argument("--from-stream", action="store_true", help="read the audit.events stream")
    source.add_argument("--from-log", action="store_true", help="read this service's audit log")
    start = replay.add_mutually_exclusive_group()
    start.add_argument("--offset", type=int, help="stream offset to start from (default: first)")
    start.add_argument("--since", type=datetime.fromisoformat, help="start at this time (ISO 8601)")
    replay.add_argument(
        "--into", required=True, help="the target database URL (migrated here, must be empty)"
    )
    replay.add_argument(
        "--idle-s", type=float, default=2.0, help="stream: stop after this long without events"
    )
    openapi = commands.add_parser("openapi", help="write the OpenAPI document")
    openapi.add_argument("path", nargs="?", type=Path, help="default: stdout")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = Settings()
    except ValidationError as exc:
        sys.stderr.write(f"parley-history: invalid settings:\n{exc}\n")
        return 2
    try:
        with service_telemetry("parley-history", settings.log_level):
            return _run(args, settings)
    except TelemetryConfigError as exc:
        sys.stderr.write(f"parley-history: {exc}\n")
        return 2


def _run(args: argparse.Namespace, settings: Settings) -> int:
    if args.command in ("serve", "consume", "verify", "replay"):
        refusal = settings.startup_refusal(writes_events=args.command in ("serve", "consume"))
        if refusal is not None:
            sys.stderr.write(f"parley-history: refusing to {args.command}: {refusal}\n")
            return 2
        if settings.audit_key is None:
            log.warning("no PARLEY_HISTORY_AUDIT_KEY: the audit chain is signed with the public dev key")
    if args.command == "serve":
        return _serve(settings)
    if args.command == "migrate":
        migrate(settings.database_url, runtime_role=settings.runtime_role)
        log.info("database migrated")
        return 0
    if args.command == "openapi":
        return _openapi(settings, args.path)
    runner = {"consume": _consume, "verify": _verify, "replay": _replay}[args.command]
    return uvloop.run(runner(settings, args))


def _serve(settings: Settings) -> int:
    if settings.jwks_url is None:
        log.warning("PARLEY_HISTORY_JWKS_URL is not set: every REST call will answer 401")
    app = create_app(settings)
    log.info("Parley history starting on %s", settings.url)
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        log_config=None,
        timeout_graceful_shutdown=10,
    )
    return 0


async def _consume(settings: Settings, _args: argparse.Namespace) -> int:
    history = bootstrap(settings, with_consumer=True)
    assert history.consumer is not None
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, history.consumer.stop)
    try:
        await history.consumer.run()
    finally:
        await history.close()
    return 0


async def _verify(settings: Settings, args: argparse.Namespace) -> int:
    store = SqlHistoryStore(make_engine(settings.database_url), audit_key=settings.signing_key())
    try:
        report = await store.verify(require_signed=args.require_signed)
    finally:
        await store.close()
    if report.broken is not None:
        sys.stderr.write(f"audit log BROKEN after {report.checked} good row(s): {report.broken}\n")
        return 1
    signed = report.checked - report.unsigned
    sys.stdout.write(
        f"audit log OK: {report.checked} row(s), hash chain intact, {signed} signed row(s) valid\n"
    )
    if report.unsigned:
        sys.stdout.write(
            f"note: rows seq=1..{report.unsigned} are unsigned (written before PARLEY_HISTORY_AUDIT_KEY "
            "was set): their hashes link, but whoever could write the table could have recomputed them\n"
        )
    return 0


async def _log_bodies(store: SqlHistoryStore, since: datetime | None) -> AsyncIterator[bytes]:
    async for record in store.audit_records(since=since, batch=1000):
        yield record.body.encode()


async def _replay(settings: Settings, args: argparse.Namespace) -> int:
    into = async_database_url(args.into)
    if into == settings.database_url:
        sys.stderr.write("replay: --into must name another database than PARLEY_HISTORY_DATABASE_URL\n")
        return 2
    await asyncio.to_thread(functools.partial(migrate, into, runtime_role=settings.runtime_role))
    target = SqlHistoryStore(make_engine(into), audit_key=settings.signing_key())
    source: SqlHistoryStore | None = None
    try:
        if await target.event_count() != 0:
            sys.stderr.write("replay: the target database is not empty\n")
            return 2
        if args.from_stream:
            bodies = read_stream(settings.amqp_url, offset=args.offset, since=args.since, idle_s=args.idle_s)
        else:
            source = SqlHistoryStore(make_engine(settings.database_url))
            bodies = _log_bodies(source, args.since)
        report = await services.replay(bodies, target=target)
    finally:
        await target.close()
        if source is not None:
            await source.close()
    sys.stdout.write(json.dumps(report.__dict__) + "\n")
    return 0


def _openapi(settings: Settings, path: Path | None) -> int:
    text = openapi_document(settings)
    if path is None:
        sys.stdout.write(text)
    else:
        path.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
