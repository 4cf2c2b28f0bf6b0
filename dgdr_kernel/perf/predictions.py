"""Result records of the performance model: arrays, one entry per candidate."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["AggPrediction", "PrefillPrediction", "DecodePrediction"]


@dataclass(frozen=True)
class AggPrediction:
    """Aggregated worker in a closed loop at a fixed concurrency."""

    ttft_ms: np.ndarray
    itl_ms: np.ndarray
    request_latency_ms: np.ndarray
    requests_per_s: np.ndarray
    """Completed requests per second of one worker."""
    tokens_per_s_per_gpu: np.ndarray
    tokens_per_s_per_user: np.ndarray
    batch: np.ndarray
    """Requests running in the engine (the rest of the concurrency queues)."""
    provenance: np.ndarray


@dataclass(frozen=True)
class PrefillPrediction:
    """Prefill worker serving one request at a time per DP rank."""

    ttft_ms: np.ndarray
    """Prefill time of one request, without queueing."""
    requests_per_s: np.ndarray
    """Prefills per second of one worker."""
    provenance: np.ndarray


@dataclass(frozen=True)
class DecodePrediction:
    """Decode worker running a fixed batch."""

    itl_ms: np.ndarray
    requests_per_s: np.ndarray
    tokens_per_s_per_gpu: np.ndarray
    tokens_per_s_per_user: np.ndarray
    batch: np.ndarray
    """Batch actually run: the requested batch capped by the KV capacity."""
    provenance: np.ndarray
