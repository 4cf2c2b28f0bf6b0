"""Bundle writing: complete, atomic, never over an earlier good bundle unless forced, never over other files."""

import hashlib
import os
from pathlib import Path

import numpy as np
import pytest
import yaml

from dgdr_kernel.bundle import (
    BUNDLE_ENTRIES,
    BUNDLE_FILES,
    MANIFEST,
    REPORT_FILES,
    check_output_folder,
    read_manifest,
    record_outputs,
    remove_own_folder,
    write_bundle,
    write_failed_status,
)
from dgdr_kernel.errors import BundleError
from dgdr_kernel.pipeline import profile
from dgdr_kernel.spec import load_dgdr

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.fixture(scope="module")
def result():
    return profile(load_dgdr(EXAMPLES / "qwen3-32b-h200.yaml"), progress=lambda phase, message: None)


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_bundle_has_every_file(result, tmp_path):
    out = write_bundle(result, tmp_path / "run")
    for name in BUNDLE_FILES:
        assert (out / name).is_file(), name
    status = yaml.safe_load((out / "profiler_status.yaml").read_text())
    assert status["status"] == "success"
    assert status["phase"] == "Done"
    assert status["error"] is None
    for relative in status["outputs"].values():
        assert (out / relative).is_file()


def test_final_config_puts_dgd_last(result, tmp_path):
    out = write_bundle(result, tmp_path / "run")
    documents = list(yaml.safe_load_all((out / "final_config.yaml").read_text()))
    assert documents[-1]["kind"] == "DynamoGraphDeployment"
    assert documents[-1] == result.rendered.dgd


def test_no_staging_folder_left_behind(result, tmp_path):
    write_bundle(result, tmp_path / "run")
    assert [p.name for p in tmp_path.iterdir()] == ["run"]


def test_existing_bundle_needs_force(result, tmp_path):
    out = write_bundle(result, tmp_path / "run")
    (out / "note.txt").write_text("mine")
    before = _snapshot(out)
    with pytest.raises(BundleError, match="pass --force"):
        write_bundle(result, out)
    assert _snapshot(out) == before


def test_force_keeps_files_it_did_not_write(result, tmp_path):
    out = tmp_path / "mine"
    (out / "sub").mkdir(parents=True)
    (out / "notes.txt").write_text("important")
    (out / "sub" / "data.txt").write_text("kept")

    write_bundle(result, out, force=True)
    assert (out / "notes.txt").read_text() == "important"
    assert (out / "sub" / "data.txt").read_text() == "kept"
    for name in BUNDLE_FILES:
        assert (out / name).is_file(), name
    assert sorted(p.name for p in out.iterdir()) == sorted(["notes.txt", "sub", MANIFEST, *BUNDLE_ENTRIES])
    assert [p.name for p in tmp_path.iterdir()] == ["mine"]


def test_manifest_lists_every_bundle_file(result, tmp_path):
    out = write_bundle(result, tmp_path / "run")
    files = read_manifest(out)["files"]

    assert sorted(files) == sorted(BUNDLE_FILES)
    status = out / "profiler_status.yaml"
    assert files["profiler_status.yaml"]["size"] == status.stat().st_size
    assert files["profiler_status.yaml"]["sha256"] == hashlib.sha256(status.read_bytes()).hexdigest()


def test_force_rejects_same_named_user_file(result, tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "final_config.yaml").write_text("my own DGD")
    (out / "report.html").write_text("my own report")

    with pytest.raises(BundleError, match="move them out of") as caught:
        write_bundle(result, out, force=True)

    assert "final_config.yaml" in str(caught.value)
    assert "report.html" in str(caught.value)
    assert (out / "final_config.yaml").read_text() == "my own DGD"
    assert (out / "report.html").read_text() == "my own report"
    assert sorted(p.name for p in out.iterdir()) == ["final_config.yaml", "report.html"]


def test_force_rejects_edited_bundle_file(result, tmp_path):
    out = write_bundle(result, tmp_path / "run")
    (out / "candidates.csv").write_text("edited by hand")
    before = _snapshot(out)

    with pytest.raises(BundleError, match="candidates.csv: dgdr did not write this file"):
        write_bundle(result, out, force=True)
    assert _snapshot(out) == before


def test_force_rejects_user_file_in_curve_folder(result, tmp_path):
    out = write_bundle(result, tmp_path / "run")
    (out / "selected_decode_interpolation" / "notes.txt").write_text("mine")

    with pytest.raises(BundleError, match="notes.txt"):
        write_bundle(result, out, force=True)
    assert (out / "selected_decode_interpolation" / "notes.txt").read_text() == "mine"


def test_force_removes_stale_report_files(result, tmp_path):
    out = write_bundle(result, tmp_path / "run")
    for name in REPORT_FILES:
        (out / name).write_text("from an earlier run")
    # As `dgdr report` does after it writes them.
    record_outputs(out, written=REPORT_FILES)

    write_bundle(result, out, force=True)
    for name in REPORT_FILES:
        assert not (out / name).exists(), name
    assert sorted(read_manifest(out)["files"]) == sorted(BUNDLE_FILES)


def test_force_into_working_directory(result, tmp_path, monkeypatch):
    (tmp_path / "notes.txt").write_text("important")
    monkeypatch.chdir(tmp_path)
    out = write_bundle(result, ".", force=True)
    assert out == tmp_path.resolve()
    assert (tmp_path / "notes.txt").read_text() == "important"
    assert (tmp_path / "final_config.yaml").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["notes.txt", MANIFEST, *BUNDLE_ENTRIES])
    assert list(tmp_path.parent.glob(".*old-*")) == []


def test_empty_working_directory_without_force(result, tmp_path, monkeypatch):
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    write_bundle(result, ".")
    # The folder itself is kept, so a shell sitting in it still sees the bundle.
    assert Path.cwd().samefile(here)
    assert sorted(p.name for p in here.iterdir()) == sorted([MANIFEST, *BUNDLE_ENTRIES])


def test_failed_swap_restores_previous_entries(result, tmp_path, monkeypatch):
    out = write_bundle(result, tmp_path / "run")
    (out / "notes.txt").write_text("important")
    before = _snapshot(out)
    real_rename = os.rename

    def rename_then_fail(source, target):
        # Fail when the new status file, the last entry, is moved into place.
        if Path(target) == out / "profiler_status.yaml" and "new" in Path(source).parts:
            raise OSError("disk full")
        real_rename(source, target)

    monkeypatch.setattr(os, "rename", rename_then_fail)
    with pytest.raises(BundleError, match="disk full"):
        write_bundle(result, out, force=True)
    assert _snapshot(out) == before
    assert sorted(p.name for p in out.iterdir()) == sorted(["notes.txt", MANIFEST, *BUNDLE_ENTRIES])


def test_failed_write_leaves_destination_untouched(result, tmp_path, monkeypatch):
    out = write_bundle(result, tmp_path / "run")
    before = _snapshot(out)

    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(result.pareto, "to_csv", fail)
    with pytest.raises(BundleError, match="disk full"):
        write_bundle(result, out, force=True)
    assert _snapshot(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]
    assert sorted(p.name for p in out.iterdir()) == sorted([MANIFEST, *BUNDLE_ENTRIES])


def test_output_path_that_is_a_file_is_rejected(result, tmp_path):
    target = tmp_path / "file"
    target.write_text("x")
    with pytest.raises(BundleError, match="is not a folder"):
        write_bundle(result, target)


def test_failed_status_in_new_folder(tmp_path):
    path = write_failed_status(tmp_path / "new", phase="Initializing", error="model not found")
    status = yaml.safe_load(path.read_text())
    assert status["status"] == "failed"
    assert status["phase"] == "Initializing"
    assert status["error"] == "model not found"
    assert status["timestamp"].endswith("Z")
    assert [p.name for p in (tmp_path / "new").iterdir()] == ["profiler_status.yaml"]


def test_failed_status_never_touches_a_good_bundle(result, tmp_path):
    out = write_bundle(result, tmp_path / "run")
    before = _snapshot(out)
    assert write_failed_status(out, phase="GeneratingDGD", error="bad override") is None
    assert _snapshot(out) == before


def test_good_bundle_replaces_a_failed_status_without_force(result, tmp_path):
    write_failed_status(tmp_path / "run", phase="Initializing", error="x")
    out = write_bundle(result, tmp_path / "run")
    assert yaml.safe_load((out / "profiler_status.yaml").read_text())["status"] == "success"


def test_curves_in_bundle_match_result(result, tmp_path):
    out = write_bundle(result, tmp_path / "run")
    with np.load(out / "selected_decode_interpolation/raw_data.npz") as decode:
        np.testing.assert_array_equal(decode["z_itl"], result.curves.z_itl)


def test_report_files_match_report_command():
    from dgdr_kernel.report import run, summary

    # --force clears exactly the files `dgdr report` writes next to the bundle.
    expected = {run.EXECUTED_NOTEBOOK, run.FAILED_NOTEBOOK, run.REPORT_HTML, summary.SUMMARY_FILE}
    assert set(REPORT_FILES) == expected


def test_failed_status_keeps_user_files(tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("important")

    path = write_failed_status(out, phase="Initializing", error="model not found")

    assert path == out / "profiler_status.yaml"
    assert yaml.safe_load(path.read_text())["status"] == "failed"
    assert (out / "notes.txt").read_text() == "important"


def test_failed_status_readable_like_bundle(tmp_path):
    path = write_failed_status(tmp_path / "run", phase="Initializing", error="x")

    assert path.stat().st_mode & 0o777 == 0o644


def test_failed_status_into_file_path_logs_reason(tmp_path, caplog):
    target = tmp_path / "plain-file"
    target.write_text("x")

    assert write_failed_status(target, phase="Initializing", error="x") is None
    assert "is a file, not a folder" in caplog.text


def test_good_bundle_rejects_user_status_without_force(result, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "profiler_status.yaml").write_text("status: success\nphase: Done\n")

    with pytest.raises(BundleError, match="profiler_status.yaml: dgdr did not write this file"):
        write_bundle(result, out)
    assert (out / "profiler_status.yaml").read_text() == "status: success\nphase: Done\n"


def test_remove_own_folder_keeps_user_files(result, tmp_path):
    out = write_bundle(result, tmp_path / "run")
    (out / "notes.txt").write_text("mine")

    kept = remove_own_folder(out)

    assert kept == [out / "notes.txt"]
    assert sorted(p.name for p in out.iterdir()) == sorted(["notes.txt", MANIFEST])
    assert read_manifest(out)["files"] == {}


def test_remove_own_folder_removes_whole_bundle(result, tmp_path):
    out = write_bundle(result, tmp_path / "run")

    assert remove_own_folder(out) == []
    assert not out.exists()


def test_check_output_folder_leaves_nothing(tmp_path):
    target = tmp_path / "a" / "b" / "out"

    assert check_output_folder(target) == target

    # The check creates the folders and a probe file, then removes all of them.
    assert list(tmp_path.iterdir()) == []


def test_check_output_folder_keeps_existing_folder(tmp_path):
    (tmp_path / "notes.txt").write_text("keep me")

    assert check_output_folder(tmp_path) == tmp_path

    assert sorted(path.name for path in tmp_path.iterdir()) == ["notes.txt"]


def test_check_output_folder_rejects_file_parent(tmp_path):
    parent = tmp_path / "file.yaml"
    parent.write_text("x")

    with pytest.raises(BundleError) as raised:
        check_output_folder(parent / "out")

    message = str(raised.value)
    assert f"output folder {parent / 'out'} cannot be created" in message
    assert f"because {parent} is a file, not a folder" in message
    assert message.endswith("choose another -o")


def test_check_output_folder_rejects_existing_file(tmp_path):
    target = tmp_path / "file.yaml"
    target.write_text("x")

    with pytest.raises(BundleError, match="exists and is not a folder; choose another -o"):
        check_output_folder(target)
    assert target.read_text() == "x"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a read-only folder; the file-parent tests cover root")
def test_check_output_folder_rejects_read_only_folder(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        with pytest.raises(BundleError, match="is not writable: Permission denied"):
            check_output_folder(locked)
        with pytest.raises(BundleError, match="cannot be created in .*: Permission denied"):
            check_output_folder(locked / "out")
    finally:
        locked.chmod(0o755)


def test_failed_status_skip_names_user_file(tmp_path, caplog):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "candidates.csv").write_text("my,own\n1,2\n")

    assert write_failed_status(out, phase="Initializing", error="x") is None

    assert f"{out} contains candidates.csv, which dgdr did not write" in caplog.text
    assert "move it out" in caplog.text
    assert "bundle" not in " ".join(caplog.messages)
    assert sorted(path.name for path in out.iterdir()) == ["candidates.csv"]


def test_failed_status_skip_names_earlier_bundle(result, tmp_path, caplog):
    out = write_bundle(result, tmp_path / "run")

    assert write_failed_status(out, phase="Initializing", error="x") is None

    assert f"{out} contains the bundle of an earlier run" in caplog.text
    assert "did not write" not in caplog.text
