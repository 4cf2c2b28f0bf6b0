"""`dgdr report`: the capacity planner notebook through papermill, exported to offline HTML.

These tests start a real Jupyter kernel (the `python3` kernelspec of this
environment) and run the shipped notebook on a shipped example.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import sys
from importlib.resources import files
from pathlib import Path

import nbformat
import pytest
import yaml

from dgdr_kernel.bundle import BUNDLE_ENTRIES, MANIFEST, read_manifest
from dgdr_kernel.cli import main
from terminal import run_with_terminal_stderr
from dgdr_kernel.report.run import REPORT_FILES
from dgdr_kernel.pipeline import profile
from dgdr_kernel.report.figureset import FIGURE_NAMES
from dgdr_kernel.report.summary import describe_pick_short
from dgdr_kernel.spec import load_dgdr

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
SPEC = EXAMPLES / "qwen3-32b-h200.yaml"
# DeepSeek-V3 (the shipped config.json in dgdr_kernel/modelconfigs) has
# hundreds of GB of weights, and one L4 has 24 GB (hwdata/l4.yaml), so every
# candidate is rejected and profiling fails in SelectingConfig.
NO_FIT_DGDR = "model: deepseek-ai/DeepSeek-V3\nhardware:\n  gpuSku: l4\n  totalGpus: 1\n  numGpusPerNode: 1\n"
NOTEBOOK = files("dgdr_kernel.notebooks") / "capacity_planner.ipynb"


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report") / "qwen3-32b"
    assert main(["report", str(SPEC), "-o", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def expected_pick():
    """The pick of the same request, computed in this process without the notebook."""
    return profile(load_dgdr(SPEC), progress=lambda phase, message: None).selection.chosen


def _figure_data(page: str) -> dict[str, list]:
    """Return the trace list of each `Plotly.newPlot` call, keyed by div id."""
    figures = {}
    for match in re.finditer(r'Plotly\.newPlot\(\s*"([^"]+)",\s*', page):
        data, _ = json.JSONDecoder().raw_decode(page, match.end())
        figures[match.group(1)] = data
    return figures


def test_report_writes_all_files(report_dir):
    for name in ("report.html", "capacity_planner.ipynb", "report_summary.json", "final_config.yaml", "candidates.csv"):
        assert (report_dir / name).is_file(), name


def test_report_embeds_plotlyjs_once(report_dir):
    page = (report_dir / "report.html").read_text(encoding="utf-8")
    # plotly.js starts with a banner comment naming its version.
    assert len(re.findall(r"\* plotly\.js v\d+\.\d+\.\d+", page)) == 1
    assert "window.PlotlyConfig" in page


def test_report_loads_nothing_from_network(report_dir):
    page = (report_dir / "report.html").read_text(encoding="utf-8")
    assert re.search(r"<script[^>]+src=", page) is None
    assert re.search(r"<link[^>]+href=\"https?:", page) is None
    assert re.search(r"import\s*\(?\s*[\"']https?:", page) is None


def test_report_has_every_figure_with_data(report_dir):
    page = (report_dir / "report.html").read_text(encoding="utf-8")
    figures = _figure_data(page)

    assert sorted(figures) == sorted(f"dgdr-{name}" for name in FIGURE_NAMES)
    for div_id, traces in figures.items():
        points = sum(len(trace.get("x", [])) for trace in traces)
        assert traces and points > 0, div_id


def test_report_hides_code(report_dir):
    page = (report_dir / "report.html").read_text(encoding="utf-8")
    assert "report.setup_notebook()" not in page
    assert "build_figures(request, selection" not in page
    assert 'class="jp-CodeMirrorEditor' not in page


def test_executed_notebook_holds_pick(report_dir, expected_pick):
    notebook = nbformat.read(report_dir / "capacity_planner.ipynb", as_version=4)
    texts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            texts.append(str(data.get("text/markdown", "")) + str(data.get("text/plain", "")) + str(output.get("text", "")))
    outputs = "\n".join(texts)

    label = describe_pick_short(expected_pick)
    assert f"**Pick: {label}**" in outputs
    assert f"mean ITL {expected_pick.itl_ms:.2f} ms" in outputs
    assert notebook.metadata.papermill.parameters["dgdr_path"] == str(SPEC)


def test_report_summary_matches_pick(report_dir, expected_pick):
    summary = json.loads((report_dir / "report_summary.json").read_text())
    assert summary["pick"] == describe_pick_short(expected_pick)
    assert summary["gpus_used"] == expected_pick.total_gpus
    assert summary["itl_ms"] == pytest.approx(expected_pick.itl_ms)
    assert summary["tokens_per_s_per_gpu"] == pytest.approx(expected_pick.tokens_per_s_per_gpu)


def test_report_rejects_invalid_spec(tmp_path, capsys):
    spec = tmp_path / "bad.yaml"
    spec.write_text("model: Qwen/Qwen3-32B\nhardware:\n  gpuSku: H100-SXM5-80GB\n")

    assert main(["report", str(spec), "-o", str(tmp_path / "out")]) == 1
    error = capsys.readouterr().err
    assert "hardware.gpuSku" in error
    # Invalid input still leaves a failed status file, and nothing else.
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == ["profiler_status.yaml"]
    status = yaml.safe_load((tmp_path / "out" / "profiler_status.yaml").read_text())
    assert status["status"] == "failed"
    assert status["phase"] == "Initializing"
    assert "hardware.gpuSku" in status["error"]


def test_report_refuses_nonempty_folder(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")

    assert main(["report", str(SPEC), "-o", str(out)]) == 1
    assert "--force" in capsys.readouterr().err
    assert (out / "notes.txt").read_text() == "keep me"


def test_report_names_missing_kernel(tmp_path, capsys):
    assert main(["report", str(SPEC), "-o", str(tmp_path / "out"), "--kernel", "no-such-kernel"]) == 1
    error = capsys.readouterr().err
    assert "no-such-kernel" in error
    assert "ipykernel install" in error


def test_report_keeps_failed_notebook(tmp_path, capsys):
    # Valid DGDR, but no config.json exists for the model: the notebook fails.
    spec = tmp_path / "unknown-model.yaml"
    spec.write_text("model: example-org/no-such-model\nhardware:\n  gpuSku: h200_sxm\n  totalGpus: 8\n  numGpusPerNode: 8\n")
    out = tmp_path / "out"

    assert main(["report", str(spec), "-o", str(out)]) == 1
    error = capsys.readouterr().err
    assert "\nerror: unknown-model.yaml: the capacity planner notebook failed" in "\n" + error
    assert "ModelArchError" in error
    assert (out / "capacity_planner.failed.ipynb").is_file()
    assert sorted(read_manifest(out)["files"]) == ["capacity_planner.failed.ipynb", "profiler_status.yaml"]
    assert not (out / "report.html").exists()
    status = yaml.safe_load((out / "profiler_status.yaml").read_text())
    assert status["status"] == "failed"
    assert "no-such-model" in status["error"]


def test_report_prints_warnings(tmp_path, capfd):
    # searchStrategy thorough falls back to the rapid model, and the run must warn about it.
    spec = EXAMPLES / "mixtral-thorough.yaml"

    assert main(["report", str(spec), "-o", str(tmp_path / "out")]) == 0

    # capfd, not capsys: the kernel process writes to file descriptor 2 directly.
    err = capfd.readouterr().err
    assert err.count("warning: searchStrategy thorough") == 1
    # ipykernel logs this on every start unless its log level is raised.
    assert "without encryption" not in err
    assert "IPKernelApp" not in err


def _signals_sent_on_shutdown(manager_class) -> list:
    """Start a real python3 kernel with `manager_class`, shut it down and return the signals sent to it."""
    import asyncio

    async def run() -> list:
        manager = manager_class(kernel_name="python3")
        await manager.start_kernel()
        client = manager.client()
        client.start_channels()
        await client.wait_for_ready(timeout=60)
        client.stop_channels()

        sent = []
        send_signal = manager._async_signal_kernel

        async def record(signum):
            sent.append(signum)
            await send_signal(signum)

        manager._async_signal_kernel = record
        await manager.shutdown_kernel()
        assert not await manager.is_alive()
        return sent

    return asyncio.run(run())


def test_kernel_shutdown_sends_no_sigint():
    # jupyter_client 8 sends SIGINT before every shutdown request; when it lands while
    # ipykernel finishes a message, the kernel logs "KeyboardInterrupt caught in kernel."
    import signal

    from jupyter_client import AsyncKernelManager

    from dgdr_kernel.report.run import _quiet_shutdown_kernel_manager

    assert signal.SIGINT in _signals_sent_on_shutdown(AsyncKernelManager)
    assert signal.SIGINT not in _signals_sent_on_shutdown(_quiet_shutdown_kernel_manager())


def _install_held_kernel(root: Path, marker: Path) -> str:
    """Install a python kernelspec under `root` whose every cell waits on an event that is never set.

    IPython runs the files in `<IPYTHONDIR>/profile_default/startup/` when the
    kernel starts, and calls each `pre_run_cell` callback before a cell runs.
    The callback first writes `marker`, so a test can tell that the hold, not a
    slow cell, is what ran past the limit.
    """
    ipython_dir = root / "ipython"
    startup = ipython_dir / "profile_default" / "startup"
    startup.mkdir(parents=True)
    (startup / "00-hold-cells.py").write_text(
        "import pathlib\n"
        "import threading\n"
        "_never_set = threading.Event()\n"
        "def _hold_cell(*args):\n"
        f"    pathlib.Path({str(marker)!r}).write_text('held')\n"
        "    _never_set.wait()\n"
        "get_ipython().events.register('pre_run_cell', _hold_cell)\n"
    )
    spec_dir = root / "jupyter" / "kernels" / "dgdr-held"
    spec_dir.mkdir(parents=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "python3 holding every cell",
        "language": "python",
        "env": {"IPYTHONDIR": str(ipython_dir)},
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    return "dgdr-held"


def test_report_cell_timeout_leaves_status(tmp_path, monkeypatch, capsys):
    # The first cell waits forever, so the 1 s limit is reached on any machine.
    marker = tmp_path / "held"
    kernel = _install_held_kernel(tmp_path / "kernel", marker)
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "kernel" / "jupyter"))
    out = tmp_path / "out"

    assert main(["report", str(SPEC), "-o", str(out), "--kernel", kernel, "--cell-timeout", "1"]) == 1

    error = capsys.readouterr().err
    assert marker.read_text() == "held"
    assert "\nerror: qwen3-32b-h200.yaml: the capacity planner notebook stopped" in "\n" + error
    assert "CellTimeoutError" in error
    assert "raise --cell-timeout" in error
    assert "Traceback" not in error
    status = yaml.safe_load((out / "profiler_status.yaml").read_text())
    assert status["status"] == "failed"
    assert status["phase"] == "Initializing"
    assert status["error"].startswith("CellTimeoutError")


def test_report_reruns_over_failed_run(tmp_path, capsys):
    spec = tmp_path / "unknown-model.yaml"
    spec.write_text("model: example-org/no-such-model\nhardware:\n  gpuSku: h200_sxm\n  totalGpus: 8\n  numGpusPerNode: 8\n")
    out = tmp_path / "out"
    assert main(["report", str(spec), "-o", str(out)]) == 1

    # A failed run leaves only its notebook and status, so a fixed request may reuse the folder without --force.
    assert main(["report", str(SPEC), "-o", str(out)]) == 0
    assert (out / "report.html").is_file()
    assert not (out / "capacity_planner.failed.ipynb").exists()
    assert yaml.safe_load((out / "profiler_status.yaml").read_text())["status"] == "success"


def test_report_shows_reasons_in_full(report_dir):
    page = (report_dir / "report.html").read_text(encoding="utf-8")
    # The rank-1 reason for picking mode `default`, as `tables._reason_against`
    # words it: over 50 characters, which pandas cuts by default.
    assert "chosen: highest tokens/s/GPU over the whole budget under the SLA" in page


def test_notebook_without_output_dir_writes_nothing(tmp_path, monkeypatch):
    import papermill

    # The kernel inherits TMPDIR, so a bundle put in a temporary folder would land here.
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))
    executed = tmp_path / "executed.ipynb"

    papermill.execute_notebook(
        str(NOTEBOOK), str(executed), parameters={"output_dir": ""}, kernel_name="python3", progress_bar=False
    )

    assert sorted(path.name for path in scratch.glob("dgdr-*")) == []
    notebook = nbformat.read(executed, as_version=4)
    streams = "".join(output.get("text", "") for cell in notebook.cells for output in cell.get("outputs", []))
    assert "no bundle written" in streams


def test_report_failure_status_matches_profile(tmp_path, capsys):
    spec = tmp_path / "nofit.yaml"
    spec.write_text(NO_FIT_DGDR)

    assert main(["profile", str(spec), "-o", str(tmp_path / "profiled"), "--no-progress"]) == 1
    assert main(["report", str(spec), "-o", str(tmp_path / "reported")]) == 1
    capsys.readouterr()

    profiled = yaml.safe_load((tmp_path / "profiled" / "profiler_status.yaml").read_text())
    reported = yaml.safe_load((tmp_path / "reported" / "profiler_status.yaml").read_text())
    assert reported["status"] == "failed"
    assert reported["phase"] == profiled["phase"] == "SelectingConfig"
    assert reported["message"] == profiled["message"]
    assert reported["error"] == profiled["error"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", reported["timestamp"])
    assert sorted(path.name for path in (tmp_path / "reported").iterdir()) == [
        MANIFEST,
        "capacity_planner.failed.ipynb",
        "profiler_status.yaml",
    ]


def test_report_force_keeps_other_files(report_dir, tmp_path, capsys):
    out = tmp_path / "mine"
    shutil.copytree(report_dir, out)
    (out / "drafts").mkdir()
    (out / "notes.txt").write_text("keep me")
    (out / "drafts" / "plan.md").write_text("keep me too")
    earlier_notebook = (out / "capacity_planner.ipynb").read_bytes()

    assert main(["report", str(SPEC), "-o", str(out), "--force"]) == 0
    capsys.readouterr()

    assert (out / "notes.txt").read_text() == "keep me"
    assert (out / "drafts" / "plan.md").read_text() == "keep me too"
    # papermill records the run's start time in the notebook, so a new run differs.
    assert (out / "capacity_planner.ipynb").read_bytes() != earlier_notebook
    assert [path.name for path in out.iterdir() if path.name.startswith(".")] == [MANIFEST]
    recorded = read_manifest(out)["files"]
    assert "notes.txt" not in recorded
    assert "report.html" in recorded
    assert "capacity_planner.ipynb" in recorded


@pytest.mark.parametrize("name", ["report.html", "capacity_planner.failed.ipynb", "final_config.yaml"])
def test_report_force_rejects_user_file(tmp_path, capsys, name):
    out = tmp_path / "mine"
    out.mkdir()
    (out / name).write_text("my own file")

    assert main(["report", str(SPEC), "-o", str(out), "--force"]) == 1

    error = capsys.readouterr().err
    assert error.startswith(f"error: {out / name}: dgdr did not write this file")
    assert f"move it out of {out} or choose another -o" in error
    assert (out / name).read_text() == "my own file"
    assert sorted(path.name for path in out.iterdir()) == [name]


def test_report_force_rejects_edited_report(report_dir, tmp_path, capsys):
    out = tmp_path / "copy"
    shutil.copytree(report_dir, out)
    (out / "report.html").write_text("edited after the run")

    assert main(["report", str(SPEC), "-o", str(out), "--force"]) == 1

    assert "report.html: dgdr did not write this file" in capsys.readouterr().err
    assert (out / "report.html").read_text() == "edited after the run"


def test_report_into_working_directory(tmp_path, monkeypatch, capsys):
    (tmp_path / "notes.txt").write_text("keep me")
    monkeypatch.chdir(tmp_path)

    assert main(["report", str(SPEC), "-o", ".", "--force"]) == 0
    capsys.readouterr()

    assert (tmp_path / "notes.txt").read_text() == "keep me"
    assert (tmp_path / "report.html").is_file()
    assert yaml.safe_load((tmp_path / "profiler_status.yaml").read_text())["status"] == "success"


def test_report_reads_stdin(tmp_path, monkeypatch, capfd):
    spec = EXAMPLES / "deepseek-v3-h200.yaml"
    monkeypatch.setattr("sys.stdin", io.StringIO(spec.read_text()))
    out = tmp_path / "from-stdin"

    assert main(["report", "-", "-o", str(out)]) == 0

    # capfd: the kernel process writes to file descriptor 2 directly. Standard error is no terminal here.
    err = capfd.readouterr().err
    # The h200_sxm/sglang fit covers DeepSeek-R1 only (dgdr_kernel/perf/model.py calibration_caveat).
    extrapolation = [line for line in err.splitlines() if "extrapolated from one" in line]
    assert len(extrapolation) == 1, err
    assert "deepseek-ai/DeepSeek-V3" in extrapolation[0]
    assert "Executing" not in err

    expected = profile(load_dgdr(spec), progress=lambda phase, message: None).selection.chosen
    summary = json.loads((out / "report_summary.json").read_text())
    assert summary["request"] == load_dgdr(spec).name
    assert summary["pick"] == describe_pick_short(expected)
    assert summary["gpus_used"] == expected.total_gpus
    notebook = nbformat.read(out / "capacity_planner.ipynb", as_version=4)
    assert notebook.metadata.papermill.parameters["dgdr_text"] == spec.read_text()
    assert "dgdr_path" not in notebook.metadata.papermill.parameters


def test_report_rejects_empty_stdin(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO(""))

    assert main(["report", "-", "-o", str(tmp_path / "out")]) == 1
    assert "the document is empty" in capsys.readouterr().err
    assert not (tmp_path / "out" / "report.html").exists()


def test_report_hides_local_paths(report_dir):
    page = (report_dir / "report.html").read_text(encoding="utf-8")
    assert str(report_dir.parent) not in page
    assert f"bundle written to the output folder {report_dir.name}/:" in page


def test_report_help_names_replaced_files(capsys):
    assert main(["report", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    force_help = text.split("--force", 2)[2].split("--kernel", 1)[0]

    assert "report_summary.json" in text.split("positional arguments", 1)[0]
    for name in (*BUNDLE_ENTRIES, *REPORT_FILES):
        assert name in force_help, name
    assert "keep every other file" in force_help
    assert "when an earlier dgdr run wrote them" in force_help


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


@pytest.mark.parametrize("kind", ["parent-is-file", "existing-file", "new-in-proc", "existing-proc"])
def test_report_rejects_unusable_output_first(kind, tmp_path, monkeypatch, capfd):
    target, reason = _unusable_output(kind, tmp_path)
    stdin_text = SPEC.read_text()
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin_text))

    assert main(["report", "-", "-o", str(target)]) == 1

    captured = capfd.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith(f"error: output {'path' if kind == 'existing-file' else 'folder'} {target} ")
    assert reason in lines[0]
    # No kernel ran and standard input was never read.
    assert captured.out == ""
    assert sys.stdin.read() == stdin_text
    assert sorted(path.name for path in tmp_path.iterdir()) == ["file.yaml"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a read-only folder; the /proc and file-parent cases cover root")
def test_report_rejects_read_only_output(tmp_path, capfd):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        assert main(["report", str(SPEC), "-o", str(locked / "out")]) == 1
    finally:
        locked.chmod(0o755)

    err = capfd.readouterr().err
    assert err.startswith(f"error: output folder {locked / 'out'} cannot be created in {locked}: Permission denied")
    assert len(err.splitlines()) == 1
    assert "at None" not in err
    assert list(locked.iterdir()) == []


def test_report_draws_bar_on_terminal(tmp_path):
    err = run_with_terminal_stderr(["report", str(SPEC), "-o", str(tmp_path / "out")], expected_rc=0)

    assert "Executing: 100%" in err


def test_report_no_progress_logs_steps(tmp_path):
    out = tmp_path / "out"

    err = run_with_terminal_stderr(["--log-level", "INFO", "report", str(SPEC), "-o", str(out), "--no-progress"], expected_rc=0)

    assert "Executing:" not in err
    assert "info: executing " in err
    assert f"info: exporting report.html for {SPEC.name}" in err
    assert (out / "report.html").is_file()


def test_report_pick_line_names_budget(tmp_path, capsys):
    # llama31-8b-l40s.yaml has totalGpus 1, so the pick runs on the one GPU of the budget.
    assert main(["report", str(EXAMPLES / "llama31-8b-l40s.yaml"), "-o", str(tmp_path / "out")]) == 0
    lines = capsys.readouterr().out.splitlines()
    pick_line = next(line for line in lines if line.startswith("pick: "))
    assert " on 1 of 1 GPUs, " in pick_line
    # Picking mode default: no load target, so no load line.
    assert not any(line.startswith("load: ") for line in lines)
