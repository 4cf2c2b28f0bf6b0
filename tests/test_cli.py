"""Tests of the `dgdr` dispatcher: exit codes, --version and --log-level."""

from __future__ import annotations

import subprocess
import sys

from dgdr_kernel import __version__
from dgdr_kernel.cli import EXIT_INVALID_INPUT, EXIT_OK, EXIT_USAGE, main


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
