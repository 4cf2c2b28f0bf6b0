"""Bytes per element and compute precision of weights, activations and the KV cache."""

from __future__ import annotations

__all__ = ["BYTES_PER_ELEMENT", "bytes_per_element", "compute_dtype", "default_kv_dtype"]

# Storage bytes per element, block scales included: NVFP4 keeps one fp8 scale
# per 16 values (0.5 + 1/16), MXFP4 one 8-bit scale per 32 values (0.5 + 1/32);
# fp8 block scales (one fp32 per 128x128 block) are under 0.1 % and ignored.
BYTES_PER_ELEMENT = {"fp32": 4.0, "bf16": 2.0, "fp16": 2.0, "fp8": 1.0, "int8": 1.0, "fp4": 0.5625, "int4": 0.5625}

_KNOWN = ", ".join(sorted(BYTES_PER_ELEMENT))


def bytes_per_element(dtype: str) -> float:
    """Return the storage bytes of one element of `dtype` (``bf16``, ``fp8``, ``fp4``...)."""
    from dgdr_kernel.errors import PerfModelError

    try:
        return BYTES_PER_ELEMENT[dtype]
    except KeyError:
        raise PerfModelError(f"unknown dtype {dtype!r}; allowed: {_KNOWN}") from None


def compute_dtype(weight_dtype: str, dense_tflops: dict) -> str:
    """Return the precision a GEMM on `weight_dtype` weights runs at on this GPU.

    A GPU without fp8 or fp4 tensor cores dequantises those weights and runs
    the GEMM in bf16 (or fp16 where the catalog lists no bf16), so it keeps the
    memory saving but not the compute speed-up.
    """
    if weight_dtype in ("int4",):
        weight_dtype = "fp4"
    if dense_tflops.get(weight_dtype):
        return weight_dtype
    return "bf16" if dense_tflops.get("bf16") else "fp16"


def default_kv_dtype(backend: str, weight_dtype: str) -> str:
    """Return the KV-cache dtype an engine uses when none is set.

    vLLM and SGLang default to ``kv_cache_dtype=auto`` (the activation dtype,
    bf16) whatever the weights; TensorRT-LLM serves ModelOpt fp8/fp4
    checkpoints with the fp8 KV cache they are quantised with, else bf16.
    """
    if backend == "trtllm" and weight_dtype in ("fp8", "fp4"):
        return "fp8"
    return "bf16"
