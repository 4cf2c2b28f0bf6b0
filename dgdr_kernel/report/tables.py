"""Tables of one profiling run for the notebook and the report (pandas DataFrames)."""

from __future__ import annotations

import pandas as pd

from dgdr_kernel.picking import explain_rank
from dgdr_kernel.report.summary import describe_pick_short
from dgdr_kernel.request import SlaTargets
from dgdr_kernel.selection import Pick, Selection

__all__ = [
    "alternatives_table",
    "format_yaml_value",
    "hardware_table",
    "model_table",
    "reject_reason_counts",
    "request_table",
    "sweep_overview",
]


def _flatten(prefix: str, value, rows: list[tuple[str, object]]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), item, rows)
    else:
        rows.append((prefix, value))


def request_table(loaded) -> pd.DataFrame:
    """Return every DGDR field with its value and whether a default filled it."""
    from dgdr_kernel.spec import default_paths_in_document, to_document

    document = to_document(loaded)
    defaults = default_paths_in_document(loaded)
    rows: list[tuple[str, object]] = []
    _flatten("", {"metadata": document["metadata"], "spec": document["spec"]}, rows)
    table = pd.DataFrame(rows, columns=["field", "value"])
    table["value"] = table["value"].map(format_yaml_value)
    table["default applied"] = [
        "yes" if any(field == path or field.startswith(path + ".") for path in defaults) else ""
        for field in table["field"]
    ]
    return table.set_index("field")


def format_yaml_value(value) -> str:
    """Return a DGDR value as YAML writes it: `true`, `null`, `10` for 10.0, lists in flow style.

    Strings stay unquoted so that a model id or an image reads as typed.
    """
    import yaml

    if isinstance(value, str):
        return value
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = yaml.safe_dump(value, default_flow_style=True, sort_keys=False, width=10**6).strip()
    # A scalar document ends with the explicit end marker.
    return text.removesuffix("...").strip()


def _dense_throughput(dense_tflops: dict) -> str:
    """Return each precision's dense peak with its unit: TOP/s for int8 (integer ops), TFLOP/s for the rest."""
    parts = []
    for precision, peak in dense_tflops.items():
        unit = "TOP/s" if precision == "int8" else "TFLOP/s"
        parts.append(f"{precision} {peak:g} {unit}")
    return ", ".join(parts)


def hardware_table(request) -> pd.DataFrame:
    """Return the resolved hardware and the SKU's catalog numbers, with their sources."""
    hardware = request.hardware
    gpu = hardware.gpu
    sources = hardware.sources
    rows = [
        ("GPU SKU", gpu.sku, sources.get("gpu", "")),
        ("memory per GPU (MiB)", hardware.vram_mib, sources.get("vram_mib", "")),
        ("GPUs per node", hardware.num_gpus_per_node, sources.get("num_gpus_per_node", "")),
        ("GPU budget (totalGpus)", hardware.total_gpus, sources.get("total_gpus", "")),
        ("interconnect", hardware.interconnect, sources.get("interconnect", "")),
        ("HBM bandwidth (GB/s)", gpu.hbm_gb_per_s, "catalog"),
        ("dense tensor-core peak per GPU by precision", _dense_throughput(gpu.dense_tflops), "catalog"),
        ("intra-node link", f"{gpu.intra_node_link}, {gpu.intra_node_gb_per_s:g} GB/s per GPU per direction", "catalog"),
        ("inter-node bandwidth (GB/s per GPU per direction)", gpu.inter_node_gb_per_s, "catalog"),
    ]
    table = pd.DataFrame(rows, columns=["quantity", "value", "source"])
    table["value"] = table["value"].map(str)
    return table.set_index("quantity")


def model_table(arch) -> pd.DataFrame:
    """Return the model architecture fields the performance model uses."""
    rows = [
        ("model", arch.model_id),
        ("architecture", arch.architecture),
        ("layers", arch.num_layers),
        ("hidden size", arch.hidden_size),
        ("attention heads / KV heads", f"{arch.num_attention_heads} / {arch.num_kv_heads}"),
        ("weight dtype", arch.weight_dtype + (f" ({arch.quant_method})" if arch.quant_method else "")),
        ("parameters (billions)", f"{arch.total_params / 1e9:.1f}"),
        ("active parameters per token (billions)", f"{arch.active_params / 1e9:.1f}"),
        ("weights (GiB)", f"{arch.weight_bytes() / 2**30:.1f}"),
        ("max context (tokens)", arch.max_position_embeddings),
    ]
    if arch.is_moe:
        rows.append(("experts (routed, per token, shared)", f"{arch.num_experts}, {arch.num_experts_per_token}, {arch.num_shared_experts}"))
    if arch.is_mla:
        rows.append(("attention", f"MLA, KV LoRA rank {arch.kv_lora_rank}"))
    table = pd.DataFrame(rows, columns=["field", "value"])
    table["value"] = table["value"].map(str)
    return table.set_index("field")


def sweep_overview(candidates: pd.DataFrame) -> pd.DataFrame:
    """Count candidates per mode and backend: evaluated, fitting, eligible; best eligible tokens/s/GPU."""
    reasons = candidates["reject_reason"].fillna("").astype(str)
    frame = candidates.assign(eligible=reasons == "", fits_memory=candidates["fits"].astype(bool))
    grouped = frame.groupby(["mode", "backend"], sort=True)
    overview = pd.DataFrame(
        {
            "candidates": grouped.size(),
            "fit in memory": grouped["fits_memory"].sum().astype(int),
            "meet SLA (means) and budget": grouped["eligible"].sum().astype(int),
            "best eligible tokens/s/GPU": grouped.apply(
                lambda group: group.loc[group["eligible"], "tokens_per_s_per_gpu"].max(), include_groups=False
            ).round(1),
        }
    )
    return overview


def reject_reason_counts(candidates: pd.DataFrame) -> pd.DataFrame:
    """Count candidates per reject reason (empty reason: eligible)."""
    reasons = candidates["reject_reason"].fillna("").astype(str).replace("", "eligible")
    return reasons.value_counts().rename_axis("reason").to_frame("candidates")


def _reason_against(rank: int, pick: Pick, chosen: Pick, picking_mode: str, sla: SlaTargets | None) -> str:
    if rank == 1:
        return {
            "default": "chosen: highest tokens/s/GPU over the whole budget under the SLA",
            "load_match": "chosen: fewest GPUs that serve the target load under the SLA",
            "autoscale": "chosen: best prefill and decode engines for the planner",
        }.get(picking_mode, "chosen")

    if sla is not None:
        return explain_rank(pick, chosen, picking_mode, sla)

    # Without the SLA targets the deciding key is unknown, so name the visible losses.
    reasons = []
    if not pick.meets_sla:
        reasons.append("misses the SLA (means)")
    if picking_mode == "load_match" and pick.total_gpus > chosen.total_gpus:
        reasons.append(f"needs {pick.total_gpus} GPUs against {chosen.total_gpus}")
    if chosen.tokens_per_s_per_gpu > 0 and pick.tokens_per_s_per_gpu < chosen.tokens_per_s_per_gpu:
        loss = 100.0 * (1.0 - pick.tokens_per_s_per_gpu / chosen.tokens_per_s_per_gpu)
        reasons.append(f"{loss:.1f}% fewer tokens/s/GPU" if loss < 10 else f"{loss:.0f}% fewer tokens/s/GPU")
    if not reasons:
        reasons.append("ranked lower by the picking mode's order")
    return "; ".join(reasons)


def alternatives_table(selection: Selection, sla: SlaTargets | None = None, *, osl: int | None = None) -> pd.DataFrame:
    """Return the ranked top picks with their predicted means and why each ranks where it does.

    With the request's `sla`, each alternative names the ranking key that put it
    below rank 1 (for example "same tokens/s/GPU; 7 ms higher TTFT"). With the
    request's `osl` at 1, ITL and tokens/s/user read "n/a": one output token has neither.
    """
    itl_applies = osl is None or osl > 1
    rows = []
    chosen = selection.chosen
    for rank, pick in enumerate(selection.top, start=1):
        rows.append(
            {
                "rank": rank,
                "configuration": describe_pick_short(pick),
                "GPUs": pick.total_gpus,
                "mean TTFT (ms)": round(pick.ttft_ms, 1),
                "mean ITL (ms)": round(pick.itl_ms, 2) if itl_applies else "n/a",
                "tokens/s/user": round(pick.tokens_per_s_per_user, 1) if itl_applies else "n/a",
                "tokens/s/GPU": round(pick.tokens_per_s_per_gpu, 1),
                "meets SLA (means)": "yes" if pick.meets_sla else "no",
                "provenance": pick.provenance,
                "why": _reason_against(rank, pick, chosen or pick, selection.picking_mode, sla),
            }
        )
    columns = ["rank", "configuration", "GPUs", "mean TTFT (ms)", "mean ITL (ms)", "tokens/s/user",
               "tokens/s/GPU", "meets SLA (means)", "provenance", "why"]  # fmt: skip
    return pd.DataFrame(rows, columns=columns).set_index("rank")
