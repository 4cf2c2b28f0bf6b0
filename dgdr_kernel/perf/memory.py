"""GPU memory of one worker: weights, KV cache, reserve, KV capacity and max batch."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dgdr_kernel.perf.layout import Layout
from dgdr_kernel.perf.ops import ACTIVATION_BYTES, StepDtypes, is_gated_mlp, layer_counts
from dgdr_kernel.perf.params import ENGINE_MEMORY
from dgdr_kernel.perf.precision import bytes_per_element

__all__ = ["MemoryEstimate", "estimate_memory", "kv_bytes_per_sequence_per_gpu", "RUNTIME_RESERVE_GIB", "ACTIVATION_TOKENS"]

GIB = 1024.0**3
# CUDA context, NCCL buffers and CUDA graphs per GPU: an estimate.
RUNTIME_RESERVE_GIB = 2.0
# Tokens one forward step may hold (the engines' default max_num_tokens /
# max_num_batched_tokens is 8192); activations are sized for that step.
ACTIVATION_TOKENS = 8192


@dataclass(frozen=True)
class MemoryEstimate:
    """Memory of one GPU of a worker (arrays, one entry per candidate)."""

    weights_gib_per_gpu: np.ndarray
    kv_cache_gib_per_gpu: np.ndarray
    reserve_gib_per_gpu: np.ndarray
    kv_bytes_per_token_per_gpu: np.ndarray
    kv_capacity_tokens: np.ndarray
    """Capacity in tokens of the KV cache of the whole worker (all DP ranks together)."""
    fits: np.ndarray
    """True when weights + reserve fit in the memory the engine may use and room is left for a KV cache."""


def _attention_weight_params(arch, tp):
    """Return attention weights per GPU, in elements, of one layer."""
    if arch.is_mla:
        qk_head = arch.qk_nope_head_dim + arch.qk_rope_head_dim
        heads = arch.num_attention_heads / tp
        replicated = arch.hidden_size * (arch.kv_lora_rank + arch.qk_rope_head_dim)
        if arch.q_lora_rank:
            replicated += arch.hidden_size * arch.q_lora_rank
            sharded = arch.q_lora_rank * heads * qk_head
        else:
            sharded = arch.hidden_size * heads * qk_head
        sharded = sharded + arch.kv_lora_rank * heads * (arch.qk_nope_head_dim + arch.v_head_dim) + heads * arch.v_head_dim * arch.hidden_size
        return replicated + sharded
    heads = arch.num_attention_heads / tp
    kv_heads = np.ceil(arch.num_kv_heads / tp)
    return arch.hidden_size * arch.head_dim * (2 * heads + 2 * kv_heads)


def weight_bytes_per_gpu(arch, layout: Layout, dtypes: StepDtypes):
    """Return the weight bytes on one GPU of each candidate."""
    tp = layout.tp.astype(float)
    pp = layout.pp.astype(float)
    counts = layer_counts(arch)
    attention = counts["full"] + counts["sliding"]
    matrices = 3 if is_gated_mlp(arch) else 2
    attention_bytes = attention * _attention_weight_params(arch, tp) * bytes_per_element(dtypes.attention_weight)
    mlp_bytes = counts["dense_mlp"] * matrices * arch.hidden_size * arch.intermediate_size / tp * bytes_per_element(dtypes.mlp_weight)
    if counts["moe"]:
        experts = arch.num_experts / layout.moe_ep * 3 * arch.hidden_size * arch.moe_intermediate_size / layout.moe_tp
        shared = 3 * arch.hidden_size * (arch.shared_expert_intermediate_size or arch.moe_intermediate_size * arch.num_shared_experts) / tp
        router = arch.hidden_size * arch.num_experts * 2.0
        mlp_bytes = mlp_bytes + counts["moe"] * ((experts + shared) * bytes_per_element(dtypes.mlp_weight) + router)

    # NOTE: this spreads layers, embedding and LM head evenly over the pipeline
    # stages. In a real engine the first and last stages are slightly heavier.
    embeddings = (1 if arch.tie_word_embeddings else 2) * arch.vocab_size * arch.hidden_size * 2.0 / tp
    norms = arch.num_layers * 2 * arch.hidden_size * 2.0
    return (attention_bytes + mlp_bytes + embeddings + norms) / pp


def kv_bytes_per_token_layer(arch, tp, kv_dtype: str):
    """Return KV-cache bytes of one token in one layer on one GPU."""
    kv_bytes = bytes_per_element(kv_dtype)
    if arch.is_mla:
        return (arch.kv_lora_rank + arch.qk_rope_head_dim) * kv_bytes + 0 * tp
    return 2 * np.ceil(arch.num_kv_heads / tp) * arch.head_dim * kv_bytes


def kv_bytes_per_sequence_per_gpu(arch, layout: Layout, kv_dtype: str, seq_len):
    """Return KV-cache bytes of one sequence of `seq_len` tokens on one GPU (sliding layers hold their window)."""
    counts = layer_counts(arch)
    per_layer = kv_bytes_per_token_layer(arch, layout.tp.astype(float), kv_dtype)
    seq_len = np.asarray(seq_len, dtype=float)
    tokens = counts["full"] * seq_len
    if counts["sliding"]:
        tokens = tokens + counts["sliding"] * np.minimum(seq_len, arch.sliding_window)
    return per_layer * tokens / layout.pp


def _reserve_bytes(arch, layout: Layout):
    tp = layout.tp.astype(float)
    inter = (arch.intermediate_size if not arch.is_moe else max(arch.moe_intermediate_size * arch.num_experts_per_token, arch.intermediate_size)) / tp
    per_token = (6 * arch.hidden_size + 3 * inter) * ACTIVATION_BYTES
    return RUNTIME_RESERVE_GIB * GIB + ACTIVATION_TOKENS * per_token


def estimate_memory(arch, layout: Layout, dtypes: StepDtypes, gpu, backend: str) -> MemoryEstimate:
    """Return the memory split of one GPU and the KV capacity of each candidate worker."""
    engine = ENGINE_MEMORY[backend]
    vram_bytes = gpu.vram_mib * 1024.0**2
    weights = weight_bytes_per_gpu(arch, layout, dtypes)
    reserve = _reserve_bytes(arch, layout)

    if engine.of_free_memory:
        usable = vram_bytes + 0 * weights
        kv_cache = engine.fraction * (vram_bytes - weights - reserve)
    else:
        usable = engine.fraction * vram_bytes + 0 * weights
        kv_cache = usable - weights - reserve
    fits = (weights + reserve < usable) & (kv_cache > 0)
    kv_cache = np.maximum(kv_cache, 0.0)

    per_token = kv_bytes_per_token_layer(arch, layout.tp.astype(float), dtypes.kv) * arch.num_layers / layout.pp
    capacity = np.floor(kv_cache / per_token) * layout.dp
    return MemoryEstimate(
        weights_gib_per_gpu=weights / GIB,
        kv_cache_gib_per_gpu=kv_cache / GIB,
        reserve_gib_per_gpu=reserve / GIB + 0 * weights,
        kv_bytes_per_token_per_gpu=per_token + 0 * weights,
        kv_capacity_tokens=capacity.astype(np.int64),
        fits=np.asarray(fits, dtype=bool),
    )
