"""`python -m parley_auth [serve|migrate|rotate-key|grant-admin EMAIL|openapi]`.

`serve` (the default) runs the service under uvicorn with uvloop; `migrate`
upgrades the database to the latest schema (`make migrate`); `rotate-key`
adds a signing key and retires the current one (it stays in the JWKS for one
access-token lifetime); `grant-admin EMAIL` makes a registered account admin
(the operator's bootstrap); `openapi` prints the OpenAPI document.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from pathlib import Path

import uvicorn
from alembic import command
from alembic.config import Config
from pydantic import ValidationError

from parley_auth import services
from parley_auth.adapters.keys import key_sealer, new_signing_key_row
from parley_auth.adapters.repository import Database
from parley_auth.bootstrap import bootstrap, utc_now
from parley_auth.domain.errors import NotFound
from parley_auth.entrypoints.app import create_app
from parley_auth.settings import Settings
from parley_platform.sealing import Sealer
from parley_platform.telemetry import TelemetryConfigError, service_telemetry

log = logging.getLogger("parley_auth")

SERVICE_DIR = Path(__file__).resolve().parents[2]


def alembic_config(database_url: str) -> Config:

    config = Config(str(SERVICE_DIR / "alembic.ini"))
    config.attributes["database_url"] = database_url
    return config


def migrate(database_url: str, revision: str = "head") -> None:

    config = alembic_config(database_url)
    command.upgrade(config, revision)


async def rotate_key(settings: Settings) -> str:

    db = Database(settings.database_url)
    try:
        async with db.transaction() as repo:
            now = utc_now()
            secret = settings.catalog_secret
            sealer = key_sealer(Sealer(secret.get_secret_value()) if secret is not None else None)
            row = new_signing_key_row(now, sealer=sealer)
            await repo.add_signing_key(row, now)
    finally:
        await db.close()
    return row.kid


async def grant_admin(settings: Settings, email: str) -> str:

    auth = bootstrap(settings)
    try:
        user = await services.grant_admin(email, auth=auth)
        return str(user.id)
    finally:
        await auth.db.close()


def openapi_document(settings: Settings) -> str:

    return json.dumps(create_app(settings).openapi(), indent=2, sort_keys=True) + "\n"


def serve(settings: Settings) -> int:

    app = create_app(settings)
    log.info("Parley auth starting on %s", settings.url)
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http="httptools",
        log_config=None,
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        timeout_graceful_shutdown=10,
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m parley_auth")
    parser.add_argument(
        "command",
        nargs="?",
        default="serve",
        choices=["serve", "migrate", "rotate-key", "grant-admin", "openapi"],
    )
    parser.add_argument("email", nargs="?", help="grant-admin: the account to make admin")
    args = parser.parse_args(argv)
    try:
        settings = Settings()
    except ValidationError as exc:
        return _fail(f"invalid settings:\n{exc}")
    try:
        with service_telemetry("parley-auth", settings.log_level):
            return _run(args, settings)
    except TelemetryConfigError as exc:
        return _fail(str(exc))


def _run(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "migrate":
        migrate(settings.database_url)
        return 0
    if args.command == "rotate-key":
        kid = asyncio.run(rotate_key(settings))
        log.info(
            "new signing key %s; the previous one stays in the JWKS for %d s", kid, settings.access_ttl_s
        )
        return 0
    if args.command == "grant-admin":
        if not args.email:
            return _fail("grant-admin needs the account's email")
        try:
            user_id = asyncio.run(grant_admin(settings, args.email))
        except NotFound as exc:
            return _fail(exc.detail, status=1)
        log.info("account %s (%s) is admin", args.email, user_id)
        return 0
    if args.command == "openapi":
        sys.stdout.write(openapi_document(settings))
        return 0
    return serve(settings)


def _fail(message: str, *, status: int = 2) -> int:
    """Tell the operator on stderr (logging may not be set up yet); the exit status."""
    sys.stderr.write(f"parley-auth: {message}\n")
    return status


if __name__ == "__main__":
    sys.exit(main())
