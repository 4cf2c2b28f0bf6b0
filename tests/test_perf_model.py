"""Tests of the analytical performance model (dgdr_kernel.perf)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dgdr_kernel.errors import PerfModelError
from dgdr_kernel.hardware import get_gpu
from dgdr_kernel.modelarch import resolve_model
from dgdr_kernel.perf import Layout, PerfModel
from dgdr_kernel.perf.measured import map_rows, predict_rows, read_measured

SAMPLE_CSV = Path(__file__).parent / "data" / "perf_accuracy_sample.csv"


@pytest.fixture(scope="module")
def llama_8b():
    return resolve_model("meta-llama/Llama-3.1-8B-Instruct")


@pytest.fixture(scope="module")
def deepseek_v3():
    return resolve_model("deepseek-ai/DeepSeek-V3")


def test_ops_one_decode_token_llama_8b(llama_8b):
    # Llama-3.1-8B config.json: hidden 4096, 32 heads, 8 KV heads, head_dim 128,
    # intermediate 14336, 32 layers. One decode token, tp=1, bf16 weights.
    pm = PerfModel(llama_8b, get_gpu("h100_sxm"), "vllm", weight_dtype="bf16")
    table = pm.explain_step(Layout(tp=1), tokens=1, context_len=1000, phase="decode").set_index("op")

    qkv_width = (32 + 2 * 8) * 128  # 6144
    assert table.loc["qkv_proj", "flops"] == pytest.approx(2 * qkv_width * 4096 * 32)
    # weights in bf16 plus the input and output vectors of one token
    assert table.loc["qkv_proj", "bytes"] == pytest.approx(32 * (qkv_width * 4096 * 2 + (4096 + qkv_width) * 2))
    assert table.loc["mlp_up", "flops"] == pytest.approx(2 * (2 * 14336) * 4096 * 32)
    assert table.loc["mlp_down", "flops"] == pytest.approx(2 * 4096 * 14336 * 32)
    # decode attention reads 1000 cached tokens x (K and V) x 8 heads x 128 x 2 bytes per layer
    assert table.loc["attention_decode", "bytes"] == pytest.approx(32 * 1000 * 2 * 8 * 128 * 2)
    assert table.loc["attention_decode", "bound"] == "memory"
    assert table.loc["qkv_proj", "bound"] == "memory"


def test_ops_tp_shards_weights(llama_8b):
    pm = PerfModel(llama_8b, get_gpu("h100_sxm"), "vllm", weight_dtype="bf16")
    one = pm.explain_step(Layout(tp=1), 1, 1000, "decode").set_index("op")
    four = pm.explain_step(Layout(tp=4), 1, 1000, "decode").set_index("op")
    assert four.loc["mlp_up", "flops"] == pytest.approx(one.loc["mlp_up", "flops"] / 4)
    assert four.loc["tp_allreduce", "time_ms"] > 0
    assert one.loc["tp_allreduce", "time_ms"] == 0


def test_memory_deepseek_v3_fit(deepseek_v3):
    # DeepSeek-V3 has 671B parameters (model card), about 625 GiB in fp8:
    # far over one H100 SXM (80 GiB), about 80 GiB per GPU over 8 H200 (141 GiB).
    one_h100 = PerfModel(deepseek_v3, get_gpu("h100_sxm"), "trtllm").memory(Layout(tp=1, moe_tp=1, moe_ep=1))
    assert not one_h100.fits[0]
    assert one_h100.weights_gib_per_gpu[0] > 600

    eight_h200 = PerfModel(deepseek_v3, get_gpu("h200_sxm"), "trtllm").memory(Layout(tp=8, moe_tp=1, moe_ep=8))
    assert eight_h200.fits[0]
    assert 70 < eight_h200.weights_gib_per_gpu[0] < 90
    assert eight_h200.kv_capacity_tokens[0] > 100_000


def test_max_batch_shrinks_with_length(llama_8b):
    pm = PerfModel(llama_8b, get_gpu("h100_sxm"), "vllm")
    batch = pm.max_batch(Layout(tp=np.array([1, 1])), np.array([1000, 8000]), 1000)
    assert batch[0] > batch[1] > 0


def test_itl_grows_with_batch_and_context(llama_8b):
    pm = PerfModel(llama_8b, get_gpu("h200_sxm"), "vllm")
    layout = Layout(tp=np.ones(4, dtype=int))
    by_batch = pm.decode_step_ms(layout, np.array([1, 16, 64, 256]), 2000)
    assert np.all(np.diff(by_batch) > 0)
    by_context = pm.decode_step_ms(layout, 64, np.array([500, 2000, 8000, 32000]))
    assert np.all(np.diff(by_context) > 0)
    agg = pm.agg(layout, 2000, 500, np.array([1, 8, 32, 128]))
    assert np.all(np.diff(agg.itl_ms) > 0)


def test_ttft_grows_with_isl(llama_8b):
    pm = PerfModel(llama_8b, get_gpu("h200_sxm"), "sglang")
    layout = Layout(tp=np.ones(4, dtype=int))
    isl = np.array([128, 1024, 4096, 16384])
    assert np.all(np.diff(pm.prefill_ms(layout, isl)) > 0)
    assert np.all(np.diff(pm.agg(layout, isl, 256, 16).ttft_ms) > 0)


def test_provenance_labels(llama_8b):
    # hwdata/calibrated/h200_sxm.yaml contains a vLLM fit. h100_pcie has no measured rows.
    assert PerfModel(llama_8b, get_gpu("h200_sxm"), "vllm").provenance == "calibrated"
    modelled = PerfModel(llama_8b, get_gpu("h100_pcie"), "vllm")
    assert modelled.provenance == "modelled"
    assert set(modelled.agg(Layout(tp=1), 1000, 100, 4).provenance) == {"modelled"}


def test_invalid_layouts_give_reasons_and_nan(deepseek_v3, llama_8b):
    dense = PerfModel(llama_8b, get_gpu("h100_sxm"), "vllm")
    reasons = dense.validate_layout(Layout(tp=np.array([1, 3])))
    assert reasons[0] == ""
    assert "32 attention heads are not divisible by tp" in reasons[1]
    assert np.isnan(dense.decode_step_ms(Layout(tp=np.array([1, 3])), 8, 1000)[1])

    moe = PerfModel(deepseek_v3, get_gpu("h200_sxm"), "sglang")
    layouts = Layout(tp=np.array([8, 8, 8]), moe_tp=np.array([1, 1, 2]), moe_ep=np.array([8, 7, 8]))
    reasons = moe.validate_layout(layouts)
    assert reasons[0] == ""
    assert "256 experts are not divisible by moe_ep" in reasons[1]
    assert "tp*dp must equal moe_tp*moe_ep" in reasons[2]
    prediction = moe.agg(layouts, 1000, 100, 8)
    assert np.isfinite(prediction.itl_ms[0])
    assert np.isnan(prediction.itl_ms[1:]).all()


def test_unknown_backend_rejected(llama_8b):
    with pytest.raises(PerfModelError, match="unknown backend 'tgi'"):
        PerfModel(llama_8b, get_gpu("h100_sxm"), "tgi")


def test_kv_transfer_slower_across_nodes(llama_8b):
    pm = PerfModel(llama_8b, get_gpu("h200_sxm"), "vllm")
    within = pm.kv_transfer_ms(Layout(tp=2), Layout(tp=2), 4000)
    across = pm.kv_transfer_ms(Layout(tp=8), Layout(tp=8), 4000)
    assert across[0] > within[0]


def test_measured_csv_missing_columns(tmp_path):
    path = tmp_path / "rows.csv"
    path.write_text("engine,model,gpu\nvllm,x,H200-SXM\n", encoding="utf-8")
    with pytest.raises(PerfModelError, match="lacks the columns precision, tp"):
        read_measured(path)


def test_accuracy_on_sample_rows():
    # 59 agg rows sampled from measured_serving.csv (AIConfigurator silicon
    # measurements, up to 4 per model/GPU/engine/precision group; 4 state no
    # concurrency). The calibrated model reaches median errors of 22.4 % (TTFT)
    # and 11.4 % (ITL) on them; the bounds sit a little above, so a regression
    # in the physics or the fit shows up here.
    mapped = map_rows(read_measured(SAMPLE_CSV), resolve_model, get_gpu)
    predicted = predict_rows(mapped, get_gpu)
    usable = predicted[predicted["reason"] == ""]
    assert len(usable) == 55
    ttft_error = (usable["predicted_ttft_ms"] / usable["measured_ttft_ms"] - 1).abs()
    itl_error = (usable["predicted_itl_ms"] / usable["measured_itl_ms"] - 1).abs()
    assert ttft_error.median() < TTFT_MEDIAN_BOUND
    assert itl_error.median() < ITL_MEDIAN_BOUND


TTFT_MEDIAN_BOUND = 0.30
ITL_MEDIAN_BOUND = 0.15


def test_moe_decode_touches_one_expert_per_rank(deepseek_v3):
    # DeepSeek-V3 config.json: 256 routed experts, 8 per token, 58 MoE layers
    # (61 layers, first 3 dense), hidden 7168, moe_intermediate 2048. One
    # decode token on moe_ep=8 routes 8 copies over 8 ranks: 1 row per rank,
    # and 32 * (1 - (1 - 8/256)^1) = 1 expert touched per rank.
    pm = PerfModel(deepseek_v3, get_gpu("h200_sxm"), "trtllm")
    table = pm.explain_step(Layout(tp=8, moe_tp=1, moe_ep=8), 1, 1000, "decode").set_index("op")
    expert_params = 3 * 7168 * 2048
    assert table.loc["moe_experts", "flops"] == pytest.approx(58 * 2 * 1 * expert_params)
    weight_bytes = 58 * 1 * expert_params * 1.0  # fp8: 1 byte per parameter
    assert weight_bytes < table.loc["moe_experts", "bytes"] < weight_bytes * 1.01


def test_accuracy_script_json(tmp_path):
    import json
    import subprocess
    import sys

    script = Path(__file__).parents[1] / "benchmarks" / "accuracy.py"
    out = tmp_path / "rows.csv"
    done = subprocess.run([sys.executable, str(script), str(SAMPLE_CSV), "--json", "--out", str(out)], capture_output=True, text=True, check=True)
    report = json.loads(done.stdout)
    assert report["agg"]["overall"]["rows"] == 59
    assert report["agg"]["overall"]["rows_predicted"] == 55
    assert report["disagg"]["overall"]["rows"] == 0
    assert report["not_predicted"] == {"no concurrency stated": 4}
    assert "predicted_ttft_ms" in out.read_text(encoding="utf-8").splitlines()[0]


def test_accuracy_script_missing_columns(tmp_path):
    import subprocess
    import sys

    path = tmp_path / "rows.csv"
    path.write_text("engine,model\nvllm,x\n", encoding="utf-8")
    script = Path(__file__).parents[1] / "benchmarks" / "accuracy.py"
    done = subprocess.run([sys.executable, str(script), str(path)], capture_output=True, text=True)
    assert done.returncode == 1
    assert "lacks the columns precision, gpu, tp" in done.stderr


def test_calibrated_files_carry_provenance():
    # Every fit in hwdata/calibrated/ names its data, script and residual error.
    from importlib import resources

    import yaml

    folder = resources.files("dgdr_kernel.hwdata").joinpath("calibrated")
    files = sorted(entry for entry in folder.iterdir() if entry.name.endswith(".yaml"))
    assert files
    for entry in files:
        document = yaml.safe_load(entry.read_text(encoding="utf-8"))
        assert entry.name == f"{document['sku']}.yaml"
        for backend, fit in document["backends"].items():
            assert backend in ("vllm", "sglang", "trtllm")
            assert fit["provenance"] == "calibrated"
            assert fit["fit"]["script"] == "benchmarks/calibrate.py"
            assert len(fit["fit"]["csv_rows_used"]) == fit["fit"]["rows"]["rows"]
            assert fit["fit"]["rows"]["ttft_median_abs_error_pct"] is not None
            assert 0 < fit["parameters"]["gemm_efficiency_max"] <= 0.95
            assert 0 < fit["parameters"]["hbm_efficiency"] <= 0.95


def test_sliding_window_caps_attention():
    # gpt-oss-120b config.json: 36 layers alternating sliding (window 128) and
    # full attention, 64 query heads, 8 KV heads, head_dim 64. vLLM keeps a
    # bf16 KV cache (2 bytes).
    arch = resolve_model("openai/gpt-oss-120b")
    pm = PerfModel(arch, get_gpu("h200_sxm"), "vllm")
    per_token_layer = 2 * 8 * 64 * 2  # K and V, 8 heads, 64 dims, 2 bytes

    decode = pm.explain_step(Layout(tp=1, moe_tp=1, moe_ep=1), 1, 1000, "decode").set_index("op")
    assert decode.loc["attention_decode", "bytes"] == pytest.approx(18 * 1000 * per_token_layer + 18 * 128 * per_token_layer)

    prefill = pm.explain_step(Layout(tp=1, moe_tp=1, moe_ep=1), 1000, 0, "prefill").set_index("op")
    full_pairs = 1000 * 1001 / 2
    sliding_pairs = 128 * 129 / 2 + (1000 - 128) * 128
    assert prefill.loc["attention_prefill", "flops"] == pytest.approx(2 * 64 * (18 * full_pairs + 18 * sliding_pairs) * (2 * 64))
