"""Replica counts and cluster throughput for the picking modes.

`G` is the GPUs of one replica unit (agg: one worker; disagg: x prefill plus
y decode workers) and `B` is `hardware.totalGpus`. No mode deploys more than
`B` GPUs.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "LOAD_POINT_COLUMNS",
    "cluster_tokens_per_s_per_gpu",
    "default_replicas",
    "load_match_replicas",
    "operating_point",
    "replica_share",
]


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


# Columns `operating_point` returns, one value per row.
LOAD_POINT_COLUMNS = ("ttft_ms", "itl_ms", "requests_per_s", "concurrency", "tokens_per_s_per_gpu")

_SOLVER_STEPS = 40


def replica_share(
    *, replicas: np.ndarray, capacity: np.ndarray, target: float
) -> np.ndarray:
    """Return each replica's share of `target` (`target / replicas`), capped at one replica's `capacity`."""
    replicas = np.maximum(np.asarray(replicas, dtype=float), 1.0)
    return np.minimum(target / replicas, np.asarray(capacity, dtype=float))


def operating_point(request, rows, replicas: np.ndarray):
    """Return the predicted means of each row's replica at its share of the target load.

    `rows` are candidate rows (agg or disagg units sized at capacity) and
    `replicas` their unit counts. Each unit gets `target / replicas` of the
    load, capped at its capacity, and the performance model predicts it there:

    - agg, concurrency target: the worker runs that many requests in a closed loop;
    - agg, rate target: the closed-loop concurrency whose throughput is the share (bisection);
    - disagg, concurrency target: the decode workers hold the share between them,
      the unit serves `min(0.9 x P, 0.92 y D(b))` requests/s, and TTFT is the
      prefill pool's M/D/c wait at that rate plus prefill and KV transfer;
    - disagg, rate target: the decode batch `b` with `0.92 y D(b)` equal to the
      share (bisection, at least 1), and TTFT as above at the share.

    Returns a DataFrame with `LOAD_POINT_COLUMNS`, indexed like `rows`.
    """
    import pandas as pd

    from dgdr_kernel.perf import Layout, PerfModel
    from dgdr_kernel.rate_matching import DECODE_DEGRADATION, PREFILL_DEGRADATION
    from dgdr_kernel.sweep import disagg_ttft_ms

    by_rate = request.request_rate is not None
    target = float(request.request_rate if by_rate else request.concurrency)
    result = pd.DataFrame(np.nan, index=rows.index, columns=list(LOAD_POINT_COLUMNS))
    replicas = pd.Series(np.asarray(replicas), index=rows.index)
    isl, osl = request.isl, max(request.osl, 1)

    def layout(frame, prefix):
        return Layout(*(frame[f"{prefix}_{column}"].to_numpy(dtype=np.int64) for column in ("tp", "pp", "dp", "moe_tp", "moe_ep")))

    for (backend, mode), frame in rows.groupby(["backend", "mode"], sort=False):
        model = PerfModel(request.arch, request.gpu, backend)
        share = replica_share(
            replicas=replicas[frame.index].to_numpy(),
            capacity=frame["requests_per_s" if by_rate else "concurrency"].to_numpy(dtype=float),
            target=target,
        )
        gpus = frame["gpus_per_unit"].to_numpy(dtype=float)
        decode_layout = layout(frame, "d")
        if mode == "agg":
            if by_rate:
                concurrency = _solve_increasing(
                    lambda c: model.agg(decode_layout, isl, osl, c).requests_per_s,
                    share, low=np.full(len(frame), 1e-3), high=frame["concurrency"].to_numpy(dtype=float),
                )
            else:
                concurrency = share
            prediction = model.agg(decode_layout, isl, osl, concurrency)
            ttft_ms = np.asarray(prediction.ttft_ms, dtype=float)
            itl_ms = np.asarray(prediction.itl_ms, dtype=float)
            requests_per_s = np.asarray(prediction.requests_per_s, dtype=float)
        else:
            x = frame["p_workers"].to_numpy(dtype=float)
            y = frame["d_workers"].to_numpy(dtype=float)
            prefill_capacity = PREFILL_DEGRADATION * x * frame["prefill_requests_per_s_per_worker"].to_numpy(dtype=float)

            def decode_rate(batch):
                # Requests/s of the unit's decode workers at `batch` each (ITL of at least one running request).
                itl = np.asarray(model.disagg_decode(decode_layout, isl, osl, np.maximum(batch, 1.0)).itl_ms, dtype=float)
                return DECODE_DEGRADATION * y * batch * 1e3 / (itl * osl), itl

            if by_rate:
                batch = _solve_increasing(
                    lambda b: decode_rate(b)[0], share,
                    low=np.ones(len(frame)), high=np.maximum(frame["d_batch"].to_numpy(dtype=float), 1.0),
                )
                requests_per_s = share
                concurrency = batch * y
                itl_ms = decode_rate(batch)[1]
            else:
                batch = share / y
                decode_requests_per_s, itl_ms = decode_rate(batch)
                requests_per_s = np.minimum(decode_requests_per_s, prefill_capacity)
                concurrency = share
            _, ttft_ms = disagg_ttft_ms(
                prefill_ms=frame["prefill_ttft_ms"].to_numpy(dtype=float),
                prefill_slots=(x * frame["p_dp"].to_numpy(dtype=float)).astype(np.int64),
                requests_per_s=requests_per_s,
                transfer_ms=frame["kv_transfer_ms"].to_numpy(dtype=float),
            )
        result.loc[frame.index, "ttft_ms"] = ttft_ms
        result.loc[frame.index, "itl_ms"] = itl_ms
        result.loc[frame.index, "requests_per_s"] = requests_per_s
        result.loc[frame.index, "concurrency"] = concurrency
        result.loc[frame.index, "tokens_per_s_per_gpu"] = np.asarray(requests_per_s, dtype=float) * osl / gpus
    return result


def _solve_increasing(function, goal: np.ndarray, *, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Return `v` in [low, high] with `function(v)` equal to `goal`, for an increasing function (vectorised).

    Where `function(low)` is already at or above the goal, `low` is returned;
    where `function(high)` is below it, `high`. In between, the Illinois
    variant of regula falsi keeps a bracket and converges in a few calls on
    the smooth throughput curves it solves here, against some 25 for bisection.
    """
    goal = np.asarray(goal, dtype=float)
    low, high = np.asarray(low, dtype=float).copy(), np.asarray(high, dtype=float).copy()
    high = np.maximum(high, low)
    f_low = np.asarray(function(low), dtype=float) - goal
    f_high = np.asarray(function(high), dtype=float) - goal
    result = np.where(f_low >= 0, low, np.where(f_high < 0, high, np.nan))
    unsolved = np.isnan(result)
    side = np.zeros_like(low)  # which end moved last: -1 low, +1 high
    for _ in range(_SOLVER_STEPS):
        if not unsolved.any():
            break
        span = f_high - f_low
        guess = np.where(span > 0, high - f_high * (high - low) / np.where(span > 0, span, 1.0), 0.5 * (low + high))
        guess = np.clip(guess, low, high)
        f_guess = np.asarray(function(guess), dtype=float) - goal
        below = f_guess < 0
        # Illinois: halve the stale end's value when the same end moves twice, so the bracket keeps shrinking.
        f_high = np.where(below & (side < 0), 0.5 * f_high, f_high)
        f_low = np.where(~below & (side > 0), 0.5 * f_low, f_low)
        low, f_low = np.where(below, guess, low), np.where(below, f_guess, f_low)
        high, f_high = np.where(below, high, guess), np.where(below, f_high, f_guess)
        side = np.where(below, -1.0, 1.0)
        done = unsolved & (np.abs(f_guess) <= 1e-9 * np.maximum(np.abs(goal), 1e-12))
        result = np.where(done, guess, result)
        unsolved &= ~done
    return np.where(unsolved, 0.5 * (low + high), result)
