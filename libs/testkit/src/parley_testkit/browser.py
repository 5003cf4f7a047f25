"""Debian's Chromium for browser tests and benchmarks: never a downloaded browser."""

from __future__ import annotations

import shutil

CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def chromium_launch_args() -> dict[str, object] | None:
    """Playwright's `launch` arguments for the system's `chromium`, or None where it is not
    installed (`make browser` installs it)."""
    chromium = shutil.which("chromium")
    if chromium is None:
        return None
    return {"executable_path": chromium, "headless": True, "args": list(CHROMIUM_ARGS)}
