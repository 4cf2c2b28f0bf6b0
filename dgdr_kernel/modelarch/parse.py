"""Parse a HuggingFace `config.json` into a `ModelArch`.

Model families spell the same quantity differently (`num_local_experts`,
`n_routed_experts`, `num_experts`; `n_layer`, `num_hidden_layers`). Each field
is read from the first of its known keys, and a key that is missing and has
no documented family default raises `ModelArchError` naming the key and file.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dgdr_kernel.errors import ModelArchError
from dgdr_kernel.modelarch.arch import ModelArch

__all__ = ["parse_config", "read_config_file"]

logger = logging.getLogger(__name__)

# Families whose blocks use LayerNorm with bias and a two-matrix GELU MLP
# instead of RMSNorm and a gated (SwiGLU) MLP.
_LAYERNORM_GELU_FAMILIES = frozenset({"falcon", "gptj", "gpt_neox", "gpt2", "opt", "bloom", "phi"})

# Defaults the transformers config classes apply when a key is absent from
# config.json (transformers 4.45: FalconConfig, GPTJConfig, LlamaConfig, ...).
_FAMILY_DEFAULTS: dict[str, dict[str, Any]] = {
    "falcon": {"max_position_embeddings": 2048, "tie_word_embeddings": True},
    "gptj": {"tie_word_embeddings": False},
    "llama": {"tie_word_embeddings": False},
    "llama4_text": {"tie_word_embeddings": False},
    "mistral": {"tie_word_embeddings": False},
    "mixtral": {"tie_word_embeddings": False},
}

# torch dtype names -> weight dtype. float32 checkpoints are served in fp16,
# the choice of vLLM's `--dtype auto` for them.
_TORCH_DTYPES = {
    "bfloat16": "bf16",
    "float16": "fp16",
    "half": "fp16",
    "float32": "fp16",
    "float": "fp16",
}

_MODELOPT_ALGOS = {"FP8": "fp8", "NVFP4": "fp4", "W4A8_AWQ": "int4", "W4A16_AWQ": "int4", "INT4_AWQ": "int4"}
_SUPPORTED_QUANT = "fp8, fbgemm_fp8, mxfp4, modelopt (FP8, NVFP4, W4A8_AWQ), awq, gptq (4-bit), compressed-tensors, bitsandbytes (4-bit)"


def read_config_file(path: str | Path) -> dict[str, Any]:
    """Read a config.json (or the config.json inside a directory) into a dict."""
    path = Path(path)
    if path.is_dir():
        path = path / "config.json"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ModelArchError(f"{path}: file not found") from None
    except OSError as exc:
        raise ModelArchError(f"{path}: cannot be read ({exc.strerror})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ModelArchError(f"{path}: invalid JSON at line {exc.lineno}: {exc.msg}") from None
    if not isinstance(data, dict):
        raise ModelArchError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data


def parse_config(
    config: Mapping[str, Any] | str | Path,
    *,
    model_id: str | None = None,
    source: str | None = None,
) -> ModelArch:
    """Parse a HuggingFace `config.json` into a `ModelArch`.

    Parameters
    ----------
    config
        The parsed JSON object, or the path of a config.json or of the
        directory holding it.
    model_id
        The id stored in the result; defaults to the config's `_name_or_path`
        or the source.
    source
        Where the config came from, named in error messages.
    """
    if not isinstance(config, Mapping):
        source = source or str(config)
        config = read_config_file(config)
    source = source or "<config>"
    reader = _ConfigReader(_flatten_text_config(config), source)

    model_type = str(reader.get("model_type") or "")
    model_id = model_id or str(config.get("_name_or_path") or source)
    architectures = config.get("architectures") or reader.get("architectures") or [model_type or "unknown"]

    num_layers = reader.require_int("num_layers", ("num_hidden_layers", "n_layer", "num_layers"))
    hidden_size = reader.require_int("hidden size", ("hidden_size", "n_embd", "d_model"))
    num_heads = reader.require_int("attention heads", ("num_attention_heads", "n_head"))
    num_kv_heads = _read_kv_heads(reader, num_heads)
    vocab_size = reader.require_int("vocabulary size", ("vocab_size",))
    max_positions = reader.require_int(
        "max positions",
        ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length"),
        default=_FAMILY_DEFAULTS.get(model_type, {}).get("max_position_embeddings"),
    )
    tie = reader.get("tie_word_embeddings")
    if tie is None:
        # transformers' PretrainedConfig ties by default unless the family overrides it
        tie = _FAMILY_DEFAULTS.get(model_type, {}).get("tie_word_embeddings", True)

    moe = _parse_moe(reader, model_type, num_layers, hidden_size)
    dense_width = moe.pop("dense_intermediate_size")
    mla = _parse_mla(reader)
    if mla["is_mla"]:
        head_dim = mla["qk_nope_head_dim"] + mla["qk_rope_head_dim"]
    else:
        head_dim = reader.get_int(("head_dim",)) or hidden_size // num_heads
    sliding_window, attention_types = _parse_attention_types(reader, model_type, num_layers)
    weight_dtype, quant_method, attention_dtype = _parse_quantization(reader)

    layernorm_family = model_type in _LAYERNORM_GELU_FAMILIES
    bias = bool(reader.get("bias"))  # Falcon's single switch for every linear bias
    return ModelArch(
        model_id=model_id,
        architecture=str(architectures[0]),
        num_layers=num_layers,
        hidden_size=hidden_size,
        num_attention_heads=num_heads,
        num_kv_heads=num_kv_heads,
        head_dim=head_dim,
        intermediate_size=dense_width,
        vocab_size=vocab_size,
        tie_word_embeddings=bool(tie),
        max_position_embeddings=max_positions,
        **moe,
        **mla,
        sliding_window=sliding_window,
        layer_attention_types=attention_types,
        weight_dtype=weight_dtype,
        quant_method=quant_method,
        attention_weight_dtype=attention_dtype,
        gated_mlp=not layernorm_family,
        attention_bias=bool(reader.get("attention_bias")) or bias,
        mlp_bias=bool(reader.get("mlp_bias")) or bias or model_type in ("gptj", "gpt_oss"),
        qk_norm=model_type in ("qwen3", "qwen3_moe"),
        norm_has_bias=layernorm_family,
        num_mtp_layers=_parse_mtp_layers(reader),
    )


class _ConfigReader:
    """Key lookups on one config dict that raise errors naming the key and file."""

    def __init__(self, config: Mapping[str, Any], source: str):
        self.config = config
        self.source = source

    def get(self, key: str, default: Any = None) -> Any:
        value = self.config.get(key)
        return default if value is None else value

    def get_int(self, keys: tuple[str, ...]) -> int | None:
        for key in keys:
            value = self.config.get(key)
            if value is not None:
                return self._as_int(key, value)
        return None

    def require_int(self, what: str, keys: tuple[str, ...], default: int | None = None) -> int:
        value = self.get_int(keys)
        if value is not None:
            return value
        if default is not None:
            logger.debug("%s: %s not set, using the family default %d", self.source, keys[0], default)
            return default
        raise ModelArchError(
            f"{self.source}: missing key {keys[0]!r} ({what})"
            + (f"; also looked for {', '.join(repr(k) for k in keys[1:])}" if len(keys) > 1 else "")
        )

    def _as_int(self, key: str, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value:
            raise ModelArchError(f"{self.source}: key {key!r} must be an integer, got {value!r}")
        return int(value)


def _flatten_text_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """Lift a multimodal config's `text_config` (Llama-4) to the top level.

    Keys of the outer config that describe the whole checkpoint
    (quantization, dtype, tied embeddings) fill in what text_config lacks.
    """
    text_config = config.get("text_config")
    if not isinstance(text_config, Mapping):
        return dict(config)
    merged = dict(text_config)
    for key in ("quantization_config", "torch_dtype", "dtype", "tie_word_embeddings", "architectures"):
        if merged.get(key) is None and config.get(key) is not None:
            merged[key] = config[key]
    return merged


def _read_kv_heads(reader: _ConfigReader, num_heads: int) -> int:
    kv_heads = reader.get_int(("num_key_value_heads", "num_kv_heads"))
    if kv_heads is not None:
        return kv_heads
    if reader.get("multi_query") and not reader.get("new_decoder_architecture"):
        return 1  # Falcon-7B style multi-query attention
    return num_heads


def _parse_moe(reader: _ConfigReader, model_type: str, num_layers: int, hidden_size: int) -> dict[str, Any]:
    """Read the MoE fields and the dense-layer MLP width."""
    family_width = 4 * hidden_size if model_type in _LAYERNORM_GELU_FAMILIES else None
    if model_type == "llama4_text":
        # Llama-4 names the expert width intermediate_size and the dense width intermediate_size_mlp.
        dense_keys: tuple[str, ...] = ("intermediate_size_mlp", "intermediate_size")
    else:
        dense_keys = ("intermediate_size", "ffn_hidden_size", "n_inner", "ffn_dim")
    dense_width = reader.require_int("MLP intermediate size", dense_keys, default=family_width)

    num_experts = reader.get_int(("num_experts", "num_local_experts", "n_routed_experts", "moe_num_experts")) or 0
    if num_experts <= 1:
        return {"dense_intermediate_size": dense_width}

    experts_per_token = reader.require_int(
        "experts per token", ("num_experts_per_tok", "experts_per_token", "moe_topk")
    )
    # Mixtral, gpt-oss, MiniMax and Llama-4 give the expert width as intermediate_size.
    expert_width = reader.get_int(("moe_intermediate_size",)) or reader.require_int(
        "expert intermediate size", ("intermediate_size",)
    )

    num_shared, shared_width = 0, 0
    if reader.get_int(("n_shared_experts",)):
        num_shared, shared_width = reader.get_int(("n_shared_experts",)), expert_width
    elif reader.get_int(("shared_expert_intermediate_size", "shared_intermediate_size")):
        num_shared = 1
        shared_width = reader.get_int(("shared_expert_intermediate_size", "shared_intermediate_size"))
    elif model_type == "llama4_text":
        num_shared, shared_width = 1, expert_width  # one always-on expert per MoE layer

    mlp_types = _moe_layer_pattern(reader, model_type, num_layers)
    first_dense = next((i for i, kind in enumerate(mlp_types) if kind == "moe"), num_layers)
    return {
        "dense_intermediate_size": dense_width,
        "is_moe": True,
        "num_experts": num_experts,
        "num_experts_per_token": experts_per_token,
        "moe_intermediate_size": expert_width,
        "num_shared_experts": num_shared or 0,
        "shared_expert_intermediate_size": shared_width or 0,
        "first_k_dense_layers": first_dense,
        "layer_mlp_types": mlp_types,
    }


def _moe_layer_pattern(reader: _ConfigReader, model_type: str, num_layers: int) -> tuple[str, ...]:
    """Return "dense" or "moe" for every layer, following each family's rule."""
    layers = range(num_layers)

    if model_type == "llama4_text":
        moe_layers = reader.get("moe_layers")
        if moe_layers is None:
            step = reader.get_int(("interleave_moe_layer_step",)) or 1
            moe_layers = range(step - 1, num_layers, step)
        moe_set = set(moe_layers)
        return tuple("moe" if i in moe_set else "dense" for i in layers)

    first_k = reader.get_int(("first_k_dense_replace",))
    if first_k is not None:
        # DeepSeek: dense for the first k layers, then MoE every moe_layer_freq layers
        freq = reader.get_int(("moe_layer_freq",)) or 1
        return tuple("moe" if i >= first_k and i % freq == 0 else "dense" for i in layers)

    if "decoder_sparse_step" in reader.config or "mlp_only_layers" in reader.config:
        # Qwen-MoE: dense where listed in mlp_only_layers, else MoE every decoder_sparse_step layers
        step = reader.get_int(("decoder_sparse_step",)) or 1
        dense_set = set(reader.get("mlp_only_layers", []))
        return tuple("moe" if i not in dense_set and (i + 1) % step == 0 else "dense" for i in layers)

    return ("moe",) * num_layers


def _parse_mla(reader: _ConfigReader) -> dict[str, Any]:
    if reader.get("kv_lora_rank") is None:
        return {"is_mla": False}
    return {
        "is_mla": True,
        "q_lora_rank": reader.get_int(("q_lora_rank",)),
        "kv_lora_rank": reader.require_int("MLA KV rank", ("kv_lora_rank",)),
        "qk_rope_head_dim": reader.require_int("MLA RoPE head dim", ("qk_rope_head_dim",)),
        "qk_nope_head_dim": reader.require_int("MLA non-RoPE head dim", ("qk_nope_head_dim",)),
        "v_head_dim": reader.require_int("MLA value head dim", ("v_head_dim",)),
    }


def _parse_attention_types(
    reader: _ConfigReader, model_type: str, num_layers: int
) -> tuple[int | None, tuple[str, ...] | None]:
    """Return (sliding window in tokens, per-layer "full"/"sliding"), or (None, None) when all layers are full."""
    window = reader.get_int(("sliding_window",))
    layer_types = reader.get("layer_types")
    chunk = reader.get_int(("attention_chunk_size",))

    if 0 in (reader.get("attn_type_list") or ()):
        # MiniMax-M1 / Text-01: type 0 is lightning (linear) attention, which has no KV cache per token
        raise ModelArchError(
            f"{reader.source}: attn_type_list declares linear (lightning) attention layers, "
            "which are not supported; only softmax attention (type 1) is"
        )

    if layer_types:
        types = []
        for i, name in enumerate(layer_types):
            if name == "full_attention":
                types.append("full")
            elif name in ("sliding_attention", "chunked_attention"):
                types.append("sliding")
            else:
                raise ModelArchError(
                    f"{reader.source}: layer_types[{i}] is {name!r}; supported layer types are "
                    "full_attention, sliding_attention and chunked_attention"
                )
        if "chunked_attention" in layer_types:
            window = chunk
    elif model_type == "llama4_text" and chunk:
        # Llama-4: RoPE layers attend within chunks of attention_chunk_size tokens and
        # every fourth layer (no RoPE) attends globally (transformers Llama4TextConfig).
        # NOTE: a chunk restarts at chunk borders, so capping it like a sliding window
        # overstates its KV cache by at most one chunk.
        interval = reader.get_int(("no_rope_layer_interval",)) or 4
        rope_flags = reader.get("no_rope_layers") or [int((i + 1) % interval != 0) for i in range(num_layers)]
        types = ["sliding" if flag else "full" for flag in rope_flags]
        window = chunk
    elif reader.get("use_sliding_window") is False or window is None:
        return None, None
    elif model_type == "gemma2":
        types = ["sliding" if i % 2 == 0 else "full" for i in range(num_layers)]  # even layers slide
    elif model_type in ("gemma3", "gemma3_text"):
        # every sliding_window_pattern-th layer is global (transformers Gemma3TextConfig, default 6)
        pattern = reader.get_int(("sliding_window_pattern",)) or 6
        types = ["full" if (i + 1) % pattern == 0 else "sliding" for i in range(num_layers)]
    elif reader.get("use_sliding_window"):
        # Qwen2 convention: layers from max_window_layers on use the window
        first_sliding = reader.get_int(("max_window_layers",)) or 0
        types = ["sliding" if i >= first_sliding else "full" for i in range(num_layers)]
    else:
        types = ["sliding"] * num_layers  # Mistral-7B: one window on every layer

    if len(types) != num_layers:
        raise ModelArchError(
            f"{reader.source}: layer_types lists {len(types)} layers but num_hidden_layers is {num_layers}"
        )
    if "sliding" not in types:
        return None, None
    if not window:
        raise ModelArchError(f"{reader.source}: sliding layers are declared but 'sliding_window' is missing")
    return window, tuple(types)


def _parse_quantization(reader: _ConfigReader) -> tuple[str, str | None, str | None]:
    """Return (weight dtype, quant_method, attention weight dtype or None)."""
    torch_dtype = reader.get("torch_dtype") or reader.get("dtype")
    if torch_dtype is None:
        logger.warning("%s: neither torch_dtype nor dtype is set; assuming bf16 weights", reader.source)
        base_dtype = "bf16"
    else:
        base_dtype = _TORCH_DTYPES.get(str(torch_dtype).removeprefix("torch."))
        if base_dtype is None:
            raise ModelArchError(
                f"{reader.source}: torch_dtype {torch_dtype!r} is not supported; "
                f"supported: {', '.join(_TORCH_DTYPES)}"
            )

    quant = reader.get("quantization_config")
    if not quant:
        return base_dtype, None, None
    if not isinstance(quant, Mapping):
        raise ModelArchError(f"{reader.source}: quantization_config must be an object, got {quant!r}")

    method = str(quant.get("quant_method") or "").lower()
    weight_dtype = _quantized_dtype(method, quant, reader.source)

    excluded = quant.get("modules_to_not_convert") or quant.get("ignore") or quant.get("exclude_modules") or []
    attention_excluded = any("attn" in str(module) for module in excluded)
    return weight_dtype, method, base_dtype if attention_excluded else None


def _quantized_dtype(method: str, quant: Mapping[str, Any], source: str) -> str:
    if method in ("fp8", "fbgemm_fp8"):
        return "fp8"
    if method == "mxfp4":
        return "fp4"
    if method == "modelopt":
        algo = quant.get("quant_algo") or (quant.get("quantization") or {}).get("quant_algo")
        if algo in _MODELOPT_ALGOS:
            return _MODELOPT_ALGOS[algo]
        raise ModelArchError(
            f"{source}: modelopt quant_algo {algo!r} is not supported; supported: {', '.join(_MODELOPT_ALGOS)}"
        )
    if method in ("awq", "gptq", "awq_marlin", "gptq_marlin"):
        bits = quant.get("bits", quant.get("w_bit"))
        if bits == 4:
            return "int4"
        raise ModelArchError(f"{source}: {method} with {bits} bits is not supported; only 4-bit is")
    if method == "compressed-tensors":
        return _compressed_tensors_dtype(quant, source)
    if method == "bitsandbytes":
        if quant.get("load_in_4bit"):
            return "int4"  # NF4/FP4 with per-block scales: sized like int4
        raise ModelArchError(f"{source}: bitsandbytes 8-bit is not supported; only load_in_4bit is")
    raise ModelArchError(
        f"{source}: quantization_config.quant_method {method or None!r} is not supported; "
        f"supported: {_SUPPORTED_QUANT}"
    )


def _compressed_tensors_dtype(quant: Mapping[str, Any], source: str) -> str:
    for group in (quant.get("config_groups") or {}).values():
        weights = (group or {}).get("weights") or {}
        bits, kind = weights.get("num_bits"), weights.get("type")
        if kind == "float" and bits == 8:
            return "fp8"
        if kind == "float" and bits == 4:
            return "fp4"
        if kind == "int" and bits == 4:
            return "int4"
        raise ModelArchError(
            f"{source}: compressed-tensors weights of type {kind!r} with {bits} bits are not supported; "
            "supported: float 8-bit, float 4-bit, int 4-bit"
        )
    raise ModelArchError(f"{source}: compressed-tensors quantization_config has no config_groups")


def _parse_mtp_layers(reader: _ConfigReader) -> int:
    count = reader.get_int(("num_nextn_predict_layers", "mtp_num_hidden_layers"))
    if count is None and reader.get("use_mtp"):
        count = reader.get_int(("num_mtp_modules",))
    return count or 0
