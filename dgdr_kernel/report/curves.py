"""Data for the figures that the candidate table does not hold: TTFT over ISL, memory per role.

These call the performance model directly; they are pure and fast (one
vectorised call per prefill layout).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from dgdr_kernel.selection import EngineLayout, Pick

__all__ = ["build_ttft_curves", "isl_grid", "memory_by_role", "prefill_layouts"]

_LAYOUT_FIELDS = ("tp", "pp", "dp", "moe_tp", "moe_ep")
_MIN_ISL = 128
_ISL_POINTS = 14


def isl_grid(workload_isl: int, max_context_tokens: int | None) -> np.ndarray:
    """Return ISL values on a log scale around the workload's ISL, capped by the context length.

    The grid spans 128 tokens to four times the workload's ISL and always
    includes the workload's ISL itself.
    """
    upper = 4 * max(int(workload_isl), _MIN_ISL)
    if max_context_tokens:
        upper = min(upper, int(max_context_tokens))
    upper = max(upper, _MIN_ISL + 1)
    grid = np.geomspace(_MIN_ISL, upper, _ISL_POINTS).round().astype(np.int64)
    return np.unique(np.append(grid, min(int(workload_isl), upper)))


def _layout_label(row: pd.Series, prefix: str) -> str:
    layout = EngineLayout(**{field: int(row[f"{prefix}{field}"]) for field in _LAYOUT_FIELDS})
    return layout.parallel


def prefill_layouts(candidates: pd.DataFrame, backend: str) -> pd.DataFrame:
    """Return the distinct prefill layouts of `backend` (the agg layouts when no disagg row exists).

    Columns: the layout fields `tp pp dp moe_tp moe_ep` and `layout` (its label).
    """
    rows = candidates[candidates["backend"] == backend]
    disagg = rows[(rows["mode"] == "disagg") & rows["p_tp"].notna()]
    prefix, source = ("p_", disagg) if len(disagg) else ("d_", rows[rows["mode"] == "agg"])
    columns = [f"{prefix}{field}" for field in _LAYOUT_FIELDS]
    layouts = source[columns].dropna().astype(int).drop_duplicates().sort_values(columns)
    layouts.columns = list(_LAYOUT_FIELDS)
    layouts["layout"] = [_layout_label(row, "") for _, row in layouts.iterrows()]
    return layouts.reset_index(drop=True)


def _chosen_prefill(pick: Pick | None) -> EngineLayout | None:
    if pick is None:
        return None
    return pick.prefill if pick.mode == "disagg" else pick.agg


def build_ttft_curves(request, selection, *, isl_values=None) -> tuple[pd.DataFrame, str | None]:
    """Predict the prefill time (TTFT without queueing) over ISL for every prefill layout.

    Uses the backend of the pick (the first requested backend when there is
    no pick).

    Returns
    -------
    (curves, chosen_layout)
        `curves` has columns `layout`, `p_tp`, `isl`, `ttft_ms`;
        `chosen_layout` is the label of the pick's prefill (or agg) layout.
    """
    from dgdr_kernel.perf import Layout, PerfModel

    chosen = selection.chosen
    backend = chosen.backend if chosen is not None else request.backends[0]
    if isl_values is None:
        isl_values = isl_grid(request.isl, request.arch.max_position_embeddings)
    isl_values = np.asarray(isl_values, dtype=np.int64)

    layouts = prefill_layouts(selection.candidates, backend)
    chosen_layout = _chosen_prefill(chosen)
    if chosen_layout is not None:
        # The pick's layout is always drawn, even if the table lost it.
        layouts = pd.concat(
            [layouts, pd.DataFrame([{**{f: getattr(chosen_layout, f) for f in _LAYOUT_FIELDS}, "layout": chosen_layout.parallel}])],
            ignore_index=True,
        ).drop_duplicates(subset=list(_LAYOUT_FIELDS))

    model = PerfModel(request.arch, request.gpu, backend)
    frames = []
    for _, row in layouts.iterrows():
        size = len(isl_values)
        layout = Layout(**{field: np.full(size, int(row[field])) for field in _LAYOUT_FIELDS})
        ttft_ms = np.asarray(model.disagg_prefill(layout, isl_values).ttft_ms, dtype=float)
        frames.append(pd.DataFrame({"layout": row["layout"], "p_tp": int(row["tp"]), "isl": isl_values, "ttft_ms": ttft_ms}))

    curves = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["layout", "p_tp", "isl", "ttft_ms"])
    return curves, (chosen_layout.parallel if chosen_layout is not None else None)


def memory_by_role(request, pick: Pick) -> pd.DataFrame:
    """Return the memory split of one GPU per role of `pick`.

    The decode (or agg) GPU comes from the pick itself; a disagg prefill GPU
    is priced with the performance model.
    """
    rows = []
    if pick.mode == "disagg" and pick.prefill is not None:
        from dgdr_kernel.perf import Layout, PerfModel

        model = PerfModel(request.arch, request.gpu, pick.backend)
        layout = Layout(**{field: getattr(pick.prefill, field) for field in _LAYOUT_FIELDS})
        memory = model.memory(layout)
        rows.append(
            {
                "role": "prefill",
                "weights_gib_per_gpu": float(np.asarray(memory.weights_gib_per_gpu)[0]),
                "kv_cache_gib_per_gpu": float(np.asarray(memory.kv_cache_gib_per_gpu)[0]),
                "reserve_gib_per_gpu": float(np.asarray(memory.reserve_gib_per_gpu)[0]),
            }
        )
    rows.append(
        {
            "role": "agg" if pick.mode == "agg" else "decode",
            "weights_gib_per_gpu": pick.weights_gib_per_gpu,
            "kv_cache_gib_per_gpu": pick.kv_cache_gib_per_gpu,
            "reserve_gib_per_gpu": pick.reserve_gib_per_gpu,
        }
    )
    return pd.DataFrame(rows)
