"""SLA checks on predicted means, and the (TTFT, ITL) pairs of e2eLatency mode.

Every check compares predicted *means* with the targets, as the upstream
profiler does; percentiles are not modelled.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from dgdr_kernel.request import SlaTargets

__all__ = ["E2E_TTFT_GRID_MS", "e2e_sla_pairs", "sla_miss_ratio", "sla_reject_reasons"]

# TTFT values AIConfigurator tries when only an end-to-end latency is given.
E2E_TTFT_GRID_MS = (300, 400, 500, 600, 800, 1000, 1200, 1400, 1600, 2000, 3000, 5000, 8000)
_E2E_FRACTIONS = (0.1, 0.2, 0.3, 0.5, 0.7)


def e2e_sla_pairs(e2e_latency_ms: float, osl: int, ttft_ms: float | None = None) -> np.ndarray:
    """Return the (TTFT, ITL) target pairs that split an end-to-end latency `L`.

    Each pair is `(t, (L - t) / (osl - 1))` for `t` in the fixed TTFT grid,
    plus `L * (0.1, 0.2, 0.3, 0.5, 0.7)` when `L` is outside 300..8000 ms,
    plus `ttft_ms` when given; only `t < L` is kept. Shape `(n, 2)`, sorted by TTFT.
    """
    ttfts = list(E2E_TTFT_GRID_MS)
    if e2e_latency_ms < E2E_TTFT_GRID_MS[0] or e2e_latency_ms > E2E_TTFT_GRID_MS[-1]:
        ttfts += [e2e_latency_ms * fraction for fraction in _E2E_FRACTIONS]
    if ttft_ms is not None:
        ttfts.append(ttft_ms)
    ttft = np.unique(np.asarray(ttfts, dtype=float))
    ttft = ttft[ttft < e2e_latency_ms]

    # With one output token there is no inter-token gap to bound.
    itl = (e2e_latency_ms - ttft) / (osl - 1) if osl > 1 else np.full(len(ttft), np.inf)
    return np.stack([ttft, itl], axis=1)


def sla_reject_reasons(candidates: pd.DataFrame, sla: SlaTargets, osl: int) -> np.ndarray:
    """Return per row "" when its means meet the SLA, else `misses TTFT`, `misses ITL` or `misses e2e latency`.

    In e2eLatency mode a row meets the SLA when it meets at least one pair of
    `e2e_sla_pairs`.
    """
    ttft = candidates["ttft_ms"].to_numpy(dtype=float)
    itl = candidates["itl_ms"].to_numpy(dtype=float)
    reasons = np.full(len(candidates), "", dtype=object)

    if sla.is_e2e:
        pairs = e2e_sla_pairs(sla.e2e_latency_ms, osl, sla.ttft_ms)
        meets = (ttft[:, None] <= pairs[None, :, 0]) & (itl[:, None] <= pairs[None, :, 1])
        reasons[~meets.any(axis=1)] = "misses e2e latency"
        return reasons

    if sla.itl_ms is not None:
        reasons[~(itl <= sla.itl_ms)] = "misses ITL"
    if sla.ttft_ms is not None:
        # TTFT is reported first when both are missed.
        reasons[~(ttft <= sla.ttft_ms)] = "misses TTFT"
    return reasons


def sla_miss_ratio(candidates: pd.DataFrame, sla: SlaTargets) -> np.ndarray:
    """Return per row how far the worst target is missed, as a fraction (0 when met).

    e2eLatency mode measures the request latency against the end-to-end target.
    """
    if sla.is_e2e:
        latency = candidates["request_latency_ms"].to_numpy(dtype=float)
        return np.maximum(latency / sla.e2e_latency_ms - 1.0, 0.0)

    miss = np.zeros(len(candidates))
    if sla.ttft_ms is not None:
        miss = np.maximum(miss, candidates["ttft_ms"].to_numpy(dtype=float) / sla.ttft_ms - 1.0)
    if sla.itl_ms is not None:
        miss = np.maximum(miss, candidates["itl_ms"].to_numpy(dtype=float) / sla.itl_ms - 1.0)
    return miss
