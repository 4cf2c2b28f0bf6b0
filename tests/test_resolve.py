"""Tests of `resolve_request`: picking mode, SLA targets, backends, hardware and context window.

These run the real hardware catalog and the shipped model configs, with GPU
discovery turned off so that the result does not depend on the machine.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from dgdr_kernel.errors import ModelArchError, SpecError
from dgdr_kernel.request import PickingMode, SlaTargets, resolve_request
from dgdr_kernel.resolve import ALL_BACKENDS, determine_picking_mode, expand_backends
from dgdr_kernel.spec import load_dgdr

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

OFFLINE = {"run_nvidia_smi": False, "use_kubernetes": False}
HARDWARE = {"gpuSku": "h200_sxm", "totalGpus": 8, "numGpusPerNode": 8}


def resolve_example(name: str):
    return resolve_request(load_dgdr(EXAMPLES / name), **OFFLINE)


def test_main_example_default_mode():
    request = resolve_example("qwen3-32b-h200.yaml")

    assert request.picking_mode is PickingMode.DEFAULT
    assert request.backends == ("vllm", "sglang", "trtllm")
    assert request.sla == SlaTargets(ttft_ms=2000.0, itl_ms=30.0)
    assert (request.isl, request.osl) == (4000, 1000)
    assert request.total_gpus == 8
    assert request.gpu.sku == "h200_sxm"
    assert request.hardware.num_gpus_per_node == 8
    # Qwen3-32B: 64 layers and 40960 positions (shipped config.json, dgdr_kernel/modelconfigs/Qwen--Qwen3-32B).
    assert request.arch.num_layers == 64
    assert request.arch.max_position_embeddings == 40960
    assert request.request_rate is None
    assert request.concurrency is None


def test_request_rate_selects_load_match():
    request = resolve_example("qwen3-30b-a3b-sglang.yaml")

    assert request.picking_mode is PickingMode.LOAD_MATCH
    assert request.request_rate == 20.0
    assert request.concurrency is None
    assert request.backends == ("sglang",)
    assert request.arch.is_moe


def test_concurrency_selects_load_match():
    request = resolve_example("qwen3-235b-fp8-trtllm.yaml")

    assert request.picking_mode is PickingMode.LOAD_MATCH
    assert request.concurrency == 64.0
    assert request.total_gpus == 16
    assert request.backends == ("trtllm",)


def test_planner_selects_autoscale():
    request = resolve_example("gpt-oss-120b-planner.yaml")

    assert request.picking_mode is PickingMode.AUTOSCALE
    assert request.sla == SlaTargets(ttft_ms=1500.0, itl_ms=25.0)


def test_e2e_latency_targets():
    request = resolve_example("llama33-70b-e2e.yaml")

    assert request.sla.is_e2e
    assert request.sla.ttft_ms is None
    assert request.sla.itl_ms is None
    assert request.sla.e2e_latency_ms == 12000.0


def test_planner_overrides_load_target_with_warning():
    dgdr = load_dgdr(
        {
            "model": "Qwen/Qwen3-8B",
            "backend": "vllm",
            "workload": {"requestRate": 5},
            "hardware": HARDWARE,
            "features": {"planner": {"optimization_target": "sla"}},
        }
    )

    request = resolve_request(dgdr, **OFFLINE)

    assert request.picking_mode is PickingMode.AUTOSCALE
    assert request.request_rate is None
    assert any("workload.requestRate is ignored" in note for note in request.warnings)


def test_load_scaling_planner_also_autoscales():
    # optimization_target throughput forces load scaling on, so scaling is still enabled.
    dgdr = load_dgdr({"model": "Qwen/Qwen3-8B", "hardware": HARDWARE, "features": {"planner": {}}})

    assert determine_picking_mode(dgdr.spec) is PickingMode.AUTOSCALE


def test_spec_warnings_carried_over():
    dgdr = load_dgdr(
        {"model": "deepseek-ai/DeepSeek-V3", "hardware": {"gpuSku": "gb200_sxm", "totalGpus": 8, "numGpusPerNode": 4}}
    )

    request = resolve_request(dgdr, **OFFLINE)

    assert request.gpu.sku == "gb200"
    assert any("deprecated alias" in note for note in request.warnings)


def test_expand_backends():
    assert expand_backends("auto") == ALL_BACKENDS
    assert expand_backends("sglang") == ("sglang",)


def test_auto_on_amd_gpus_skips_tensorrt_llm():
    # TensorRT-LLM is CUDA-only (NVIDIA); hwdata/mi300.yaml has vendor: amd.
    dgdr = load_dgdr({"model": "Qwen/Qwen3-8B", "hardware": {"gpuSku": "mi300", "totalGpus": 8, "numGpusPerNode": 8}})
    request = resolve_request(dgdr, **OFFLINE)
    assert request.backends == ("vllm", "sglang")


def test_trtllm_on_amd_gpus_is_rejected():
    spec = {"model": "Qwen/Qwen3-8B", "backend": "trtllm", "hardware": {"gpuSku": "mi200", "totalGpus": 8, "numGpusPerNode": 8}}
    with pytest.raises(SpecError, match=r"backend: runs on NVIDIA GPUs only.*\(got 'trtllm'\); set backend to one of"):
        resolve_request(load_dgdr(spec), **OFFLINE)


def test_resolved_vram_wins_over_the_catalog_in_the_sweep():
    # An A100 40GB maps to a100_sxm, whose catalog entry is the 80GB part
    # (hwdata/a100_sxm.yaml). With vramMb 40960 the sweep must plan for 40 GiB:
    # Qwen3-32B's 32.76 B bf16 parameters (65.5 GB) then need TP2 at least.
    from dgdr_kernel.sweep import run_sweep

    spec = {"model": "Qwen/Qwen3-32B", "backend": "vllm", "hardware": {"gpuSku": "a100_sxm", "totalGpus": 8, "numGpusPerNode": 8, "vramMb": 40960}}
    request = resolve_request(load_dgdr(spec), **OFFLINE)
    assert request.gpu.vram_mib == 40960
    assert request.hardware.gpu.vram_mib == 81920  # the catalog itself is untouched

    agg = run_sweep(request).query("mode == 'agg'")
    assert not agg[agg["d_tp"] == 1]["fits"].any()
    assert agg[agg["d_tp"] == 2]["fits"].any()


def test_isl_beyond_context_window():
    dgdr = load_dgdr({"model": "Qwen/Qwen3-32B", "workload": {"isl": 50000, "osl": 100}, "hardware": HARDWARE})

    with pytest.raises(SpecError) as info:
        resolve_request(dgdr, **OFFLINE)

    assert [problem.path for problem in info.value.problems] == ["workload.isl"]
    assert "40960" in info.value.problems[0].message


def test_osl_beyond_context_window():
    # Mixtral-8x7B-Instruct-v0.1: max_position_embeddings 32768 (shipped config.json).
    dgdr = load_dgdr(
        {"model": "mistralai/Mixtral-8x7B-Instruct-v0.1", "workload": {"isl": 1000, "osl": 40000}, "hardware": HARDWARE}
    )

    with pytest.raises(SpecError) as info:
        resolve_request(dgdr, **OFFLINE)

    assert [problem.path for problem in info.value.problems] == ["workload.osl"]
    assert "32768" in info.value.problems[0].message


def test_sum_at_context_window_accepted():
    # isl + osl == 40960 exactly fills Qwen3-32B's window.
    dgdr = load_dgdr({"model": "Qwen/Qwen3-32B", "workload": {"isl": 39960, "osl": 1000}, "hardware": HARDWARE})

    request = resolve_request(dgdr, **OFFLINE)

    assert request.isl + request.osl == 40960


def test_unknown_model_raises_model_arch_error():
    dgdr = load_dgdr({"model": "acme/internal-chat-v7", "hardware": HARDWARE})

    with pytest.raises(ModelArchError):
        resolve_request(dgdr, **OFFLINE)


def test_thorough_strategy_warns_model_only():
    request = resolve_example("mixtral-thorough.yaml")

    assert any("searchStrategy thorough" in warning for warning in request.warnings)


def test_rapid_strategy_has_no_thorough_warning():
    request = resolve_example("qwen3-32b-h200.yaml")

    assert not any("thorough" in warning for warning in request.warnings)


def test_assumed_total_gpus_reaches_warnings():
    loaded = load_dgdr(
        {"model": "Qwen/Qwen3-32B", "hardware": {"gpuSku": "h200_sxm", "numGpusPerNode": 8}}
    )

    request = resolve_request(loaded, **OFFLINE)

    # h200_sxm catalog: 8 GPUs per HGX node (hwdata/h200_sxm.yaml).
    assert request.total_gpus == 8
    assert any("totalGpus was not set" in warning for warning in request.warnings)
