"""Which inference workers are alive, and which models they serve, from
their heartbeats (spine notes: a worker is live while its last heartbeat is
younger than 3 of its intervals)."""

from __future__ import annotations

from dataclasses import dataclass

from parley_gateway.domain.clock import Clock

MISSED_HEARTBEATS = 3


@dataclass(frozen=True)
class WorkerState:
    worker_id: str
    models: tuple[str, ...]
    capacity: int
    free_slots: int
    interval_s: float
    stopping: bool
    seen_at: float

    def live_at(self, now: float) -> bool:
        return now - self.seen_at < MISSED_HEARTBEATS * self.interval_s


@dataclass(frozen=True)
class ModelInfo:
    name: str
    workers: int
    free_slots: int


class WorkerRegistry:
    def __init__(self, *, clock: Clock) -> None:
        self._clock = clock
        self._workers: dict[str, WorkerState] = {}

    def observe(
        self,
        worker_id: str,
        *,
        models: tuple[str, ...],
        capacity: int,
        free_slots: int,
        interval_s: float,
        stopping: bool = False,
    ) -> None:
        self._workers[worker_id] = WorkerState(
            worker_id=worker_id,
            models=tuple(models),
            capacity=max(capacity, 0),
            free_slots=max(free_slots, 0),
            interval_s=max(interval_s, 0.001),
            stopping=stopping,
            seen_at=self._clock(),
        )

    def live(self) -> list[WorkerState]:
        now = self._clock()
        for worker_id in [w for w, state in self._workers.items() if not state.live_at(now)]:
            del self._workers[worker_id]
        return list(self._workers.values())

    def serves(self, model: str) -> bool:
        """Whether a live worker that takes new work serves `model`."""
        return any(model in w.models for w in self.live() if not w.stopping)

    def models(self) -> list[ModelInfo]:
        """Models served by live workers taking new work, by name."""
        workers: dict[str, int] = {}
        free: dict[str, int] = {}
        for state in self.live():
            if state.stopping:
                continue
            for model in dict.fromkeys(state.models):
                workers[model] = workers.get(model, 0) + 1
                free[model] = free.get(model, 0) + state.free_slots
        return [ModelInfo(name, workers[name], free[name]) for name in sorted(workers)]

    def snapshot_holders(self) -> frozenset[str]:
        """Workers that may hold a generation, so must answer a snapshot
        request: every live worker but those stopping with nothing in flight."""
        return frozenset(w.worker_id for w in self.live() if not (w.stopping and w.free_slots >= w.capacity))
