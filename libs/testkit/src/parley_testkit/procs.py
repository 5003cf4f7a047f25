"""Service processes for integration tests: start, wait until ready, kill, read logs."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import NoReturn, Self

_POLL_S = 0.05
_TAIL_CHARS = 4000


class ServiceProcessError(RuntimeError):
    """A service exited or did not become ready; the message ends with its log tail."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServiceProcess:
    """One service run as a child process in its own session, logging to a temp file.

    `env` is layered over `os.environ` (pass `inherit_env=False` to use it
    alone); `PYTHONUNBUFFERED=1` is set unless given, so `wait_log` sees
    Python output as it happens. After `kill` or `terminate`, `start` runs the
    process again, appending to the same log.
    """

    def __init__(self, args: list[str], env: dict[str, str], name: str, *, inherit_env: bool = True) -> None:
        self.args = args
        self.name = name
        self.env = {**os.environ, **env} if inherit_env else dict(env)
        self.env.setdefault("PYTHONUNBUFFERED", "1")
        fd, path = tempfile.mkstemp(prefix=f"{name}-", suffix=".log")
        os.close(fd)
        self.log_path = Path(path)
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        return self._popen().pid

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def returncode(self) -> int | None:
        return None if self._proc is None else self._proc.poll()

    def start(self) -> None:
        if self.running:
            raise RuntimeError(f"{self.name} is already running")
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen(
                self.args,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_ready(self, url: str, timeout: float = 20) -> None:
        """Poll `url` until it answers 200."""
        deadline = time.monotonic() + timeout
        while True:
            self._raise_if_exited(f"while waiting for {url}")
            if _answers_ok(url):
                return
            if time.monotonic() >= deadline:
                self._fail(f"not ready at {url} after {timeout}s")
            time.sleep(_POLL_S)

    def wait_log(self, substring: str, timeout: float) -> bool:
        """Poll the log until it contains `substring`; returns True, raises on timeout or exit."""
        deadline = time.monotonic() + timeout
        while True:
            exited = not self.running
            if substring in self.log_text():
                return True
            if exited:
                self._fail(f"exited with {self.returncode} before logging {substring!r}")
            if time.monotonic() >= deadline:
                self._fail(f"did not log {substring!r} within {timeout}s")
            time.sleep(_POLL_S)

    def wait(self, timeout: float) -> int:
        """Wait for the process to exit by itself; its exit code."""
        return self._popen().wait(timeout)

    def send_signal(self, sig: signal.Signals) -> None:
        self._popen().send_signal(sig)

    def kill(self) -> None:
        """SIGKILL the whole process group, at once."""
        proc = self._popen()
        _kill_group(proc.pid)
        proc.wait()

    def terminate(self, timeout: float = 10) -> int:
        """SIGTERM the process, SIGKILL its group after `timeout`; exit code (-N for signal N)."""
        proc = self._popen()
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                _kill_group(proc.pid)
                proc.wait()
        # Children it left behind would outlive the test otherwise.
        _kill_group(proc.pid)
        return proc.returncode

    def log_text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def __enter__(self) -> Self:
        if not self.running:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._proc is not None:
            self.terminate()

    def _popen(self) -> subprocess.Popen[bytes]:
        if self._proc is None:
            raise RuntimeError(f"{self.name} was never started")
        return self._proc

    def _raise_if_exited(self, context: str) -> None:
        if not self.running:
            self._fail(f"exited with {self.returncode} {context}")

    def _fail(self, what: str) -> NoReturn:
        raise ServiceProcessError(
            f"{self.name} {what}; log {self.log_path} ends with:\n{self.log_text()[-_TAIL_CHARS:]}"
        )


def _answers_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1.0) as response:
            return int(response.status) == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
