"""Measured serving rows: map a benchmark CSV onto models, GPUs and layouts, and predict each row.

The CSV format is that of ``measured_serving.csv`` (one row per measured
serving point: engine, model, precision, gpu, layout, ISL, OSL, concurrency,
TTFT and TPOT, with the AIConfigurator layout in `notes`). Rows that cannot be
mapped or predicted keep a reason instead of a prediction.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from dgdr_kernel.errors import DgdrError, PerfModelError
from dgdr_kernel.perf.layout import Layout
from dgdr_kernel.perf.model import PerfModel

__all__ = ["REQUIRED_COLUMNS", "read_measured", "map_rows", "predict_rows", "infer_disagg_workers", "GPU_NAMES", "MODEL_LABELS", "DECODE_MAX_BATCH"]

REQUIRED_COLUMNS = ("engine", "model", "precision", "gpu", "tp", "pp", "ep", "isl", "osl", "concurrency", "ttft_ms_mean", "tpot_ms_mean", "notes")

# GPU names used by benchmark write-ups -> catalog SKU (None: not in the catalog).
GPU_NAMES = {
    "H100-SXM": "h100_sxm",
    "H100-SXM-80GB": "h100_sxm",
    "H200-SXM": "h200_sxm",
    "H200-SXM-141GB": "h200_sxm",
    "B200-SXM": "b200_sxm",
    "B200-180GB": "b200_sxm",
    "GB200-192GB (NVL72)": "gb200",
    "L40S": "l40s",
}

ENGINE_NAMES = {"tensorrt-llm": "trtllm", "trtllm": "trtllm", "vllm": "vllm", "sglang": "sglang"}

# Model labels of benchmark tables -> HuggingFace id of the shipped config.
MODEL_LABELS = {
    "GPT-J-6B": "EleutherAI/gpt-j-6b",
    "Llama-2-7B": "meta-llama/Llama-2-7b-hf",
    "Llama-2-70B": "meta-llama/Llama-2-70b-hf",
    "Mistral-7B": "mistralai/Mistral-7B-v0.1",
    "Mixtral-8x7B": "mistralai/Mixtral-8x7B-Instruct-v0.1",
    "Falcon-180B": "tiiuae/falcon-180B",
    "Llama-3.1-8B-Instruct": "meta-llama/Llama-3.1-8B-Instruct",
    "Llama-3.1-405B-Instruct": "meta-llama/Llama-3.1-405B-Instruct",
    "Llama-3.3-70B-Instruct": "meta-llama/Llama-3.3-70B-Instruct",
    "Llama-4-Maverick-17B-128E-Instruct": "meta-llama/Llama-4-Maverick-17B-128E-Instruct",
    "Llama-4-Scout-17B-16E-Instruct": "meta-llama/Llama-4-Scout-17B-16E-Instruct",
    "Qwen3-235B-A22B": "Qwen/Qwen3-235B-A22B",
    "Qwen3-30B-A3B": "Qwen/Qwen3-30B-A3B",
}

# Largest batch one decode worker runs: AIConfigurator's decode_max_batch_size
# (512, the top of the decode batch grid in dgdr_kernel/search_space.py).
DECODE_MAX_BATCH = 512

PRECISIONS = {"fp16": "fp16", "bf16": "bf16", "fp8": "fp8", "fp4": "fp4", "nvfp4": "fp4", "mxfp4": "fp4"}


def read_measured(path) -> pd.DataFrame:
    """Read a measured-serving CSV and check it has the columns the predictions need."""
    try:
        frame = pd.read_csv(path)
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as error:
        raise PerfModelError(f"cannot read measured CSV {path}: {error}") from error
    missing = [column for column in REQUIRED_COLUMNS if column not in frame.columns]
    if missing:
        raise PerfModelError(f"measured CSV {path} lacks the columns {', '.join(missing)}; required: {', '.join(REQUIRED_COLUMNS)}")
    return frame


def _int_or(value, default):
    try:
        number = int(float(value))
    except (TypeError, ValueError):
        return default
    return number if number > 0 else default


def _parse_role(text: str) -> dict:
    """Parse ``tp_size=8 pp_size=1 attention_dp_size=1 moe_tp_size=1 moe_ep_size=8 num_workers=2`` into a dict."""
    values = dict(re.findall(r"(\w+)=(\S*)", text))
    return {
        "tp": _int_or(values.get("tp_size"), 1),
        "pp": _int_or(values.get("pp_size"), 1),
        "dp": _int_or(values.get("attention_dp_size"), 1),
        "moe_tp": _int_or(values.get("moe_tp_size"), 0),
        "moe_ep": _int_or(values.get("moe_ep_size"), 1),
        "workers": _int_or(values.get("num_workers"), 0),
    }


def _agg_layout(row, notes: str) -> dict:
    """Return the agg layout: from `notes` when it lists one, else from the tp/pp/ep columns."""
    values = dict(re.findall(r"\b(tp|pp|attention_dp|moe_tp|moe_ep)=(\S+)", notes))
    if values:
        return {
            "tp": _int_or(values.get("tp"), 1),
            "pp": _int_or(values.get("pp"), 1),
            "dp": _int_or(values.get("attention_dp"), 1),
            "moe_tp": _int_or(values.get("moe_tp"), 0),
            "moe_ep": _int_or(values.get("moe_ep"), 1),
        }
    return {"tp": _int_or(row["tp"], 1), "pp": _int_or(row["pp"], 1), "dp": 1, "moe_tp": 0, "moe_ep": _int_or(row["ep"], 1)}


def _complete_moe(layout: dict, is_moe: bool) -> dict:
    """Fill moe_tp so that tp * dp == moe_tp * moe_ep (dense models: 1 and 1)."""
    layout = dict(layout)
    if not is_moe:
        layout["moe_tp"], layout["moe_ep"] = 1, 1
        return layout
    gpus = layout["tp"] * layout["dp"]
    if layout["moe_tp"] < 1 or layout["moe_tp"] * layout["moe_ep"] != gpus:
        layout["moe_tp"] = max(gpus // max(layout["moe_ep"], 1), 1)
    return layout


def map_rows(frame: pd.DataFrame, resolve_model, get_gpu) -> pd.DataFrame:
    """Return one row per CSV row with the mapped model, SKU, backend, dtype, mode, layouts and measured values.

    `resolve_model(model_id)` and `get_gpu(sku)` are the model and GPU
    lookups; a row whose model, GPU, engine or layout cannot be mapped has a
    non-empty `reason`.
    """
    records = []
    arch_cache: dict = {}
    for index, row in frame.iterrows():
        notes = str(row["notes"]) if pd.notna(row["notes"]) else ""
        record = {"row": index, "model_label": row["model"], "gpu_label": row["gpu"], "engine_label": row["engine"], "precision": row["precision"], "reason": "", "assumption": ""}
        ttft = row["ttft_ms_mean"] if pd.notna(row["ttft_ms_mean"]) else row.get("ttft_ms_p50", np.nan)
        tpot = row["tpot_ms_mean"] if pd.notna(row["tpot_ms_mean"]) else row.get("itl_ms_mean", np.nan)
        record.update(measured_ttft_ms=float(ttft) if pd.notna(ttft) else np.nan, measured_itl_ms=float(tpot) if pd.notna(tpot) else np.nan)
        record.update(isl=float(row["isl"]), osl=float(row["osl"]), concurrency=float(row["concurrency"]) if pd.notna(row["concurrency"]) else np.nan)
        record["mode"] = "disagg" if re.search(r"(^|;\s*)disagg(;|$)", notes) else "agg"
        # gptSessionBenchmark runs one static batch without a server: its
        # first-token latency is one prefill pass of the batch.
        record["harness"] = "static" if ("gptSessionBenchmark" in notes or "static batching" in notes) else "closed_loop"
        records.append(record)

        def reject(reason):
            record["reason"] = reason

        if np.isnan(record["measured_ttft_ms"]) and np.isnan(record["measured_itl_ms"]):
            reject("no TTFT or TPOT measured (throughput-only row)")
            continue
        if "static batching" in notes and record["osl"] > 1:
            reject("static batching run: no closed-loop latency to compare")
            continue
        if np.isnan(record["concurrency"]) and record["mode"] == "disagg":
            # A disagg row may state the decode batch and worker count instead.
            decode_text = re.search(r"decode:([^;]*)", notes)
            decode_values = dict(re.findall(r"(\w+)=(\S*)", decode_text.group(1))) if decode_text else {}
            decode_batch = _int_or(decode_values.get("batch_size"), 0)
            decode_workers = _int_or(decode_values.get("num_workers"), 0)
            if decode_batch and decode_workers:
                record["concurrency"] = float(decode_batch * decode_workers)
                record["assumption"] = "concurrency not stated: decode batch_size x decode workers assumed"
        if np.isnan(record["concurrency"]):
            reject("no concurrency stated")
            continue

        sku = GPU_NAMES.get(str(row["gpu"]))
        if sku is None:
            reject(f"GPU {row['gpu']!r} is not in the GPU catalog")
            continue
        backend = ENGINE_NAMES.get(str(row["engine"]).lower())
        if backend is None:
            reject(f"engine {row['engine']!r} is not one of vllm, sglang, trtllm")
            continue
        dtype = PRECISIONS.get(str(row["precision"]).lower()) if pd.notna(row["precision"]) else "checkpoint"
        if dtype is None:
            reject(f"precision {row['precision']!r} is not one of {', '.join(PRECISIONS)}")
            continue
        model_id = MODEL_LABELS.get(str(row["model"]), str(row["model"]))
        if model_id not in arch_cache:
            try:
                arch_cache[model_id] = resolve_model(model_id)
            except DgdrError as error:
                arch_cache[model_id] = error
        arch = arch_cache[model_id]
        if isinstance(arch, Exception):
            reject(f"model {row['model']!r} ({model_id}) has no config: {arch}")
            continue
        try:
            get_gpu(sku)
        except DgdrError as error:
            reject(f"GPU SKU {sku} is not in the catalog: {error}")
            continue

        record.update(model_id=model_id, sku=sku, backend=backend, weight_dtype=dtype)
        if dtype == "checkpoint":
            note = "precision not stated: the checkpoint's dtype assumed"
            record["assumption"] = f"{record['assumption']}; {note}" if record["assumption"] else note
        if record["mode"] == "agg":
            layout = _agg_layout(row, notes)
            named = re.search(r"_tp(\d+)(?:_0)?_ep(\d+)(?:_0)?_", notes)
            stored_gpus = layout["tp"] * layout["dp"]
            if arch.is_moe and named and layout["moe_tp"] > 1 and int(named.group(1)) != stored_gpus and stored_gpus == int(named.group(1)) * int(named.group(2)):
                # Some rows store tp or attention_dp as moe_tp * moe_ep (64 for an
                # 8-GPU run). The row id names the launch flags (--tp N --ep M).
                gpus, moe_ep = int(named.group(1)), int(named.group(2))
                if layout["dp"] > 1:
                    layout.update(tp=1, dp=gpus, moe_ep=moe_ep, moe_tp=0)
                else:
                    layout.update(tp=gpus, moe_ep=moe_ep, moe_tp=0)
                record["assumption"] = "layout fields disagree with the row id: GPUs, tp and ep taken from the row id"
            record.update({f"d_{key}": value for key, value in _complete_moe(layout, arch.is_moe).items()})
        else:
            prefill = re.search(r"prefill:([^;]*)", notes)
            decode = re.search(r"decode:([^;]*)", notes)
            if not (prefill and decode):
                reject("disagg row without prefill and decode layouts in notes")
                continue
            p_role, d_role = _parse_role(prefill.group(1)), _parse_role(decode.group(1))
            # Rows without worker counts get them inferred in `predict_rows`,
            # which has the model to size them (see `infer_disagg_workers`).
            record["workers_stated"] = bool(p_role["workers"] and d_role["workers"])
            record.update({f"p_{key}": value for key, value in _complete_moe(p_role, arch.is_moe).items()})
            record.update({f"d_{key}": value for key, value in _complete_moe(d_role, arch.is_moe).items()})
            record["p_workers"] = max(p_role["workers"], 1)
            record["d_workers"] = max(d_role["workers"], 1)
    mapped = pd.DataFrame.from_records(records)
    mapped.attrs["archs"] = {key: value for key, value in arch_cache.items() if not isinstance(value, Exception)}
    return mapped


def infer_disagg_workers(model: PerfModel, prefill_layout: Layout, decode_layout: Layout, isl, osl, concurrency):
    """Return (prefill workers, decode workers) sized for `concurrency` the way a deployment would be.

    Decode: the fewest workers that hold every in-flight request, each at
    most min(its KV capacity at isl + osl, `DECODE_MAX_BATCH`) requests.
    Prefill: the fewest workers whose prefill rate covers the decode
    workers' request rate, with the throughput degradations of the sweep's
    x:y rate matching (`dgdr_kernel.rate_matching`).
    """
    from dgdr_kernel.rate_matching import DECODE_DEGRADATION, PREFILL_DEGRADATION

    concurrency = np.maximum(np.asarray(concurrency, dtype=float), 1.0)
    capacity = model.max_batch(decode_layout, isl, osl).astype(float)
    batch_cap = np.clip(capacity, 1.0, DECODE_MAX_BATCH)
    decode_workers = np.ceil(concurrency / batch_cap)
    decode = model.disagg_decode(decode_layout, isl, osl, concurrency / decode_workers)
    prefill = model.disagg_prefill(prefill_layout, isl)
    needed = DECODE_DEGRADATION * decode_workers * decode.requests_per_s / (PREFILL_DEGRADATION * prefill.requests_per_s)
    prefill_workers = np.maximum(np.ceil(np.nan_to_num(needed, nan=1.0)), 1.0)
    return prefill_workers, decode_workers


def _layout(group: pd.DataFrame, prefix: str) -> Layout:
    return Layout(*(group[f"{prefix}_{key}"].to_numpy(dtype=np.int64) for key in ("tp", "pp", "dp", "moe_tp", "moe_ep")))


def predict_rows(mapped: pd.DataFrame, get_gpu, params_for=None) -> pd.DataFrame:
    """Add `predicted_ttft_ms`, `predicted_itl_ms` and `provenance` to mapped rows.

    One `PerfModel` per (model, SKU, backend, dtype) prices all its rows at
    once. `params_for(sku, backend)` may return parameters to use instead of
    the calibrated ones (the calibration script passes its trial values).
    """
    result = mapped.copy()
    for column in ("predicted_ttft_ms", "predicted_itl_ms"):
        result[column] = np.nan
    result["provenance"] = ""
    archs = mapped.attrs.get("archs", {})
    usable = result[result["reason"] == ""]
    if usable.empty:
        return result

    for (model_id, sku, backend, dtype, mode), group in usable.groupby(["model_id", "sku", "backend", "weight_dtype", "mode"], sort=True):
        params = params_for(sku, backend) if params_for else None
        model = PerfModel(archs[model_id], get_gpu(sku), backend, weight_dtype=None if dtype == "checkpoint" else dtype, params=params)
        decode_layout = _layout(group, "d")
        isl, osl, concurrency = (group[name].to_numpy(dtype=float) for name in ("isl", "osl", "concurrency"))

        reasons = model.validate_layout(decode_layout)
        if mode == "agg":
            prediction = model.agg(decode_layout, isl, osl, concurrency)
            ttft_ms, itl_ms = prediction.ttft_ms, prediction.itl_ms
            static = group["harness"].to_numpy() == "static"
            if static.any():
                # gptSessionBenchmark runs a compiled TensorRT engine from C++, so
                # its prefill has no eager MoE launch cost.
                engine = PerfModel(archs[model_id], get_gpu(sku), backend, weight_dtype=None if dtype == "checkpoint" else dtype, params=model.params.replace(moe_prefill_expert_overhead_us=0.0))
                ttft_ms = np.where(static, engine.prefill_ms(decode_layout, isl, batch=concurrency), ttft_ms)
                itl_ms = np.where(static, model.decode_step_ms(decode_layout, concurrency, isl + osl / 2.0), itl_ms)
            fits = model.memory(decode_layout).fits
        else:
            prefill_layout = _layout(group, "p")
            reasons = np.where(reasons == "", model.validate_layout(prefill_layout), reasons)
            p_workers, d_workers = group["p_workers"].to_numpy(float), group["d_workers"].to_numpy(float)
            stated = group["workers_stated"].to_numpy(bool)
            if not stated.all():
                with np.errstate(divide="ignore", invalid="ignore"):
                    inferred_p, inferred_d = infer_disagg_workers(model, prefill_layout, decode_layout, isl, osl, concurrency)
                p_workers = np.where(stated, p_workers, inferred_p)
                d_workers = np.where(stated, d_workers, inferred_d)
                for index, x, y, known in zip(group.index, p_workers, d_workers, stated):
                    if known:
                        continue
                    note = f"worker counts not stated: {int(x)}P{int(y)}D inferred (decode workers to hold the concurrency, prefill workers rate-matched)"
                    result.loc[index, "assumption"] = f"{result.loc[index, 'assumption']}; {note}" if result.loc[index, "assumption"] else note
            result.loc[group.index, "p_workers"] = p_workers
            result.loc[group.index, "d_workers"] = d_workers
            ttft_ms, itl_ms, _ = model.disagg_closed_loop(prefill_layout, decode_layout, p_workers, d_workers, isl, osl, concurrency)
            fits = model.memory(decode_layout).fits & model.memory(prefill_layout).fits

        reasons = np.where((reasons == "") & ~fits, "layout does not fit in GPU memory by this model", reasons)
        result.loc[group.index, "predicted_ttft_ms"] = np.where(reasons == "", ttft_ms, np.nan)
        result.loc[group.index, "predicted_itl_ms"] = np.where(reasons == "", itl_ms, np.nan)
        result.loc[group.index, "reason"] = reasons
        result.loc[group.index, "provenance"] = model.provenance
    return result
