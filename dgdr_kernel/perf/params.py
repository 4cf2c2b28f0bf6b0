"""Achieved-efficiency parameters of the performance model, with their provenance.

Each (GPU SKU, backend) pair has a few physical parameters. Fitted values live
in ``hwdata/calibrated/<sku>.yaml`` (written by ``benchmarks/calibrate.py``);
a pair without them uses the defaults below and is labelled ``modelled``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from functools import lru_cache
from importlib import resources

import yaml

from dgdr_kernel.errors import PerfModelError

__all__ = ["PerfParams", "EngineMemory", "ENGINE_MEMORY", "default_params", "load_params", "BACKENDS"]

BACKENDS = ("vllm", "sglang", "trtllm")


@dataclass(frozen=True)
class PerfParams:
    """Achieved efficiencies of one GPU SKU under one backend."""

    gemm_efficiency_max: float = 0.75
    """Fraction of dense peak TFLOP/s that large GEMMs reach."""
    gemm_m_half: float = 64.0
    """GEMM rows at which efficiency reaches half of `gemm_efficiency_max` (efficiency = max * M / (M + m_half))."""
    hbm_efficiency: float = 0.75
    """Fraction of the datasheet HBM bandwidth that streaming kernels reach."""
    comm_efficiency: float = 0.7
    """Fraction of the link bandwidth that collectives reach."""
    step_overhead_ms: float = 1.5
    """Fixed time per forward step: scheduling, sampling, launch and synchronisation."""
    layer_overhead_us: float = 15.0
    """Fixed time per layer per step: the floor of a dozen small kernels, which a roofline misses."""
    request_overhead_ms: float = 20.0
    """Fixed time added to every TTFT: HTTP handling, tokenisation, scheduling and detokenisation."""
    opening_burst_share: float = 0.1
    """Share of measured requests that arrive in the opening burst of a closed-loop benchmark.

    A closed loop starts all its requests at once, so they queue for prefill
    and each waits for half of the prefill groups ahead of it. The benchmark's
    mean TTFT includes that wave. With m waves in a run the share is about 1 / m.
    """
    moe_prefill_expert_overhead_us: float = 0.0
    """Fixed time per expert of the model and per MoE layer in a step that prefills.

    Steps with a prompt chunk run mostly without CUDA graphs, so the host
    launches each MoE layer's routing, token sorting and expert kernels one
    by one, and a prompt routes tokens to every expert. Expert-parallel
    dispatch also waits for the token counts. Decode steps replay CUDA
    graphs and do not pay it. Dense models never do. The cost is taken to
    grow with the model's expert count (DeepSeek-R1: 58 MoE layers x 256
    experts; gpt-oss-120b: 36 x 128). That is an empirical choice: on H200
    with TensorRT-LLM, the one SKU and backend with closed-loop rows of two
    MoE models, it predicts each model from the other far better than a
    cost per layer does. Which kernels or host work make up the cost is not
    established. 0 (the default) where no MoE rows were fitted.
    """
    expert_overhead_us: float = 0.0
    """Fixed time per expert a step runs on one GPU, per MoE layer.

    A grouped expert GEMM spends at least one wave of tiles, with its
    prologue and epilogue, on every expert that receives a row, however few
    rows it gets. Under MoE tensor parallelism every GPU runs a thin slice
    of every touched expert; under expert parallelism it runs whole experts,
    but only its share. The roofline misses this floor. 0 (the default)
    where no MoE rows were fitted.
    """
    adp_balance_timeout_iters: float = 0.0
    """Maximum iterations TensorRT-LLM delays a new request's prefill under attention DP (0: no delay).

    With attention-DP balancing (``attention_dp_config.enable_balance``) the
    engine delays prefill until every DP rank has a new request, or until
    this timeout expires, so that the ranks prefill in the same iteration
    instead of stalling each other. Only TensorRT-LLM workers with dp > 1
    see it. The default 0 (balancing off, TensorRT-LLM's default) adds
    nothing. The engine's own timeout defaults to 50 iterations
    (``AttentionDpConfig.timeout_iters``); a fitted value is an effective
    one and may be larger.
    """

    def replace(self, **changes) -> "PerfParams":
        return replace(self, **changes)

    def as_dict(self) -> dict:
        return asdict(self)


# Defaults per backend. The efficiencies come from single-kernel measurements.
# torch.matmul reaches 80 % of bf16 peak on H100 SXM and 78 % of fp8 peak on
# GH200 (stas00/ml-engineering, compute/accelerator/README.md @744d01e).
# gpu-stream triad reaches 74 % of the H200 datasheet bandwidth
# (te42kyfo/gpu-benches, gpu-stream/h200.txt @1c36d50).
# Step overheads are estimates of scheduler cost per iteration.
_DEFAULTS = {
    "vllm": PerfParams(step_overhead_ms=2.0),
    "sglang": PerfParams(step_overhead_ms=1.5),
    "trtllm": PerfParams(step_overhead_ms=1.0),
}


@dataclass(frozen=True)
class EngineMemory:
    """KV-cache sizing rule of one engine."""

    fraction: float
    """Memory fraction the engine is configured with."""
    of_free_memory: bool
    """True when the fraction applies to memory left after weights and activations (TensorRT-LLM)."""
    setting: str


# vLLM: gpu_memory_utilization (default 0.9) caps weights + activations + KV
# cache as a share of the whole GPU. SGLang: mem_fraction_static caps weights +
# KV pool; its automatic choice is 0.85-0.9 on 80-192 GB GPUs, we use 0.88.
# TensorRT-LLM: KvCacheConfig.free_gpu_memory_fraction (default 0.9) of what is
# free after the weights and activations are allocated.
ENGINE_MEMORY = {
    "vllm": EngineMemory(0.90, False, "gpu_memory_utilization"),
    "sglang": EngineMemory(0.88, False, "mem_fraction_static"),
    "trtllm": EngineMemory(0.90, True, "free_gpu_memory_fraction"),
}


def default_params(backend: str) -> PerfParams:
    """Return the modelled (unfitted) parameters of `backend`."""
    check_backend(backend)
    return _DEFAULTS[backend]


def check_backend(backend: str) -> None:
    if backend not in BACKENDS:
        raise PerfModelError(f"unknown backend {backend!r}; allowed: {', '.join(BACKENDS)}")


@lru_cache(maxsize=64)
def _read_calibrated(sku: str) -> dict | None:
    path = resources.files("dgdr_kernel.hwdata").joinpath("calibrated", f"{sku}.yaml")
    if not path.is_file():
        return None
    with path.open("r", encoding="utf-8") as handle:
        return yaml.safe_load(handle) or {}


def load_params(sku: str, backend: str) -> tuple[PerfParams, str, dict]:
    """Return (parameters, provenance, fit record) for a GPU SKU and backend.

    Provenance is ``calibrated`` when ``hwdata/calibrated/<sku>.yaml`` has a
    fit for `backend`, else ``modelled`` with the backend defaults.
    """
    check_backend(backend)
    document = _read_calibrated(sku)
    entry = (document or {}).get("backends", {}).get(backend)
    if not entry:
        return _DEFAULTS[backend], "modelled", {}

    known = {f.name for f in fields(PerfParams)}
    values = entry.get("parameters", {})
    unknown = set(values) - known
    if unknown:
        raise PerfModelError(
            f"hwdata/calibrated/{sku}.yaml: unknown parameters {sorted(unknown)} for {backend}; "
            f"allowed: {sorted(known)}; rerun benchmarks/calibrate.py"
        )
    params = replace(_DEFAULTS[backend], **{name: float(value) for name, value in values.items()})
    return params, "calibrated", entry.get("fit", {})
