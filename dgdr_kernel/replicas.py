"""Replica counts and cluster throughput for the picking modes.

`G` is the GPUs of one replica unit (agg: one worker; disagg: x prefill plus
y decode workers) and `B` is `hardware.totalGpus`. No mode deploys more than
`B` GPUs.
"""

from __future__ import annotations

import numpy as np

__all__ = ["cluster_tokens_per_s_per_gpu", "default_replicas", "load_match_replicas"]


def default_replicas(gpus_per_unit: np.ndarray, total_gpus: int) -> np.ndarray:
    """Return `floor(B / G)`: the units that fit in the budget (0 when one unit is over it)."""
    return np.asarray(total_gpus, dtype=np.int64) // np.asarray(gpus_per_unit, dtype=np.int64)


def cluster_tokens_per_s_per_gpu(
    tokens_per_s_per_gpu: np.ndarray, gpus_per_unit: np.ndarray, total_gpus: int
) -> np.ndarray:
    """Return `tokens/s/gpu * floor(B/G) * G / B`: throughput per GPU of the whole budget.

    GPUs left over because `G` does not divide `B` count as idle, so a unit
    that divides the budget is preferred over an equally fast one that does not.
    """
    gpus_per_unit = np.asarray(gpus_per_unit, dtype=np.int64)
    used = default_replicas(gpus_per_unit, total_gpus) * gpus_per_unit
    return np.asarray(tokens_per_s_per_gpu, dtype=float) * used / total_gpus


def load_match_replicas(
    *,
    requests_per_s: np.ndarray,
    concurrency: np.ndarray,
    gpus_per_unit: np.ndarray,
    total_gpus: int,
    target_request_rate: float | None,
    target_concurrency: float | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return `(replicas_needed, replicas, load_served_pct)` per row.

    `replicas_needed` serves the target load: `ceil(rate / requests_per_s)` or
    `ceil(target concurrency / concurrency per unit)`, at least 1. `replicas`
    is that count capped at `floor(B/G)` (at least 1 when one unit fits), and
    `load_served_pct` is the share of the load the capped count serves.
    """
    if target_request_rate is not None:
        needed = np.ceil(target_request_rate / np.asarray(requests_per_s, dtype=float))
    elif target_concurrency is not None:
        needed = np.ceil(target_concurrency / np.asarray(concurrency, dtype=float))
    else:
        raise ValueError("load_match needs a target request rate or concurrency")

    finite = np.isfinite(needed)
    needed = np.where(finite, np.maximum(needed, 1), 0).astype(np.int64)
    capacity = default_replicas(gpus_per_unit, total_gpus)
    replicas = np.minimum(needed, capacity)
    served_pct = np.where(needed > 0, 100.0 * replicas / np.maximum(needed, 1), 0.0)
    return needed, replicas, np.minimum(served_pct, 100.0)
