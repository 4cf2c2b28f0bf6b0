"""Tests for `dgdr models list` and `dgdr models show`, run through the `dgdr` entry point."""

from __future__ import annotations

import json

import pytest

import dgdr_kernel.cli as cli
from dgdr_kernel.modelarch import list_shipped_models, locate_config


@pytest.fixture(autouse=True)
def only_models_subcommand(monkeypatch):
    # The dispatcher imports every subcommand module; these tests need only `models`.
    monkeypatch.setattr(cli, "SUBCOMMAND_MODULES", ("models",))


def run_dgdr(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_list_table_has_every_shipped_model(capsys):
    code, out, _ = run_dgdr(capsys, "models", "list")

    lines = out.splitlines()
    assert code == 0
    assert lines[0].split()[:3] == ["MODEL", "ARCHITECTURE", "LAYERS"]
    assert len(lines) == 1 + len(list_shipped_models())


def test_list_table_row_values(capsys):
    _, out, _ = run_dgdr(capsys, "models", "list")

    row = next(line for line in out.splitlines() if line.startswith("meta-llama/Llama-3.1-8B-Instruct "))
    # model, architecture, layers, total B, active B, context, dtype, KV bytes/token at bf16
    assert row.split() == [
        "meta-llama/Llama-3.1-8B-Instruct",
        "LlamaForCausalLM",
        "32",
        "8.03",
        "8.03",
        "131072",
        "bf16",
        "131072",  # 32 layers * 2 * 8 KV heads * 128 * 2 bytes
    ]


def test_list_json(capsys):
    code, out, _ = run_dgdr(capsys, "models", "list", "--output", "json")

    rows = {row["model"]: row for row in json.loads(out)}
    assert code == 0
    deepseek = rows["deepseek-ai/DeepSeek-V3"]
    assert deepseek["kv_bytes_per_token_bf16"] == 61 * (512 + 64) * 2
    assert deepseek["weight_dtype"] == "fp8"
    assert deepseek["layers"] == 61


def test_show_json_derived_numbers(capsys):
    code, out, _ = run_dgdr(
        capsys, "models", "show", "openai/gpt-oss-120b", "--kv-dtype", "fp8", "--context-len", "8192", "--output", "json"
    )

    details = json.loads(out)
    per_layer = 2 * 8 * 64 * 1  # K and V, 8 KV heads, head dim 64, fp8
    assert code == 0
    assert details["fields"]["sliding_window"] == 128
    assert details["fields"]["layer_attention_types"][:2] == ["sliding", "full"]
    assert details["derived"]["kv_bytes_per_token_per_layer"] == per_layer
    assert details["derived"]["kv_bytes_per_sequence"] == (18 * 8192 + 18 * 128) * per_layer
    assert details["config"]["origin"] == "shipped"


def test_show_text(capsys):
    code, out, _ = run_dgdr(capsys, "models", "show", "OPENAI/GPT-OSS-120B")

    assert code == 0
    assert out.startswith("openai/gpt-oss-120b (shipped: ")
    assert "[sliding, full] x18 (36 layers)" in out
    assert "weight_gib_checkpoint" in out


def test_show_local_directory(capsys, tmp_path):
    config = json.loads(open(locate_config("Qwen/Qwen3-8B").path, encoding="utf-8").read())
    config["num_hidden_layers"] = 2
    (tmp_path / "config.json").write_text(json.dumps(config), encoding="utf-8")

    code, out, _ = run_dgdr(capsys, "models", "show", str(tmp_path), "--output", "json")

    details = json.loads(out)
    assert code == 0
    assert details["fields"]["num_layers"] == 2
    assert details["config"]["origin"] == "local path"


def test_show_unknown_model_exits_1(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))

    code, out, err = run_dgdr(capsys, "models", "show", "acme/no-such-model")

    assert code == 1
    assert out == ""
    assert "'acme/no-such-model' not found" in err
    assert "Shipped models:" in err


@pytest.mark.parametrize(
    "argv",
    [
        ("models", "show", "Qwen/Qwen3-8B", "--kv-dtype", "int3"),
        ("models", "show", "Qwen/Qwen3-8B", "--context-len", "0"),
        ("models", "show"),
        ("models",),
    ],
)
def test_usage_errors_exit_2(capsys, argv):
    code, _, _ = run_dgdr(capsys, *argv)

    assert code == 2


def test_show_help_names_units(capsys):
    code, out, _ = run_dgdr(capsys, "models", "show", "--help")

    assert code == 0
    assert "tokens" in out
    assert "KV-cache element type" in out
