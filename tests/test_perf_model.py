"""Tests of the analytical performance model (dgdr_kernel.perf)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dgdr_kernel.errors import PerfModelError
from dgdr_kernel.hardware import get_gpu
from dgdr_kernel.modelarch import resolve_model
from dgdr_kernel.perf import Layout, PerfModel
from dgdr_kernel.perf.params import default_params
from dgdr_kernel.perf.measured import DECODE_MAX_BATCH, infer_disagg_workers, map_rows, predict_rows, read_measured
from dgdr_kernel.perf.params import PerfParams
from dgdr_kernel.perf.ops import StepShape
from dgdr_kernel.perf.serving import adp_balance_wait_iters
from dgdr_kernel.rate_matching import DECODE_DEGRADATION, PREFILL_DEGRADATION

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
    # concurrency). The calibrated model reaches median errors of 15.3 % (TTFT)
    # and 7.7 % (ITL) on them. The bounds sit a little above, so a regression
    # in the physics or the fit shows up here.
    mapped = map_rows(read_measured(SAMPLE_CSV), resolve_model, get_gpu)
    predicted = predict_rows(mapped, get_gpu)
    usable = predicted[(predicted["reason"] == "") & (predicted["mode"] == "agg")]
    assert len(usable) == 55
    ttft_error = (usable["predicted_ttft_ms"] / usable["measured_ttft_ms"] - 1).abs()
    itl_error = (usable["predicted_itl_ms"] / usable["measured_itl_ms"] - 1).abs()
    assert ttft_error.median() < TTFT_MEDIAN_BOUND
    assert itl_error.median() < ITL_MEDIAN_BOUND


TTFT_MEDIAN_BOUND = 0.18
ITL_MEDIAN_BOUND = 0.10


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
    # The sample's 3 disagg rows: one Qwen3-32B row states 5 prefill and 11
    # decode workers, two DeepSeek-R1 rows state none.
    assert report["disagg"]["overall"]["rows"] == 3
    assert report["disagg"]["stated_workers"]["overall"]["rows"] == 1
    assert report["disagg"]["inferred_workers"]["overall"]["rows"] == 2
    assert report["not_predicted"] == {"no concurrency stated": 4}
    rows = pd.read_csv(out)
    assert "predicted_ttft_ms" in rows.columns
    stated = rows[rows["model_label"] == "Qwen/Qwen3-32B"].iloc[-1]
    assert (stated["p_workers"], stated["d_workers"]) == (5, 11)
    inferred = rows[(rows["mode"] == "disagg") & (rows["model_label"] == "deepseek-ai/DeepSeek-R1")]
    assert inferred["assumption"].str.contains("inferred").all()


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


def test_adp_balance_wait_by_hand():
    # 8 DP ranks, 16 requests per rank, OSL 1024: each rank gets 16 / 1024
    # new requests per iteration, so the other 7 ranks all have one after
    # H(7) / (16 / 1024) iterations, H(7) = 1 + 1/2 + ... + 1/7 = 363/140.
    # Requests arrive evenly over that delay, so each waits half of it.
    delay = (363 / 140) / (16 / 1024)
    wait = adp_balance_wait_iters(np.array([8, 8, 1]), 16.0, 1024.0, np.array([1000.0, 100.0, 1000.0]))
    assert wait[0] == pytest.approx(delay / 2)
    assert wait[1] == pytest.approx(50.0)  # the timeout ends the delay first
    assert wait[2] == 0.0  # no attention DP, nothing to balance


def test_adp_wait_only_trtllm_dep(deepseek_v3):
    layouts = Layout(tp=[1, 8], dp=[8, 1], moe_tp=[1, 1], moe_ep=[8, 8])
    held = PerfParams(adp_balance_timeout_iters=100.0)
    off = PerfParams(adp_balance_timeout_iters=0.0)
    gpu = get_gpu("h200_sxm")
    with_hold = PerfModel(deepseek_v3, gpu, "trtllm", params=held).agg(layouts, 1024, 1024, 128)
    without = PerfModel(deepseek_v3, gpu, "trtllm", params=off).agg(layouts, 1024, 1024, 128)
    # DEP: 16 requests per rank, delay min(100, 166) iterations, mean wait 50 decode steps.
    decode_ms = PerfModel(deepseek_v3, gpu, "trtllm", params=off).decode_step_ms(layouts.take(0), 128, 1024 + 512)[0]
    assert with_hold.ttft_ms[0] - without.ttft_ms[0] == pytest.approx(50 * decode_ms, rel=1e-6)
    assert with_hold.ttft_ms[1] == pytest.approx(without.ttft_ms[1])  # TEP has one attention rank
    vllm = PerfModel(deepseek_v3, gpu, "vllm", params=held).agg(layouts, 1024, 1024, 128)
    vllm_off = PerfModel(deepseek_v3, gpu, "vllm", params=off).agg(layouts, 1024, 1024, 128)
    assert vllm.ttft_ms[0] == pytest.approx(vllm_off.ttft_ms[0])


def test_infer_disagg_workers_sizes_both_roles(llama_8b):
    pm = PerfModel(llama_8b, get_gpu("h200_sxm"), "vllm")
    layout = Layout(tp=[1, 1, 1])
    concurrency = np.array([4.0, 512.0, 2048.0])
    # Short requests: the engine's batch limit (512) sets the decode workers.
    assert pm.max_batch(layout, 256.0, 256.0)[0] > DECODE_MAX_BATCH
    _, d_short = infer_disagg_workers(pm, layout, layout, 256.0, 256.0, concurrency)
    np.testing.assert_array_equal(d_short, [1, 1, 4])  # ceil(c / 512)
    # 2048-token requests: fewer than 512 fit in the KV cache, so it sets them.
    p_workers, d_workers = infer_disagg_workers(pm, layout, layout, 1024.0, 1024.0, concurrency)
    capacity = pm.max_batch(layout, 1024.0, 1024.0)[0]
    assert capacity < DECODE_MAX_BATCH
    np.testing.assert_array_equal(d_workers, np.ceil(concurrency / capacity))
    # Prefill workers are the fewest whose rate covers the decode workers' rate.
    decode = pm.disagg_decode(layout, 1024.0, 1024.0, concurrency / d_workers)
    prefill = pm.disagg_prefill(layout, 1024.0)
    supply = PREFILL_DEGRADATION * prefill.requests_per_s
    demand = DECODE_DEGRADATION * d_workers * decode.requests_per_s
    assert np.all(p_workers * supply >= demand)
    assert np.all((p_workers == 1) | ((p_workers - 1) * supply < demand))


def test_moe_prefill_overhead_per_expert_layer(deepseek_v3, llama_8b):
    # DeepSeek-V3 config.json: 61 layers, the first 3 dense, so 58 MoE layers,
    # each with 256 routed experts. 4 us per expert and MoE layer adds
    # 58 * 256 * 4 us = 59.392 ms to a prefill step and nothing to decode.
    gpu = get_gpu("h200_sxm")
    layout = Layout(tp=8, moe_tp=1, moe_ep=8)
    base = PerfModel(deepseek_v3, gpu, "trtllm", params=PerfParams())
    costly = PerfModel(deepseek_v3, gpu, "trtllm", params=PerfParams(moe_prefill_expert_overhead_us=4.0))
    assert costly.prefill_ms(layout, 1024)[0] - base.prefill_ms(layout, 1024)[0] == pytest.approx(59.392)
    assert costly.decode_step_ms(layout, 8, 1024)[0] == pytest.approx(base.decode_step_ms(layout, 8, 1024)[0])

    # The cost follows the model's experts, not the layout: expert parallelism
    # over 8 GPUs adds the same 59.392 ms as moe_tp 8.
    tensor = Layout(tp=8, moe_tp=8, moe_ep=1)
    tensor_base = PerfModel(deepseek_v3, gpu, "trtllm", params=PerfParams()).prefill_ms(tensor, 1024)[0]
    assert costly.prefill_ms(tensor, 1024)[0] - tensor_base == pytest.approx(59.392)

    # Llama-3.1-8B is dense: no MoE layer, no cost.
    dense = Layout(tp=1)
    dense_base = PerfModel(llama_8b, gpu, "trtllm", params=PerfParams())
    dense_costly = PerfModel(llama_8b, gpu, "trtllm", params=PerfParams(moe_prefill_expert_overhead_us=4.0))
    assert dense_costly.prefill_ms(dense, 1024)[0] == pytest.approx(dense_base.prefill_ms(dense, 1024)[0])


def test_static_rows_skip_moe_prefill_overhead(tmp_path):
    # A TensorRT-LLM performance-page row: Mixtral-8x7B fp8 on 2 H200, first
    # token of one 128-token prompt from gptSessionBenchmark (12.1 ms). That
    # harness runs a compiled engine from C++, so its prefill carries no eager
    # MoE launch cost even when the fitted parameters have one.
    frame = pd.read_csv(SAMPLE_CSV, nrows=0)
    row = {column: np.nan for column in frame.columns}
    row.update(engine="TensorRT-LLM", model="Mixtral-8x7B", precision="fp8", gpu="H200-SXM-141GB", tp=2, pp=1, isl=128, osl=1, concurrency=1, ttft_ms_mean=12.1,
               notes="Low Latency table: '1st Token Latency (ms)' at batch size 1 (gptSessionBenchmark, num_runs 5)")
    path = tmp_path / "rows.csv"
    pd.DataFrame([row]).to_csv(path, index=False)

    costly = PerfParams(moe_prefill_expert_overhead_us=4.0)
    predicted = predict_rows(map_rows(read_measured(path), resolve_model, get_gpu), get_gpu, params_for=lambda *_: costly)
    arch = resolve_model("mistralai/Mixtral-8x7B-Instruct-v0.1")
    engine = PerfModel(arch, get_gpu("h200_sxm"), "trtllm", "fp8", params=costly.replace(moe_prefill_expert_overhead_us=0.0))
    expected = engine.prefill_ms(Layout(tp=2, moe_tp=2, moe_ep=1), 128, batch=1)[0]
    assert predicted["harness"].iloc[0] == "static"
    assert predicted["predicted_ttft_ms"].iloc[0] == pytest.approx(expected)


# The fit records in hwdata/calibrated/*.yaml name the models each (SKU, backend)
# pair was fitted on: b200_sxm/vllm on MiniMax-M2.5 (MoE) alone, b200_sxm/sglang
# on DeepSeek-R1 (MoE) alone, h200_sxm/trtllm on several dense and MoE models;
# a100_sxm has no calibrated file at all.
def test_caveat_for_modelled_pair():
    caveat = PerfModel(resolve_model("Qwen/Qwen3-32B"), get_gpu("a100_sxm"), "vllm").calibration_caveat()

    assert caveat is not None
    assert caveat.startswith("no measured data for a100_sxm/vllm")


def test_caveat_for_single_model_fit():
    caveat = PerfModel(resolve_model("deepseek-ai/DeepSeek-V3"), get_gpu("b200_sxm"), "sglang").calibration_caveat()

    assert caveat is not None
    assert "fitted on deepseek-ai/DeepSeek-R1 only" in caveat


def test_moe_only_fit_not_applied_to_dense():
    perf_model = PerfModel(resolve_model("Qwen/Qwen3-32B"), get_gpu("b200_sxm"), "vllm")

    assert perf_model.fitted_kinds == {"MoE"}
    assert perf_model.provenance == "modelled"
    assert perf_model.params == default_params("vllm")
    assert "fitted on MoE models only" in perf_model.calibration_caveat()


def test_dense_prefill_faster_on_b200_than_h200():
    # Dense BF16 peaks: B200 2250 TFLOP/s against H200 989.5 TFLOP/s (hwdata/b200_sxm.yaml,
    # hwdata/h200_sxm.yaml), so a compute-bound 4000-token prefill must be faster on B200.
    arch = resolve_model("Qwen/Qwen3-32B")
    b200 = PerfModel(arch, get_gpu("b200_sxm"), "vllm").disagg_prefill(Layout(tp=1), 4000).ttft_ms
    h200 = PerfModel(arch, get_gpu("h200_sxm"), "vllm").disagg_prefill(Layout(tp=1), 4000).ttft_ms

    assert float(np.ravel(b200)[0]) < float(np.ravel(h200)[0])


def test_no_caveat_for_the_fitted_model():
    perf_model = PerfModel(resolve_model("MiniMaxAI/MiniMax-M2.5"), get_gpu("b200_sxm"), "vllm")

    assert perf_model.calibration_caveat() is None


def test_no_caveat_for_multi_model_fit():
    perf_model = PerfModel(resolve_model("Qwen/Qwen3-32B"), get_gpu("h200_sxm"), "trtllm")

    assert len(perf_model.fit_record["models"]) > 1
    assert perf_model.calibration_caveat() is None


def test_expert_floor_per_touched_expert(deepseek_v3):
    # DeepSeek-V3 config.json: 256 routed experts, 8 per token, 58 MoE layers.
    # One decode step of 1 sequence touches 8 experts. Under moe_tp 8 every GPU
    # runs a slice of all 8; under moe_ep 8 a GPU has 32 of the 256 experts
    # and expects 32 * (1 - (1 - 8/256)^1) = 1 of them. At 10 us per expert
    # that is 58 * 8 * 10 us = 4.64 ms against 58 * 1 * 10 us = 0.58 ms.
    gpu = get_gpu("h200_sxm")
    tensor = Layout(tp=8, moe_tp=8, moe_ep=1)
    expert = Layout(tp=8, moe_tp=1, moe_ep=8)
    base = PerfModel(deepseek_v3, gpu, "trtllm", params=PerfParams())
    floored = PerfModel(deepseek_v3, gpu, "trtllm", params=PerfParams(expert_overhead_us=10.0))
    for layout, expected_ms in ((tensor, 4.64), (expert, 0.58)):
        added = floored.decode_step_ms(layout, 1, 1024)[0] - base.decode_step_ms(layout, 1, 1024)[0]
        assert added == pytest.approx(expected_ms)
    table = floored.explain_step(tensor, 1, 1024, "decode").set_index("op")
    assert table.loc["moe_expert_tiles", "time_ms"] == pytest.approx(4.64)
    assert table.loc["moe_expert_tiles", "bound"] == "overhead"


def test_agg_prefill_bound_caps_throughput(llama_8b):
    # With one output token every iteration carries a prefill. vLLM's token
    # budget here is batch + ISL + 1500 = 5756 tokens at 256 requests, so one
    # 4000-token prompt per iteration: throughput can be at most 1 / the
    # prefill time of one prompt alone. The model's iterations also carry the
    # other requests' decode, so it stays below that bound. (Before the bound,
    # the capped prefill wait let it predict 158 requests/s here, 14 times the bound.)
    model = PerfModel(llama_8b, get_gpu("h200_sxm"), "vllm", params=PerfParams())
    layout = Layout(tp=np.array([1]))
    prediction = model.agg(layout, 4000.0, 1.0, np.array([256.0]))
    one_prompt_ms = model.step_ms(layout, StepShape(prefill_seqs=1.0, prefill_tokens=4000.0, moe_tokens=4000.0))[0]
    assert prediction.requests_per_s[0] <= 1e3 / one_prompt_ms
