"""`dgdr report SPEC -o DIR`: run the capacity planner notebook and export an offline HTML report.

DIR receives the profiling bundle (as `dgdr profile -o` writes it), the
executed notebook `capacity_planner.ipynb`, `report.html` (code hidden,
plotly.js embedded, readable with no network) and `report_summary.json` (the
pick and its predicted means, the row `dgdr batch` puts in its index). A
failed run leaves `capacity_planner.failed.ipynb` and a failed
`profiler_status.yaml` instead.
"""

from __future__ import annotations

import argparse
import sys

from dgdr_kernel.cli import positive_int

__all__ = [
    "FORCE_HELP",
    "REPLACED_FILES_HELP",
    "add_kernel_arguments",
    "add_progress_argument",
    "draws_progress_bar",
    "register",
    "run_report_command",
]

# The names match dgdr_kernel.bundle.BUNDLE_ENTRIES and dgdr_kernel.report.run.REPORT_FILES.
REPLACED_FILES_HELP = (
    "the bundle's own entries (final_config.yaml, profiler_status.yaml, dgdr_status.yaml, "
    "candidates.csv, pareto.csv, selected_prefill_interpolation/, selected_decode_interpolation/) "
    "and the report files (capacity_planner.ipynb, capacity_planner.failed.ipynb, report.html, "
    "report_summary.json)"
)
FORCE_HELP = (
    f"write into a DIR that already contains files: replace {REPLACED_FILES_HELP}, when an earlier dgdr run "
    "wrote them (DIR/.dgdr-manifest.json lists them; a same-named file of yours stops the run with an error), "
    "and keep every other file"
)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "report",
        help="profile a DGDR through the capacity planner notebook and write report.html",
        description=(
            "Run notebooks/capacity_planner.ipynb with papermill on one DGDR, keep the executed "
            "notebook, and export report.html with nbconvert: the request, the sweep, the pick "
            "and its alternatives, the figures and the DGD, readable offline. DIR receives the "
            "bundle (as dgdr profile -o writes it), capacity_planner.ipynb, report.html and "
            "report_summary.json (JSON: request, model, GPU SKU, picking mode, pick, GPUs, mean "
            "TTFT, mean ITL, tokens/s/GPU, whether the SLA is met on means, warnings). A failed run leaves capacity_planner.failed.ipynb and a "
            "failed profiler_status.yaml instead. Exit code 0 on success, 1 when the input is "
            "invalid or the notebook fails, 2 on a usage error."
        ),
    )
    parser.add_argument("spec", metavar="SPEC", help="DGDR file (YAML or JSON), or - for standard input")
    parser.add_argument("-o", "--output-dir", metavar="DIR", required=True, help="folder for the bundle and the report")
    parser.add_argument("--force", action="store_true", help=FORCE_HELP)
    add_kernel_arguments(parser)
    add_progress_argument(parser)
    parser.set_defaults(func=run_report_command)


def add_progress_argument(parser: argparse.ArgumentParser) -> None:
    """Add --no-progress, shared by `dgdr report` and `dgdr batch`."""
    parser.add_argument(
        "--no-progress",
        action="store_true",
        help="log the steps (shown with --log-level INFO) instead of drawing a progress bar; "
        "a bar is drawn only when standard error is a terminal",
    )


def draws_progress_bar(args: argparse.Namespace) -> bool:
    """Return True when a progress bar goes to standard error: it is a terminal and --no-progress is not set."""
    return not args.no_progress and sys.stderr.isatty()


def add_kernel_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options shared by `dgdr report` and `dgdr batch`."""
    parser.add_argument(
        "--kernel",
        default="python3",
        metavar="NAME",
        help="Jupyter kernel that runs the notebook (default: python3; `jupyter kernelspec list` shows them)",
    )
    parser.add_argument(
        "--cell-timeout",
        type=positive_int,
        default=600,
        metavar="SECONDS",
        help="time limit of one notebook cell in seconds (default: 600)",
    )


def run_report_command(args: argparse.Namespace) -> int:
    from dgdr_kernel.report.run import run_report

    outcome = run_report(
        args.spec,
        args.output_dir,
        force=args.force,
        kernel_name=args.kernel,
        cell_timeout_s=args.cell_timeout,
        progress_bar=draws_progress_bar(args),
    )
    summary = outcome.summary
    # The run's own report_summary.json: gpus_used is None when nothing fits in memory.
    if summary.get("gpus_used") is not None:
        itl = summary.get("itl_ms")
        itl_text = "mean ITL n/a" if itl is None else f"mean ITL {itl:.2f} ms"
        print(
            f"pick: {summary.get('pick')} on {summary['gpus_used']} of {summary['gpu_budget']} GPUs, "
            f"mean TTFT {summary.get('ttft_ms', 0):.1f} ms, {itl_text}, "
            f"{summary.get('tokens_per_s_per_gpu', 0):.1f} tokens/s/GPU"
        )
        if summary.get("load"):
            print(f"load: {summary['load']}")
        if not summary.get("meets_sla"):
            print("SLA NOT MET on predicted means: the report names the closest configuration and the targets it meets")
    # The same warnings as `dgdr profile`, once each, so the terminal run is never silent about them.
    for warning in dict.fromkeys(summary.get("warnings", [])):
        print(f"warning: {warning}", file=sys.stderr)
    print(f"report: {outcome.html_path}")
    print(f"executed notebook: {outcome.notebook_path}")
    return 0
