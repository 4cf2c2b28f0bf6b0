"""Operations of one forward step, per GPU: FLOPs, bytes and communication.

`list_step_ops` turns a model, a parallel layout and the tokens of one step
into a list of `Op` records, each already summed over the layers it occurs in.
Shapes are per GPU: the layout shards heads, MLP columns and experts, and the
step's tokens are those of one attention DP rank. `step.py` prices the ops.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from dgdr_kernel.perf.layout import Layout
from dgdr_kernel.perf.precision import bytes_per_element

__all__ = ["Op", "StepShape", "StepDtypes", "list_step_ops", "layer_counts", "is_gated_mlp"]

ACTIVATION_BYTES = 2.0  # activations and logits travel in bf16

# Grouped expert GEMMs (many small GEMMs with routing gather and scatter) reach
# about half the efficiency of one dense GEMM with the same rows. This is an
# estimate, fixed rather than fitted, so that the per-SKU GEMM efficiency
# fitted on dense models carries to MoE models and back.
GROUPED_GEMM_EFFICIENCY_SCALE = 0.5

@dataclass
class StepShape:
    """Tokens of one forward step on one attention DP rank (arrays broadcast to N).

    `decode_seqs` sequences each add one token at mean context `decode_context`;
    `prefill_seqs` sequences each add `prefill_tokens` tokens after a cached
    prefix of `prefill_prefix` tokens. `moe_tokens` is the number of tokens
    entering each MoE layer from all DP ranks of the stage (default: this
    rank's tokens times dp, every rank equally loaded).
    """

    decode_seqs: np.ndarray | float = 0.0
    decode_context: np.ndarray | float = 0.0
    prefill_seqs: np.ndarray | float = 0.0
    prefill_tokens: np.ndarray | float = 0.0
    prefill_prefix: np.ndarray | float = 0.0
    moe_tokens: np.ndarray | float | None = None

    @property
    def tokens(self):
        return np.asarray(self.decode_seqs, dtype=float) + np.asarray(self.prefill_seqs, dtype=float) * self.prefill_tokens

    @property
    def logit_rows(self):
        """Rows of the LM head: one per decoding sequence and per prefilled sequence."""
        return np.asarray(self.decode_seqs, dtype=float) + self.prefill_seqs


@dataclass(frozen=True)
class StepDtypes:
    """Storage dtypes of the step's tensors and the precisions their GEMMs run at."""

    attention_weight: str
    mlp_weight: str
    kv: str
    attention_compute: str
    mlp_compute: str


@dataclass
class Op:
    """One operation of the step, summed over the layers it occurs in, per GPU.

    `kind` is ``gemm`` (priced with the GEMM efficiency at `m` rows),
    ``attention`` (efficiency at `m` query tokens per sequence), ``memory``
    (bandwidth only), ``comm`` (`bytes` over a link of `link_gb_per_s` plus
    `latency_us` per call, `calls` calls) or ``expert_fixed`` (`calls` expert
    GEMMs, each at the fixed `PerfParams.expert_overhead_us`).
    """

    name: str
    kind: str
    flops: np.ndarray
    bytes: np.ndarray
    m: np.ndarray | float = 1.0
    dtype: str = "bf16"
    link_gb_per_s: np.ndarray | float = 0.0
    latency_us: np.ndarray | float = 0.0
    calls: np.ndarray | float = 0.0
    extra: dict = field(default_factory=dict)


def is_gated_mlp(arch) -> bool:
    """Return True when the MLP has gate, up and down projections (SwiGLU-style)."""
    return bool(arch.gated_mlp)


def layer_counts(arch) -> dict:
    """Return how many layers have full or sliding attention and dense or MoE MLPs."""
    sliding = arch.sliding_layer_count
    moe = arch.moe_layer_count
    return {"full": arch.num_layers - sliding, "sliding": sliding, "dense_mlp": arch.num_layers - moe, "moe": moe}


def _gemm(name, m, n, k, weight_bytes, count, dtype):
    """Return a GEMM op of `count` calls with an (m x k) @ (k x n) product each."""
    m = np.asarray(m, dtype=float)
    flops = 2.0 * m * n * k * count
    traffic = count * (n * k * weight_bytes + m * (k + n) * ACTIVATION_BYTES)
    return Op(name, "gemm", flops, traffic, m=m, dtype=dtype)


def _attention_pairs(shape: StepShape, window):
    """Return (decode pairs, prefill pairs): query-key pairs per DP rank, capped by a sliding window."""
    context = np.asarray(shape.decode_context, dtype=float)
    prefix = np.asarray(shape.prefill_prefix, dtype=float)
    chunk = np.asarray(shape.prefill_tokens, dtype=float)
    if window:
        context = np.minimum(context, window)

    # Causal prefill: the token at position p attends to p + 1 keys, capped at the window.
    end = prefix + chunk
    if window:
        full_end = np.minimum(end, window)
        full_start = np.minimum(prefix, window)
        pairs = (full_end * (full_end + 1) - full_start * (full_start + 1)) / 2.0 + np.maximum(end - np.maximum(prefix, window), 0) * window
    else:
        pairs = (end * (end + 1) - prefix * (prefix + 1)) / 2.0
    return shape.decode_seqs * context, shape.prefill_seqs * pairs


def _attention_ops(arch, layout: Layout, shape: StepShape, dtypes: StepDtypes, counts: dict) -> list[Op]:
    tp = layout.tp.astype(float)
    heads = arch.num_attention_heads / tp
    tokens = shape.tokens
    weight_bytes = bytes_per_element(dtypes.attention_weight)
    kv_bytes = bytes_per_element(dtypes.kv)
    layers = counts["full"] + counts["sliding"]
    cdt = dtypes.attention_compute
    ops = []

    if arch.is_mla:
        qk_head = arch.qk_nope_head_dim + arch.qk_rope_head_dim
        latent = arch.kv_lora_rank + arch.qk_rope_head_dim
        # Down-projections of q and of the latent KV are replicated on every TP rank.
        if arch.q_lora_rank:
            ops.append(_gemm("q_a_proj", tokens, arch.q_lora_rank, arch.hidden_size, weight_bytes, layers, cdt))
            ops.append(_gemm("q_b_proj", tokens, heads * qk_head, arch.q_lora_rank, weight_bytes, layers, cdt))
        else:
            ops.append(_gemm("q_proj", tokens, heads * qk_head, arch.hidden_size, weight_bytes, layers, cdt))
        ops.append(_gemm("kv_a_proj", tokens, latent, arch.hidden_size, weight_bytes, layers, cdt))
        # kv_b: the decode kernel absorbs it into q and the output (per token);
        # prefill expands the latent of every new token into keys and values.
        ops.append(_gemm("kv_b_proj", tokens, heads * (arch.qk_nope_head_dim + arch.v_head_dim), arch.kv_lora_rank, weight_bytes, layers, cdt))
        ops.append(_gemm("o_proj", tokens, arch.hidden_size, heads * arch.v_head_dim, weight_bytes, layers, cdt))
        kv_token_bytes = latent * kv_bytes  # one latent per token, replicated across TP ranks
        decode_dims = latent + arch.kv_lora_rank
        prefill_dims = qk_head + arch.v_head_dim
        group = heads  # every head reads the one shared latent
    else:
        kv_heads = np.ceil(arch.num_kv_heads / tp)  # KV heads are replicated when tp exceeds them
        head_dim = arch.head_dim
        ops.append(_gemm("qkv_proj", tokens, (heads + 2 * kv_heads) * head_dim, arch.hidden_size, weight_bytes, layers, cdt))
        ops.append(_gemm("o_proj", tokens, arch.hidden_size, heads * head_dim, weight_bytes, layers, cdt))
        kv_token_bytes = 2 * kv_heads * head_dim * kv_bytes
        decode_dims = prefill_dims = 2 * head_dim
        group = heads / kv_heads  # query heads sharing one KV head

    decode_flops = decode_bytes = prefill_flops = prefill_bytes = 0.0
    for kind, window in (("full", None), ("sliding", arch.sliding_window)):
        n_layers = counts[kind]
        if not n_layers:
            continue
        decode_pairs, prefill_pairs = _attention_pairs(shape, window)
        decode_flops = decode_flops + n_layers * 2.0 * heads * decode_pairs * decode_dims
        prefill_flops = prefill_flops + n_layers * 2.0 * heads * prefill_pairs * prefill_dims
        # Decode reads every cached key and value once; prefill reads its
        # cached prefix and writes the keys and values of its chunk.
        decode_bytes = decode_bytes + n_layers * decode_pairs * kv_token_bytes
        prefill_tokens = shape.prefill_seqs * (np.minimum(shape.prefill_prefix, window or np.inf) + shape.prefill_tokens)
        prefill_bytes = prefill_bytes + n_layers * (prefill_tokens * kv_token_bytes + tokens * heads * prefill_dims * ACTIVATION_BYTES)

    # Efficiency follows the query rows that share one K/V tile: the heads of
    # a KV group times the query tokens per sequence (1 in decode, the chunk
    # in prefill). So decode attention is memory bound unless the group is
    # large, as in MLA with many heads per GPU.
    zeros = 0 * tp
    ops.append(Op("attention_decode", "attention", decode_flops + zeros, decode_bytes + zeros, m=group + zeros, dtype="bf16"))
    chunk_rows = np.maximum(np.asarray(shape.prefill_tokens, dtype=float), 1.0) * group
    ops.append(Op("attention_prefill", "attention", prefill_flops + zeros, prefill_bytes + zeros, m=chunk_rows + zeros, dtype="bf16"))
    return ops


def _mlp_ops(arch, layout: Layout, shape: StepShape, dtypes: StepDtypes, counts: dict) -> list[Op]:
    tp = layout.tp.astype(float)
    tokens = shape.tokens
    weight_bytes = bytes_per_element(dtypes.mlp_weight)
    cdt = dtypes.mlp_compute
    matrices = 3 if is_gated_mlp(arch) else 2
    ops = []

    if counts["dense_mlp"]:
        n = counts["dense_mlp"]
        inter = arch.intermediate_size / tp
        ops.append(_gemm("mlp_up", tokens, (matrices - 1) * inter, arch.hidden_size, weight_bytes, n, cdt))
        ops.append(_gemm("mlp_down", tokens, arch.hidden_size, inter, weight_bytes, n, cdt))
        ops.append(Op("mlp_activation", "memory", 0 * tp, n * tokens * inter * matrices * ACTIVATION_BYTES + 0 * tp))

    if counts["moe"]:
        n = counts["moe"]
        experts = arch.num_experts
        top_k = arch.num_experts_per_token
        moe_tp = layout.moe_tp.astype(float)
        moe_ep = layout.moe_ep.astype(float)
        moe_tokens = shape.moe_tokens if shape.moe_tokens is not None else tokens * layout.dp
        moe_tokens = np.asarray(moe_tokens, dtype=float)
        inter = arch.moe_intermediate_size / moe_tp
        expert_params = 3 * arch.hidden_size * inter

        # Tokens are spread evenly over experts; an expert receives at least
        # one row once touched. Weight bytes count only the experts a step
        # touches: E_rank * (1 - (1 - k/E)^tokens) expected distinct experts.
        routed_rows = moe_tokens * top_k / moe_ep
        touched = (experts / moe_ep) * (1.0 - np.power(1.0 - top_k / experts, moe_tokens))
        rows_per_expert = np.maximum(routed_rows / np.maximum(touched, 1e-9), 1.0)
        flops = n * 2.0 * routed_rows * expert_params
        traffic = n * (touched * expert_params * weight_bytes + routed_rows * (2 * arch.hidden_size + 3 * inter) * ACTIVATION_BYTES)
        ops.append(Op("moe_experts", "gemm", flops, traffic, m=rows_per_expert, dtype=cdt, extra={"efficiency_scale": GROUPED_GEMM_EFFICIENCY_SCALE}))
        # Every expert the step touches costs at least one wave of tiles. So
        # MoE TP (thin slices of all experts) pays more of it than EP.
        ops.append(Op("moe_expert_tiles", "expert_fixed", 0 * touched, 0 * touched, calls=n * touched))
        ops.append(_gemm("moe_router", tokens, experts, arch.hidden_size, 2.0, n, "bf16"))

        if arch.num_shared_experts:
            shared = (arch.shared_expert_intermediate_size or arch.moe_intermediate_size * arch.num_shared_experts) / tp
            ops.append(_gemm("shared_expert_up", tokens, 2 * shared, arch.hidden_size, weight_bytes, n, cdt))
            ops.append(_gemm("shared_expert_down", tokens, arch.hidden_size, shared, weight_bytes, n, cdt))
    return ops


def _norm_and_io_ops(arch, layout: Layout, shape: StepShape) -> list[Op]:
    tp = layout.tp.astype(float)
    tokens = shape.tokens
    # Two RMSNorms, two residual adds and RoPE per layer: about 10 reads or
    # writes of a hidden-sized bf16 vector per token.
    norm_bytes = arch.num_layers * 10 * tokens * arch.hidden_size * ACTIVATION_BYTES + 0 * tp
    ops = [Op("norms_elementwise", "memory", 0 * tp, norm_bytes)]
    ops.append(Op("embedding", "memory", 0 * tp, tokens * arch.hidden_size * ACTIVATION_BYTES + 0 * tp))
    ops.append(_gemm("lm_head", shape.logit_rows + 0 * tp, arch.vocab_size / tp, arch.hidden_size, 2.0, 1, "bf16"))
    return ops


def _comm_ops(arch, layout: Layout, shape: StepShape, gpu, comm_latency_us: float) -> list[Op]:
    tp = layout.tp.astype(float)
    dp = layout.dp.astype(float)
    tokens = shape.tokens
    ops = []
    message = tokens * arch.hidden_size * ACTIVATION_BYTES

    def link(group_size):
        within = group_size <= gpu.gpus_per_node
        return np.where(within, gpu.intra_node_gb_per_s, gpu.inter_node_gb_per_s), np.where(within, 1.0, 3.0) * comm_latency_us

    # Ring all-reduce after attention and after the MLP: each GPU sends and
    # receives 2 (tp - 1) / tp of the message. A MoE layer under attention DP
    # combines through the all-to-all instead.
    counts = layer_counts(arch)
    moe_under_dp = counts["moe"] * (dp > 1)
    calls = np.where(tp > 1, 2.0 * arch.num_layers - moe_under_dp, 0.0)
    bandwidth, latency = link(tp)
    ops.append(Op("tp_allreduce", "comm", 0 * tp, calls * 2.0 * (tp - 1) / tp * message, link_gb_per_s=bandwidth, latency_us=latency, calls=calls))

    if arch.is_moe:
        moe_ep = layout.moe_ep.astype(float)
        # Dispatch and combine: each token goes to at most min(k, ep) EP ranks,
        # and each of the tp ranks sharing the tokens sends 1/tp of them.
        copies = np.minimum(arch.num_experts_per_token, moe_ep)
        a2a_bytes = 2.0 * counts["moe"] * message / tp * copies * (moe_ep - 1) / moe_ep
        calls = np.where((moe_ep > 1) & (dp > 1), 2.0 * counts["moe"], 0.0)
        a2a_bytes = np.where(calls > 0, a2a_bytes, 0.0)
        bandwidth, latency = link(layout.moe_ep * layout.moe_tp)
        ops.append(Op("ep_alltoall", "comm", 0 * tp, a2a_bytes, link_gb_per_s=bandwidth, latency_us=latency, calls=calls))

    pp = layout.pp.astype(float)
    bandwidth, latency = link(layout.gpus_per_worker)
    ops.append(Op("pp_handoff", "comm", 0 * tp, (pp - 1) * message, link_gb_per_s=bandwidth, latency_us=latency, calls=pp - 1))
    return ops


def list_step_ops(arch, layout: Layout, shape: StepShape, dtypes: StepDtypes, gpu, comm_latency_us: float = 8.0) -> list[Op]:
    """Return the operations of one forward step per GPU, each summed over its layers.

    All layers are included whatever `pp` is: the step's latency runs through
    every pipeline stage in turn.
    """
    counts = layer_counts(arch)
    ops = _attention_ops(arch, layout, shape, dtypes, counts)
    ops += _mlp_ops(arch, layout, shape, dtypes, counts)
    ops += _norm_and_io_ops(arch, layout, shape)
    ops += _comm_ops(arch, layout, shape, gpu, comm_latency_us)
    return ops
