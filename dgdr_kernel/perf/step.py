"""Time of one forward step from its operations and the achieved efficiencies."""

from __future__ import annotations

import numpy as np
import pandas as pd

from dgdr_kernel.perf.ops import Op
from dgdr_kernel.perf.params import PerfParams

__all__ = ["gemm_efficiency", "price_ops", "step_time_ms", "explain_ops"]


def gemm_efficiency(m, params: PerfParams):
    """Return the achieved share of peak TFLOP/s of a GEMM with `m` rows.

    A smooth saturating curve, ``max * m / (m + m_half)``: tiles of a
    small-M GEMM are mostly padding, so it stays far from peak.
    """
    m = np.asarray(m, dtype=float)
    return params.gemm_efficiency_max * m / (m + params.gemm_m_half)


def _peak_flops(dtype: str, gpu) -> float:
    tflops = gpu.dense_tflops.get(dtype) or gpu.dense_tflops.get("bf16") or gpu.dense_tflops.get("fp16")
    return float(tflops) * 1e12


def price_ops(ops: list[Op], gpu, params: PerfParams) -> list[dict]:
    """Return, per op, its compute, memory and total time in ms (arrays)."""
    hbm_bytes_per_ms = gpu.hbm_gb_per_s * 1e9 * params.hbm_efficiency / 1e3
    priced = []
    for op in ops:
        memory_ms = np.asarray(op.bytes, dtype=float) / hbm_bytes_per_ms
        efficiency = np.full_like(memory_ms, np.nan)
        if op.kind == "comm":
            link_bytes_per_ms = np.maximum(np.asarray(op.link_gb_per_s, dtype=float), 1e-9) * 1e9 * params.comm_efficiency / 1e3
            memory_ms = np.asarray(op.bytes, dtype=float) / link_bytes_per_ms
            compute_ms = np.asarray(op.calls, dtype=float) * np.asarray(op.latency_us, dtype=float) / 1e3 + 0 * memory_ms
            time_ms = memory_ms + compute_ms
            efficiency = np.full_like(memory_ms, params.comm_efficiency)
            bound = np.where(time_ms > 0, np.where(memory_ms >= compute_ms, "link", "latency"), "")
        elif op.kind == "expert_fixed":
            memory_ms = np.zeros_like(memory_ms)
            compute_ms = np.asarray(op.calls, dtype=float) * params.expert_overhead_us / 1e3 + memory_ms
            time_ms = compute_ms
            bound = np.where(time_ms > 0, "overhead", "")
        elif op.kind == "memory":
            compute_ms = np.zeros_like(memory_ms)
            time_ms = memory_ms
            bound = np.where(time_ms > 0, "memory", "")
        else:
            efficiency = gemm_efficiency(op.m, params) * op.extra.get("efficiency_scale", 1.0) + 0 * memory_ms
            compute_ms = np.asarray(op.flops, dtype=float) / (_peak_flops(op.dtype, gpu) * efficiency / 1e3)
            time_ms = np.maximum(compute_ms, memory_ms)
            bound = np.where(time_ms > 0, np.where(compute_ms >= memory_ms, "compute", "memory"), "")
        priced.append({"op": op.name, "kind": op.kind, "flops": np.asarray(op.flops, dtype=float) + 0 * memory_ms, "bytes": np.asarray(op.bytes, dtype=float) + 0 * memory_ms,
                       "compute_ms": compute_ms, "memory_ms": memory_ms, "time_ms": time_ms, "bound": bound, "efficiency": efficiency})
    return priced


def step_time_ms(priced: list[dict], num_layers: int, params: PerfParams):
    """Return the step time: the sum of op times plus the per-layer and per-step overheads."""
    total = sum(entry["time_ms"] for entry in priced)
    return total + num_layers * params.layer_overhead_us / 1e3 + params.step_overhead_ms


def explain_ops(priced: list[dict], num_layers: int, params: PerfParams, index: int = 0) -> pd.DataFrame:
    """Return one row per op of candidate `index`, plus the fixed overheads."""
    rows = []
    for entry in priced:
        rows.append({key: (value[index] if isinstance(value, np.ndarray) and value.ndim else value) for key, value in entry.items() if key != "kind"})
    overhead_ms = num_layers * params.layer_overhead_us / 1e3
    rows.append({"op": "layer_overhead", "flops": 0.0, "bytes": 0.0, "compute_ms": 0.0, "memory_ms": 0.0, "time_ms": overhead_ms, "bound": "overhead", "efficiency": np.nan})
    rows.append({"op": "step_overhead", "flops": 0.0, "bytes": 0.0, "compute_ms": 0.0, "memory_ms": 0.0, "time_ms": params.step_overhead_ms, "bound": "overhead", "efficiency": np.nan})
    return pd.DataFrame(rows, columns=["op", "flops", "bytes", "compute_ms", "memory_ms", "time_ms", "bound", "efficiency"])
