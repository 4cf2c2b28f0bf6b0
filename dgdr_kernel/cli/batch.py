"""`dgdr batch SPECS... -o DIR`: one report per DGDR, in parallel, and an index page.

Each request gets `DIR/<name>/` with its bundle, executed notebook and
`report.html` (see `dgdr report`). `DIR/index.html` lists every request with
its pick, GPUs, mean TTFT, mean ITL and tokens/s/GPU, linked to its report. A
request that fails is listed with its error, its folder keeps a failed
`profiler_status.yaml`, and the others still run. One SPEC may be `-`: the
DGDR is read from standard input once, in this process, and handed to its
worker as text.

`DIR/.dgdr-manifest.json` records `index.html` and the request folders of the
batch. With `--force`, a request folder that the previous batch recorded and
this batch does not write is removed, except for files dgdr did not write.
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import os
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from dgdr_kernel.cli import positive_int
from dgdr_kernel.cli.report import REPLACED_FILES_HELP, add_kernel_arguments, add_progress_argument, draws_progress_bar

__all__ = ["register", "run_batch"]

logger = logging.getLogger(__name__)

INDEX_HTML = "index.html"
STDIN = "-"
# Folder name of a request read from standard input that has no valid name.
STDIN_REQUEST_NAME = "stdin"
_DEFAULT_MAX_JOBS = 4


class _SpecsAction(argparse.Action):
    """Store the SPEC list; standard input can be read once, so `-` may appear only once."""

    def __call__(self, parser, namespace, values, option_string=None):
        if values.count(STDIN) > 1:
            parser.error(f"SPEC - (standard input) given {values.count(STDIN)} times; standard input can be read only once, so pass - at most once")
        setattr(namespace, self.dest, values)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "batch",
        help="write a report for each of many DGDRs in parallel, plus an index page",
        description=(
            "Run the capacity planner notebook on every DGDR file in parallel worker processes. "
            "Each request gets DIR/<name>/ (<name> is the DGDR's name) with its bundle, "
            "executed notebook, report.html and report_summary.json, as dgdr report writes them; "
            "DIR/index.html summarises them all. A failed request is listed with its error and "
            "its folder keeps a failed profiler_status.yaml. Exit code 0 when every request "
            "succeeded, 1 when any failed, 2 on a usage error."
        ),
    )
    parser.add_argument(
        "specs",
        metavar="SPEC",
        nargs="+",
        action=_SpecsAction,
        help="DGDR files (YAML or JSON); one of them may be - to read a DGDR from standard input (more than one - is a usage error)",
    )
    parser.add_argument("-o", "--output-dir", metavar="DIR", required=True, help="folder for the reports and index.html")
    parser.add_argument(
        "--jobs",
        "-j",
        type=positive_int,
        default=None,
        metavar="N",
        help=f"requests run at once (default: the smaller of {_DEFAULT_MAX_JOBS} and the CPU count)",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help=(
            f"write into a DIR that already contains files: replace DIR/index.html and, in each DIR/<name>/, "
            f"{REPLACED_FILES_HELP}, when an earlier dgdr run wrote them (a same-named file of yours stops the "
            "run with an error); remove the request folders of the previous batch that this batch does not "
            "write; keep every other file"
        ),
    )
    add_kernel_arguments(parser)
    add_progress_argument(parser)
    parser.set_defaults(func=run_batch)


def _request_names(specs: list[str], stdin_text: str | None) -> list[tuple[str, str, str | None]]:
    """Return (spec, folder name, load error) per spec; folder names are unique."""
    from dgdr_kernel.errors import DgdrError
    from dgdr_kernel.spec import load_dgdr, parse_text

    named = []
    taken: set[str] = set()
    for spec in specs:
        error = None
        try:
            source = parse_text(stdin_text or "", "<stdin>") if spec == STDIN else spec
            name = load_dgdr(source).name
        except DgdrError as exc:
            fallback = STDIN_REQUEST_NAME if spec == STDIN else Path(spec).stem
            name, error = fallback or "request", str(exc)
        unique, suffix = name, 2
        while unique in taken:
            unique, suffix = f"{name}-{suffix}", suffix + 1
        taken.add(unique)
        named.append((spec, unique, error))
    return named


def report_one(spec: str, out_dir: str, force: bool, kernel_name: str, cell_timeout_s: int, dgdr_text: str | None = None) -> dict:
    """Run one report in a worker process and return its index entry (with `error` on failure)."""
    from dgdr_kernel.errors import DgdrError
    from dgdr_kernel.report.run import run_report

    try:
        outcome = run_report(
            spec, out_dir, dgdr_text=dgdr_text, force=force, kernel_name=kernel_name, cell_timeout_s=cell_timeout_s
        )
    except DgdrError as exc:
        # The index is shared like the reports: name files relative to it, not by their local path.
        index_dir = str(Path(out_dir).resolve().parent) + os.sep
        return {"error": str(exc).replace(index_dir, "")}
    return dict(outcome.summary)


def run_batch(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from dgdr_kernel.bundle import check_output_folder, read_manifest, record_outputs, require_own_entries, write_failed_status
    from dgdr_kernel.errors import BundleError
    from dgdr_kernel.report.html import write_index
    from dgdr_kernel.report.run import REPORT_HTML, check_kernel
    from dgdr_kernel.status import ProfilingPhase

    # A missing kernel would fail every request the same way, so report it once.
    check_kernel(args.kernel)

    # A folder that cannot be created or written fails here, not after the requests ran.
    out_root = check_output_folder(args.output_dir)
    index_path = out_root / INDEX_HTML
    if index_path.exists() and not args.force:
        raise BundleError(f"{index_path} already exists (an earlier batch); pass --force to replace it or choose another -o")
    # Both read nothing from a folder that does not exist yet.
    require_own_entries(out_root, [INDEX_HTML])
    previous_folders = read_manifest(out_root)["request_folders"]
    out_root.mkdir(parents=True, exist_ok=True)
    stdin_text = sys.stdin.read() if STDIN in args.specs else None
    requests = _request_names(args.specs, stdin_text)
    jobs = args.jobs or max(1, min(_DEFAULT_MAX_JOBS, os.cpu_count() or 1, len(requests)))

    entries: dict[str, dict] = {}
    for spec, name, error in requests:
        if error is not None:
            entries[name] = {"request": name, "error": error}
            logger.info("request %s not run: %s", name, error)
            # The profiler contract: a status file on every outcome, invalid input included.
            write_failed_status(out_root / name, phase=ProfilingPhase.INITIALIZING.value, error=error)

    runnable = [(spec, name) for spec, name, error in requests if error is None]
    # spawn: each worker starts clean instead of inheriting this process's
    # threads and open files through fork.
    context = multiprocessing.get_context("spawn")
    show_bar = draws_progress_bar(args)
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool, tqdm(
        total=len(requests),
        initial=len(entries),
        desc="dgdr batch",
        unit="request",
        file=sys.stderr,
        disable=not show_bar,
    ) as bar:
        futures = {
            pool.submit(
                report_one,
                spec,
                str(out_root / name),
                args.force,
                args.kernel,
                args.cell_timeout,
                stdin_text if spec == STDIN else None,
            ): name
            for spec, name in runnable
        }
        for future in as_completed(futures):
            name = futures[future]
            try:
                entry = future.result()
            except Exception as exc:  # a crashed worker must not hide the other results
                entry = {"error": f"worker failed: {type(exc).__name__}: {exc}"}
            entry["request"] = name
            if not entry.get("error"):
                entry["report"] = f"{name}/{REPORT_HTML}"
            entries[name] = entry
            outcome = "failed" if entry.get("error") else "done"
            bar.set_postfix_str(f"{name}: {outcome}")
            bar.update(1)
            if not show_bar:
                logger.info("request %s %s (%d of %d finished)", name, outcome, len(entries), len(requests))

    ordered = [entries[name] for _, name, _ in requests]
    try:
        index = write_index(ordered, index_path, title=f"dgdr batch: {len(ordered)} request(s)")
    except OSError as exc:
        raise BundleError(
            f"cannot write {index_path}: {exc.strerror or exc}; the reports of the requests are in {out_root}"
        ) from None
    names = [name for _, name, _ in requests]
    if args.force:
        _remove_stale_requests(out_root, [name for name in previous_folders if name not in names])
    record_outputs(out_root, written=[INDEX_HTML], request_folders=names)

    # The same warnings as `dgdr report` prints, once per request, so a batch is never silent about them.
    for entry in ordered:
        for warning in dict.fromkeys(entry.get("warnings") or []):
            print(f"warning: {entry['request']}: {warning}", file=sys.stderr)
    failed = [entry for entry in ordered if entry.get("error")]
    for entry in failed:
        print(f"error: {entry['request']}: {entry['error']}", file=sys.stderr)
    print(f"{len(ordered) - len(failed)} of {len(ordered)} request(s) succeeded; index: {index}")
    return 1 if failed else 0


def _remove_stale_requests(out_root: Path, stale: list[str]) -> None:
    """Remove the request folders of the previous batch that this batch did not write.

    Only plain folder names recorded in the previous manifest are considered,
    and inside each only the files dgdr wrote are removed (`remove_own_folder`).
    """
    from dgdr_kernel.bundle import remove_own_folder

    for name in stale:
        folder = out_root / name
        if Path(name).name != name or name in ("", ".", "..") or folder.is_symlink() or not folder.is_dir():
            continue
        try:
            kept = remove_own_folder(folder)
        except OSError as exc:
            print(f"warning: cannot remove {name}/ of the previous batch: {exc}", file=sys.stderr)
            continue
        if kept:
            shown = ", ".join(str(path.relative_to(out_root)) for path in kept)
            print(f"warning: {name}/ of the previous batch is kept because dgdr did not write {shown}", file=sys.stderr)
