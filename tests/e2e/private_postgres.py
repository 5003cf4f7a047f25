"""A PostgreSQL cluster of a test's own, which it may stop and start at will without
touching the shared server: Debian's server binaries, a data directory in a temporary
directory, trust authentication, TCP on 127.0.0.1 at a free port. Run as root, the
server runs as the `postgres` user (it refuses root)."""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from parley_testkit import free_port

_START_TIMEOUT_S = 60


def server_bindir() -> Path | None:
    """The directory holding `initdb` and `pg_ctl` (the newest Debian version, else `pg_config`'s)."""
    candidates = sorted(
        (Path(p) for p in glob.glob("/usr/lib/postgresql/*/bin")),
        key=lambda p: _version(p.parent.name),
        reverse=True,
    )
    pg_config = shutil.which("pg_config")
    if pg_config is not None:
        done = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        if done.returncode == 0:
            candidates.append(Path(done.stdout.strip()))
    for bindir in candidates:
        if (bindir / "initdb").is_file() and (bindir / "pg_ctl").is_file():
            return bindir
    return None


def _version(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in name.split(".") if part.isdigit())


@dataclass
class PrivatePostgres:
    bindir: Path
    root: Path
    port: int
    _as_postgres: list[str]

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def log(self) -> Path:
        return self.root / "server.log"

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def create_database(self, name: str) -> str:
        """A new database of this cluster: its URL."""
        subprocess.run(
            ["psql", self.url, "-v", "ON_ERROR_STOP=1", "-qc", f'CREATE DATABASE "{name}"'],
            check=True,
            capture_output=True,
            timeout=30,
        )
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    def start(self) -> None:
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories={self.root} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self._pg_ctl("start", "-w", "-t", str(_START_TIMEOUT_S), "-l", str(self.log), "-o", options)

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (`fast`: clients are disconnected, open transactions rolled back)."""
        self._pg_ctl("stop", "-w", "-t", str(_START_TIMEOUT_S), "-m", mode)

    @property
    def running(self) -> bool:
        done = subprocess.run(
            [*self._as_postgres, str(self.bindir / "pg_ctl"), "status", "-D", str(self.data)],
            capture_output=True,
            check=False,
        )
        return done.returncode == 0

    def _pg_ctl(self, *args: str) -> None:
        done = subprocess.run(
            [*self._as_postgres, str(self.bindir / "pg_ctl"), args[0], "-D", str(self.data), *args[1:]],
            capture_output=True,
            text=True,
            check=False,
            timeout=_START_TIMEOUT_S + 10,
        )
        log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
        assert done.returncode == 0, f"pg_ctl {args[0]}: {done.stdout}{done.stderr}\n{log}"


@contextlib.contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    """A running private cluster, stopped and deleted at the end; skips the test when
    the PostgreSQL server binaries are not installed."""
    bindir = server_bindir()
    if bindir is None:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) not found under /usr/lib/postgresql")
    as_postgres: list[str] = []
    root = Path(tempfile.mkdtemp(prefix="parley-pg-"))
    try:
        if os.geteuid() == 0:
            try:
                user = pwd.getpwnam("postgres")
            except KeyError:
                pytest.skip("running as root and there is no `postgres` user to run PostgreSQL as")
            os.chown(root, user.pw_uid, user.pw_gid)
            as_postgres = ["runuser", "-u", "postgres", "--"]
        cluster = PrivatePostgres(bindir, root, free_port(), as_postgres)
        subprocess.run(
            [
                *as_postgres,
                str(bindir / "initdb"),
                "-D",
                str(cluster.data),
                "--auth=trust",
                "--username=postgres",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
        cluster.start()
        try:
            yield cluster
        finally:
            if cluster.running:
                cluster.stop("immediate")
    finally:
        shutil.rmtree(root, ignore_errors=True)
