"""`ModelArch`: the architecture of a decoder-only LLM, and the sizes derived from it.

Everything the performance model needs to price a forward step is a field here,
taken from the model's HuggingFace `config.json` (see `parse.py`). Derived
quantities (parameter counts, weight bytes, KV-cache bytes) are methods, so a
field changed with `dataclasses.replace` never leaves a stale number behind.
"""

from __future__ import annotations

from dataclasses import dataclass

from dgdr_kernel.errors import ModelArchError

__all__ = [
    "ATTENTION_TYPES",
    "KV_DTYPE_BYTES",
    "MLP_TYPES",
    "WEIGHT_DTYPES",
    "ModelArch",
    "ParamCounts",
]

WEIGHT_DTYPES = ("bf16", "fp16", "fp8", "fp4", "int4")
ATTENTION_TYPES = ("full", "sliding")
MLP_TYPES = ("dense", "moe")

# Bytes per cached element of K, V or the MLA latent.
KV_DTYPE_BYTES = {"bf16": 2.0, "fp16": 2.0, "fp8": 1.0}

# Group sizes of the block scales that quantized formats store next to the
# weights; they add bytes per parameter on top of the packed values.
_MXFP4_GROUP = 32  # one 1-byte E8M0 scale per 32 values (OCP Microscaling spec v1.0)
_NVFP4_GROUP = 16  # one 1-byte FP8 E4M3 scale per 16 values (NVIDIA Blackwell NVFP4)
_INT4_GROUP = 128  # AWQ and GPTQ default group size, one fp16 scale per group
_FP8_BLOCK = 128 * 128  # DeepSeek-style 128x128 block, one fp32 scale per block


def _quantized_bytes_per_param(dtype: str, quant_method: str | None) -> float:
    """Bytes per parameter of a quantized linear layer, block scales included."""
    if dtype in ("bf16", "fp16"):
        return 2.0
    if dtype == "fp8":
        return 1.0 + 4.0 / _FP8_BLOCK
    if dtype == "fp4":
        group = _MXFP4_GROUP if quant_method == "mxfp4" else _NVFP4_GROUP
        return 0.5 + 1.0 / group
    if dtype == "int4":
        return 0.5 + 2.0 / _INT4_GROUP
    raise ModelArchError(
        f"weight dtype {dtype!r} is not supported; use one of {', '.join(WEIGHT_DTYPES)}"
    )


def kv_dtype_bytes(kv_dtype: str) -> float:
    """Return the bytes of one cached element for a KV-cache dtype name."""
    try:
        return KV_DTYPE_BYTES[kv_dtype]
    except KeyError:
        raise ModelArchError(
            f"KV-cache dtype {kv_dtype!r} is not supported; "
            f"use one of {', '.join(KV_DTYPE_BYTES)}"
        ) from None


@dataclass(frozen=True)
class ParamCounts:
    """Parameter counts of one model, split by component (whole model, all layers).

    `routed_experts` counts every expert, and `routed_experts_active` only the
    top-k experts that one token passes through.
    """

    embedding: int
    attention: int
    dense_mlp: int
    routed_experts: int
    routed_experts_active: int
    shared_experts: int
    router: int
    norms: int
    lm_head: int

    @property
    def total(self) -> int:
        return (
            self.embedding
            + self.attention
            + self.dense_mlp
            + self.routed_experts
            + self.shared_experts
            + self.router
            + self.norms
            + self.lm_head
        )

    @property
    def active(self) -> int:
        return self.total - self.routed_experts + self.routed_experts_active


@dataclass(frozen=True)
class ModelArch:
    """The architecture of a decoder-only transformer, as its `config.json` declares it.

    Sizes are in elements, lengths in tokens. MoE, MLA and attention-variant
    fields keep their neutral values (0, None, False) on models without them.
    """

    model_id: str
    architecture: str  # architectures[0] of the config, e.g. "LlamaForCausalLM"
    num_layers: int  # decoder layers, MTP modules excluded
    hidden_size: int
    num_attention_heads: int
    num_kv_heads: int
    head_dim: int
    intermediate_size: int  # MLP width of the dense layers
    vocab_size: int
    tie_word_embeddings: bool
    max_position_embeddings: int

    # MoE
    is_moe: bool = False
    num_experts: int = 0  # routed experts per MoE layer
    num_experts_per_token: int = 0
    moe_intermediate_size: int = 0  # MLP width of one routed expert
    num_shared_experts: int = 0  # always-on experts per MoE layer
    shared_expert_intermediate_size: int = 0  # MLP width of one shared expert
    first_k_dense_layers: int = 0  # leading layers with a dense MLP
    layer_mlp_types: tuple[str, ...] | None = None  # "dense"/"moe" per layer; None: all dense

    # MLA (multi-head latent attention, DeepSeek-V2/V3 family)
    is_mla: bool = False
    q_lora_rank: int | None = None  # None: queries are projected without a low-rank step
    kv_lora_rank: int = 0
    qk_rope_head_dim: int = 0
    qk_nope_head_dim: int = 0
    v_head_dim: int = 0

    # attention variants
    sliding_window: int | None = None  # tokens a sliding layer attends to
    # "full"/"sliding" per layer; None means all full. Sliding layers need both fields set.
    layer_attention_types: tuple[str, ...] | None = None

    # quantization of the checkpoint
    weight_dtype: str = "bf16"  # dtype of the quantized linear layers (all of them when unquantized)
    quant_method: str | None = None  # quantization_config.quant_method, None when unquantized
    attention_weight_dtype: str | None = None  # None: same as weight_dtype

    # details that change parameter counts, not the shape of the compute
    gated_mlp: bool = True  # SwiGLU-style gate, up and down matrices; False: up and down only
    attention_bias: bool = False  # biases on the Q, K, V and O projections
    mlp_bias: bool = False  # biases on the dense and expert MLP matrices
    qk_norm: bool = False  # one RMSNorm of head_dim on queries and one on keys per layer
    norm_has_bias: bool = False  # LayerNorm with bias rather than RMSNorm
    num_mtp_layers: int = 0  # multi-token-prediction modules shipped with the checkpoint

    def __post_init__(self) -> None:
        for name in ("layer_attention_types", "layer_mlp_types"):
            types = getattr(self, name)
            if types is not None and len(types) != self.num_layers:
                raise ModelArchError(
                    f"{self.model_id}: {name} has {len(types)} entries but "
                    f"num_layers is {self.num_layers}"
                )
        if self.weight_dtype not in WEIGHT_DTYPES:
            raise ModelArchError(
                f"{self.model_id}: weight_dtype {self.weight_dtype!r} is not one of "
                f"{', '.join(WEIGHT_DTYPES)}"
            )

    # ------------------------------------------------------------------ layers

    @property
    def moe_layer_count(self) -> int:
        if not self.is_moe:
            return 0
        if self.layer_mlp_types is None:
            return self.num_layers
        return self.layer_mlp_types.count("moe")

    @property
    def dense_layer_count(self) -> int:
        return self.num_layers - self.moe_layer_count

    @property
    def sliding_layer_count(self) -> int:
        if self.sliding_window is None:
            return 0
        if self.layer_attention_types is None:
            return 0
        return self.layer_attention_types.count("sliding")

    @property
    def full_attention_layer_count(self) -> int:
        return self.num_layers - self.sliding_layer_count

    # -------------------------------------------------------------- parameters

    def attention_params_per_layer(self) -> int:
        """Parameters of one attention block: projections, biases and QK norms."""
        hidden = self.hidden_size
        heads = self.num_attention_heads

        if self.is_mla:
            qk_head_dim = self.qk_nope_head_dim + self.qk_rope_head_dim
            if self.q_lora_rank:
                # down-projection, its RMSNorm, then up-projection to all heads
                q = hidden * self.q_lora_rank + self.q_lora_rank + self.q_lora_rank * heads * qk_head_dim
            else:
                q = hidden * heads * qk_head_dim
            kv_down = hidden * (self.kv_lora_rank + self.qk_rope_head_dim) + self.kv_lora_rank
            kv_up = self.kv_lora_rank * heads * (self.qk_nope_head_dim + self.v_head_dim)
            out = heads * self.v_head_dim * hidden
            return q + kv_down + kv_up + out

        q_width = heads * self.head_dim
        kv_width = self.num_kv_heads * self.head_dim
        params = hidden * q_width + 2 * hidden * kv_width + q_width * hidden
        if self.attention_bias:
            params += q_width + 2 * kv_width + hidden
        if self.qk_norm:
            params += 2 * self.head_dim
        return params

    def mlp_params(self, intermediate_size: int) -> int:
        """Parameters of one MLP (a dense layer's MLP or one expert) of the given width."""
        matrices = 3 if self.gated_mlp else 2
        params = matrices * self.hidden_size * intermediate_size
        if self.mlp_bias:
            params += (matrices - 1) * intermediate_size + self.hidden_size
        return params

    def param_counts(self) -> ParamCounts:
        """Count parameters by component; MTP modules are left out (see `num_mtp_layers`)."""
        hidden = self.hidden_size
        moe_layers = self.moe_layer_count

        embedding = self.vocab_size * hidden
        lm_head = 0 if self.tie_word_embeddings else self.vocab_size * hidden

        norm_size = 2 * hidden if self.norm_has_bias else hidden
        # Two norms per layer (before attention and before the MLP) and a final
        # one; the MLA latent norms are counted with the attention block.
        norms = (2 * self.num_layers + 1) * norm_size

        expert = self.mlp_params(self.moe_intermediate_size) if self.is_moe else 0
        shared = (
            self.num_shared_experts * self.mlp_params(self.shared_expert_intermediate_size)
            if self.is_moe
            else 0
        )

        return ParamCounts(
            embedding=embedding,
            attention=self.num_layers * self.attention_params_per_layer(),
            dense_mlp=self.dense_layer_count * self.mlp_params(self.intermediate_size),
            routed_experts=moe_layers * self.num_experts * expert,
            routed_experts_active=moe_layers * self.num_experts_per_token * expert,
            shared_experts=moe_layers * shared,
            router=moe_layers * self.num_experts * hidden,
            norms=norms,
            lm_head=lm_head,
        )

    @property
    def total_params(self) -> int:
        return self.param_counts().total

    @property
    def active_params(self) -> int:
        """Parameters one token passes through: all but the routed experts it is not sent to.

        The input embedding table counts in full, as the Qwen, Mistral and
        DeepSeek model cards count it; OpenAI's gpt-oss card leaves it out.
        """
        return self.param_counts().active

    # ------------------------------------------------------------ weight bytes

    def weight_bytes(self, dtype: str | None = None) -> float:
        """Bytes of all weights, MTP modules excluded.

        With `dtype` None, the checkpoint's own precision is used. Quantized
        formats apply to the attention and MLP/expert matrices they cover,
        block scales included. Embeddings, LM head, norms and routers stay
        2-byte (bf16), as in the FP8 and MXFP4 checkpoints of DeepSeek, Qwen
        and OpenAI. With a `dtype`, every attention and MLP/expert matrix is
        priced at that dtype and the rest stays 2-byte.
        """
        counts = self.param_counts()

        if dtype is None:
            linear_dtype = self.weight_dtype
            attention_dtype = self.attention_weight_dtype or self.weight_dtype
            method = self.quant_method
        else:
            linear_dtype = attention_dtype = dtype
            method = self.quant_method if dtype == self.weight_dtype else None

        mlp_params = counts.dense_mlp + counts.routed_experts + counts.shared_experts
        high_precision = counts.embedding + counts.lm_head + counts.norms + counts.router
        return (
            counts.attention * _quantized_bytes_per_param(attention_dtype, method)
            + mlp_params * _quantized_bytes_per_param(linear_dtype, method)
            + high_precision * 2.0
        )

    # ---------------------------------------------------------------- KV cache

    def kv_bytes_per_token_per_layer(self, kv_dtype: str = "bf16") -> float:
        """KV-cache bytes one token adds to one attention layer.

        GQA stores K and V: 2 * num_kv_heads * head_dim elements. MLA stores
        the compressed latent and the shared RoPE key: kv_lora_rank +
        qk_rope_head_dim elements, as vLLM and SGLang cache it.
        """
        element_bytes = kv_dtype_bytes(kv_dtype)
        if self.is_mla:
            return (self.kv_lora_rank + self.qk_rope_head_dim) * element_bytes
        return 2 * self.num_kv_heads * self.head_dim * element_bytes

    def kv_bytes_per_token(self, kv_dtype: str = "bf16") -> float:
        """KV-cache bytes per token of one sequence over all layers, no parallelism.

        Every layer counts as if it attended to the whole context. For models
        with sliding-window layers this is exact while the context fits in
        the window and an upper bound beyond it, so use
        `kv_bytes_per_sequence` for the exact size at a given length.
        """
        return self.num_layers * self.kv_bytes_per_token_per_layer(kv_dtype)

    def kv_bytes_per_sequence(self, context_len: int, kv_dtype: str = "bf16") -> float:
        """KV-cache bytes of one sequence of `context_len` tokens, sliding layers capped at the window."""
        if context_len < 0:
            raise ModelArchError(f"context_len must be >= 0 tokens, got {context_len}")

        per_layer = self.kv_bytes_per_token_per_layer(kv_dtype)
        full_tokens = self.full_attention_layer_count * context_len
        sliding_tokens = 0
        if self.sliding_layer_count:
            sliding_tokens = self.sliding_layer_count * min(context_len, self.sliding_window or 0)
        return (full_tokens + sliding_tokens) * per_layer
