"""Write the output bundle of a profiling run without touching files it did not write.

A new output folder is filled in a temporary folder next to it and renamed
into place, so a reader never sees half a bundle. An existing folder is kept
(it may be the working directory or a mount point): the bundle is staged in a
hidden folder inside it and its entries are renamed over the old ones, the
status file last. With `force=True` that replaces the bundle's own entries
(`BUNDLE_ENTRIES`) and the report files (`REPORT_FILES`) and nothing else;
without it an existing folder must be empty or contain only an earlier status
file. A failed run writes only `profiler_status.yaml`, and only into a new or
empty folder (or one containing nothing but an earlier status file), so it never
touches a previous good bundle.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from dgdr_kernel.errors import BundleError
from dgdr_kernel.planner import DECODE_NPZ, PREFILL_NPZ, write_planner_curves
from dgdr_kernel.status import build_profiler_status

if TYPE_CHECKING:
    from dgdr_kernel.pipeline import ProfileResult

__all__ = ["BUNDLE_ENTRIES", "BUNDLE_FILES", "REPORT_FILES", "write_bundle", "write_failed_status"]

logger = logging.getLogger(__name__)

FINAL_CONFIG = "final_config.yaml"
PROFILER_STATUS = "profiler_status.yaml"
DGDR_STATUS = "dgdr_status.yaml"
CANDIDATES = "candidates.csv"
PARETO = "pareto.csv"
BUNDLE_FILES = (FINAL_CONFIG, PROFILER_STATUS, DGDR_STATUS, CANDIDATES, PARETO, PREFILL_NPZ, DECODE_NPZ)
# Top-level names of the bundle: its files and the folders of the planner curves.
BUNDLE_ENTRIES = tuple(dict.fromkeys(Path(name).parts[0] for name in BUNDLE_FILES))
# Files `dgdr report` adds next to the bundle (names from dgdr_kernel/report/run.py
# and report/summary.py). `--force` removes stale ones so they never describe another run.
REPORT_FILES = ("report.html", "report_summary.json", "capacity_planner.ipynb", "capacity_planner.failed.ipynb")
_STAGING_PREFIX = ".dgdr-bundle.tmp-"


class _Dumper(yaml.SafeDumper):
    """Safe YAML with block-style multi-line strings (ConfigMap JSON stays readable)."""


def _represent_str(dumper: yaml.SafeDumper, value: str):
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)


def dump_yaml(document, *, all_documents: bool = False) -> str:
    """Return YAML in the bundle's style: keys in insertion order, block strings."""
    if all_documents:
        return yaml.dump_all(document, Dumper=_Dumper, sort_keys=False, allow_unicode=True)
    return yaml.dump(document, Dumper=_Dumper, sort_keys=False, allow_unicode=True)


def _holds_bundle(out: Path) -> bool:
    """Return True when `out` contains bundle entries other than the status file."""
    return any((out / name).exists() for name in BUNDLE_ENTRIES if name != PROFILER_STATUS)


def _is_replaceable_without_force(out: Path) -> bool:
    entries = [entry.name for entry in out.iterdir()]
    return entries == [] or entries == [PROFILER_STATUS]


def _write_files(result: "ProfileResult", folder: Path) -> None:
    outputs = {"final_config": FINAL_CONFIG, "dgdr_status": DGDR_STATUS, "candidates": CANDIDATES, "pareto": PARETO}
    (folder / FINAL_CONFIG).write_text(dump_yaml(result.rendered.documents, all_documents=True))
    (folder / DGDR_STATUS).write_text(dump_yaml(result.dgdr_status))
    result.selection.candidates.to_csv(folder / CANDIDATES, index=False)
    result.pareto.to_csv(folder / PARETO, index=False)
    if result.curves is not None:
        write_planner_curves(result.curves, folder)
        outputs["prefill_interpolation"] = PREFILL_NPZ
        outputs["decode_interpolation"] = DECODE_NPZ

    status = build_profiler_status(
        "success",
        phase="Done",
        message=f"profiling completed; DynamoGraphDeployment {result.rendered.dgd_name} written to {FINAL_CONFIG}",
        outputs=outputs,
    )
    (folder / PROFILER_STATUS).write_text(dump_yaml(status))


def write_bundle(result: "ProfileResult", out_dir: str | os.PathLike, *, force: bool = False) -> Path:
    """Write the bundle of `result` to `out_dir` and return its absolute path.

    With `force`, only the entries in `BUNDLE_ENTRIES` and `REPORT_FILES` are
    replaced or removed; every other file in `out_dir` is left as it is.

    Raises BundleError when `out_dir` contains other files and `force` is False,
    or when the files cannot be written; the destination is then unchanged.
    """
    out = Path(out_dir).resolve()
    if out.exists() and not out.is_dir():
        raise BundleError(f"output path {out} exists and is not a folder; choose another -o")
    if out.is_dir() and not force and not _is_replaceable_without_force(out):
        raise BundleError(f"output folder {out} is not empty (it may contain an earlier bundle); pass --force to replace it or choose another -o")

    if out.is_dir():
        _replace_entries(result, out)
    else:
        _write_new_folder(result, out)
    logger.info("bundle written to %s", out)
    return out


def _make_staging(parent: Path, prefix: str, near: Path) -> Path:
    try:
        parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(staging, 0o777 & ~umask)  # mkdtemp makes it private; a bundle is not
    except OSError as exc:
        raise BundleError(f"cannot create a temporary folder for the bundle in {near}: {exc}") from exc
    return staging


def _write_new_folder(result: "ProfileResult", out: Path) -> None:
    staging = _make_staging(out.parent, f".{out.name}.tmp-", out.parent)
    try:
        _write_files(result, staging)
        os.rename(staging, out)
    except OSError as exc:
        raise BundleError(f"cannot write the bundle to {out}: {exc}") from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _replace_entries(result: "ProfileResult", out: Path) -> None:
    """Stage the bundle inside `out`, then rename each entry over the old one.

    The old entries are first moved into the staging folder, so a failure while
    swapping puts them back and nothing outside the bundle's names is touched.
    """
    staging = _make_staging(out, _STAGING_PREFIX, out)
    fresh = staging / "new"
    retired = staging / "old"
    moved_out: list[str] = []
    moved_in: list[str] = []
    restored = True
    try:
        fresh.mkdir()
        retired.mkdir()
        _write_files(result, fresh)
        # The status file goes last: a reader that sees a new success status sees a whole bundle.
        names = [name for name in (*BUNDLE_ENTRIES, *REPORT_FILES) if name != PROFILER_STATUS] + [PROFILER_STATUS]
        for name in names:
            if os.path.lexists(out / name):
                os.rename(out / name, retired / name)
                moved_out.append(name)
            if os.path.lexists(fresh / name):
                os.rename(fresh / name, out / name)
                moved_in.append(name)
    except OSError as exc:
        restored = _restore(out, retired, moved_in, moved_out)
        raise BundleError(f"cannot write the bundle to {out}: {exc}") from exc
    except BaseException:
        restored = _restore(out, retired, moved_in, moved_out)
        raise
    finally:
        # A previous entry that could not be put back stays in the staging folder, never deleted.
        if restored:
            shutil.rmtree(staging, ignore_errors=True)


def _restore(out: Path, retired: Path, moved_in: list[str], moved_out: list[str]) -> bool:
    """Put the previous entries back after a failed swap; return False if one could not be."""
    for name in moved_in:
        _remove(out / name)
    restored = True
    for name in moved_out:
        try:
            os.rename(retired / name, out / name)
        except OSError as exc:
            logger.error("cannot restore %s in %s after a failed write (it is kept in %s): %s", name, out, retired, exc)
            restored = False
    return restored


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def write_failed_status(out_dir: str | os.PathLike, *, phase: str, error: BaseException | str) -> Path | None:
    """Write a failed profiler_status.yaml into `out_dir`; return its path, or None when skipped.

    Skipped (with a log line) when `out_dir` contains a previous bundle, so its
    status keeps describing it. Other files in the folder are left as they are.
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        logger.warning("profiler_status.yaml not written because %s is a file, not a folder", out)
        return None
    if out.exists() and _holds_bundle(out):
        logger.warning("profiler_status.yaml not written because %s already contains a bundle; that bundle is left unchanged", out)
        return None

    status = build_profiler_status("failed", phase=phase, message=f"profiling failed during {phase}", error=str(error))
    try:
        out.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=f".{PROFILER_STATUS}.", dir=out)
        with os.fdopen(handle, "w") as stream:
            stream.write(dump_yaml(status))
        # mkstemp creates the file private (0600); the status is read like the rest of the bundle.
        os.chmod(temporary, 0o644)
        os.replace(temporary, out / PROFILER_STATUS)
    except OSError as exc:
        logger.error("cannot write %s in %s: %s", PROFILER_STATUS, out, exc)
        return None
    return out / PROFILER_STATUS
