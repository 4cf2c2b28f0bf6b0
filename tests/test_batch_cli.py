"""`dgdr batch`: reports in parallel worker processes, an index of all, failures listed."""

from __future__ import annotations

import html
import io
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from dgdr_kernel.bundle import MANIFEST, read_manifest
from dgdr_kernel.cli import main
from terminal import run_with_terminal_stderr

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
GOOD_SPECS = [EXAMPLES / "qwen3-32b-h200.yaml", EXAMPLES / "llama31-8b-l40s.yaml"]


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    folder = tmp_path_factory.mktemp("batch")
    invalid = folder / "invalid.yaml"
    invalid.write_text("model: Qwen/Qwen3-32B\nworkload:\n  isl: -5\n")
    unknown = folder / "unknown-model.yaml"
    unknown.write_text(
        "apiVersion: nvidia.com/v1beta1\nkind: DynamoGraphDeploymentRequest\nmetadata:\n  name: unknown-model\n"
        "spec:\n  model: example-org/no-such-model\n  hardware:\n    gpuSku: h200_sxm\n    totalGpus: 8\n    numGpusPerNode: 8\n"
    )
    out = folder / "out"
    specs = [*map(str, GOOD_SPECS), str(invalid), str(unknown)]
    code = main(["batch", *specs, "-o", str(out), "--jobs", "2"])
    return code, out


def _index_rows(page: str) -> list[str]:
    body = page.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return re.findall(r"<tr[^>]*>.*?</tr>", body, re.S)


def test_batch_exit_code_reports_failures(batch):
    code, _ = batch
    assert code == 1


def test_batch_writes_report_per_good_request(batch):
    _, out = batch
    for name in ("qwen3-32b", "llama31-8b"):
        assert (out / name / "report.html").is_file(), name
        assert (out / name / "final_config.yaml").is_file(), name


def test_index_lists_every_request(batch):
    _, out = batch
    page = (out / "index.html").read_text()
    rows = _index_rows(page)

    assert len(rows) == 4
    assert "4 request(s), 2 succeeded, 2 failed" in page
    failed = [row for row in rows if 'class="failed"' in row]
    assert len(failed) == 2
    assert "workload.isl" in html.unescape(failed[0])
    assert "no-such-model" in html.unescape(failed[1])
    # The failed notebook is named relative to the index, not by its local path.
    assert "the executed notebook is at unknown-model/capacity_planner.failed.ipynb" in html.unescape(failed[1])
    assert str(out) not in page


def test_index_links_and_numbers_match_reports(batch):
    _, out = batch
    page = (out / "index.html").read_text()
    for name in ("qwen3-32b", "llama31-8b"):
        summary = json.loads((out / name / "report_summary.json").read_text())
        row = next(row for row in _index_rows(page) if f'href="{name}/report.html"' in row)
        assert html.escape(summary["pick"]) in row
        assert f"{summary['itl_ms']:,.2f}" in row
        assert f"{summary['tokens_per_s_per_gpu']:,.1f}" in row
        assert f'<td class="number">{summary["gpus_used"]}</td>' in row


def test_batch_keeps_failed_notebook(batch):
    _, out = batch
    assert (out / "unknown-model" / "capacity_planner.failed.ipynb").is_file()
    status = yaml.safe_load((out / "unknown-model" / "profiler_status.yaml").read_text())
    assert status["status"] == "failed"
    assert "no-such-model" in status["error"]


def test_batch_invalid_request_leaves_status(batch):
    _, out = batch
    # An invalid DGDR never reaches a worker, but its folder still gets the status file.
    assert sorted(path.name for path in (out / "invalid").iterdir()) == ["profiler_status.yaml"]
    status = yaml.safe_load((out / "invalid" / "profiler_status.yaml").read_text())
    assert status["status"] == "failed"
    assert status["phase"] == "Initializing"
    assert "workload.isl" in status["error"]


def test_batch_refuses_existing_index(batch, tmp_path, capsys):
    _, out = batch
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    before = (copy / "index.html").read_text()

    assert main(["batch", str(GOOD_SPECS[0]), "-o", str(copy)]) == 1
    error = capsys.readouterr().err
    assert error.startswith("error: ")
    assert "--force" in error
    assert (copy / "index.html").read_text() == before


def test_batch_force_keeps_other_files(batch, tmp_path, capsys):
    _, out = batch
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    (copy / "notes.txt").write_text("keep me")
    (copy / "qwen3-32b" / "notes.txt").write_text("keep me too")
    (copy / "drafts").mkdir()
    (copy / "drafts" / "plan.md").write_text("never listed by a batch")

    assert main(["batch", str(GOOD_SPECS[0]), "-o", str(copy), "--force"]) == 0
    capsys.readouterr()

    assert (copy / "notes.txt").read_text() == "keep me"
    assert (copy / "qwen3-32b" / "notes.txt").read_text() == "keep me too"
    assert (copy / "drafts" / "plan.md").read_text() == "never listed by a batch"
    assert (copy / "qwen3-32b" / "report.html").is_file()
    assert len(_index_rows((copy / "index.html").read_text())) == 1


def test_batch_force_removes_stale_requests(batch, tmp_path, capsys):
    _, out = batch
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    assert read_manifest(copy)["request_folders"] == ["invalid", "llama31-8b", "qwen3-32b", "unknown-model"]
    (copy / "llama31-8b" / "mine.txt").write_text("written by hand")
    (copy / "drafts").mkdir()
    (copy / "drafts" / "report.html").write_text("never listed by a batch")
    invalid_spec = out.parent / "invalid.yaml"

    assert main(["batch", str(GOOD_SPECS[0]), str(invalid_spec), "-o", str(copy), "--force"]) == 1
    err = capsys.readouterr().err

    # unknown-model/ (a failed notebook) is gone; llama31-8b/ keeps only the hand-written file.
    assert sorted(path.name for path in copy.iterdir()) == sorted(
        [MANIFEST, "drafts", "index.html", "invalid", "llama31-8b", "qwen3-32b"]
    )
    assert sorted(path.name for path in (copy / "llama31-8b").iterdir()) == sorted([MANIFEST, "mine.txt"])
    assert (copy / "llama31-8b" / "mine.txt").read_text() == "written by hand"
    assert "warning: llama31-8b/ of the previous batch is kept because dgdr did not write llama31-8b/mine.txt" in err
    assert (copy / "drafts" / "report.html").read_text() == "never listed by a batch"
    assert read_manifest(copy)["request_folders"] == ["invalid", "qwen3-32b"]
    assert "\nerror: invalid: " in "\n" + err
    assert len(_index_rows((copy / "index.html").read_text())) == 2


def test_batch_force_rejects_user_index(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "index.html").write_text("my own index")

    assert main(["batch", str(GOOD_SPECS[0]), "-o", str(out), "--force"]) == 1

    assert capsys.readouterr().err.startswith(f"error: {out / 'index.html'}: dgdr did not write this file")
    assert (out / "index.html").read_text() == "my own index"
    assert sorted(path.name for path in out.iterdir()) == ["index.html"]


def test_batch_reads_one_stdin_spec(tmp_path, monkeypatch, capsys):
    spec = EXAMPLES / "deepseek-v3-h200.yaml"
    monkeypatch.setattr("sys.stdin", io.StringIO(spec.read_text()))
    out = tmp_path / "out"

    assert main(["batch", "-", "-o", str(out)]) == 0
    capsys.readouterr()

    summary = json.loads((out / "deepseek-v3" / "report_summary.json").read_text())
    assert summary["model"] == "deepseek-ai/DeepSeek-V3"
    assert 'href="deepseek-v3/report.html"' in (out / "index.html").read_text()


def test_batch_rejects_repeated_stdin(tmp_path, capsys):
    out = tmp_path / "out"

    assert main(["batch", "-", "-", "-o", str(out)]) == 2
    assert "- (standard input) given 2 times" in capsys.readouterr().err
    assert not out.exists()


def _unusable_output(kind: str, tmp_path: Path) -> tuple[Path, str]:
    """Return an -o path that cannot be used, and the part of the error message that gives the reason."""
    plain_file = tmp_path / "file.yaml"
    plain_file.write_text("model: Qwen/Qwen3-32B\n")
    if kind == "parent-is-file":
        return plain_file / "out", f"cannot be created because {plain_file} is a file, not a folder; choose another -o"
    if kind == "existing-file":
        return plain_file, "exists and is not a folder; choose another -o"
    # The kernel rejects new entries in /proc and new files in it, even from root.
    if kind == "new-in-proc":
        return Path("/proc/dgdr-x"), "cannot be created in /proc: No such file or directory"
    return Path("/proc"), "is not writable"


UNUSABLE_OUTPUTS = ["parent-is-file", "existing-file", "new-in-proc", "existing-proc"]


@pytest.mark.parametrize("kind", UNUSABLE_OUTPUTS)
def test_batch_rejects_unusable_output_first(kind, tmp_path, monkeypatch, capsys):
    target, reason = _unusable_output(kind, tmp_path)
    stdin_text = GOOD_SPECS[0].read_text()
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin_text))

    assert main(["batch", "-", str(GOOD_SPECS[1]), "-o", str(target)]) == 1

    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith(f"error: output {'path' if kind == 'existing-file' else 'folder'} {target} ")
    assert reason in lines[0]
    # Nothing ran: no summary line, and standard input was never read.
    assert captured.out == ""
    assert sys.stdin.read() == stdin_text
    assert sorted(path.name for path in tmp_path.iterdir()) == ["file.yaml"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a read-only folder; the /proc and file-parent cases cover root")
def test_batch_rejects_read_only_output(tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        assert main(["batch", str(GOOD_SPECS[0]), "-o", str(locked)]) == 1
    finally:
        locked.chmod(0o755)

    assert capsys.readouterr().err == (
        f"error: output folder {locked} is not writable: Permission denied; make it writable or choose another -o\n"
    )
    assert list(locked.iterdir()) == []


def _invalid_spec(folder: Path) -> Path:
    spec = folder / "invalid.yaml"
    spec.write_text("model: Qwen/Qwen3-32B\nworkload:\n  isl: -5\n")
    return spec


def test_batch_draws_bar_on_terminal(tmp_path):
    err = run_with_terminal_stderr(["batch", str(_invalid_spec(tmp_path)), "-o", str(tmp_path / "out")], expected_rc=1)

    assert "dgdr batch: 100%" in err
    assert "1/1" in err


def test_batch_no_progress_on_terminal(tmp_path):
    spec = _invalid_spec(tmp_path)

    err = run_with_terminal_stderr(["batch", str(spec), "-o", str(tmp_path / "out"), "--no-progress"], expected_rc=1)

    assert "dgdr batch:" not in err
    assert "error: invalid: invalid DGDR" in err


def test_batch_logs_steps_without_terminal(tmp_path):
    spec = _invalid_spec(tmp_path)

    completed = subprocess.run(
        [sys.executable, "-m", "dgdr_kernel", "--log-level", "INFO", "batch", str(spec), "-o", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        check=False,
    )

    assert completed.returncode == 1
    assert "dgdr batch:" not in completed.stderr
    assert "\ninfo: request invalid not run: invalid DGDR" in "\n" + completed.stderr


def test_batch_prints_request_warnings(tmp_path):
    # mixtral-thorough.yaml sets searchStrategy thorough, which this tool prices with the
    # rapid model and warns about; qwen3-32b-h200.yaml has a backend-auto calibration caveat.
    specs = [str(EXAMPLES / "mixtral-thorough.yaml"), str(GOOD_SPECS[0])]
    completed = subprocess.run(
        [sys.executable, "-m", "dgdr_kernel", "batch", *specs, "-o", str(tmp_path / "out"), "--no-progress"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout
    lines = completed.stdout.splitlines()

    thorough = [line for line in lines if line.startswith("warning: mixtral-8x7b: searchStrategy thorough")]
    assert len(thorough) == 1, completed.stdout
    assert any(line.startswith("warning: qwen3-32b: ") for line in lines), completed.stdout
    # Every warning comes once, and before the final line.
    warnings = [line for line in lines if line.startswith("warning: ")]
    assert len(warnings) == len(set(warnings))
    assert lines[-1].startswith("2 of 2 request(s) succeeded")
