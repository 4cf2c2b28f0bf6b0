"""`dgdr models`: list the shipped model architectures, or show one in full."""

from __future__ import annotations

import argparse
import dataclasses
import json
from itertools import groupby

from dgdr_kernel.cli import positive_int
from dgdr_kernel.modelarch import (
    KV_DTYPE_BYTES,
    WEIGHT_DTYPES,
    ModelArch,
    list_shipped_models,
    locate_config,
    resolve_model,
)

__all__ = ["register"]

GIB = 2**30

# isl + osl of a DGDR that sets neither (4000 + 1000 tokens)
DEFAULT_CONTEXT_TOKENS = 5000


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "models",
        help="list the shipped model architectures or show one",
        description=(
            "Model architectures parsed from HuggingFace config.json files. A MODEL is a "
            "shipped id (case-insensitive), a local directory holding config.json, or an "
            "id in the local HuggingFace cache; nothing is downloaded."
        ),
    )
    actions = parser.add_subparsers(dest="models_command", metavar="ACTION")
    actions.required = True

    list_parser = actions.add_parser("list", help="table of the shipped models")
    list_parser.add_argument(
        "--output",
        choices=["table", "json"],
        default="table",
        help="output format (default: table)",
    )
    list_parser.set_defaults(func=run_list)

    show_parser = actions.add_parser("show", help="every field and derived size of one model")
    show_parser.add_argument("model", metavar="MODEL", help="shipped id, local directory or HuggingFace cache id")
    show_parser.add_argument(
        "--kv-dtype",
        choices=sorted(KV_DTYPE_BYTES),
        default="bf16",
        help="KV-cache element type for the KV-cache sizes (default: bf16)",
    )
    show_parser.add_argument(
        "--context-len",
        type=positive_int,
        default=DEFAULT_CONTEXT_TOKENS,
        metavar="TOKENS",
        help=f"sequence length in tokens for the KV-cache bytes of one sequence (default: {DEFAULT_CONTEXT_TOKENS})",
    )
    show_parser.add_argument(
        "--search-path",
        action="append",
        default=[],
        metavar="DIR",
        help="extra directory holding <org>--<name>/config.json folders; may be repeated",
    )
    show_parser.add_argument(
        "--output",
        choices=["text", "json"],
        default="text",
        help="output format (default: text)",
    )
    show_parser.set_defaults(func=run_show)


def run_list(args: argparse.Namespace) -> int:
    rows = [_list_row(resolve_model(model_id)) for model_id in list_shipped_models()]
    if args.output == "json":
        print(json.dumps(rows, indent=2))
        return 0

    headers = {
        "model": "MODEL",
        "architecture": "ARCHITECTURE",
        "layers": "LAYERS",
        "total_params_b": "TOTAL_B",
        "active_params_b": "ACTIVE_B",
        "context_tokens": "CONTEXT",
        "weight_dtype": "DTYPE",
        "kv_bytes_per_token_bf16": "KV_B/TOKEN_BF16",
    }
    numeric = {"layers", "total_params_b", "active_params_b", "context_tokens", "kv_bytes_per_token_bf16"}
    table = [headers] + [{key: _format_cell(row[key]) for key in headers} for row in rows]
    widths = {key: max(len(str(line[key])) for line in table) for key in headers}
    for line in table:
        cells = [
            str(line[key]).rjust(widths[key]) if key in numeric else str(line[key]).ljust(widths[key])
            for key in headers
        ]
        print("  ".join(cells).rstrip())
    return 0


def run_show(args: argparse.Namespace) -> int:
    location = locate_config(args.model, search_paths=args.search_path)
    arch = resolve_model(args.model, search_paths=args.search_path)
    details = describe_model(arch, kv_dtype=args.kv_dtype, context_len=args.context_len)
    details["config"] = {"origin": location.origin, "path": location.path}

    if args.output == "json":
        print(json.dumps(details, indent=2))
        return 0

    print(f"{arch.model_id} ({location.origin}: {location.path})")
    for section in ("fields", "derived"):
        print(f"\n{section}:")
        width = max(len(key) for key in details[section])
        for key, value in details[section].items():
            print(f"  {key.ljust(width)}  {_format_value(key, value)}")
    return 0


def describe_model(arch: ModelArch, *, kv_dtype: str = "bf16", context_len: int = DEFAULT_CONTEXT_TOKENS) -> dict:
    """Return every field of `arch` and its derived sizes as JSON-ready dicts."""
    counts = arch.param_counts()
    fields = {key: list(value) if isinstance(value, tuple) else value for key, value in dataclasses.asdict(arch).items()}
    derived = {
        "total_params": counts.total,
        "active_params": counts.active,
        **{f"params_{key}": value for key, value in dataclasses.asdict(counts).items()},
        "moe_layer_count": arch.moe_layer_count,
        "dense_layer_count": arch.dense_layer_count,
        "full_attention_layer_count": arch.full_attention_layer_count,
        "sliding_layer_count": arch.sliding_layer_count,
        "weight_gib_checkpoint": arch.weight_bytes() / GIB,
        **{f"weight_gib_{dtype}": arch.weight_bytes(dtype) / GIB for dtype in WEIGHT_DTYPES},
        "kv_dtype": kv_dtype,
        "kv_bytes_per_token_per_layer": arch.kv_bytes_per_token_per_layer(kv_dtype),
        "kv_bytes_per_token": arch.kv_bytes_per_token(kv_dtype),
        "context_len_tokens": context_len,
        "kv_bytes_per_sequence": arch.kv_bytes_per_sequence(context_len, kv_dtype),
    }
    return {"fields": fields, "derived": derived}


def _list_row(arch: ModelArch) -> dict:
    return {
        "model": arch.model_id,
        "architecture": arch.architecture,
        "layers": arch.num_layers,
        "total_params_b": round(arch.total_params / 1e9, 2),
        "active_params_b": round(arch.active_params / 1e9, 2),
        "context_tokens": arch.max_position_embeddings,
        "weight_dtype": arch.weight_dtype,
        "kv_bytes_per_token_bf16": int(arch.kv_bytes_per_token("bf16")),
    }


def _format_cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def _format_value(key: str, value: object) -> str:
    """Render one field for the text output; per-layer lists become run-length summaries."""
    if isinstance(value, list):
        return f"{_summarize_layers(value)} ({len(value)} layers)"
    if isinstance(value, float) and key.startswith("weight_gib"):
        return f"{value:.2f} GiB"
    is_count = isinstance(value, int) and not isinstance(value, bool)
    if is_count and (key.endswith("_params") or key.startswith("params_")):
        return f"{value:,} ({value / 1e9:.3f} B)"
    if isinstance(value, float):
        return f"{value:,.0f}" if value.is_integer() else f"{value:,.2f}"
    return str(value)


def _summarize_layers(kinds: list[str]) -> str:
    """Summarize per-layer kinds: a repeating pattern as "[sliding, full] x18", else runs."""
    count = len(kinds)
    for period in range(1, min(count, 8) + 1):
        if count % period == 0 and kinds == kinds[:period] * (count // period):
            if period == 1:
                return f"{kinds[0]} x{count}"
            return f"[{', '.join(kinds[:period])}] x{count // period}"
    return ", ".join(f"{kind} x{len(list(group))}" for kind, group in groupby(kinds))


