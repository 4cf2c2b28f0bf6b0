"""`dgdr profile SPEC`: sweep, pick and print the summary; with -o, write the bundle.

The bundle (see `dgdr_kernel.bundle`) contains final_config.yaml (ConfigMaps,
then the DGD), profiler_status.yaml, dgdr_status.yaml, candidates.csv,
pareto.csv and the planner curves. profiler_status.yaml is written on every
outcome, invalid input included; a failed run leaves nothing else and never
touches an earlier bundle. `--force` replaces only the bundle's own entries,
and only files that an earlier dgdr run recorded in `.dgdr-manifest.json`.
"""

from __future__ import annotations

import argparse
import sys

from dgdr_kernel.bundle import write_bundle, write_failed_status
from dgdr_kernel.cli import positive_int
from dgdr_kernel.errors import BundleError, DgdrError, SpecError
from dgdr_kernel.status import ProfilingPhase

__all__ = ["register", "run_profile"]

DGD_API_VERSIONS = ("nvidia.com/v1alpha1", "nvidia.com/v1beta1")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "profile",
        help="sweep serving configurations, pick one and write the DGD",
        description=(
            "Profile a DynamoGraphDeploymentRequest offline: price every serving configuration "
            "with the performance model, pick one as the Dynamo profiler would, and print the "
            "pick and its alternatives. With -o DIR, write the bundle: final_config.yaml, "
            "profiler_status.yaml, dgdr_status.yaml, candidates.csv, pareto.csv and the planner "
            "curves. Exit code 0 on success, 1 when the input cannot be profiled, 2 on a usage error."
        ),
    )
    parser.add_argument("spec", metavar="SPEC", help="DGDR file (YAML or JSON), or - for standard input")
    parser.add_argument("-o", "--output-dir", metavar="DIR", help="folder to write the bundle to")
    parser.add_argument(
        "--force",
        action="store_true",
        help=(
            "write into a DIR that already contains files: replace the bundle's own entries "
            "(final_config.yaml, profiler_status.yaml, dgdr_status.yaml, candidates.csv, pareto.csv, "
            "selected_prefill_interpolation/, selected_decode_interpolation/), remove the report files "
            "of an earlier run (report.html, report_summary.json, capacity_planner.ipynb, "
            "capacity_planner.failed.ipynb) and keep every other file; a file under one of those names that "
            "no earlier dgdr run wrote (DIR/.dgdr-manifest.json) stops the run with an error"
        ),
    )
    parser.add_argument(
        "--dgd-api-version",
        choices=DGD_API_VERSIONS,
        default="nvidia.com/v1alpha1",
        help="apiVersion of the generated DynamoGraphDeployment (default: nvidia.com/v1alpha1, the form overrides.dgd is written in)",
    )
    parser.add_argument("--top", type=positive_int, default=5, metavar="N", help="alternatives to rank and print (default: 5)")
    parser.add_argument("--no-progress", action="store_true", help="log phases instead of drawing a progress bar")
    parser.set_defaults(func=run_profile)


def run_profile(args: argparse.Namespace) -> int:
    from dgdr_kernel.pipeline import make_progress, profile
    from dgdr_kernel.spec import load_dgdr
    from dgdr_kernel.summary import format_selection

    show = make_progress("log" if args.no_progress else "auto")
    phase = ProfilingPhase.INITIALIZING.value

    def track(current: str, message: str) -> None:
        nonlocal phase
        phase = current
        show(current, message)

    try:
        loaded = load_dgdr(args.spec)
        result = profile(loaded, progress=track, dgd_api_version=args.dgd_api_version, top_n=args.top)
        bundle_dir = write_bundle(result, args.output_dir, force=args.force) if args.output_dir else None
    except DgdrError as exc:
        if args.output_dir:
            write_failed_status(args.output_dir, phase=phase, error=exc)
        if isinstance(exc, (SpecError, BundleError)):
            raise
        raise type(exc)(f"profiling failed during {phase}: {exc}") from exc

    print(format_selection(result.selection, result.request, warnings=result.warnings))
    # The summary on standard output lists every warning of the run. When that
    # output is redirected, each warning also goes to standard error once, so it
    # still reaches the terminal. On a terminal it would show twice, so it does not.
    if not sys.stdout.isatty():
        for warning in dict.fromkeys(result.warnings):
            print(f"warning: {warning}", file=sys.stderr)
    if bundle_dir is not None:
        print(f"bundle written to {bundle_dir}")
    return 0
