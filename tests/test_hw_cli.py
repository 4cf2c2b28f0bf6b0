"""`dgdr hw list` and `dgdr hw show`."""

from __future__ import annotations

import argparse
import importlib
import json
from pathlib import Path

import pytest
import yaml

from dgdr_kernel.cli import SUBCOMMAND_MODULES, hw
from dgdr_kernel.errors import DgdrError, HardwareError
from dgdr_kernel.hardware import get_gpu, list_skus
from dgdr_kernel.hardware.catalog import SOURCED_FIELDS


def run_hw(argv: list[str]) -> int:
    """Parse `dgdr hw ...` with only this subcommand registered and run it."""
    parser = argparse.ArgumentParser(prog="dgdr")
    hw.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["hw", *argv])
    return args.func(args)


def _all_subcommands_importable() -> bool:
    try:
        for name in SUBCOMMAND_MODULES:
            importlib.import_module(f"dgdr_kernel.cli.{name}")
    except ImportError:
        return False
    return True


def test_hw_list_table_has_every_sku(capsys):
    assert run_hw(["list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    header = lines[0].split()
    assert header[:2] == ["SKU", "name"]
    assert "GPUs/node" in lines[0]
    rows = {line.split()[0]: line for line in lines[2:] if line and not line.startswith("TFLOP/s")}
    assert set(rows) == set(list_skus())


def test_hw_list_table_values(capsys):
    run_hw(["list"])
    out = capsys.readouterr().out
    h100_row = next(line for line in out.splitlines() if line.startswith("h100_sxm "))
    # H100 SXM datasheet: 80GB, 3.35TB/s, BF16 1,979 / FP8 3,958 TFLOPS with sparsity, no FP4.
    assert h100_row.split()[-7:] == ["80", "3.35", "989.5", "1979", "-", "8", "nvlink"]
    gb200_row = next(line for line in out.splitlines() if line.startswith("gb200 "))
    assert "(gb200_sxm)" in gb200_row


def test_hw_list_shows_fp16_where_there_is_no_bf16(capsys):
    # T4 datasheet: FP16 mixed precision 65 TFLOPS, no BF16 tensor cores; the
    # table printed '-' there, and a footer that said "no tensor-core support".
    run_hw(["list"])
    out = capsys.readouterr().out
    t4_row = next(line for line in out.splitlines() if line.startswith("t4 "))
    assert t4_row.split()[-5:-2] == ["65", "-", "-"]
    assert "no tensor-core support" not in out


@pytest.mark.parametrize("output", ["json", "yaml"])
def test_hw_list_structured_output(capsys, output):
    run_hw(["list", "--output", output])
    text = capsys.readouterr().out
    data = json.loads(text) if output == "json" else yaml.safe_load(text)
    assert set(data) == set(list_skus())
    assert data["l40s"]["dense_tflops"]["fp8"] == 733
    assert data["mi300"]["intra_node_link"] == "infinity_fabric"


def test_hw_show_text_cites_every_field(capsys):
    assert run_hw(["show", "b200_sxm"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("b200_sxm: NVIDIA B200")
    for name in SOURCED_FIELDS:
        if name != "dense_tflops":
            assert f"\n{name}: " in out
    for precision in ("fp16", "bf16", "fp8", "fp4", "int8"):
        assert f"dense_tflops.{precision}: " in out
    assert out.count("    source: ") == len(SOURCED_FIELDS) - 1 + 5
    assert "NVIDIA Blackwell Datasheet <https://" in out
    assert "dense_tflops.fp4: 9000 dense TFLOP/s" in out


def test_hw_show_accepts_alias(capsys):
    run_hw(["show", "gb200_sxm"])
    out = capsys.readouterr().out
    assert out.startswith("gb200: ")
    assert "aliases: gb200_sxm" in out


@pytest.mark.parametrize("output", ["json", "yaml"])
def test_hw_show_structured_round_trips(capsys, output):
    run_hw(["show", "a100_sxm", "--output", output])
    text = capsys.readouterr().out
    data = json.loads(text) if output == "json" else yaml.safe_load(text)
    assert type(get_gpu("a100_sxm")).model_validate(data) == get_gpu("a100_sxm")


def test_hw_show_unknown_suggests_sku():
    with pytest.raises(HardwareError, match="did you mean 'h100_sxm'"):
        run_hw(["show", "H100-SXM5-80GB"])


def test_hw_show_unknown_lists_skus():
    with pytest.raises(HardwareError, match="supported SKUs: a100_pcie"):
        run_hw(["show", "rtx4090"])


def test_hw_requires_action(capsys):
    with pytest.raises(SystemExit) as excinfo:
        run_hw([])
    assert excinfo.value.code == 2


def test_hw_errors_are_dgdr_errors():
    # The dispatcher maps DgdrError to exit code 1; an unknown SKU must be one.
    with pytest.raises(DgdrError):
        run_hw(["show", "nope"])


@pytest.mark.skipif(not _all_subcommands_importable(), reason="other dgdr subcommands are not in the tree yet")
def test_dgdr_main_exit_codes(capsys):
    from dgdr_kernel.cli import main

    assert main(["hw", "list"]) == 0
    assert main(["hw", "show", "nope"]) == 1
    assert "unknown GPU SKU 'nope'" in capsys.readouterr().err
    assert main(["hw", "show"]) == 2


FIXTURES = Path(__file__).parent / "fixtures"


def test_hw_detect_recorded_nvidia_smi(capsys):
    recorded = FIXTURES / "nvidia_smi" / "a100_pcie_40gb_4gpu.csv"
    assert run_hw(["detect", "--nvidia-smi-output", str(recorded), "--no-kubernetes"]) == 0
    out = capsys.readouterr().out
    assert "gpuSku: a100_pcie (NVIDIA A100 PCIe 80GB) [nvidia-smi]" in out
    assert "vramMb: 40960 MiB [nvidia-smi]" in out
    assert "totalGpus: 4 [nvidia-smi]" in out
    assert "rdma: unknown (not set, not discovered)" in out


def test_hw_detect_json_with_requested_fields(capsys):
    argv = ["detect", "--gpu-sku", "h200_sxm", "--total-gpus", "16", "--no-nvidia-smi", "--no-kubernetes"]
    run_hw([*argv, "--output", "json"])
    data = json.loads(capsys.readouterr().out)
    assert data["gpuSku"] == "h200_sxm"
    assert data["totalGpus"] == 16
    assert data["numGpusPerNode"] == 8
    assert data["sources"]["total_gpus"] == "dgdr"
    assert data["sources"]["num_gpus_per_node"] == "catalog"


def test_hw_detect_nothing_found_names_options():
    with pytest.raises(HardwareError) as excinfo:
        run_hw(["detect", "--no-nvidia-smi", "--no-kubernetes"])

    message = str(excinfo.value)
    assert "set --gpu-sku (one of " in message
    assert "optionally --num-gpus-per-node, --total-gpus and --vram-mb" in message
    assert "hardware." not in message


def test_hw_detect_bad_count_names_option():
    with pytest.raises(HardwareError, match="^--total-gpus must be a positive integer, got 0"):
        run_hw(["detect", "--gpu-sku", "h100_sxm", "--total-gpus", "0", "--no-nvidia-smi", "--no-kubernetes"])


def test_hw_detect_unknown_sku_names_option():
    with pytest.raises(HardwareError) as excinfo:
        run_hw(["detect", "--gpu-sku", "h300", "--no-nvidia-smi", "--no-kubernetes"])

    message = str(excinfo.value)
    assert "Set --gpu-sku to one of these" in message
    assert "hardware." not in message


def test_hw_detect_default_total_note_names_option(capsys):
    run_hw(["detect", "--gpu-sku", "h100_sxm", "--no-nvidia-smi", "--no-kubernetes"])

    assert "(set --total-gpus to plan for more)" in capsys.readouterr().out


def test_hw_detect_missing_file_raises(tmp_path):
    with pytest.raises(HardwareError, match="cannot read --nvidia-smi-output"):
        run_hw(["detect", "--nvidia-smi-output", str(tmp_path / "missing.csv"), "--no-kubernetes"])
