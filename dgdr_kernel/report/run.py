"""Run the capacity planner notebook headless and export its HTML report.

`dgdr report` and each worker of `dgdr batch` call `run_report`. Papermill
executes `capacity_planner.ipynb` (shipped as `dgdr_kernel.notebooks`) with
the DGDR path, or the DGDR text read from standard input, as a parameter, and
the notebook writes the bundle into the output folder. Then nbconvert exports
the executed notebook to `report.html` with the code hidden and plotly.js
embedded.

Every outcome leaves `profiler_status.yaml`, as `dgdr profile -o` does: the
bundle's on success, a failed one (status, phase, message, error, timestamp)
when the DGDR is invalid or the notebook fails. `bundle.write_failed_status`
skips it when the folder contains other files, so an earlier bundle stays whole.
Each run that reaches the notebook records the files it wrote in the folder's
`.dgdr-manifest.json`, and a later run replaces only files listed there.
"""

from __future__ import annotations

import functools
import importlib.resources
import logging
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from dgdr_kernel.errors import BundleError, DgdrError, ReportError
from dgdr_kernel.report.summary import SUMMARY_FILE

__all__ = [
    "EXECUTED_NOTEBOOK",
    "FAILED_NOTEBOOK",
    "NOTEBOOK",
    "PROFILE_CELL_TAG",
    "REPORT_FILES",
    "REPORT_HTML",
    "STDIN",
    "ReportError",
    "ReportOutcome",
    "check_kernel",
    "check_output_dir",
    "load_notebook_request",
    "profile_with_status",
    "run_report",
]

logger = logging.getLogger(__name__)

NOTEBOOK = "capacity_planner.ipynb"
EXECUTED_NOTEBOOK = "capacity_planner.ipynb"
FAILED_NOTEBOOK = "capacity_planner.failed.ipynb"
REPORT_HTML = "report.html"
PROFILER_STATUS = "profiler_status.yaml"
# Files a report adds next to the bundle. `--force` replaces these and the bundle's own entries,
# and only those an earlier dgdr run wrote (see `bundle.require_own_entries`).
REPORT_FILES = (EXECUTED_NOTEBOOK, FAILED_NOTEBOOK, REPORT_HTML, SUMMARY_FILE)
# Tag of the notebook cell that loads and profiles the DGDR. A failed run
# reads it to tell whether profiling had finished before the failing cell.
PROFILE_CELL_TAG = "dgdr-profile"
# The SPEC that stands for standard input.
STDIN = "-"
DEFAULT_KERNEL = "python3"
DEFAULT_CELL_TIMEOUT_S = 600

# Files an earlier failed run leaves; a new run may replace them without --force.
_REPLACEABLE_FILES = (PROFILER_STATUS, FAILED_NOTEBOOK)


@dataclass(frozen=True)
class ReportOutcome:
    """Paths of the files one report run wrote, and its summary."""

    out_dir: Path
    html_path: Path
    notebook_path: Path
    summary: dict


def _require_notebook_extra() -> None:
    missing = []
    for module in ("papermill", "nbconvert", "plotly", "ipykernel"):
        try:
            __import__(module)
        except ImportError:
            missing.append(module)
    if missing:
        raise ReportError(
            f"reports need {', '.join(missing)}, which are not installed; "
            "install the notebook extra: pip install 'dgdr-workbench[notebook]'"
        )


def check_kernel(kernel_name: str = DEFAULT_KERNEL) -> None:
    """Raise ReportError unless a Jupyter kernel named `kernel_name` is installed."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        KernelSpecManager().get_kernel_spec(kernel_name)
    except NoSuchKernel:
        raise ReportError(
            f"no Jupyter kernel named {kernel_name!r} is installed; register this environment's "
            "kernel with `python -m ipykernel install --sys-prefix` (or pass --kernel with an installed one; "
            "`jupyter kernelspec list` shows them)"
        ) from None


def check_output_dir(out_dir: Path, *, force: bool) -> None:
    """Raise BundleError unless a report may write into `out_dir`.

    The folder must exist or be creatable, and be writable. Without `force`
    it may contain only what a failed run leaves; with it, other files may be
    there too. Either way, every file the report would replace must have been
    written by an earlier dgdr run.
    """
    from dgdr_kernel.bundle import BUNDLE_ENTRIES, MANIFEST, check_output_folder, require_own_entries

    # A folder that cannot be created or written fails here, before the kernel runs for seconds.
    check_output_folder(out_dir)
    if not out_dir.is_dir():
        return
    if not force:
        entries = {entry.name for entry in out_dir.iterdir()}
        if entries - {*_REPLACEABLE_FILES, MANIFEST}:
            raise BundleError(
                f"output folder {out_dir} is not empty (it may hold an earlier report); "
                "pass --force to replace it or choose another -o"
            )
    require_own_entries(out_dir, (*BUNDLE_ENTRIES, *REPORT_FILES))


def run_report(
    spec: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    dgdr_text: str | None = None,
    force: bool = False,
    kernel_name: str = DEFAULT_KERNEL,
    cell_timeout_s: int = DEFAULT_CELL_TIMEOUT_S,
    progress_bar: bool = False,
) -> ReportOutcome:
    """Execute the capacity planner on one DGDR and export `report.html`.

    Parameters
    ----------
    spec
        The DGDR YAML or JSON file, or `-` to read the DGDR from standard input.
    out_dir
        Receives the bundle, the executed notebook, `report.html` and
        `report_summary.json`.
    dgdr_text
        The DGDR as YAML or JSON text; when given, `spec` only names it in
        messages and nothing is read from it.
    force
        Write into an `out_dir` that contains files: replace the bundle's own
        entries and the report files (`REPORT_FILES`) that an earlier dgdr run
        wrote there, keep every other file.
    kernel_name
        The Jupyter kernel that runs the notebook.
    cell_timeout_s
        Time limit of one notebook cell.
    progress_bar
        Show papermill's per-cell progress bar; without it the steps are
        logged at INFO level.

    Raises
    ------
    SpecError
        The DGDR is invalid (checked before any kernel starts); a failed
        `profiler_status.yaml` is written into `out_dir`.
    BundleError
        `out_dir` cannot be created or written, contains files and `force`
        is not set, or a file the report would replace was not written by dgdr.
    ReportError
        A kernel or package is missing, or the notebook failed; the failed
        notebook is kept in `out_dir` as `capacity_planner.failed.ipynb`
        next to a failed `profiler_status.yaml`.
    """
    from dgdr_kernel.bundle import record_outputs, write_failed_status
    from dgdr_kernel.report.summary import SUMMARY_FILE, read_summary
    from dgdr_kernel.spec import load_dgdr, parse_text
    from dgdr_kernel.status import ProfilingPhase

    # Cheap checks first, so a bad input fails before a kernel starts. The output
    # folder comes before standard input, which can be read only once.
    out_dir = Path(out_dir).resolve()
    check_output_dir(out_dir, force=force)
    if dgdr_text is None and str(spec) == STDIN:
        dgdr_text = sys.stdin.read()
    spec_name = "<stdin>" if str(spec) == STDIN else Path(spec).name
    spec_path = None if dgdr_text is not None else Path(spec).resolve()

    try:
        loaded = load_dgdr(spec_path) if spec_path is not None else load_dgdr(parse_text(dgdr_text, spec_name))
    except DgdrError as exc:
        write_failed_status(out_dir, phase=ProfilingPhase.INITIALIZING.value, error=exc)
        raise
    _require_notebook_extra()
    check_kernel(kernel_name)
    _remove_failed_outcome(out_dir)

    import papermill
    from nbclient.exceptions import CellTimeoutError, DeadKernelError
    from papermill.exceptions import PapermillExecutionError

    from dgdr_kernel.report.html import export_report_html

    parameters = {"output_dir": str(out_dir), "overwrite": bool(force), "interactive": False}
    if spec_path is not None:
        parameters["dgdr_path"] = str(spec_path)
    else:
        parameters["dgdr_text"] = dgdr_text
    notebook_source = importlib.resources.files("dgdr_kernel.notebooks").joinpath(NOTEBOOK)

    with tempfile.TemporaryDirectory(prefix="dgdr-report-") as scratch, importlib.resources.as_file(notebook_source) as notebook:
        # papermill saves the output notebook after every cell; it is kept out
        # of `out_dir` until the run succeeds, so a failed run leaves it under
        # FAILED_NOTEBOOK and never a half-run notebook under the final name.
        executed = Path(scratch) / EXECUTED_NOTEBOOK
        logger.info("executing %s for %s", notebook, spec_name)
        try:
            papermill.execute_notebook(
                str(notebook),
                str(executed),
                parameters=parameters,
                kernel_name=kernel_name,
                progress_bar=progress_bar,
                execution_timeout=cell_timeout_s,
                report_mode=True,
                extra_arguments=_kernel_arguments(kernel_name),
                kernel_manager_class=_quiet_shutdown_kernel_manager(),
            )
        except PapermillExecutionError as exc:
            _record_notebook_failure(executed, out_dir, exc)
            kept = _keep_failed_notebook(executed, out_dir)
            _record_failed_run(out_dir)
            raise ReportError(
                f"{spec_name}: the capacity planner notebook failed in cell {exc.cell_index}: "
                f"{exc.ename}: {exc.evalue}; {_describe_kept(kept, out_dir)}"
            ) from None
        except (CellTimeoutError, DeadKernelError) as exc:
            # The kernel timed out or died, so no cell index or exception is known.
            _record_kernel_failure(out_dir, exc)
            kept = _keep_failed_notebook(executed, out_dir)
            _record_failed_run(out_dir)
            first_line = (str(exc).splitlines() or [""])[0]
            raise ReportError(
                f"{spec_name}: the capacity planner notebook stopped ({type(exc).__name__}: {first_line}); "
                f"raise --cell-timeout or check the kernel's memory; {_describe_kept(kept, out_dir)}"
            ) from None

        out_dir.mkdir(parents=True, exist_ok=True)
        notebook_path = out_dir / EXECUTED_NOTEBOOK
        shutil.move(str(executed), notebook_path)

    logger.info("exporting %s for %s", REPORT_HTML, spec_name)
    html_path = export_report_html(notebook_path, out_dir / REPORT_HTML, title=f"{loaded.name}: capacity plan")
    # The notebook recorded the bundle; this adds the files written around it.
    record_outputs(out_dir, written=[EXECUTED_NOTEBOOK, REPORT_HTML, SUMMARY_FILE], removed=[FAILED_NOTEBOOK])
    summary = read_summary(out_dir) or {}
    logger.info("report written to %s", html_path)
    return ReportOutcome(out_dir=out_dir, html_path=html_path, notebook_path=notebook_path, summary=summary)


def load_notebook_request(*, dgdr_path: str = "", dgdr_text: str = "", fields: dict | None = None):
    """Load the DGDR a notebook run names: a file, YAML or JSON text, or plain fields.

    The first of `dgdr_path`, `dgdr_text` and `fields` that is set wins.
    Raises SpecError when the DGDR is invalid.
    """
    from dgdr_kernel.report.inputs import build_dgdr_document
    from dgdr_kernel.spec import load_dgdr, parse_text

    if dgdr_path:
        return load_dgdr(dgdr_path)
    if dgdr_text:
        # Parsed here because `load_dgdr` takes a one-line string without a
        # newline for a file name.
        return load_dgdr(parse_text(dgdr_text, "<dgdr_text>"))
    return load_dgdr(build_dgdr_document(**(fields or {})))


def profile_with_status(load, *, output_dir: str | os.PathLike = ""):
    """Load and profile a DGDR; on failure write a failed `profiler_status.yaml`, then re-raise.

    `load` is a callable returning the loaded DGDR, so an invalid DGDR is
    recorded too. The status names the phase the pipeline had reached, as
    `dgdr profile -o` writes it. Returns the loaded DGDR and the `ProfileResult`.
    """
    from dgdr_kernel.bundle import write_failed_status
    from dgdr_kernel.pipeline import profile
    from dgdr_kernel.status import ProfilingPhase

    phase = ProfilingPhase.INITIALIZING.value

    def track(current: str, message: str) -> None:
        nonlocal phase
        phase = current

    try:
        loaded = load()
        return loaded, profile(loaded, progress=track)
    except Exception as exc:  # a bug fails the run as surely as bad input; the status must say so
        if output_dir:
            write_failed_status(output_dir, phase=phase, error=exc)
        raise


def _remove_failed_outcome(out_dir: Path) -> None:
    """Remove what an earlier failed run left, so the outcome files always describe this run."""
    status = out_dir / PROFILER_STATUS
    stale = [out_dir / FAILED_NOTEBOOK]
    if _read_status(status) == "failed":
        stale.append(status)
    for path in stale:
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            raise BundleError(
                f"cannot remove {path}, left by an earlier failed run: {exc.strerror or exc}; "
                "remove it yourself or choose another -o"
            ) from None


def _read_status(path: Path) -> str | None:
    import yaml

    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return None
    return document.get("status") if isinstance(document, dict) else None


def _record_notebook_failure(executed: Path, out_dir: Path, error) -> None:
    """Write a failed status unless the profiling cell already wrote one (with its exact phase).

    A cell before the profiling cell fails in phase Initializing; a cell after
    it fails once profiling is Done (figures, the bundle, the summary).
    """
    from dgdr_kernel.bundle import write_failed_status
    from dgdr_kernel.status import ProfilingPhase

    if (out_dir / PROFILER_STATUS).exists():
        return
    profile_cell = _find_tagged_cell(executed, PROFILE_CELL_TAG)
    after_profiling = profile_cell is not None and error.cell_index > profile_cell
    phase = ProfilingPhase.DONE if after_profiling else ProfilingPhase.INITIALIZING
    write_failed_status(out_dir, phase=phase.value, error=f"{error.ename}: {error.evalue}")


def _record_kernel_failure(out_dir: Path, error: Exception) -> None:
    """Write a failed status for a timed-out or dead kernel unless one was written."""
    from dgdr_kernel.bundle import write_failed_status
    from dgdr_kernel.status import ProfilingPhase

    if (out_dir / PROFILER_STATUS).exists():
        return
    write_failed_status(out_dir, phase=ProfilingPhase.INITIALIZING.value, error=f"{type(error).__name__}: {error}")


def _find_tagged_cell(notebook_path: Path, tag: str) -> int | None:
    import nbformat

    try:
        notebook = nbformat.read(notebook_path, as_version=4)
    except (OSError, ValueError) as exc:
        logger.warning("cannot read the executed notebook %s: %s", notebook_path, exc)
        return None
    for index, cell in enumerate(notebook.cells):
        if tag in cell.get("metadata", {}).get("tags", []):
            return index
    return None


def _kernel_arguments(kernel_name: str) -> list[str]:
    """Return the command-line options for the kernel that runs the notebook.

    ipykernel logs "Kernel is running over TCP without encryption" at WARNING
    on every start (ipykernel 7, kernelapp.py), from the kernel process into
    our standard error. The kernel listens on loopback only (jupyter_client's
    default address), so the line is noise for a headless run. Raising that
    kernel's own log level to ERROR hides it and touches no other kernel or
    Python process. Cell output and cell errors are not log records and stay
    as they are. With `dgdr --log-level INFO` or DEBUG the kernel keeps its
    default level.
    """
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    if logger.isEnabledFor(logging.INFO):
        return []
    try:
        argv = KernelSpecManager().get_kernel_spec(kernel_name).argv
    except NoSuchKernel:
        return []
    # Other kernels may reject an option they do not know.
    if not any("ipykernel" in part for part in argv):
        return []
    return ["--IPKernelApp.log_level=ERROR"]


@functools.cache
def _quiet_shutdown_kernel_manager() -> type:
    """Return a kernel manager class that shuts the kernel down without first interrupting it.

    jupyter_client 8 (`KernelManager.shutdown_kernel`) sends SIGINT before the
    shutdown request. When the signal lands while ipykernel is still finishing a
    message, the kernel logs "KeyboardInterrupt caught in kernel." at ERROR on
    our standard error after a successful run. After the last cell the kernel
    is idle, so the shutdown request alone stops it; SIGTERM and SIGKILL still
    follow if it does not exit in time. Interrupts outside a shutdown are sent
    as before, and real kernel errors still reach standard error.
    """
    from jupyter_client import AsyncKernelManager

    class QuietShutdownKernelManager(AsyncKernelManager):
        async def _async_interrupt_kernel(self) -> None:
            if self.shutting_down:
                return
            await super()._async_interrupt_kernel()

    return QuietShutdownKernelManager


def _record_failed_run(out_dir: Path) -> None:
    """Record the failed notebook and the status in the manifest, so a later run may replace them."""
    from dgdr_kernel.bundle import record_outputs

    if not out_dir.is_dir():
        return
    try:
        record_outputs(out_dir, written=[FAILED_NOTEBOOK, PROFILER_STATUS])
    except OSError as exc:
        logger.warning("cannot record the failed run in the manifest of %s: %s", out_dir, exc)


def _describe_kept(kept: Path | None, out_dir: Path) -> str:
    """Return the clause that names the kept failed notebook, or states that none was kept."""
    if kept is None:
        return f"no executed notebook could be kept in {out_dir}"
    return f"the executed notebook is at {kept}"


def _keep_failed_notebook(executed: Path, out_dir: Path) -> Path | None:
    if not executed.exists():
        return None
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        kept = out_dir / FAILED_NOTEBOOK
        shutil.copyfile(executed, kept)
    except OSError as exc:
        logger.warning("could not keep the failed notebook in %s: %s", out_dir, exc)
        return None
    return kept
