"""xPyD rate matching: how many prefill and decode workers make one disagg unit.

For a prefill engine serving `P` requests/s on `Pg` GPUs and a decode engine
serving `D` requests/s on `Dg` GPUs, a unit of `x` prefill and `y` decode
workers serves `min(0.9 * x * P, 0.92 * y * D)` requests/s on `x*Pg + y*Dg`
GPUs. The search takes `x, y` in 1..32 whose GPU total is in the allowed set
and maximises requests/s per GPU, preferring fewer GPUs on ties. The factors
0.9 and 0.92 are the throughput degradations AIConfigurator applies when a
prefill or decode engine shares a deployment with the other role.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "DECODE_DEGRADATION",
    "MAX_WORKERS_PER_ROLE",
    "PREFILL_DEGRADATION",
    "RateMatch",
    "allowed_unit_gpus",
    "match_rates",
]

PREFILL_DEGRADATION = 0.9
DECODE_DEGRADATION = 0.92
MAX_WORKERS_PER_ROLE = 32

# AIConfigurator's default GPU totals for one disagg unit.
_UNIT_GPU_LIST = np.array([1, 2, 4, 8, *range(16, 129, 8)], dtype=np.int64)


def allowed_unit_gpus(total_gpus: int) -> np.ndarray:
    """Return the GPU totals one xPyD unit may have: the default list up to min(total_gpus, 128)."""
    return _UNIT_GPU_LIST[_UNIT_GPU_LIST <= min(total_gpus, 128)]


@dataclass(frozen=True)
class RateMatch:
    """Best `x` prefill and `y` decode workers per pair (0 where no split is allowed)."""

    p_workers: np.ndarray
    d_workers: np.ndarray
    requests_per_s: np.ndarray  # of one unit, degradations applied
    gpus: np.ndarray  # of one unit


def _splits(p_gpus: int, d_gpus: int, allowed: np.ndarray, max_workers: int) -> tuple[np.ndarray, np.ndarray]:
    """Return the allowed (x, y) for one pair of worker widths, fewest GPUs first."""
    x, y = np.meshgrid(np.arange(1, max_workers + 1), np.arange(1, max_workers + 1), indexing="ij")
    x, y = x.ravel(), y.ravel()
    gpus = x * p_gpus + y * d_gpus
    keep = np.isin(gpus, allowed)
    x, y, gpus = x[keep], y[keep], gpus[keep]
    order = np.argsort(gpus, kind="stable")
    return x[order], y[order]


def match_rates(
    p_requests_per_s: np.ndarray,
    p_gpus: np.ndarray,
    d_requests_per_s: np.ndarray,
    d_gpus: np.ndarray,
    allowed_gpus: np.ndarray,
    max_workers: int = MAX_WORKERS_PER_ROLE,
) -> RateMatch:
    """Find the best xPyD split for each (prefill, decode) pair; all arrays are aligned.

    A pair whose widths admit no allowed split gets `x = y = 0` and NaN requests/s.
    """
    p_rps = np.asarray(p_requests_per_s, dtype=float)
    d_rps = np.asarray(d_requests_per_s, dtype=float)
    p_gpus = np.asarray(p_gpus, dtype=np.int64)
    d_gpus = np.asarray(d_gpus, dtype=np.int64)
    size = len(p_rps)
    best_x = np.zeros(size, dtype=np.int64)
    best_y = np.zeros(size, dtype=np.int64)
    best_rps = np.full(size, np.nan)

    # Worker widths take a handful of values, so loop over width pairs and
    # vectorise over the pairs sharing them.
    widths = np.stack([p_gpus, d_gpus], axis=1)
    for pg, dg in np.unique(widths, axis=0):
        rows = np.nonzero((p_gpus == pg) & (d_gpus == dg))[0]
        x, y = _splits(int(pg), int(dg), allowed_gpus, max_workers)
        if len(x) == 0:
            continue
        served = np.minimum(
            PREFILL_DEGRADATION * x[None, :] * p_rps[rows, None],
            DECODE_DEGRADATION * y[None, :] * d_rps[rows, None],
        )
        per_gpu = served / (x * pg + y * dg)[None, :]
        # argmax returns the first maximum, and splits are sorted by GPUs,
        # so ties go to the smaller unit. Non-finite rates stay unmatched.
        per_gpu = np.where(np.isfinite(per_gpu), per_gpu, -np.inf)
        choice = np.argmax(per_gpu, axis=1)
        finite = np.isfinite(per_gpu[np.arange(len(rows)), choice])
        chosen_rows = rows[finite]
        best_x[chosen_rows] = x[choice[finite]]
        best_y[chosen_rows] = y[choice[finite]]
        best_rps[chosen_rows] = served[np.nonzero(finite)[0], choice[finite]]

    return RateMatch(
        p_workers=best_x,
        d_workers=best_y,
        requests_per_s=best_rps,
        gpus=best_x * p_gpus + best_y * d_gpus,
    )
