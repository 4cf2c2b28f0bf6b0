"""One request planned across GPU SKUs, backends and workloads, with a cost per million output tokens.

Prices are inputs: `add_cost_columns` takes a $/GPU-hour table from the
caller and this package states none as fact.
"""

from __future__ import annotations

import itertools
import math
from typing import Mapping

import pandas as pd
import plotly.graph_objects as go

from dgdr_kernel.errors import DgdrError, ReportError
from dgdr_kernel.report.inputs import with_overrides
from dgdr_kernel.report.summary import describe_pick_short

__all__ = ["add_cost_columns", "compare_plans", "figure_compare"]

SECONDS_PER_HOUR = 3600.0
TOKENS_PER_MILLION = 1e6

_COLUMNS = [
    "workload", "isl", "osl", "gpu_sku", "backend", "picked_backend", "pick", "mode", "total_gpus", "ttft_ms", "itl_ms",
    "tokens_per_s_per_user", "tokens_per_s_per_gpu", "requests_per_s", "meets_sla", "provenance",
    "calibration_caveat", "error",
]  # fmt: skip


def _plan_row(document: dict) -> dict:
    from dgdr_kernel.picking import pick
    from dgdr_kernel.pipeline import calibration_caveats
    from dgdr_kernel.request import resolve_request
    from dgdr_kernel.spec import load_dgdr
    from dgdr_kernel.sweep import run_sweep

    request = resolve_request(load_dgdr(document))
    selection = pick(request, run_sweep(request))
    chosen = selection.chosen
    if chosen is None:
        return {"error": "; ".join(selection.warnings) or "no configuration fits in memory"}
    return {
        "picked_backend": chosen.backend,
        "pick": describe_pick_short(chosen),
        "mode": chosen.mode,
        "total_gpus": chosen.total_gpus,
        "ttft_ms": chosen.ttft_ms,
        "itl_ms": chosen.itl_ms,
        "tokens_per_s_per_user": chosen.tokens_per_s_per_user,
        "tokens_per_s_per_gpu": chosen.tokens_per_s_per_gpu,
        "requests_per_s": chosen.requests_per_s,
        "meets_sla": chosen.meets_sla,
        "provenance": chosen.provenance,
        "calibration_caveat": " ".join(calibration_caveats(request, [chosen.backend])),
        "error": "",
    }


def compare_plans(
    base_document: dict,
    *,
    gpu_skus: list[str],
    backends: list[str],
    workloads: Mapping[str, tuple[int, int]],
) -> pd.DataFrame:
    """Plan `base_document` for every GPU SKU x backend x workload and return one row each.

    Parameters
    ----------
    base_document
        A DGDR document (see `inputs.build_dgdr_document`); its SLA, GPU
        budget and node size apply to every combination. Without a node
        size, each SKU gets its typical node from the hardware catalog.
    gpu_skus, backends
        The values to try (backend `auto` picks the best of the three).
        The `backend` column keeps the value tried and `picked_backend`
        names the pick's engine, so an `auto` row stays apart from the
        row of the backend it picked.
    workloads
        Name -> (ISL, OSL) in tokens.

    `provenance` states whether the pick's numbers come from parameters fitted
    to measurements for that SKU and backend (`calibrated`) or from physical
    defaults (`modelled`); `calibration_caveat` gives why they may be off, or
    is empty. A combination that cannot be planned is kept with its `error`,
    so the table always has one row per combination.
    """
    rows = []
    gpus_per_node = base_document.get("spec", {}).get("hardware", {}).get("numGpusPerNode")
    for (name, (isl, osl)), sku, backend in itertools.product(workloads.items(), gpu_skus, backends):
        row = {"workload": name, "isl": int(isl), "osl": int(osl), "gpu_sku": sku, "backend": backend}
        document = with_overrides(
            base_document, gpu_sku=sku, num_gpus_per_node=gpus_per_node, backend=backend, isl=isl, osl=osl
        )
        try:
            row.update(_plan_row(document))
        except DgdrError as exc:
            row["error"] = str(exc)
        rows.append(row)
    return pd.DataFrame(rows).reindex(columns=_COLUMNS)


def add_cost_columns(table: pd.DataFrame, usd_per_gpu_hour: Mapping[str, float]) -> pd.DataFrame:
    """Add `usd_per_gpu_hour` and `usd_per_million_output_tokens` to a comparison table.

    Cost per million output tokens = $/GPU-hour / (tokens/s/GPU x 3600 s/h)
    x 10^6. A SKU missing from `usd_per_gpu_hour` gets no cost (NaN).

    Raises
    ------
    ReportError
        When a price is negative or not a number.
    """
    for sku, price in usd_per_gpu_hour.items():
        if not isinstance(price, (int, float)) or isinstance(price, bool) or not math.isfinite(price) or price < 0:
            raise ReportError(
                f"usd_per_gpu_hour[{sku!r}] must be a non-negative number of dollars per GPU-hour, got {price!r}; "
                "set it to your price, e.g. 2.5"
            )

    table = table.copy()
    table["usd_per_gpu_hour"] = table["gpu_sku"].map(lambda sku: float(usd_per_gpu_hour.get(sku, math.nan)))
    tokens_per_gpu_hour = table["tokens_per_s_per_gpu"].astype(float) * SECONDS_PER_HOUR
    table["usd_per_million_output_tokens"] = table["usd_per_gpu_hour"] / tokens_per_gpu_hour * TOKENS_PER_MILLION
    return table


def _bar_label(sku: str, backend: str, picked_backend: str) -> str:
    return f"{sku}<br>{backend}" if backend == picked_backend else f"{sku}<br>{backend} ({picked_backend})"


def figure_compare(table: pd.DataFrame, *, value: str, title: str, y_title: str) -> go.Figure:
    """Plot one column of a comparison table as grouped bars: SKU and backend on x, one colour per workload."""
    fig = go.Figure()
    planned = table[table["error"].fillna("") == ""]
    for workload, group in planned.groupby("workload", sort=False):
        fig.add_trace(
            go.Bar(
                x=[
                    _bar_label(sku, backend, picked)
                    for sku, backend, picked in zip(group["gpu_sku"], group["backend"], group["picked_backend"])
                ],
                y=group[value],
                name=f"{workload} (ISL {group['isl'].iloc[0]}, OSL {group['osl'].iloc[0]})",
                customdata=group[["pick"]].to_numpy(),
                hovertemplate="%{x}<br>%{customdata[0]}<br>%{y:.2f}<extra>%{fullData.name}</extra>",
            )
        )
    fig.update_layout(
        template="plotly_white",
        barmode="group",
        title=title,
        xaxis_title="GPU SKU and backend",
        yaxis_title=y_title,
        height=460,
        margin=dict(l=70, r=30, t=60, b=80),
    )
    return fig
