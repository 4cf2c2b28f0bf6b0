"""Figures, tables and HTML reports of a profiling run (needs the `notebook` extra).

The notebooks under `dgdr_kernel.notebooks` call these functions one step per
cell; `dgdr report` and `dgdr batch` run those notebooks with papermill and
export them with nbconvert (`dgdr_kernel.report.run`).
"""

from dgdr_kernel.report.curves import build_ttft_curves, memory_by_role
from dgdr_kernel.report.figures import (
    candidate_hover,
    describe_pick,
    figure_itl_vs_concurrency,
    figure_memory,
    figure_pareto,
    figure_replica_layout,
    figure_ttft_vs_isl,
)
from dgdr_kernel.report.html import export_report_html, setup_notebook, show_figure, write_index
from dgdr_kernel.report.inputs import build_dgdr_document, with_overrides
from dgdr_kernel.report.run import load_notebook_request, profile_with_status
from dgdr_kernel.report.summary import describe_pick_short, summarize_result, write_summary
from dgdr_kernel.report.tables import (
    alternatives_table,
    hardware_table,
    model_table,
    reject_reason_counts,
    request_table,
    sweep_overview,
)

__all__ = [
    "alternatives_table",
    "build_dgdr_document",
    "build_ttft_curves",
    "candidate_hover",
    "describe_pick",
    "describe_pick_short",
    "export_report_html",
    "figure_itl_vs_concurrency",
    "figure_memory",
    "figure_pareto",
    "figure_replica_layout",
    "figure_ttft_vs_isl",
    "hardware_table",
    "load_notebook_request",
    "memory_by_role",
    "model_table",
    "profile_with_status",
    "reject_reason_counts",
    "request_table",
    "setup_notebook",
    "show_figure",
    "summarize_result",
    "sweep_overview",
    "with_overrides",
    "write_index",
    "write_summary",
]
