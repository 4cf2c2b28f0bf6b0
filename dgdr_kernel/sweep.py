"""The sweep: price every sensible serving configuration of a resolved request.

`run_sweep` returns the candidate table (one row per mode x backend x
parallel layout x batch, columns in `CANDIDATE_COLUMNS`). Aggregated rows come
from one worker at each batch of the decode grid. Disaggregated rows pair
every prefill engine with every decode engine and batch, and size the unit by
xPyD rate matching. Layouts that do not fit in memory stay in the table with
`fits = False` and no metrics, so picking can report why they were rejected.

The performance model is called once per backend and role on arrays of
candidates; the only Python loops run over backends and worker widths.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from dgdr_kernel.errors import PerfModelError
from dgdr_kernel.queueing import mdc_wait_ms
from dgdr_kernel.rate_matching import allowed_unit_gpus, match_rates
from dgdr_kernel.search_space import LAYOUT_COLUMNS, batch_grid, enumerate_layouts, worker_gpu_counts

__all__ = ["CANDIDATE_COLUMNS", "disagg_ttft_ms", "naive_candidates", "run_sweep"]

logger = logging.getLogger(__name__)

CANDIDATE_COLUMNS = [
    "mode", "backend", "parallel",
    "p_tp", "p_pp", "p_dp", "p_moe_tp", "p_moe_ep", "p_workers", "p_gpus_per_worker", "p_batch",
    "d_tp", "d_pp", "d_dp", "d_moe_tp", "d_moe_ep", "d_workers", "d_gpus_per_worker", "d_batch",
    "gpus_per_unit", "replicas", "total_gpus", "concurrency",
    "ttft_ms", "itl_ms", "request_latency_ms",
    "tokens_per_s_per_user", "tokens_per_s_per_gpu", "tokens_per_s_per_gpu_cluster", "requests_per_s",
    "kv_capacity_tokens", "weights_gib_per_gpu", "kv_cache_gib_per_gpu", "reserve_gib_per_gpu",
    "fits", "meets_sla", "reject_reason", "provenance",
    # Per-role figures of disagg rows, used by autoscale picking and the planner.
    "prefill_ttft_ms", "prefill_queue_ms", "prefill_requests_per_s_per_worker",
    "decode_requests_per_s_per_worker", "kv_transfer_ms",
]  # fmt: skip

# Batch the naive fallback configures, as the upstream naive generator does.
_NAIVE_MAX_BATCH = 128


def run_sweep(request) -> pd.DataFrame:
    """Price every candidate of `request` for each of its backends; return the candidate table.

    A backend the performance model cannot price is skipped with a warning.
    When no backend can be priced, the table contains the naive fallback row
    and a warning is added to `request.warnings`.
    """
    from dgdr_kernel.perf import PerfModel

    parts = []
    unpriced = []
    for backend in request.backends:
        try:
            perf_model = PerfModel(request.arch, request.gpu, backend)
        except PerfModelError as error:
            logger.warning("backend %s cannot be priced on %s: %s", backend, request.gpu.sku, error)
            unpriced.append(f"{backend}: {error}")
            continue
        parts += sweep_backend(request, perf_model, backend)

    if not parts:
        backend = "vllm" if "vllm" in request.backends else request.backends[0]
        reason = "; ".join(unpriced)
        request.warnings.append(
            f"the performance model cannot price {request.arch.model_id} on {request.gpu.sku} ({reason}); "
            "falling back to the naive aggregated configuration, sized by memory only"
        )
        return naive_candidates(request, backend)
    return _build_table(parts, request.osl)


def sweep_backend(request, perf_model, backend: str) -> list[dict]:
    """Return the agg and (with at least 2 GPUs) disagg rows of one backend, as column dicts."""
    layouts = fitting_layouts(request, perf_model, backend)
    parts = [agg_rows(request, perf_model, layouts), _unfit_rows(layouts, "agg")]
    if request.total_gpus >= 2:
        parts += [disagg_rows(request, perf_model, backend, layouts), _unfit_rows(layouts, "disagg")]
    for part in parts:
        part["backend"] = backend
        part["provenance"] = perf_model.provenance
    return parts


def fitting_layouts(request, perf_model, backend: str) -> dict[str, np.ndarray]:
    """Return the valid layouts (column name -> array) with their memory figures, `max_batch` and `fits`.

    Workers wider than one NVLink domain are tried only when no layout fits
    within one.
    """

    def evaluate(multi_node: bool) -> dict[str, np.ndarray]:
        counts = worker_gpu_counts(
            request.total_gpus, request.hardware.num_gpus_per_node, request.gpu.sku, multi_node=multi_node
        )
        frame = enumerate_layouts(request.arch, backend, counts)
        model_reasons = np.asarray(perf_model.validate_layout(_layout_of(frame)), dtype=object)
        reasons = np.where(frame["invalid_reason"] == "", model_reasons, frame["invalid_reason"])
        for reason in set(reasons) - {""}:
            logger.debug("%s: layouts skipped: %s", backend, reason)
        valid = reasons == ""
        layouts = {column: frame[column].to_numpy()[valid] for column in (*LAYOUT_COLUMNS, "parallel", "gpus_per_worker")}
        if not valid.any():
            return layouts

        layout = _layout_of(layouts)
        memory = perf_model.memory(layout)
        size = int(valid.sum())
        for name in ("weights_gib_per_gpu", "kv_cache_gib_per_gpu", "reserve_gib_per_gpu", "kv_capacity_tokens"):
            layouts[name] = _values(memory, name, size)
        layouts["max_batch"] = np.asarray(perf_model.max_batch(layout, request.isl, request.osl), dtype=np.int64)
        layouts["fits"] = _values(memory, "fits", size).astype(bool) & (layouts["max_batch"] >= 1)
        return layouts

    layouts = evaluate(multi_node=False)
    if not layouts.get("fits", np.zeros(0, dtype=bool)).any():
        wider = evaluate(multi_node=True)
        if wider.get("fits", np.zeros(0, dtype=bool)).any():
            logger.info("%s does not fit in one node; trying multi-node workers", request.arch.model_id)
            layouts = wider
    if len(layouts["tp"]) == 0:
        raise PerfModelError(
            f"no parallel layout of {request.arch.model_id} is valid on {backend} within "
            f"{request.total_gpus} GPUs (hardware.totalGpus); raise totalGpus or pick another backend"
        )
    return layouts


def agg_rows(request, perf_model, layouts: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Return one agg row per fitting layout and grid batch."""
    fitting = _take(layouts, layouts["fits"])
    index, batch = batch_grid(fitting["max_batch"])
    rows = _take(fitting, index)
    result = perf_model.agg(_layout_of(rows), request.isl, request.osl, batch)

    size = len(batch)
    table = _role_columns(rows, "d")
    table.update(
        mode="agg",
        parallel=rows["parallel"],
        d_workers=1,
        d_batch=batch,
        gpus_per_unit=rows["gpus_per_worker"],
        concurrency=batch.astype(float),
        fits=True,
    )
    for name in ("ttft_ms", "itl_ms", "requests_per_s", "tokens_per_s_per_gpu"):
        table[name] = _values(result, name, size).astype(float)
    _copy_memory(table, rows)
    return table


def disagg_rows(request, perf_model, backend: str, layouts: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Return one disagg row per (prefill layout, decode layout, decode batch) with its xPyD split."""
    fitting = _take(layouts, layouts["fits"])
    count = len(fitting["tp"])

    # Prefill engines: one sequence of `isl` tokens per step and DP rank, as upstream runs them.
    prefill = perf_model.disagg_prefill(_layout_of(fitting), request.isl)
    prefill_ms = _values(prefill, "ttft_ms", count).astype(float)
    prefill_rps = _values(prefill, "requests_per_s", count).astype(float)

    # Decode engines: each layout at every grid batch its KV cache holds.
    d_index, d_batch = batch_grid(fitting["max_batch"])
    decode_rows = _take(fitting, d_index)
    decode = perf_model.disagg_decode(_layout_of(decode_rows), request.isl, request.osl, d_batch)
    decode_itl_ms = _values(decode, "itl_ms", len(d_batch)).astype(float)
    decode_rps = _values(decode, "requests_per_s", len(d_batch)).astype(float)

    # Every prefill engine with every decode engine and batch.
    p_pair, d_pair = np.meshgrid(np.arange(count), np.arange(len(d_batch)), indexing="ij")
    p_pair, d_pair = p_pair.ravel(), d_pair.ravel()
    if backend == "sglang":
        # SGLang's disagg frontend without wide EP needs the same TP on both roles.
        same_tp = fitting["tp"][p_pair] == decode_rows["tp"][d_pair]
        p_pair, d_pair = p_pair[same_tp], d_pair[same_tp]

    match = match_rates(
        prefill_rps[p_pair],
        fitting["gpus_per_worker"][p_pair],
        decode_rps[d_pair],
        decode_rows["gpus_per_worker"][d_pair],
        allowed_unit_gpus(request.total_gpus),
    )
    matched = match.p_workers > 0
    p_pair, d_pair = p_pair[matched], d_pair[matched]
    p_rows = _take(fitting, p_pair)
    d_rows = _take(decode_rows, d_pair)
    x = match.p_workers[matched]
    y = match.d_workers[matched]
    unit_rps = match.requests_per_s[matched]
    unit_gpus = match.gpus[matched]

    transfer_ms = np.asarray(perf_model.kv_transfer_ms(_layout_of(p_rows), _layout_of(d_rows), request.isl), dtype=float)
    transfer_ms = np.broadcast_to(transfer_ms, (len(p_pair),))
    queue_ms, ttft_ms = disagg_ttft_ms(
        prefill_ms=prefill_ms[p_pair],
        prefill_slots=x * p_rows["dp"],
        requests_per_s=unit_rps,
        transfer_ms=transfer_ms,
    )

    table = {**_role_columns(p_rows, "p"), **_role_columns(d_rows, "d")}
    table.update(
        mode="disagg",
        parallel=d_rows["parallel"],
        p_workers=x,
        p_batch=1,
        d_workers=y,
        d_batch=d_batch[d_pair],
        gpus_per_unit=unit_gpus,
        concurrency=(d_batch[d_pair] * y).astype(float),
        prefill_ttft_ms=prefill_ms[p_pair],
        prefill_queue_ms=queue_ms,
        prefill_requests_per_s_per_worker=prefill_rps[p_pair],
        decode_requests_per_s_per_worker=decode_rps[d_pair],
        kv_transfer_ms=transfer_ms,
        ttft_ms=ttft_ms,
        itl_ms=decode_itl_ms[d_pair],
        requests_per_s=unit_rps,
        tokens_per_s_per_gpu=unit_rps * request.osl / unit_gpus,
        fits=True,
    )
    _copy_memory(table, d_rows)
    return table


def disagg_ttft_ms(*, prefill_ms, prefill_slots, requests_per_s, transfer_ms) -> tuple[np.ndarray, np.ndarray]:
    """Return `(queue_ms, ttft_ms)` of a disagg unit serving `requests_per_s`.

    TTFT is the queueing wait of the prefill pool at that load (M/D/c with one
    slot per attention DP rank of each prefill worker), plus the prefill, plus
    the KV transfer. The load is the rate the unit is sized for, so with
    prefill as the bottleneck the pool runs at 90 % utilisation. There the
    queue makes TTFT 5.5x the prefill time for one slot, 2.0x for four and
    1.4x for eight. AIConfigurator applies a flat 1.8x whatever the pool size.
    """
    queue_ms = mdc_wait_ms(requests_per_s, prefill_slots, prefill_ms)
    return queue_ms, prefill_ms + queue_ms + transfer_ms


def naive_candidates(request, backend: str) -> pd.DataFrame:
    """Return the naive fallback row: agg, TP sized by memory, no predicted metrics.

    TP (or TEP/DEP for MoE) is the smallest power of two whose VRAM exceeds
    1.5 x the bf16 weights, capped at one node and the budget (`fits` is False
    when the cap binds). MLA MoE models use DEP, other MoE models TEP.
    """
    arch = request.arch
    weights_bytes = float(arch.weight_bytes("bf16"))
    vram_bytes = request.hardware.vram_mib * 2**20
    cap = max(1, min(request.hardware.num_gpus_per_node, request.total_gpus))

    gpus = 1
    while gpus * vram_bytes <= 1.5 * weights_bytes and gpus < cap:
        gpus *= 2
    gpus = min(gpus, cap)
    fits = gpus * vram_bytes > 1.5 * weights_bytes

    if not arch.is_moe:
        layout = dict(tp=gpus, dp=1, moe_tp=1, moe_ep=1, parallel=f"tp{gpus}")
    elif arch.is_mla:
        layout = dict(tp=1, dp=gpus, moe_tp=1, moe_ep=gpus, parallel=f"dep{gpus}")
    else:
        layout = dict(tp=gpus, dp=1, moe_tp=1, moe_ep=gpus, parallel=f"tep{gpus}")

    row = {
        "mode": "agg",
        "backend": backend,
        "parallel": layout["parallel"],
        "d_tp": layout["tp"],
        "d_pp": 1,
        "d_dp": layout["dp"],
        "d_moe_tp": layout["moe_tp"],
        "d_moe_ep": layout["moe_ep"],
        "d_workers": 1,
        "d_gpus_per_worker": gpus,
        "d_batch": _NAIVE_MAX_BATCH,
        "gpus_per_unit": gpus,
        "weights_gib_per_gpu": weights_bytes / gpus / 2**30,
        "fits": fits,
        "provenance": "naive",
    }
    return _build_table([row], request.osl)


def _layout_of(columns):
    from dgdr_kernel.perf import Layout

    return Layout(*(np.asarray(columns[column]) for column in LAYOUT_COLUMNS))


def _take(columns: dict[str, np.ndarray], index: np.ndarray) -> dict[str, np.ndarray]:
    return {name: values[index] for name, values in columns.items()}


def _values(result, name: str, size: int) -> np.ndarray:
    """Read `name` from a perf-model result (attribute or mapping) as an array of `size`."""
    value = result[name] if isinstance(result, dict) else getattr(result, name)
    return np.broadcast_to(np.asarray(value), (size,))


def _role_columns(rows: dict[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    table = {f"{prefix}_{column}": rows[column] for column in LAYOUT_COLUMNS}
    table[f"{prefix}_gpus_per_worker"] = rows["gpus_per_worker"]
    return table


def _copy_memory(table: dict, rows: dict[str, np.ndarray]) -> None:
    for name in ("kv_capacity_tokens", "weights_gib_per_gpu", "kv_cache_gib_per_gpu", "reserve_gib_per_gpu"):
        table[name] = rows[name]


def _unfit_rows(layouts: dict[str, np.ndarray], mode: str) -> dict[str, np.ndarray]:
    """Return one metric-less row per layout that does not fit, so picking can report it."""
    unfit = _take(layouts, ~layouts["fits"])
    table = _role_columns(unfit, "d")
    table.update(mode=mode, parallel=unfit["parallel"], d_workers=1, gpus_per_unit=unfit["gpus_per_worker"], fits=False)
    _copy_memory(table, unfit)
    return table


def _build_table(parts: list[dict], osl: int) -> pd.DataFrame:
    """Join column dicts into one table with the columns of `CANDIDATE_COLUMNS`.

    Scalars are repeated to each part's length; columns a part lacks are missing values.
    """
    sizes = [len(part["gpus_per_unit"]) if np.ndim(part["gpus_per_unit"]) else 1 for part in parts]
    columns = {}
    for name in CANDIDATE_COLUMNS:
        pieces = []
        for part, size in zip(parts, sizes):
            value = part.get(name, np.nan)
            pieces.append(np.broadcast_to(np.asarray(value), (size,)) if np.ndim(value) == 0 else np.asarray(value))
        columns[name] = np.concatenate(pieces) if pieces else np.array([])
    table = pd.DataFrame(columns)

    # Derived columns and the picking stage's columns.
    table["request_latency_ms"] = table["ttft_ms"] + table["itl_ms"] * (osl - 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        table["tokens_per_s_per_user"] = 1000.0 / table["itl_ms"]
    table["fits"] = table["fits"].astype(bool)
    table["meets_sla"] = False
    table["reject_reason"] = ""
    return table
