"""Tests of the `dgdr` dispatcher: exit codes, --version and --log-level."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

from dgdr_kernel import __version__
from dgdr_kernel.cli import EXIT_INVALID_INPUT, EXIT_OK, EXIT_USAGE, _console_handler, main


def test_version_prints_package_version(capsys):
    assert main(["--version"]) == EXIT_OK

    assert capsys.readouterr().out.strip() == f"dgdr {__version__}"


def test_missing_command_is_usage_error(capsys):
    assert main([]) == EXIT_USAGE

    assert "COMMAND" in capsys.readouterr().err


def test_unknown_command_is_usage_error(capsys):
    assert main(["deploy"]) == EXIT_USAGE

    assert "invalid choice: 'deploy'" in capsys.readouterr().err


def test_invalid_log_level_is_usage_error():
    assert main(["--log-level", "LOUD", "hw", "list"]) == EXIT_USAGE


def test_dgdr_error_exits_one_with_message(tmp_path, capsys):
    missing = tmp_path / "missing.yaml"

    assert main(["profile", str(missing)]) == EXIT_INVALID_INPUT

    err = capsys.readouterr().err
    assert "missing.yaml" in err
    assert "Traceback" not in err


def test_console_entry_point_runs():
    completed = subprocess.run(
        [sys.executable, "-m", "dgdr_kernel", "--version"],
        capture_output=True,
        text=True,
        check=False,
    )

    assert completed.returncode == EXIT_OK
    assert completed.stdout.strip() == f"dgdr {__version__}"


def test_count_option_rejects_non_integer(capsys):
    assert main(["profile", "examples/qwen3-32b-h200.yaml", "--top", "many"]) == EXIT_USAGE

    assert "argument --top: expected a positive integer, got 'many'" in capsys.readouterr().err


def test_count_option_rejects_zero(capsys):
    assert main(["models", "show", "Qwen/Qwen3-8B", "--context-len", "0"]) == EXIT_USAGE

    assert "argument --context-len: expected a positive integer, got 0" in capsys.readouterr().err


def _run_dgdr(*argv: str) -> subprocess.CompletedProcess:
    # A subprocess, because main() leaves logging alone when pytest has already configured it.
    return subprocess.run([sys.executable, "-m", "dgdr_kernel", *argv], capture_output=True, text=True, check=False)


def _profile_into_user_folder(tmp_path: Path, *options: str) -> str:
    """Profile an invalid DGDR into a folder holding a user's candidates.csv and return standard error."""
    spec = tmp_path / "invalid.yaml"
    spec.write_text("model: Qwen/Qwen3-32B\nworkload:\n  isl: -5\n")
    out = tmp_path / "mine"
    out.mkdir(exist_ok=True)
    (out / "candidates.csv").write_text("my,own\n1,2\n")

    completed = _run_dgdr(*options, "profile", str(spec), "-o", str(out), "--no-progress")

    assert completed.returncode == EXIT_INVALID_INPUT
    return completed.stderr


def test_console_lines_omit_logger_name(tmp_path):
    err = _profile_into_user_folder(tmp_path)

    assert "\nwarning: profiler_status.yaml not written because " in "\n" + err
    assert "dgdr_kernel.bundle" not in err
    assert "\nerror: invalid DGDR" in "\n" + err


def test_debug_lines_name_the_logger(tmp_path):
    err = _profile_into_user_folder(tmp_path, "--log-level", "DEBUG")

    assert "\nwarning: dgdr_kernel.bundle: profiler_status.yaml not written because " in "\n" + err


def test_console_shows_repeated_warning_once(capsys):
    logger = logging.getLogger("dgdr_kernel.test_console")
    handler = _console_handler("WARNING")
    logger.addHandler(handler)
    try:
        logger.warning("predictions are extrapolated from one model")
        logger.warning("predictions are extrapolated from one model")
        logger.warning("another warning")
    finally:
        logger.removeHandler(handler)

    err = capsys.readouterr().err
    assert err.count("warning: predictions are extrapolated from one model") == 1
    assert err.count("warning: another warning") == 1
