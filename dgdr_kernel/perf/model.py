"""`PerfModel`: one model on one GPU SKU under one backend, priced for arrays of layouts."""

from __future__ import annotations

import numpy as np
import pandas as pd

from dgdr_kernel.errors import ModelArchError, PerfModelError
from dgdr_kernel.perf import serving
from dgdr_kernel.perf.layout import Layout, validate_layout
from dgdr_kernel.perf.memory import MemoryEstimate, estimate_memory, kv_bytes_per_sequence_per_gpu, kv_bytes_per_token_layer
from dgdr_kernel.perf.ops import StepDtypes, StepShape, list_step_ops
from dgdr_kernel.perf.params import BACKENDS, PerfParams, default_params, load_params
from dgdr_kernel.perf.precision import BYTES_PER_ELEMENT, compute_dtype, default_kv_dtype
from dgdr_kernel.perf.step import explain_ops, price_ops, step_time_ms

__all__ = ["PerfModel"]

# Per-collective latency on the intra-node link (NVLink custom all-reduce,
# a few microseconds); crossing nodes costs three times as much.
COMM_LATENCY_US = 8.0


def _resolve_dtypes(arch, gpu, backend, weight_dtype, kv_dtype) -> StepDtypes:
    weight_dtype = weight_dtype or arch.weight_dtype or "bf16"
    if weight_dtype not in BYTES_PER_ELEMENT:
        raise PerfModelError(f"weight_dtype {weight_dtype!r} is not supported; allowed: bf16, fp16, fp8, fp4, int4")
    kv_dtype = kv_dtype or default_kv_dtype(backend, weight_dtype)
    if kv_dtype not in ("bf16", "fp16", "fp8"):
        raise PerfModelError(f"kv_dtype {kv_dtype!r} is not supported; allowed: bf16, fp16, fp8")

    # The checkpoint may keep attention at another dtype (gpt-oss: MXFP4
    # experts, bf16 attention). An fp4 override of a MoE model quantises the
    # experts only and keeps attention in fp8, as NVFP4 MoE checkpoints do.
    # Dense fp4 checkpoints quantise every linear layer.
    attention_weight = weight_dtype
    checkpoint_attention = getattr(arch, "attention_weight_dtype", None)
    if checkpoint_attention and weight_dtype == arch.weight_dtype:
        attention_weight = checkpoint_attention
    elif arch.is_moe and weight_dtype == "fp4":
        attention_weight = "fp8"
    return StepDtypes(
        attention_weight=attention_weight,
        mlp_weight=weight_dtype,
        kv=kv_dtype,
        attention_compute=compute_dtype(attention_weight, gpu.dense_tflops),
        mlp_compute=compute_dtype(weight_dtype, gpu.dense_tflops),
    )


class PerfModel:
    """Analytical latency, throughput and memory of `arch` on `gpu` under `backend`.

    Every method takes a `Layout` of N candidates and scalars or arrays that
    broadcast to N, and returns arrays of N. An invalid layout gives NaN
    and `validate_layout` returns the reason; only `explain_step`, which
    prices one layout, raises for it.

    Parameters
    ----------
    arch : dgdr_kernel.modelarch.ModelArch
    gpu : dgdr_kernel.hardware.GpuSpec
    backend : "vllm", "sglang" or "trtllm"
    weight_dtype : the checkpoint's dtype when None.
    kv_dtype : the backend's default when None (bf16 for vLLM and SGLang;
        fp8 for TensorRT-LLM with fp8 or fp4 weights, else bf16).
    params : fitted parameters to use instead of those in hwdata (for calibration).
    """

    def __init__(self, arch, gpu, backend: str, weight_dtype: str | None = None, kv_dtype: str | None = None, *, params: PerfParams | None = None):
        if backend not in BACKENDS:
            raise PerfModelError(f"unknown backend {backend!r}; allowed: {', '.join(BACKENDS)}")
        self.arch = arch
        self.gpu = gpu
        self.backend = backend
        self.dtypes = _resolve_dtypes(arch, gpu, backend, weight_dtype, kv_dtype)
        if params is not None:
            # Explicit parameters (a fit in progress, a what-if) never read
            # hwdata/calibrated, so a stale file there cannot stop a refit.
            self.params, self.provenance, self.fit_record, self.fitted_kinds = params, "calibrated", {}, set()
            return
        loaded, provenance, fit = load_params(gpu.sku, backend)
        self.fitted_kinds = _fitted_model_kinds(fit)
        if provenance == "calibrated" and self.fitted_kinds and _kind(arch) not in self.fitted_kinds:
            # Efficiencies fitted on grouped MoE GEMMs do not describe dense GEMMs,
            # nor the reverse, so a model of the other kind gets the defaults.
            loaded, provenance = default_params(backend), "modelled"
        self.params = loaded
        self.provenance = provenance
        self.fit_record = fit

    def calibration_caveat(self) -> str | None:
        """Return why predictions for this model may be off, or None when the fit should carry.

        Each caveat names the GPU SKU and backend as `sku/backend` and gives one
        of three reasons:

        - the pair has no measured rows (defaults, 'modelled');
        - its fit used only models of the other kind, MoE or dense (defaults,
          'modelled');
        - its fit used one other model only ('calibrated'). That model's quirks,
          such as MoE kernels or quantisation, cannot be separated from the
          GPU's, so predictions are extrapolated.
        """
        where = f"{self.gpu.sku}/{self.backend}"
        models = list((self.fit_record or {}).get("models", []))
        if self.provenance == "modelled" and models:
            return (
                f"the {where} parameters were fitted on {' and '.join(sorted(self.fitted_kinds))} models only "
                f"({', '.join(models)}), which do not describe the kernels of {self.arch.model_id} "
                f"({_kind(self.arch)}); physical defaults are used (provenance 'modelled'), so treat "
                "absolute latencies as estimates and validate with a benchmark"
            )
        if self.provenance == "modelled":
            return (
                f"no measured data for {where}: predictions use physical defaults (provenance "
                "'modelled'); treat absolute latencies as estimates and validate with a benchmark"
            )
        model_id = self.arch.model_id.lower()
        if len(models) == 1 and models[0].lower() != model_id:
            return (
                f"the {where} parameters were fitted on {models[0]} only, so predictions for "
                f"{self.arch.model_id} (provenance 'calibrated') are extrapolated from one other model; "
                "validate with a benchmark"
            )
        return None

    @property
    def weight_dtype(self) -> str:
        return self.dtypes.mlp_weight

    @property
    def kv_dtype(self) -> str:
        return self.dtypes.kv

    @property
    def kv_bytes_per_token_unsharded(self) -> float:
        """KV-cache bytes of one token over all layers, before any sharding."""
        return float(kv_bytes_per_token_layer(self.arch, np.array([1.0]), self.dtypes.kv)[0]) * self.arch.num_layers

    def provenance_array(self, n: int) -> np.ndarray:
        return np.full(n, self.provenance, dtype=object)

    # -- layouts and memory ------------------------------------------------

    def validate_layout(self, layout: Layout) -> np.ndarray:
        """Return one reason per candidate why the layout is invalid for this model, "" when valid."""
        return validate_layout(layout, self.arch)

    def _safe(self, layout: Layout) -> tuple[Layout, np.ndarray]:
        """Return the layout with invalid entries replaced by tp=1 and the invalid mask."""
        invalid = self.validate_layout(layout) != ""
        if not invalid.any():
            return layout, invalid
        ones = np.ones(len(layout), dtype=np.int64)
        pick = lambda name: np.where(invalid, ones, getattr(layout, name))  # noqa: E731
        return Layout(pick("tp"), pick("pp"), pick("dp"), pick("moe_tp"), pick("moe_ep")), invalid

    def memory(self, layout: Layout) -> MemoryEstimate:
        """Return the memory of one GPU of each candidate worker and its KV capacity."""
        safe, invalid = self._safe(layout)
        estimate = estimate_memory(self.arch, safe, self.dtypes, self.gpu, self.backend)
        if not invalid.any():
            return estimate
        as_nan = lambda value: np.where(invalid, np.nan, value)  # noqa: E731
        return MemoryEstimate(
            weights_gib_per_gpu=as_nan(estimate.weights_gib_per_gpu),
            kv_cache_gib_per_gpu=as_nan(estimate.kv_cache_gib_per_gpu),
            reserve_gib_per_gpu=as_nan(estimate.reserve_gib_per_gpu),
            kv_bytes_per_token_per_gpu=as_nan(estimate.kv_bytes_per_token_per_gpu),
            kv_capacity_tokens=np.where(invalid, 0, estimate.kv_capacity_tokens),
            fits=estimate.fits & ~invalid,
        )

    def max_batch(self, layout: Layout, isl, osl) -> np.ndarray:
        """Return how many sequences of isl + osl tokens fit in one worker's KV cache (0 when it does not fit)."""
        safe, invalid = self._safe(layout)
        estimate = estimate_memory(self.arch, safe, self.dtypes, self.gpu, self.backend)
        per_sequence = kv_bytes_per_sequence_per_gpu(self.arch, safe, self.dtypes.kv, np.asarray(isl, dtype=float) + np.asarray(osl, dtype=float))
        per_rank = np.floor(estimate.kv_cache_gib_per_gpu * 1024.0**3 / per_sequence)
        batch = np.where(estimate.fits & ~invalid, per_rank * safe.dp, 0)
        return batch.astype(np.int64)

    # -- forward steps -----------------------------------------------------

    def _price(self, layout: Layout, shape: StepShape):
        safe, invalid = self._safe(layout)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            ops = list_step_ops(self.arch, safe, shape, self.dtypes, self.gpu, COMM_LATENCY_US)
            priced = price_ops(ops, self.gpu, self.params)
        return priced, invalid

    def step_ms(self, layout: Layout, shape: StepShape) -> np.ndarray:
        """Return the time of one forward step of `shape` (tokens per attention DP rank)."""
        priced, invalid = self._price(layout, shape)
        total = step_time_ms(priced, self.arch.num_layers, self.params) + np.zeros(len(layout))
        # A step with a prompt chunk also pays the eager MoE cost (see PerfParams).
        prefills = np.asarray(shape.prefill_seqs, dtype=float) * np.asarray(shape.prefill_tokens, dtype=float) > 0
        expert_layers = self.arch.moe_layer_count * (self.arch.num_experts or 0)
        total = total + np.where(prefills, expert_layers * self.params.moe_prefill_expert_overhead_us / 1e3, 0.0)
        return np.where(invalid, np.nan, total)

    def prefill_ms(self, layout: Layout, isl, batch=1) -> np.ndarray:
        """Return the time of one forward pass prefilling `batch` sequences of `isl` tokens.

        The sequences are spread over the attention DP ranks (the busiest rank sets the time).
        """
        batch = np.asarray(batch, dtype=float)
        isl = np.asarray(isl, dtype=float)
        per_rank = np.ceil(batch / layout.dp)
        return self.step_ms(layout, StepShape(prefill_seqs=per_rank, prefill_tokens=isl, moe_tokens=batch * isl))

    def decode_step_ms(self, layout: Layout, batch, context_len) -> np.ndarray:
        """Return the time of one decode step for `batch` sequences (per worker) at mean context `context_len`."""
        batch = np.asarray(batch, dtype=float)
        return self.step_ms(layout, StepShape(decode_seqs=batch / layout.dp, decode_context=context_len, moe_tokens=batch))

    def explain_step(self, layout: Layout, tokens, context_len, phase: str) -> pd.DataFrame:
        """Return one row per operation of one step of the first candidate of `layout`.

        `phase` is ``prefill`` (one sequence of `tokens` tokens after a cached
        prefix of `context_len`) or ``decode`` (`tokens` sequences at context
        `context_len`). Columns: op, flops, bytes, compute_ms, memory_ms,
        time_ms, bound, efficiency.
        """
        layout = layout.take(0)
        if phase == "prefill":
            shape = StepShape(prefill_seqs=1.0, prefill_tokens=float(tokens), prefill_prefix=float(context_len), moe_tokens=float(tokens))
        elif phase == "decode":
            shape = StepShape(decode_seqs=float(tokens) / layout.dp, decode_context=float(context_len), moe_tokens=float(tokens))
        else:
            raise PerfModelError(f"phase {phase!r} is invalid; allowed: prefill, decode")
        reason = self.validate_layout(layout)[0]
        if reason:
            raise PerfModelError(f"layout tp={layout.tp[0]} pp={layout.pp[0]} dp={layout.dp[0]} moe_tp={layout.moe_tp[0]} moe_ep={layout.moe_ep[0]} is invalid for {self.arch.model_id}: {reason}")
        priced, _ = self._price(layout, shape)
        return explain_ops(priced, self.arch.num_layers, self.params)

    # -- serving modes -----------------------------------------------------

    def agg(self, layout: Layout, isl, osl, concurrency):
        """Return the closed-loop prediction of one aggregated worker at `concurrency` in-flight requests."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return serving.predict_agg(self, layout, isl, osl, concurrency)

    def disagg_prefill(self, layout: Layout, isl):
        """Return the prefill time of one request (no queueing) and the prefills per second of one worker."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return serving.predict_disagg_prefill(self, layout, isl)

    def disagg_decode(self, layout: Layout, isl, osl, batch):
        """Return the ITL and throughput of one decode worker at `batch` running requests."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return serving.predict_disagg_decode(self, layout, isl, osl, batch)

    def kv_transfer_ms(self, prefill_layout: Layout, decode_layout: Layout, isl) -> np.ndarray:
        """Return the time to move one request's KV cache from a prefill worker to a decode worker."""
        return serving.predict_kv_transfer_ms(self, prefill_layout, decode_layout, isl)

    def disagg_closed_loop(self, prefill_layout: Layout, decode_layout: Layout, prefill_workers, decode_workers, isl, osl, concurrency):
        """Return (ttft_ms, itl_ms, requests_per_s) of an xPyD deployment in a closed loop."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return serving.predict_disagg_closed_loop(self, prefill_layout, decode_layout, prefill_workers, decode_workers, isl, osl, concurrency)


def _kind(arch) -> str:
    return "MoE" if arch.is_moe else "dense"


def _fitted_model_kinds(fit: dict) -> set[str]:
    """Return the kinds ("MoE", "dense") of the models a fit used; unknown models are skipped."""
    from dgdr_kernel.modelarch import resolve_model

    kinds = set()
    for model_id in (fit or {}).get("models", []):
        try:
            kinds.add(_kind(resolve_model(model_id)))
        except ModelArchError:
            continue
    return kinds
