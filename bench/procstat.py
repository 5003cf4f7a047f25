"""What the benchmarks read about processes and the machine, straight from /proc:
resident memory, CPU time, the broker's queues, and the machine facts a result
must carry (cores, load average)."""

from __future__ import annotations

import asyncio
import os
import platform
import resource
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def rss_kb(pid: int) -> int:
    """Resident set size of `pid` in KiB (VmRSS)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def cpu_s(pid: int) -> float:
    """User plus system CPU seconds `pid` has used (its threads included)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


def find_pid(comm: str) -> int | None:
    """The first process whose command name is `comm` (e.g. RabbitMQ's `beam.smp`)."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == comm:
                    return int(entry.name)
            except OSError:
                continue
    return None


def raise_nofile() -> int:
    """Raise this process's open-files limit to its hard limit (children inherit it)."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def loadavg() -> list[float]:
    return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]


def busy_processes(sample_s: float = 1.0, at_least: float = 10.0) -> list[str]:
    """Processes using at least `at_least` % CPU over `sample_s`, busiest first: on a
    shared machine, the other work that ran beside a benchmark."""

    def snapshot() -> dict[int, float]:
        found: dict[int, float] = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    found[int(entry.name)] = cpu_s(int(entry.name))
                except (OSError, ValueError, IndexError):
                    continue
        return found

    before = snapshot()
    time.sleep(sample_s)
    after = snapshot()
    busy: list[tuple[float, str]] = []
    for pid, used in after.items():
        percent = 100 * (used - before.get(pid, used)) / sample_s
        if percent >= at_least:
            busy.append((percent, _describe(pid)))
    return [f"{name} {percent:.0f} %" for percent, name in sorted(busy, reverse=True)[:6]]


def _describe(pid: int) -> str:
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return str(pid)
    words = [a.decode(errors="replace") for a in args if a]
    if not words:
        return str(pid)
    name = Path(words[0]).name
    # `python -m module ...` or `python script.py ...`: the module or script says more.
    if name.startswith("python") and len(words) > 1 and words[1] == "-c":
        return f"{name} -c"
    if name.startswith("python") and len(words) > 1:
        rest = words[2:4] if words[1] == "-m" else words[1:3]
        return " ".join([name, *(Path(w).name for w in rest)])
    return name


def machine() -> dict[str, object]:
    """The facts a result needs to be read: cores, memory, load, versions, time."""
    mem_kb = next(
        int(line.split()[1])
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal:")
    )
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    return {
        "cores": os.cpu_count(),
        "memory_gib": round(mem_kb / 1024 / 1024, 1),
        "loadavg": loadavg(),
        "busy_processes": busy_processes(),
        "python": platform.python_version(),
        "kernel": platform.release(),
        "commit": commit,
        "at": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
    }


@dataclass
class CpuMeter:
    """CPU % of named processes over an interval (100 % = one core)."""

    pids: dict[str, int]
    _start: dict[str, float] = field(default_factory=dict)
    _began: float = 0.0

    def start(self) -> None:
        self._start = {name: _cpu_or_nan(pid) for name, pid in self.pids.items()}
        self._began = time.perf_counter()

    def stop(self) -> dict[str, float]:
        wall = time.perf_counter() - self._began
        return {
            name: round(100 * (_cpu_or_nan(pid) - self._start[name]) / wall, 1)
            for name, pid in self.pids.items()
        }


def _cpu_or_nan(pid: int) -> float:
    try:
        return cpu_s(pid)
    except OSError:
        return float("nan")


class PeakRss:
    """Samples the summed RSS of processes every `interval_s` in the background; `peak` is the largest."""

    def __init__(self, pids: list[int], interval_s: float = 0.25) -> None:
        self.pids = pids
        self.interval_s = interval_s
        self.peak = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.peak = self._rss()
        self._task = asyncio.create_task(self._sample())

    async def stop(self) -> int:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self.peak = max(self.peak, self._rss())
        return self.peak

    def _rss(self) -> int:
        return sum(rss_kb(pid) for pid in self.pids)

    async def _sample(self) -> None:
        while True:
            self.peak = max(self.peak, self._rss())
            await asyncio.sleep(self.interval_s)


@dataclass(frozen=True)
class QueueStat:
    name: str
    ready: int
    """Messages waiting for a consumer."""
    unacked: int
    """Messages delivered and not yet acknowledged (a worker's prompts in progress)."""
    memory: int
    """Bytes the broker holds for the queue (its process and messages)."""


def vhost_of(amqp_url: str) -> str:
    return unquote(urlsplit(amqp_url).path.lstrip("/")) or "/"


def list_queues(amqp_url: str) -> list[QueueStat]:
    """The vhost's queues with depth and memory, from `rabbitmqctl` (no management plugin needed)."""
    columns = ["name", "messages_ready", "messages_unacknowledged", "memory"]
    done = subprocess.run(
        ["rabbitmqctl", "-q", "list_queues", "-p", vhost_of(amqp_url), *columns, "--no-table-headers"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    stats: list[QueueStat] = []
    for line in done.stdout.splitlines():
        parts = line.split("\t")
        if len(parts) == len(columns) and parts[1].strip().isdigit():
            stats.append(QueueStat(parts[0], int(parts[1]), int(parts[2] or 0), int(parts[3] or 0)))
    return stats
