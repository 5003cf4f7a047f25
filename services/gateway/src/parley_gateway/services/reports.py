"""Use cases of what the gateway reports: the live models, and the admin statistics."""

from __future__ import annotations

from typing import Any

from parley_contracts.topology import inference_queue
from parley_gateway.domain.registry import WorkerRegistry
from parley_gateway.domain.stats import LatencyWindow, summarise_usage
from parley_gateway.ports import SessionQueues


def models_listing(registry: WorkerRegistry) -> dict[str, Any]:
    return {
        "models": [
            {"name": m.name, "workers": m.workers, "free_slots": m.free_slots} for m in registry.models()
        ]
    }


async def admin_stats(
    usage_rows: list[dict[str, Any]],
    *,
    registry: WorkerRegistry,
    latency: LatencyWindow,
    queues: SessionQueues,
) -> dict[str, Any]:
    """Usage totals, latency percentiles, live workers, generations in flight and queue depths."""
    workers = registry.live()
    models = registry.models()
    depths = await queues.depths([inference_queue(m.name).name for m in models])
    return {
        "usage": summarise_usage(usage_rows),
        "latency": latency.summary(),
        "workers": [
            {
                "worker_id": w.worker_id,
                "models": list(w.models),
                "capacity": w.capacity,
                "free_slots": w.free_slots,
                "stopping": w.stopping,
            }
            for w in workers
        ],
        "generations_in_flight": sum(max(w.capacity - w.free_slots, 0) for w in workers if not w.stopping),
        "queues": [
            {
                "model": m.name,
                "queue": inference_queue(m.name).name,
                "ready": depths.get(inference_queue(m.name).name),
            }
            for m in models
        ],
    }
