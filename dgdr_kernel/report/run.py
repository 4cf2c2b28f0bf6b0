"""Run the capacity planner notebook headless and export its HTML report.

`dgdr report` and each worker of `dgdr batch` call `run_report`. Papermill
executes `capacity_planner.ipynb` (shipped as `dgdr_kernel.notebooks`) with
the DGDR path as a parameter, and the notebook writes the bundle into the
output folder. Then nbconvert exports the executed notebook to `report.html`
with the code hidden and plotly.js embedded.
"""

from __future__ import annotations

import importlib.resources
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from dgdr_kernel.errors import BundleError, ReportError

__all__ = [
    "EXECUTED_NOTEBOOK",
    "NOTEBOOK",
    "REPORT_HTML",
    "ReportError",
    "ReportOutcome",
    "check_kernel",
    "check_output_dir",
    "run_report",
]

logger = logging.getLogger(__name__)

NOTEBOOK = "capacity_planner.ipynb"
EXECUTED_NOTEBOOK = "capacity_planner.ipynb"
FAILED_NOTEBOOK = "capacity_planner.failed.ipynb"
REPORT_HTML = "report.html"
DEFAULT_KERNEL = "python3"
DEFAULT_CELL_TIMEOUT_S = 600

# Files an earlier failed run leaves; a new run may replace them without --force.
_REPLACEABLE_FILES = {"profiler_status.yaml", FAILED_NOTEBOOK}


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
    """Raise BundleError if `out_dir` contains files and `force` is not set."""
    if out_dir.exists() and not out_dir.is_dir():
        raise BundleError(f"output path {out_dir} exists and is not a folder; choose another -o")
    if force or not out_dir.is_dir():
        return
    entries = {entry.name for entry in out_dir.iterdir()}
    if entries - _REPLACEABLE_FILES:
        raise BundleError(
            f"output folder {out_dir} is not empty (it may hold an earlier report); "
            "pass --force to replace it or choose another -o"
        )


def run_report(
    spec_path: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    force: bool = False,
    kernel_name: str = DEFAULT_KERNEL,
    cell_timeout_s: int = DEFAULT_CELL_TIMEOUT_S,
    progress_bar: bool = False,
) -> ReportOutcome:
    """Execute the capacity planner on one DGDR file and export `report.html`.

    Parameters
    ----------
    spec_path
        The DGDR YAML or JSON file.
    out_dir
        Receives the bundle, the executed notebook, `report.html` and
        `report_summary.json`.
    force
        Replace an existing report or bundle in `out_dir`.
    kernel_name
        The Jupyter kernel that runs the notebook.
    cell_timeout_s
        Time limit of one notebook cell.
    progress_bar
        Show papermill's per-cell progress bar.

    Raises
    ------
    SpecError
        The DGDR is invalid (checked before any kernel starts).
    BundleError
        `out_dir` contains files and `force` is not set.
    ReportError
        A kernel or package is missing, or the notebook failed; the failed
        notebook is kept in `out_dir` as `capacity_planner.failed.ipynb`.
    """
    from dgdr_kernel.report.summary import read_summary
    from dgdr_kernel.spec import load_dgdr

    spec_path = Path(spec_path).resolve()
    out_dir = Path(out_dir).resolve()

    # Cheap checks first, so a bad input fails before a kernel starts.
    loaded = load_dgdr(spec_path)
    check_output_dir(out_dir, force=force)
    _require_notebook_extra()
    check_kernel(kernel_name)
    # The bundle writer accepts only an earlier status file in its folder.
    (out_dir / FAILED_NOTEBOOK).unlink(missing_ok=True)

    import papermill
    from papermill.exceptions import PapermillExecutionError

    from dgdr_kernel.report.html import export_report_html

    parameters = {"dgdr_path": str(spec_path), "output_dir": str(out_dir), "overwrite": bool(force), "interactive": False}
    notebook_source = importlib.resources.files("dgdr_kernel.notebooks").joinpath(NOTEBOOK)

    with tempfile.TemporaryDirectory(prefix="dgdr-report-") as scratch, importlib.resources.as_file(notebook_source) as notebook:
        # papermill saves the output notebook after every cell; it is kept out
        # of `out_dir` because the bundle writer replaces that folder whole.
        executed = Path(scratch) / EXECUTED_NOTEBOOK
        logger.info("executing %s for %s", notebook, spec_path)
        try:
            papermill.execute_notebook(
                str(notebook),
                str(executed),
                parameters=parameters,
                kernel_name=kernel_name,
                progress_bar=progress_bar,
                execution_timeout=cell_timeout_s,
                report_mode=True,
            )
        except PapermillExecutionError as exc:
            kept = _keep_failed_notebook(executed, out_dir)
            raise ReportError(
                f"{spec_path.name}: the capacity planner notebook failed in cell {exc.cell_index}: "
                f"{exc.ename}: {exc.evalue}; the executed notebook is at {kept}"
            ) from None

        out_dir.mkdir(parents=True, exist_ok=True)
        notebook_path = out_dir / EXECUTED_NOTEBOOK
        shutil.move(str(executed), notebook_path)

    html_path = export_report_html(notebook_path, out_dir / REPORT_HTML, title=f"{loaded.name}: capacity plan")
    summary = read_summary(out_dir) or {}
    logger.info("report written to %s", html_path)
    return ReportOutcome(out_dir=out_dir, html_path=html_path, notebook_path=notebook_path, summary=summary)


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
