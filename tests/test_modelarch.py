"""Tests for dgdr_kernel.modelarch: config parsing, derived sizes and config resolution."""

from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path

import pytest

from dgdr_kernel.errors import ModelArchError
from dgdr_kernel.modelarch import list_shipped_models, locate_config, parse_config, resolve_model

TOLERANCE = 0.02  # published sizes are rounded; 2 % covers the rounding


def shipped_config(model_id: str) -> dict:
    """The shipped config.json of a model, as a dict the test may modify."""
    path = Path(locate_config(model_id).path)
    return json.loads(path.read_text(encoding="utf-8"))


def assert_close(actual: float, published: float, what: str) -> None:
    assert abs(actual - published) <= TOLERANCE * published, (
        f"{what}: computed {actual / 1e9:.3f} B, published {published / 1e9:.3f} B"
    )


# --------------------------------------------------------------------------
# Parameter counts against published sizes
# --------------------------------------------------------------------------

# (model, published total, published active, source)
PUBLISHED_SIZES = [
    # Hugging Face model page of meta-llama/Llama-3.1-8B: "Model size 8.03B params" (safetensors metadata)
    ("meta-llama/Llama-3.1-8B-Instruct", 8.03e9, None),
    # Hugging Face model page of meta-llama/Llama-3.1-70B: "Model size 70.6B params"
    ("meta-llama/Llama-3.1-70B-Instruct", 70.6e9, None),
    # Llama 3.1 model card: 405B parameters
    ("meta-llama/Llama-3.1-405B-Instruct", 405e9, None),
    # Qwen3-32B model card: "Number of Parameters: 32.8B"
    ("Qwen/Qwen3-32B", 32.8e9, None),
    # Qwen3-8B model card: "Number of Parameters: 8.2B"
    ("Qwen/Qwen3-8B", 8.2e9, None),
    # Qwen3-0.6B model card: "Number of Parameters: 0.6B"
    ("Qwen/Qwen3-0.6B", 0.6e9, None),
    # Qwen3-30B-A3B model card: "30.5B in total and 3.3B activated"
    ("Qwen/Qwen3-30B-A3B", 30.5e9, 3.3e9),
    # Qwen3-235B-A22B model card: "235B in total and 22B activated"
    ("Qwen/Qwen3-235B-A22B", 235e9, 22e9),
    ("Qwen/Qwen3-235B-A22B-FP8", 235e9, 22e9),
    # DeepSeek-V3 model card and technical report (arXiv 2412.19437): 671B total, 37B activated per
    # token. The 685B on the Hugging Face page adds the 14B multi-token-prediction module.
    ("deepseek-ai/DeepSeek-V3", 671e9, 37e9),
    ("deepseek-ai/DeepSeek-R1", 671e9, 37e9),
    # Mistral AI, "Mixtral of experts" announcement (2023-12-11): 46.7B total, 12.9B used per token
    ("mistralai/Mixtral-8x7B-Instruct-v0.1", 46.7e9, 12.9e9),
    # Kimi K2 technical report (arXiv 2507.20534): 1.04 trillion total. Its "32 billion activated"
    # is not checked: the report does not say whether the input embedding (1.17B) is included.
    ("moonshotai/Kimi-K2-Instruct", 1.04e12, None),
    # Llama 4 model card: Maverick 400B total / 17B active; Scout 109B total / 17B active
    # (the totals include the vision encoder, under 2 % of Scout's total)
    ("meta-llama/Llama-4-Maverick-17B-128E-Instruct", 400e9, 17e9),
    ("meta-llama/Llama-4-Scout-17B-16E-Instruct", 109e9, 17e9),
    # MiniMax-M2.5 model card: 230B total parameters
    ("MiniMaxAI/MiniMax-M2.5", 230e9, None),
    # Hugging Face model page of meta-llama/Llama-2-7b-hf: "6.74B params"; Llama-2-70b-hf: "69B params"
    ("meta-llama/Llama-2-7b-hf", 6.74e9, None),
    ("meta-llama/Llama-2-70b-hf", 69e9, None),
    # Mistral AI, "Announcing Mistral 7B" (2023-09-27): 7.3B parameters
    ("mistralai/Mistral-7B-v0.1", 7.3e9, None),
    # EleutherAI/gpt-j-6b model card: n_parameters 6,053,381,344
    ("EleutherAI/gpt-j-6b", 6_053_381_344, None),
    # tiiuae/falcon-180B model card: 180B parameters
    ("tiiuae/falcon-180B", 180e9, None),
]


@pytest.mark.parametrize(("model_id", "total", "active"), PUBLISHED_SIZES, ids=[row[0] for row in PUBLISHED_SIZES])
def test_param_counts_match_published(model_id, total, active):
    arch = resolve_model(model_id)

    assert_close(arch.total_params, total, f"{model_id} total")
    if active is not None:
        assert_close(arch.active_params, active, f"{model_id} active")
    if not arch.is_moe:
        assert arch.active_params == arch.total_params


@pytest.mark.parametrize(
    ("model_id", "total", "active_without_embedding"),
    [
        # gpt-oss model card (OpenAI, 2025-08-05), Table 1: 116.83B total, 5.13B active
        # (MLP 3.58B active + attention 0.96B + unembedding 0.58B: the input embedding is not counted)
        ("openai/gpt-oss-120b", 116.83e9, 5.13e9),
        # same table: gpt-oss-20b 20.91B total, 3.61B active
        ("openai/gpt-oss-20b", 20.91e9, 3.61e9),
    ],
)
def test_gpt_oss_counts_match_model_card(model_id, total, active_without_embedding):
    arch = resolve_model(model_id)
    counts = arch.param_counts()

    assert_close(arch.total_params, total, f"{model_id} total")
    assert_close(arch.active_params - counts.embedding, active_without_embedding, f"{model_id} active")


def test_deepseek_mtp_module_excluded():
    arch = resolve_model("deepseek-ai/DeepSeek-V3")

    assert arch.num_mtp_layers == 1
    # published 671B excludes the MTP module; counting the config's 61 layers gives it
    assert arch.num_layers == 61
    assert arch.total_params < 680e9


def test_param_breakdown_llama_8b_by_hand():
    arch = resolve_model("meta-llama/Llama-3.1-8B-Instruct")
    counts = arch.param_counts()

    # hidden 4096, 32 heads x 128, 8 KV heads x 128, MLP 14336, vocab 128256, 32 layers
    attention_per_layer = 4096 * 4096 + 2 * 4096 * 1024 + 4096 * 4096
    mlp_per_layer = 3 * 4096 * 14336
    assert counts.attention == 32 * attention_per_layer
    assert counts.dense_mlp == 32 * mlp_per_layer
    assert counts.embedding == 128256 * 4096
    assert counts.lm_head == 128256 * 4096
    assert counts.norms == (2 * 32 + 1) * 4096
    assert arch.total_params == 8_030_261_248


def test_tied_embeddings_have_no_lm_head():
    arch = resolve_model("Qwen/Qwen3-0.6B")

    assert arch.tie_word_embeddings is True
    assert arch.param_counts().lm_head == 0


# --------------------------------------------------------------------------
# KV-cache bytes against hand computation
# --------------------------------------------------------------------------


def test_kv_bytes_gqa_llama_8b():
    arch = resolve_model("meta-llama/Llama-3.1-8B-Instruct")

    # 32 layers * 2 (K and V) * 8 KV heads * 128 head dim * 2 bytes
    assert arch.kv_bytes_per_token("bf16") == 32 * 2 * 8 * 128 * 2 == 131072
    assert arch.kv_bytes_per_token("fp8") == 32 * 2 * 8 * 128 * 1
    assert arch.kv_bytes_per_sequence(1000, "bf16") == 1000 * 131072


def test_kv_bytes_mla_deepseek_v3():
    arch = resolve_model("deepseek-ai/DeepSeek-V3")

    # 61 layers * (kv_lora_rank 512 + qk_rope_head_dim 64) * 2 bytes: the compressed latent
    assert arch.is_mla
    assert arch.kv_bytes_per_token("bf16") == 61 * (512 + 64) * 2 == 70272
    assert arch.kv_bytes_per_token("fp8") == 61 * (512 + 64)


def test_kv_bytes_sliding_gpt_oss():
    arch = resolve_model("openai/gpt-oss-120b")
    per_layer = 2 * 8 * 64 * 2  # K and V, 8 KV heads, head dim 64, bf16

    # 36 layers alternate sliding (window 128) and full attention
    assert arch.sliding_window == 128
    assert arch.sliding_layer_count == 18
    assert arch.full_attention_layer_count == 18
    assert arch.layer_attention_types[:2] == ("sliding", "full")

    # within the window every layer caches every token
    assert arch.kv_bytes_per_sequence(100, "bf16") == 36 * 100 * per_layer
    # beyond it, sliding layers hold only the last 128 tokens
    assert arch.kv_bytes_per_sequence(8192, "bf16") == (18 * 8192 + 18 * 128) * per_layer
    # the per-token rate counts every layer, an upper bound past the window
    assert arch.kv_bytes_per_token("bf16") == 36 * per_layer


def test_kv_bytes_mistral_all_layers_sliding():
    arch = resolve_model("mistralai/Mistral-7B-v0.1")

    assert arch.sliding_window == 4096
    assert arch.sliding_layer_count == 32
    assert arch.kv_bytes_per_sequence(10000, "bf16") == 32 * 4096 * 2 * 8 * 128 * 2


def test_kv_bytes_rejects_unknown_dtype():
    arch = resolve_model("meta-llama/Llama-3.1-8B-Instruct")

    with pytest.raises(ModelArchError, match="'int3'.*bf16, fp16, fp8"):
        arch.kv_bytes_per_token("int3")


# --------------------------------------------------------------------------
# Weight bytes
# --------------------------------------------------------------------------


def test_weight_bytes_bf16_is_two_bytes_per_param():
    arch = resolve_model("Qwen/Qwen3-32B")

    assert arch.weight_bytes() == 2 * arch.total_params


def test_weight_bytes_gpt_oss_checkpoint_size():
    arch = resolve_model("openai/gpt-oss-120b")

    # gpt-oss model card, Table 1: checkpoint size 60.8 GiB (MXFP4 experts, bf16 elsewhere)
    assert arch.weight_dtype == "fp4"
    assert arch.attention_weight_dtype == "bf16"
    assert abs(arch.weight_bytes() / 2**30 - 60.8) <= TOLERANCE * 60.8


def test_weight_bytes_fp8_keeps_embeddings_bf16():
    arch = resolve_model("meta-llama/Llama-3.1-8B-Instruct")
    counts = arch.param_counts()

    linear = counts.attention + counts.dense_mlp
    high_precision = counts.embedding + counts.lm_head + counts.norms
    expected = linear * (1 + 4 / (128 * 128)) + high_precision * 2
    assert arch.weight_bytes("fp8") == pytest.approx(expected)


def test_weight_bytes_fp8_checkpoint_about_half_of_bf16():
    fp8 = resolve_model("Qwen/Qwen3-235B-A22B-FP8")
    bf16 = resolve_model("Qwen/Qwen3-235B-A22B")

    assert fp8.weight_dtype == "fp8"
    assert fp8.quant_method == "fp8"
    assert bf16.weight_dtype == "bf16"
    assert fp8.weight_bytes() == pytest.approx(bf16.weight_bytes("fp8"))
    assert 0.50 < fp8.weight_bytes() / bf16.weight_bytes() < 0.51


# --------------------------------------------------------------------------
# Parsing quirks of the model families
# --------------------------------------------------------------------------


def test_parse_deepseek_moe_and_mla_fields():
    arch = resolve_model("deepseek-ai/DeepSeek-R1")

    assert (arch.num_experts, arch.num_experts_per_token, arch.moe_intermediate_size) == (256, 8, 2048)
    assert (arch.num_shared_experts, arch.shared_expert_intermediate_size) == (1, 2048)
    assert arch.first_k_dense_layers == 3
    assert (arch.moe_layer_count, arch.dense_layer_count) == (58, 3)
    assert arch.intermediate_size == 18432
    assert (arch.q_lora_rank, arch.kv_lora_rank) == (1536, 512)
    assert (arch.qk_rope_head_dim, arch.qk_nope_head_dim, arch.v_head_dim) == (64, 128, 128)
    assert arch.weight_dtype == "fp8"


def test_parse_llama4_text_config_interleaved_moe():
    arch = resolve_model("meta-llama/Llama-4-Maverick-17B-128E-Instruct")

    assert arch.architecture == "Llama4ForConditionalGeneration"
    assert arch.num_layers == 48
    assert arch.moe_layer_count == 24
    assert arch.layer_mlp_types[:2] == ("dense", "moe")
    assert arch.intermediate_size == 16384  # intermediate_size_mlp of the dense layers
    assert arch.moe_intermediate_size == 8192
    assert arch.num_shared_experts == 1
    # chunked attention on three of every four layers, global attention on the fourth
    assert arch.sliding_window == 8192
    assert arch.layer_attention_types[:4] == ("sliding", "sliding", "sliding", "full")


def test_parse_qwen_mlp_only_layers():
    config = shipped_config("Qwen/Qwen3-30B-A3B")
    config["mlp_only_layers"] = [0, 1]

    arch = parse_config(config, model_id="test")

    assert arch.first_k_dense_layers == 2
    assert arch.moe_layer_count == 46
    assert arch.param_counts().dense_mlp == 2 * 3 * 2048 * 6144


def test_parse_qwen_decoder_sparse_step():
    config = shipped_config("Qwen/Qwen3-30B-A3B")
    config["decoder_sparse_step"] = 2

    arch = parse_config(config, model_id="test")

    # layer i is MoE when (i + 1) % 2 == 0
    assert arch.layer_mlp_types[:4] == ("dense", "moe", "dense", "moe")
    assert arch.moe_layer_count == 24


def test_parse_qwen_sliding_window_disabled():
    config = shipped_config("Qwen/Qwen3-8B")
    config["sliding_window"] = 32768  # Qwen2 configs carry a window with use_sliding_window false

    arch = parse_config(config, model_id="test")

    assert arch.sliding_window is None
    assert arch.layer_attention_types is None


def test_parse_explicit_head_dim():
    arch = resolve_model("Qwen/Qwen3-0.6B")

    # hidden 1024 / 16 heads would give 64; the config sets head_dim 128
    assert arch.head_dim == 128


@pytest.mark.parametrize(
    ("quantization_config", "weight_dtype", "attention_dtype"),
    [
        ({"quant_method": "fp8", "weight_block_size": [128, 128]}, "fp8", None),
        ({"quant_method": "mxfp4", "modules_to_not_convert": ["model.layers.*.self_attn"]}, "fp4", "bf16"),
        ({"quant_method": "modelopt", "quant_algo": "NVFP4"}, "fp4", None),
        ({"quant_method": "modelopt", "quant_algo": "FP8"}, "fp8", None),
        ({"quant_method": "awq", "bits": 4, "group_size": 128}, "int4", None),
        ({"quant_method": "gptq", "bits": 4}, "int4", None),
        (
            {
                "quant_method": "compressed-tensors",
                "config_groups": {"group_0": {"weights": {"num_bits": 4, "type": "float"}}},
            },
            "fp4",
            None,
        ),
    ],
)
def test_parse_quantization_methods(quantization_config, weight_dtype, attention_dtype):
    config = shipped_config("meta-llama/Llama-3.1-8B-Instruct")
    config["quantization_config"] = quantization_config

    arch = parse_config(config, model_id="test")

    assert arch.weight_dtype == weight_dtype
    assert arch.quant_method == quantization_config["quant_method"]
    assert arch.attention_weight_dtype == attention_dtype


def test_parse_rejects_unknown_quant_method():
    config = shipped_config("meta-llama/Llama-3.1-8B-Instruct")
    config["quantization_config"] = {"quant_method": "hqq"}

    with pytest.raises(ModelArchError, match="quant_method 'hqq' is not supported"):
        parse_config(config, model_id="test", source="cfg.json")


def test_parse_rejects_8bit_gptq():
    config = shipped_config("meta-llama/Llama-3.1-8B-Instruct")
    config["quantization_config"] = {"quant_method": "gptq", "bits": 8}

    with pytest.raises(ModelArchError, match="8 bits"):
        parse_config(config, model_id="test")


def test_parse_float32_served_as_fp16():
    config = shipped_config("meta-llama/Llama-2-7b-hf")
    config["torch_dtype"] = "float32"

    assert parse_config(config, model_id="test").weight_dtype == "fp16"


def test_parse_missing_key_names_key_and_file(tmp_path):
    config = shipped_config("meta-llama/Llama-3.1-8B-Instruct")
    del config["hidden_size"]
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config), encoding="utf-8")

    with pytest.raises(ModelArchError) as excinfo:
        parse_config(path)

    assert "'hidden_size'" in str(excinfo.value)
    assert str(path) in str(excinfo.value)


def test_parse_non_integer_value_rejected():
    config = shipped_config("meta-llama/Llama-3.1-8B-Instruct")
    config["num_hidden_layers"] = "32"

    with pytest.raises(ModelArchError, match="'num_hidden_layers' must be an integer"):
        parse_config(config, model_id="test")


def test_parse_invalid_json(tmp_path):
    path = tmp_path / "config.json"
    path.write_text('{"hidden_size": 4096,', encoding="utf-8")

    with pytest.raises(ModelArchError, match="invalid JSON"):
        parse_config(path)


def test_parse_linear_attention_rejected():
    config = shipped_config("MiniMaxAI/MiniMax-M2.5")
    config["attn_type_list"] = [0] * 61 + [1]

    with pytest.raises(ModelArchError, match="linear"):
        parse_config(config, model_id="test")


def test_parse_unknown_layer_type_rejected():
    config = shipped_config("openai/gpt-oss-20b")
    config["layer_types"][0] = "linear_attention"

    with pytest.raises(ModelArchError, match=r"layer_types\[0\] is 'linear_attention'"):
        parse_config(config, model_id="test")


def test_arch_rejects_layer_types_of_wrong_length():
    arch = resolve_model("openai/gpt-oss-20b")

    with pytest.raises(ModelArchError, match="layer_attention_types has 2 entries"):
        dataclasses.replace(arch, layer_attention_types=("full", "sliding"))


@pytest.mark.parametrize("model_id", list_shipped_models())
def test_shipped_config_cites_hub_source(model_id):
    config = shipped_config(model_id)

    assert config["_source"].startswith("https://huggingface.co/")
    assert config.get("architectures")


# --------------------------------------------------------------------------
# Resolution: shipped, local directory, HuggingFace cache
# --------------------------------------------------------------------------

REQUIRED_SHIPPED = [
    "Qwen/Qwen3-0.6B",
    "Qwen/Qwen3-8B",
    "Qwen/Qwen3-32B",
    "Qwen/Qwen3-30B-A3B",
    "Qwen/Qwen3-235B-A22B",
    "Qwen/Qwen3-235B-A22B-FP8",
    "meta-llama/Llama-3.1-8B-Instruct",
    "meta-llama/Llama-3.1-8B",
    "meta-llama/Llama-3.1-70B-Instruct",
    "meta-llama/Llama-3.1-70B",
    "meta-llama/Llama-3.1-405B-Instruct",
    "meta-llama/Llama-3.3-70B-Instruct",
    "deepseek-ai/DeepSeek-V3",
    "deepseek-ai/DeepSeek-R1",
    "openai/gpt-oss-20b",
    "openai/gpt-oss-120b",
    "mistralai/Mixtral-8x7B-Instruct-v0.1",
    "MiniMaxAI/MiniMax-M2.5",
    "moonshotai/Kimi-K2-Instruct",
]


def test_required_models_are_shipped():
    shipped = set(list_shipped_models())

    missing = [model_id for model_id in REQUIRED_SHIPPED if model_id not in shipped]
    assert missing == []


def test_resolve_is_case_insensitive():
    arch = resolve_model("qwen/QWEN3-32b")

    assert arch.model_id == "Qwen/Qwen3-32B"


def test_resolve_base_llama_id():
    base = resolve_model("meta-llama/Llama-3.1-8B")
    instruct = resolve_model("meta-llama/Llama-3.1-8B-Instruct")

    assert base.model_id == "meta-llama/Llama-3.1-8B"
    assert dataclasses.replace(base, model_id="x") == dataclasses.replace(instruct, model_id="x")


def test_resolve_name_without_org():
    assert resolve_model("gpt-oss-120b").model_id == "openai/gpt-oss-120b"


def test_resolve_caches_parsed_result():
    assert resolve_model("Qwen/Qwen3-8B") is resolve_model("qwen/qwen3-8b")


def write_tiny_config(directory: Path, num_layers: int = 2) -> Path:
    config = shipped_config("meta-llama/Llama-3.1-8B-Instruct")
    config["num_hidden_layers"] = num_layers
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "config.json"
    path.write_text(json.dumps(config), encoding="utf-8")
    return path


def test_resolve_local_directory(tmp_path):
    write_tiny_config(tmp_path / "my-model", num_layers=3)

    arch = resolve_model(str(tmp_path / "my-model"))

    assert arch.num_layers == 3
    assert arch.model_id == str(tmp_path / "my-model")
    assert locate_config(str(tmp_path / "my-model")).origin == "local path"


def test_resolve_local_directory_reparses_edited_config(tmp_path):
    path = write_tiny_config(tmp_path / "m", num_layers=3)
    assert resolve_model(str(tmp_path / "m")).num_layers == 3

    write_tiny_config(tmp_path / "m", num_layers=5)
    later = time.time() + 10
    os.utime(path, (later, later))

    assert resolve_model(str(tmp_path / "m")).num_layers == 5


def test_resolve_directory_without_config(tmp_path):
    with pytest.raises(ModelArchError, match="has no config.json"):
        resolve_model(str(tmp_path))


def test_resolve_search_path(tmp_path):
    write_tiny_config(tmp_path / "acme--tiny", num_layers=4)

    arch = resolve_model("acme/tiny", search_paths=[tmp_path])

    assert arch.num_layers == 4


def make_hf_cache(root: Path, repo_folder: str, snapshots: dict[str, int], main: str | None) -> None:
    """Lay out a hub cache: models--org--name/snapshots/<rev>/config.json and refs/main."""
    repo = root / repo_folder
    for revision, num_layers in snapshots.items():
        write_tiny_config(repo / "snapshots" / revision, num_layers=num_layers)
    if main is not None:
        (repo / "refs").mkdir(parents=True, exist_ok=True)
        (repo / "refs" / "main").write_text(main, encoding="utf-8")


def test_resolve_hf_cache_follows_refs_main(tmp_path, monkeypatch):
    make_hf_cache(tmp_path, "models--Acme--Tiny-LM", {"aaa111": 6, "bbb222": 7}, main="aaa111")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))

    arch = resolve_model("acme/tiny-lm")

    assert arch.num_layers == 6
    assert locate_config("acme/tiny-lm").origin == "huggingface cache"


def test_resolve_hf_cache_newest_snapshot_without_ref(tmp_path, monkeypatch):
    make_hf_cache(tmp_path, "models--acme--tiny-lm", {"old": 6, "new": 7}, main=None)
    old = tmp_path / "models--acme--tiny-lm" / "snapshots" / "old" / "config.json"
    os.utime(old, (time.time() - 1000, time.time() - 1000))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))

    assert resolve_model("acme/tiny-lm").num_layers == 7


def test_resolve_hf_home(tmp_path, monkeypatch):
    make_hf_cache(tmp_path / "hub", "models--acme--tiny-lm", {"rev": 9}, main="rev")
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path))

    assert resolve_model("acme/tiny-lm").num_layers == 9


def test_resolve_not_found_lists_shipped_and_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))

    with pytest.raises(ModelArchError) as excinfo:
        resolve_model("acme/no-such-model")

    message = str(excinfo.value)
    assert "'acme/no-such-model' not found" in message
    assert "Qwen/Qwen3-32B" in message
    assert "deepseek-ai/DeepSeek-V3" in message
    assert "spec.model" in message
    assert str(tmp_path) in message


def test_resolve_empty_id():
    with pytest.raises(ModelArchError, match="model id is empty"):
        resolve_model("  ")


def test_parse_gemma2_alternating_window():
    config = shipped_config("mistralai/Mistral-7B-v0.1")
    config["model_type"] = "gemma2"

    arch = parse_config(config, model_id="test")

    # Gemma 2 slides on even layers and attends globally on odd ones
    assert arch.layer_attention_types[:3] == ("sliding", "full", "sliding")
    assert arch.sliding_layer_count == 16
