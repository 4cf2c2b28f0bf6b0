"""The five figures of one plan, built together for the notebook, the report and the widgets."""

from __future__ import annotations

import pandas as pd

from dgdr_kernel.report.curves import build_ttft_curves, memory_by_role
from dgdr_kernel.report.figures import (
    figure_itl_vs_concurrency,
    figure_memory,
    figure_pareto,
    figure_replica_layout,
    figure_ttft_vs_isl,
)

__all__ = ["FIGURE_NAMES", "build_figures"]

# Display order; also the div ids (`dgdr-<name>`) in the exported report.
FIGURE_NAMES = ("pareto", "ttft-vs-isl", "itl-vs-batch", "memory", "replica-layout")


def build_figures(request, selection, frontier: pd.DataFrame | None = None) -> dict:
    """Return the plan's figures by name (see `FIGURE_NAMES`).

    Without a pick (nothing fits in memory) the memory and replica layout
    figures are left out.
    """
    candidates = selection.candidates
    chosen = selection.chosen
    sla = request.sla

    curves, chosen_layout = build_ttft_curves(request, selection)
    figures = {
        "pareto": figure_pareto(candidates, frontier=frontier, chosen=chosen, itl_sla_ms=sla.itl_ms),
        "ttft-vs-isl": figure_ttft_vs_isl(
            curves, ttft_sla_ms=sla.ttft_ms, chosen_layout=chosen_layout, workload_isl=request.isl
        ),
        "itl-vs-batch": figure_itl_vs_concurrency(candidates, itl_sla_ms=sla.itl_ms, chosen=chosen),
    }
    if chosen is not None:
        figures["memory"] = figure_memory(memory_by_role(request, chosen), vram_gib=request.hardware.vram_mib / 1024.0)
        figures["replica-layout"] = figure_replica_layout(
            chosen, gpus_per_node=request.hardware.num_gpus_per_node, total_gpus=request.total_gpus
        )
    return figures
