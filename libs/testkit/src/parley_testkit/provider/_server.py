"""FakeProvider: the fake OpenAI-compatible server on its own thread and event loop."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from aiohttp import web

from parley_testkit.provider._app import ProviderState, build_app
from parley_testkit.provider._script import RecordedRequest, Script, default_script

if TYPE_CHECKING:
    from parley_testkit.jwt import TestIssuer

_POLL_S = 0.01
_START_TIMEOUT_S = 10.0


class FakeProvider:
    """A local OpenAI-compatible chat-completions server for tests and benchmarks.

    It runs in a background thread with its own event loop, so it serves
    equally well sync tests, async tests on any loop scope, and other
    processes. `script` decides each answer and may be swapped at any time.
    """

    def __init__(
        self,
        script: Script | None = None,
        *,
        issuer: TestIssuer | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self._state = ProviderState(issuer)
        if script is not None:
            self.set_script(script)
        self._host = host
        self._requested_port = port
        self._port: int | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def script(self) -> Callable[[dict[str, Any]], Script]:
        return self._state.script

    @script.setter
    def script(self, script: Callable[[dict[str, Any]], Script]) -> None:
        self._state.script = script

    def set_script(self, script: Script) -> None:
        self._state.script = lambda _body: script

    @property
    def issuer(self) -> TestIssuer | None:
        return self._state.issuer

    @issuer.setter
    def issuer(self, issuer: TestIssuer | None) -> None:
        self._state.issuer = issuer

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of the chat-completions requests so far; each record stays live."""
        return self._state.requests()

    @property
    def peak_open_requests(self) -> int:
        """The most chat-completions requests that were open at once since the last `reset`."""
        return self._state.peak_open_requests

    def reset(self) -> None:
        """Forget the recorded requests and go back to the default script."""
        self._state.clear()
        self._state.script = default_script

    def wait_for(self, predicate: Callable[[], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() >= deadline:
                return False
            time.sleep(_POLL_S)
        return True

    async def wait_for_async(
        self,
        predicate: Callable[[], bool],
        timeout: float,  # noqa: ASYNC109 - mirrors wait_for's signature
    ) -> bool:
        """`wait_for` that yields to the caller's event loop instead of blocking it."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(_POLL_S)
        return True

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("FakeProvider is not started")
        return self._port

    @property
    def url(self) -> str:
        """The server's root, e.g. `http://127.0.0.1:PORT`."""
        return f"http://{self._host}:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    @property
    def jwks_url(self) -> str:
        return f"{self.url}/jwks.json"

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("FakeProvider is already started")
        self._state.closing = False
        started = threading.Event()
        failure: list[BaseException] = []
        thread = threading.Thread(
            target=self._run, args=(started, failure), name="fake-provider", daemon=True
        )
        thread.start()
        if not started.wait(_START_TIMEOUT_S):
            raise RuntimeError("FakeProvider did not start in time")
        if failure:
            thread.join()
            raise RuntimeError("FakeProvider failed to start") from failure[0]
        self._thread = thread

    def stop(self) -> None:
        thread, loop = self._thread, self._loop
        if thread is None or loop is None:
            return
        self._state.closing = True
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        self._thread = None
        self._loop = None
        self._port = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _run(self, started: threading.Event, failure: list[BaseException]) -> None:
        loop = asyncio.new_event_loop()
        runner = web.AppRunner(
            build_app(self._state),
            access_log=None,
            handler_cancellation=True,  # a client leaving cancels its handler: prompt detection
            shutdown_timeout=0.1,
        )
        try:
            loop.run_until_complete(self._serve(runner))
        except BaseException as exc:
            failure.append(exc)
            started.set()
            loop.run_until_complete(runner.cleanup())
            loop.close()
            return
        self._loop = loop
        started.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(runner.cleanup())
            loop.run_until_complete(_cancel_remaining(loop))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _serve(self, runner: web.AppRunner) -> None:
        await runner.setup()
        site = web.TCPSite(runner, self._host, self._requested_port, backlog=1024)
        await site.start()
        self._port = int(runner.addresses[0][1])


async def _cancel_remaining(loop: asyncio.AbstractEventLoop) -> None:
    tasks = [task for task in asyncio.all_tasks(loop) if task is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
