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

Every bundle, and every `dgdr report` run, records the files it wrote in
`.dgdr-manifest.json` (path, size and SHA-256 of each). A file is replaced or
removed only when the manifest lists it with its current content, or when it
is a failed `profiler_status.yaml` in the exact form `write_failed_status`
writes. Any other file under one of those names stops the write with a
BundleError that names it, so a user's own `report.html` is never lost.
"""

from __future__ import annotations

import hashlib
import json
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

__all__ = [
    "BUNDLE_ENTRIES",
    "BUNDLE_FILES",
    "MANIFEST",
    "REPORT_FILES",
    "check_output_folder",
    "find_foreign_entries",
    "read_manifest",
    "record_outputs",
    "remove_own_folder",
    "require_own_entries",
    "write_bundle",
    "write_failed_status",
]

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
# The record of the files dgdr wrote into a folder; see `record_outputs`.
MANIFEST = ".dgdr-manifest.json"
_MANIFEST_FORMAT = 1
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


def _bundle_entries_in(out: Path) -> list[str]:
    """Return the bundle entry names other than the status file that exist in `out`."""
    return [name for name in BUNDLE_ENTRIES if name != PROFILER_STATUS and os.path.lexists(out / name)]


def check_output_folder(out_dir: str | os.PathLike) -> Path:
    """Check that `out_dir` is a folder, or can be created as one, and that files can be written in it.

    The check creates the folder and a probe file, then removes both and any
    parent folders it created, so a passed check leaves nothing behind. Returns
    the absolute path. Raises BundleError naming the path, what is wrong and the fix.
    """
    out = Path(out_dir).resolve()
    if out.exists() and not out.is_dir():
        raise BundleError(f"output path {out} exists and is not a folder; choose another -o")
    existing = next(parent for parent in out.parents if parent.exists())
    if not existing.is_dir():
        raise BundleError(f"output folder {out} cannot be created because {existing} is a file, not a folder; choose another -o")

    created = [] if out.exists() else [out, *(parent for parent in out.parents if not parent.exists())]
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BundleError(
            f"output folder {out} cannot be created in {existing}: {exc.strerror or exc}; "
            "choose another -o in a folder you can write to"
        ) from None
    try:
        handle, probe = tempfile.mkstemp(prefix=".dgdr-write-check-", dir=out)
    except OSError as exc:
        _remove_created_folders(created)
        raise BundleError(
            f"output folder {out} is not writable: {exc.strerror or exc}; make it writable or choose another -o"
        ) from None
    os.close(handle)
    os.unlink(probe)
    _remove_created_folders(created)
    return out


def _remove_created_folders(created: list[Path]) -> None:
    """Remove the folders a check created, deepest first; a folder something else wrote into stays."""
    for folder in created:
        try:
            folder.rmdir()
        except OSError:
            return


def _is_replaceable_without_force(out: Path) -> bool:
    entries = {entry.name for entry in out.iterdir()}
    return entries <= {PROFILER_STATUS, MANIFEST}


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
    replaced or removed, and only those an earlier dgdr run wrote (see
    `require_own_entries`); every other file in `out_dir` is left as it is.

    Raises BundleError when `out_dir` contains other files and `force` is False,
    when a file under one of those names was not written by dgdr, or when the
    files cannot be written; the destination is then unchanged.
    """
    out = Path(out_dir).resolve()
    if out.exists() and not out.is_dir():
        raise BundleError(f"output path {out} exists and is not a folder; choose another -o")
    if out.is_dir() and not force and not _is_replaceable_without_force(out):
        raise BundleError(f"output folder {out} is not empty (it may contain an earlier bundle); pass --force to replace it or choose another -o")
    if out.is_dir():
        require_own_entries(out, (*BUNDLE_ENTRIES, *REPORT_FILES))
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
        _write_manifest(staging, _with_entries(_empty_manifest(), staging, BUNDLE_ENTRIES))
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
        # The old report files are retired below, so the new manifest drops them.
        swapped = (*BUNDLE_ENTRIES, *REPORT_FILES)
        _write_manifest(fresh, _with_entries(read_manifest(out), fresh, BUNDLE_ENTRIES, removed=REPORT_FILES))
        # The status file goes last: a reader that sees a new success status sees a whole bundle.
        names = [name for name in (*swapped, MANIFEST) if name != PROFILER_STATUS] + [PROFILER_STATUS]
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


def read_manifest(folder: str | os.PathLike) -> dict:
    """Return the manifest of `folder`: `files` (path -> size and SHA-256) and `request_folders`.

    A missing manifest reads as an empty one. So does an unreadable one, with a
    warning: then no file counts as written by dgdr, which is the safe side.
    """
    path = Path(folder) / MANIFEST
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return _empty_manifest()
    except (OSError, ValueError) as exc:
        logger.warning("ignoring %s, which cannot be read: %s", path, exc)
        return _empty_manifest()
    if not isinstance(document, dict) or not isinstance(document.get("files"), dict):
        logger.warning("ignoring %s, which has no files mapping", path)
        return _empty_manifest()
    folders = document.get("request_folders")
    return {
        "format": _MANIFEST_FORMAT,
        "files": document["files"],
        "request_folders": [name for name in folders if isinstance(name, str)] if isinstance(folders, list) else [],
    }


def record_outputs(
    folder: str | os.PathLike,
    *,
    written: tuple[str, ...] | list[str] = (),
    removed: tuple[str, ...] | list[str] = (),
    request_folders: list[str] | None = None,
) -> None:
    """Record in the manifest of `folder` the files now under the `written` names.

    Entries under `written` and `removed` top-level names are replaced by what
    is on disk now, so call it only for names this run wrote or removed.
    `request_folders` (set by `dgdr batch` on its output folder) replaces the
    list of request folders. The manifest is replaced atomically.
    """
    folder = Path(folder)
    manifest = _with_entries(read_manifest(folder), folder, written, removed=removed)
    if request_folders is not None:
        manifest["request_folders"] = sorted(request_folders)
    _write_manifest(folder, manifest)


def find_foreign_entries(folder: str | os.PathLike, names) -> list[Path]:
    """Return the files under the top-level `names` of `folder` that dgdr did not write.

    A file counts as written by dgdr when the manifest lists it with its
    current size and SHA-256, or when it is a failed `profiler_status.yaml`
    (those need no manifest, because a failed run in a new folder writes
    nothing else). Symbolic links and other special files never count.
    """
    folder = Path(folder)
    files = read_manifest(folder)["files"]
    foreign = []
    for name in names:
        path = folder / name
        if not os.path.lexists(path):
            continue
        if path.is_dir() and not path.is_symlink():
            children = (child for child in sorted(path.rglob("*")) if child.is_symlink() or not child.is_dir())
            foreign.extend(child for child in children if not _is_own_file(folder, child, files))
        elif not _is_own_file(folder, path, files):
            foreign.append(path)
    return foreign


def require_own_entries(folder: str | os.PathLike, names) -> None:
    """Raise BundleError when a file under the top-level `names` of `folder` was not written by dgdr."""
    foreign = find_foreign_entries(folder, names)
    if not foreign:
        return
    shown = ", ".join(str(path) for path in foreign[:3])
    if len(foreign) > 3:
        shown += f" and {len(foreign) - 3} more"
    one = len(foreign) == 1
    raise BundleError(
        f"{shown}: dgdr did not write {'this file' if one else 'these files'} (not listed with this content in "
        f"{MANIFEST}) and replaces only files it wrote, even with --force; "
        f"move {'it' if one else 'them'} out of {folder} or choose another -o"
    )


def remove_own_folder(folder: str | os.PathLike) -> list[Path]:
    """Remove the files dgdr wrote in `folder`, then the folder if nothing else is left.

    Returns the files that were kept because dgdr did not write them; the
    folder and its manifest stay when there are any.
    """
    folder = Path(folder)
    names = sorted(entry.name for entry in folder.iterdir() if entry.name != MANIFEST)
    foreign = find_foreign_entries(folder, names)
    foreign_names = {_top_name(path.relative_to(folder).as_posix()) for path in foreign}
    for name in names:
        if name not in foreign_names:
            _remove(folder / name)
    if foreign:
        record_outputs(folder, removed=[name for name in names if name not in foreign_names])
        return foreign
    (folder / MANIFEST).unlink(missing_ok=True)
    folder.rmdir()
    return []


def _describe_skipped_status(out: Path, present: list[str]) -> str:
    """Return the warning for a failed status not written because `out` contains the bundle entries `present`."""
    foreign = sorted({_top_name(path.relative_to(out).as_posix()) for path in find_foreign_entries(out, present)})
    if foreign:
        one = len(foreign) == 1
        return (
            f"profiler_status.yaml not written because {out} contains {', '.join(foreign)}, which dgdr did not "
            f"write and leaves unchanged; move {'it' if one else 'them'} out or choose another -o for the status file"
        )
    return (
        f"profiler_status.yaml not written because {out} contains the bundle of an earlier run, "
        "which is left unchanged so that its own status keeps describing it"
    )


def _empty_manifest() -> dict:
    return {"format": _MANIFEST_FORMAT, "files": {}, "request_folders": []}


def _top_name(relative: str) -> str:
    return relative.split("/", 1)[0]


def _with_entries(manifest: dict, folder: Path, names, *, removed=()) -> dict:
    """Return `manifest` with the entries under `names` and `removed` replaced by the files now in `folder`."""
    replaced = {*names, *removed}
    files = {path: entry for path, entry in manifest["files"].items() if _top_name(path) not in replaced}
    for name in names:
        path = folder / name
        if path.is_symlink():
            continue
        if path.is_dir():
            for child in path.rglob("*"):
                if child.is_file() and not child.is_symlink():
                    files[child.relative_to(folder).as_posix()] = _describe_file(child)
        elif path.is_file():
            files[name] = _describe_file(path)
    return {**manifest, "files": dict(sorted(files.items()))}


def _describe_file(path: Path) -> dict:
    return {"size": path.stat().st_size, "sha256": _sha256(path)}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _is_own_file(folder: Path, path: Path, files: dict) -> bool:
    if path.is_symlink() or not path.is_file():
        return False
    entry = files.get(path.relative_to(folder).as_posix())
    if isinstance(entry, dict) and entry.get("size") == path.stat().st_size and entry.get("sha256") == _sha256(path):
        return True
    return path.parent == folder and path.name == PROFILER_STATUS and _is_failed_status(path)


def _is_failed_status(path: Path) -> bool:
    """Return True when `path` contains a failed status with exactly the keys `write_failed_status` writes."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return False
    expected_keys = build_profiler_status("failed", phase="", message="").keys()
    return isinstance(document, dict) and document.keys() == expected_keys and document.get("status") == "failed"


def _write_manifest(folder: Path, manifest: dict) -> None:
    handle, temporary = tempfile.mkstemp(prefix=f"{MANIFEST}.", dir=folder)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            json.dump(manifest, stream, indent=1)
            stream.write("\n")
        os.chmod(temporary, 0o644)
        os.replace(temporary, folder / MANIFEST)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_failed_status(out_dir: str | os.PathLike, *, phase: str, error: BaseException | str) -> Path | None:
    """Write a failed profiler_status.yaml into `out_dir`; return its path, or None when skipped.

    Skipped (with a log line) when `out_dir` contains a bundle entry other than
    the status file, so a status never sits next to files it does not describe.
    Other files in the folder are left as they are.
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        logger.warning("profiler_status.yaml not written because %s is a file, not a folder", out)
        return None
    present = _bundle_entries_in(out) if out.is_dir() else []
    if present:
        logger.warning("%s", _describe_skipped_status(out, present))
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
