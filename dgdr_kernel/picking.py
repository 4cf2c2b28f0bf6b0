"""Picking: filter the candidate table by fit, budget and SLA, then rank by the picking mode.

- `default`: maximise cluster throughput per GPU over the whole budget,
  `tokens/s/gpu * floor(B/G) * G / B`, with `floor(B/G)` replicas.
- `load_match`: the fewest GPUs that serve `workload.requestRate` or
  `.concurrency`, capped at `totalGpus` (then the share of load served is
  reported and the rows are ranked by cluster throughput).
- `autoscale`: the best prefill engine and the best decode engine, one worker
  each; the planner scales them at run time (disagg only).

Rows that tie on the mode's keys (and on tokens/s/user, or request latency
in e2eLatency mode) go to the lower TTFT, then the fewer GPUs; throughputs
and latencies are compared to 6 decimals so float noise does not break a tie.
`explain_rank` says which of these keys put an alternative below the pick.

When no row meets the SLA the closest rows are returned instead, ranked by
how far they miss, with `sla_met = False`, a warning and per-pick notes.
Every row that is not eligible gets a `reject_reason`: `does not fit`,
`non-finite prediction`, `over budget`, `misses TTFT`, `misses ITL`,
`misses e2e latency`, or `not disaggregated (autoscale)`.
"""

from __future__ import annotations

import logging
import math

import numpy as np
import pandas as pd

from dgdr_kernel.rate_matching import DECODE_DEGRADATION, PREFILL_DEGRADATION
from dgdr_kernel.replicas import (
    LOAD_POINT_COLUMNS,
    cluster_tokens_per_s_per_gpu,
    default_replicas,
    load_match_replicas,
    operating_point,
)
from dgdr_kernel.request import PickingMode
from dgdr_kernel.selection import EngineLayout, Pick, Selection
from dgdr_kernel.sla_check import sla_miss_ratio, sla_reject_reasons
from dgdr_kernel.sweep import CANDIDATE_COLUMNS, disagg_ttft_ms

__all__ = ["LAYOUT_KEY", "explain_rank", "pick", "ranking_keys"]

logger = logging.getLogger(__name__)

_ROLE_COLUMNS = ("tp", "pp", "dp", "moe_tp", "moe_ep", "workers")

# Rows with the same values here share a layout; top-N keeps the best of each.
LAYOUT_KEY = ["mode", "backend", *(f"p_{c}" for c in _ROLE_COLUMNS), *(f"d_{c}" for c in _ROLE_COLUMNS)]

_METRICS = ["ttft_ms", "itl_ms", "request_latency_ms", "tokens_per_s_per_user", "tokens_per_s_per_gpu", "requests_per_s"]
_TIE_DECIMALS = 6


def ranking_keys(picking_mode: str, *, e2e: bool, sla_met: bool, capped: bool = False) -> list[tuple[str, bool]]:
    """Return the sort keys of a picking mode as (column, ascending), most significant first.

    `capped` is load_match when no row serves the whole load within the budget.
    The mode's own keys come first, then tokens/s/user (request latency in
    e2eLatency mode), then TTFT, then total GPUs; load_match ends with the
    share of capacity the target uses (less first).
    """
    secondary = ("request_latency_ms", True) if e2e else ("tokens_per_s_per_user", False)
    if picking_mode == PickingMode.LOAD_MATCH.value and not capped:
        primary = [("total_gpus", True), ("tokens_per_s_per_gpu", False)]
    elif picking_mode == PickingMode.AUTOSCALE.value:
        primary = [("tokens_per_s_per_gpu", False)]
    else:
        primary = [("tokens_per_s_per_gpu_cluster", False)]
    if not sla_met:
        primary = [("sla_miss", True), *primary]
    keys = [*primary, secondary, ("ttft_ms", True), ("total_gpus", True)]
    if picking_mode == PickingMode.LOAD_MATCH.value and not capped:
        # Rows of one layout sized to the same units predict the same figures
        # at the target; the one with more capacity left over comes first.
        keys.append(("load_used_pct", True))
    return list(dict.fromkeys(keys))


def _sort_ranked(frame: pd.DataFrame, keys: list[tuple[str, bool]]) -> pd.DataFrame:
    columns = [column for column, _ in keys]
    ascending = [ascending for _, ascending in keys]
    return frame.sort_values(columns, ascending=ascending, kind="stable", key=lambda column: column.round(_TIE_DECIMALS))


def pick(request, candidates: pd.DataFrame, top_n: int = 5, *, load_point=None) -> Selection:
    """Pick the serving configuration for `request` from the candidate table.

    Returns a `Selection` whose `candidates` is a copy of the table with
    `replicas`, `total_gpus`, `tokens_per_s_per_gpu_cluster`, `meets_sla` and
    `reject_reason` filled in. An empty or all-NaN table raises nothing:
    `chosen` is None and a warning gives the rejected counts.

    In load_match mode the picks report their metrics at the target load,
    predicted by `load_point(request, rows, replicas)` (default
    `replicas.operating_point`, the performance model); the candidate table
    keeps the capacity figures the sizing used.
    """
    # A hand-made or empty table may lack columns; they read as missing values.
    missing = [column for column in CANDIDATE_COLUMNS if column not in candidates.columns]
    table = candidates.reindex(columns=[*candidates.columns, *missing]).reset_index(drop=True)
    warnings: list[str] = []
    usable = _mark_unusable(table, request.total_gpus)

    sla_reasons = sla_reject_reasons(table, request.sla, request.osl)
    table["meets_sla"] = usable & (sla_reasons == "")
    table["sla_miss"] = sla_miss_ratio(table, request.sla)

    naive = table["provenance"].eq("naive").to_numpy()
    if naive.any() and not (usable & ~naive).any():
        return _pick_naive(request, table, warnings)

    if request.picking_mode == PickingMode.AUTOSCALE:
        ranked, sla_met = _rank_autoscale(request, table, usable, sla_reasons, warnings)
    elif request.picking_mode == PickingMode.LOAD_MATCH:
        ranked, sla_met = _rank_load_match(request, table, usable, sla_reasons, warnings, load_point or operating_point)
    else:
        ranked, sla_met = _rank_default(request, table, usable, sla_reasons)

    table = table.drop(columns="sla_miss")
    if ranked.empty:
        counts = table["reject_reason"].value_counts().to_dict()
        message = f"no feasible configuration: every candidate was rejected ({_format_counts(counts)})"
        if set(counts) == {"does not fit"}:
            message += (
                f". {request.arch.model_id} does not fit in the memory of {request.total_gpus} x {request.gpu.sku}; "
                "raise hardware.totalGpus or use a quantized checkpoint"
            )
        warnings.append(message)
        return Selection(request.picking_mode.value, None, [], table, False, warnings)

    top_rows = ranked.drop_duplicates(subset=LAYOUT_KEY).head(top_n)
    top = [_build_pick(request, row, sla_met) for _, row in top_rows.iterrows()]
    if not sla_met:
        warnings.append(_sla_fallback_warning(request, top[0]))

    chosen = top[0]
    return Selection(
        picking_mode=request.picking_mode.value,
        chosen=chosen,
        top=top,
        candidates=table,
        sla_met=sla_met,
        warnings=warnings,
        resolved_backend=chosen.backend,
    )


def explain_rank(pick_: Pick, chosen: Pick, picking_mode: str, sla) -> str:
    """Say why `pick_` ranks below `chosen`: the ranking keys they share, then the one that decides.

    `sla` is the request's `SlaTargets`. Returns e.g. "same tokens/s/GPU over
    the budget and tokens/s/user; 7 ms higher TTFT".
    """
    capped = picking_mode == PickingMode.LOAD_MATCH.value and chosen.load_served_pct < 100.0
    keys = ranking_keys(picking_mode, e2e=sla.is_e2e, sla_met=chosen.meets_sla, capped=capped)
    same = []
    for column, ascending in keys:
        mine, theirs = _pick_key(pick_, column, sla), _pick_key(chosen, column, sla)
        if round(mine, _TIE_DECIMALS) == round(theirs, _TIE_DECIMALS):
            same.append(_KEY_LABELS[column])
            continue
        worse = mine > theirs if ascending else mine < theirs
        difference = _describe_difference(column, mine, theirs) if worse else f"better {_KEY_LABELS[column]} but a lower rank"
        if not pick_.meets_sla and chosen.meets_sla:
            difference = f"misses the SLA (means); {difference}"
        return f"same {_join_labels(same)}; {difference}" if same else difference
    return f"ties with rank 1 on {_join_labels(same)}; kept in sweep order"


_KEY_LABELS = {
    "sla_miss": "SLA miss",
    "tokens_per_s_per_gpu_cluster": "tokens/s/GPU over the budget",
    "tokens_per_s_per_gpu": "tokens/s/GPU",
    "tokens_per_s_per_user": "tokens/s/user",
    "request_latency_ms": "request latency",
    "ttft_ms": "TTFT",
    "total_gpus": "GPU count",
    "load_used_pct": "share of capacity used",
}


def _pick_key(pick_: Pick, column: str, sla) -> float:
    if column == "sla_miss":
        metrics = pd.DataFrame([{"ttft_ms": pick_.ttft_ms, "itl_ms": pick_.itl_ms, "request_latency_ms": pick_.request_latency_ms}])
        return float(sla_miss_ratio(metrics, sla)[0])
    if column == "tokens_per_s_per_gpu_cluster":
        # Cluster throughput per GPU is tokens/s/GPU x deployed GPUs / budget; the budget is common to all picks.
        return pick_.tokens_per_s_per_gpu * pick_.total_gpus
    return float(getattr(pick_, column))


def _describe_difference(column: str, mine: float, theirs: float) -> str:
    if column == "sla_miss":
        return f"misses the SLA by more ({mine:.0%} over the worst target, against {theirs:.0%})"
    if column in ("ttft_ms", "request_latency_ms"):
        delta = mine - theirs
        text = f"{delta:.0f} ms" if delta >= 1 else f"{delta:.2f} ms"
        return f"{text} higher TTFT" if column == "ttft_ms" else f"{text} longer request latency"
    if column == "load_used_pct":
        return f"less headroom ({mine:.0f}% of its capacity used, against {theirs:.0f}%)"
    if column == "total_gpus":
        return f"{mine - theirs:.0f} more GPUs ({mine:.0f} against {theirs:.0f})"
    loss = 100.0 * (1.0 - mine / theirs) if theirs else 100.0
    amount = f"{loss:.1f}%" if loss < 10 else f"{loss:.0f}%"
    return f"{amount} fewer {_KEY_LABELS[column]}"


def _join_labels(labels: list[str]) -> str:
    return labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " and " + labels[-1]


def _mark_unusable(table: pd.DataFrame, total_gpus: int) -> np.ndarray:
    """Fill `reject_reason` for rows that cannot run at all; return the mask of the others.

    Non-finite predictions are dropped here, before any ranking, so no NaN
    reaches a sort or a group-by.
    """
    fits = table["fits"].fillna(False).to_numpy(dtype=bool)
    finite = np.isfinite(table[_METRICS].to_numpy(dtype=float)).all(axis=1)
    over_budget = table["gpus_per_unit"].to_numpy(dtype=float) > total_gpus

    reasons = np.full(len(table), "", dtype=object)
    reasons[~fits] = "does not fit"
    reasons[fits & ~finite] = "non-finite prediction"
    reasons[fits & finite & over_budget] = "over budget"
    table["reject_reason"] = reasons
    return reasons == ""


def _sla_pool(table: pd.DataFrame, usable: np.ndarray, sla_reasons: np.ndarray) -> tuple[np.ndarray, bool]:
    """Return the rows to rank and whether they meet the SLA; label the SLA misses."""
    meets = usable & (sla_reasons == "")
    misses = usable & ~meets
    table.loc[misses, "reject_reason"] = sla_reasons[misses]
    if meets.any():
        return meets, True
    return usable, False


def _rank_default(request, table, usable, sla_reasons) -> tuple[pd.DataFrame, bool]:
    budget = request.total_gpus
    gpus = table["gpus_per_unit"].to_numpy(dtype=float)
    gpus = np.where(np.isfinite(gpus), gpus, budget + 1).astype(np.int64)
    table["replicas"] = default_replicas(gpus, budget)
    table["total_gpus"] = table["replicas"] * table["gpus_per_unit"]
    table["tokens_per_s_per_gpu_cluster"] = cluster_tokens_per_s_per_gpu(
        table["tokens_per_s_per_gpu"].to_numpy(dtype=float), gpus, budget
    )

    pool, sla_met = _sla_pool(table, usable, sla_reasons)
    keys = ranking_keys(PickingMode.DEFAULT.value, e2e=request.sla.is_e2e, sla_met=sla_met)
    return _sort_ranked(table[pool], keys), sla_met


def _rank_load_match(request, table, usable, sla_reasons, warnings, load_point) -> tuple[pd.DataFrame, bool]:
    """Size each row by its capacity, then rank the rows by their predictions at the target load.

    Sizing follows the upstream rule: `ceil(target / capacity)` units, where
    capacity is the row's own requests/s or concurrency, which must meet the
    SLA. Each unit then gets its share of the target, and `load_point`
    predicts it there. Ranking, the SLA check and the pick use those figures.
    The capacity figures are kept in `capacity_requests_per_s` and
    `capacity_concurrency`.
    """
    budget = request.total_gpus
    gpus = table["gpus_per_unit"].to_numpy(dtype=float)
    gpus = np.where(np.isfinite(gpus), gpus, budget + 1).astype(np.int64)
    needed, capped_replicas, served_pct = load_match_replicas(
        requests_per_s=table["requests_per_s"].to_numpy(dtype=float),
        concurrency=table["concurrency"].to_numpy(dtype=float),
        gpus_per_unit=gpus,
        total_gpus=budget,
        target_request_rate=request.request_rate,
        target_concurrency=request.concurrency,
    )
    table["gpus_needed"] = needed * gpus

    pool, sla_met = _sla_pool(table, usable, sla_reasons)
    within = pool & (needed * gpus <= budget)
    capped = not within.any()
    if not capped:
        table.loc[pool & ~within, "reject_reason"] = "over budget"
        table["replicas"] = needed
        table["load_served_pct"] = 100.0
        pool = within
    else:
        # No configuration serves the whole load within the budget: deploy as
        # many units as fit and rank by how much of the load they serve.
        table["replicas"] = capped_replicas
        table["load_served_pct"] = served_pct
    table["total_gpus"] = table["replicas"] * table["gpus_per_unit"]
    table["tokens_per_s_per_gpu_cluster"] = cluster_tokens_per_s_per_gpu(
        table["tokens_per_s_per_gpu"].to_numpy(dtype=float), gpus, budget
    )

    ranked = table[pool].copy()
    ranked["capacity_requests_per_s"] = ranked["requests_per_s"]
    ranked["capacity_concurrency"] = ranked["concurrency"]
    if not ranked.empty:
        at_target = load_point(request, ranked, ranked["replicas"].to_numpy())
        for column in LOAD_POINT_COLUMNS:
            ranked[column] = at_target[column].to_numpy(dtype=float)
        ranked["request_latency_ms"] = ranked["ttft_ms"] + ranked["itl_ms"] * (request.osl - 1)
        ranked["tokens_per_s_per_user"] = 1000.0 / ranked["itl_ms"]
        # Cluster throughput: what the deployed units produce at the target, per GPU of the budget.
        ranked["tokens_per_s_per_gpu_cluster"] = ranked["tokens_per_s_per_gpu"] * ranked["total_gpus"] / budget
        capacity = ranked["capacity_requests_per_s" if request.request_rate is not None else "capacity_concurrency"]
        target = request.request_rate if request.request_rate is not None else request.concurrency
        ranked["load_used_pct"] = 100.0 * target / (ranked["replicas"] * capacity)
        ranked = _check_sla_at_target(request, table, ranked, sla_met)

    keys = ranking_keys(PickingMode.LOAD_MATCH.value, e2e=request.sla.is_e2e, sla_met=sla_met, capped=capped)
    ranked = _sort_ranked(ranked, keys)
    if capped and not ranked.empty:
        best = ranked.iloc[0]
        target = _format_load(request)
        warnings.append(
            f"no configuration serves {target} within {budget} GPUs (hardware.totalGpus). "
            f"The pick needs {int(best['gpus_needed'])} GPUs for the full load and serves "
            f"{best['load_served_pct']:.0f}% of it. Raise totalGpus or lower the load."
        )
    return ranked.drop(columns="gpus_needed"), sla_met


def _check_sla_at_target(request, table: pd.DataFrame, ranked: pd.DataFrame, sla_met: bool) -> pd.DataFrame:
    """Check the SLA on the at-target predictions too; drop the rows that miss it there when others meet it.

    A row is eligible when it meets the SLA at capacity (its sizing) and at
    the target load (what the pick reports). Non-finite predictions are dropped.
    """
    finite = np.isfinite(ranked[_METRICS].to_numpy(dtype=float)).all(axis=1)
    table.loc[ranked.index[~finite], "reject_reason"] = "non-finite prediction at the target load"
    ranked = ranked[finite]
    reasons = sla_reject_reasons(ranked, request.sla, request.osl)
    ranked = ranked.assign(sla_miss=sla_miss_ratio(ranked, request.sla))
    if not sla_met:
        ranked["meets_sla"] = False
        return ranked
    misses = reasons != ""
    table.loc[ranked.index[misses], "reject_reason"] = [f"{reason} at the target load" for reason in reasons[misses]]
    table.loc[ranked.index[misses], "meets_sla"] = False
    return ranked[~misses]


def _rank_autoscale(request, table, usable, sla_reasons, warnings) -> tuple[pd.DataFrame, bool]:
    """Rank 1P1D units built from the best prefill and decode engines, as a planner will scale them."""
    disagg = usable & table["mode"].eq("disagg").to_numpy()
    if not disagg.any():
        warnings.append(
            "autoscale needs a disaggregated configuration and none is feasible "
            f"(hardware.totalGpus is {request.total_gpus}); picking the best aggregated one instead"
        )
        return _rank_default(request, table, usable, sla_reasons)

    units = _one_prefill_one_decode_units(request, table[disagg])
    units = units[units["gpus_per_unit"] <= request.total_gpus].reset_index(drop=True)
    unit_reasons = sla_reject_reasons(units, request.sla, request.osl)
    units["sla_miss"] = sla_miss_ratio(units, request.sla)
    units["meets_sla"] = unit_reasons == ""
    units["replicas"] = 1
    units["total_gpus"] = units["gpus_per_unit"]
    units["tokens_per_s_per_gpu_cluster"] = units["tokens_per_s_per_gpu"]

    # The table's own rows are labelled as in default mode.
    table.loc[usable, "reject_reason"] = np.where(sla_reasons[usable] == "", "", sla_reasons[usable])
    table.loc[usable & ~disagg, "reject_reason"] = "not disaggregated (autoscale)"
    table["replicas"] = np.where(disagg, 1, 0)
    table["total_gpus"] = table["replicas"] * table["gpus_per_unit"]

    sla_met = bool(units["meets_sla"].any())
    keys = ranking_keys(PickingMode.AUTOSCALE.value, e2e=request.sla.is_e2e, sla_met=sla_met)
    pool = units[units["meets_sla"]] if sla_met else units
    return _sort_ranked(pool, keys), sla_met


def _one_prefill_one_decode_units(request, disagg: pd.DataFrame) -> pd.DataFrame:
    """Cross every distinct prefill engine with every distinct decode engine of one backend, x = y = 1."""
    p_columns = [f"p_{c}" for c in ("tp", "pp", "dp", "moe_tp", "moe_ep", "gpus_per_worker")]
    d_columns = [f"d_{c}" for c in ("tp", "pp", "dp", "moe_tp", "moe_ep", "gpus_per_worker", "batch")]
    prefill = disagg.drop_duplicates(subset=["backend", *p_columns])[
        ["backend", *p_columns, "prefill_ttft_ms", "prefill_requests_per_s_per_worker", "kv_transfer_ms", "provenance"]
    ]
    decode = disagg.drop_duplicates(subset=["backend", *d_columns])[
        ["backend", "parallel", *d_columns, "itl_ms", "decode_requests_per_s_per_worker",
         "kv_capacity_tokens", "weights_gib_per_gpu", "kv_cache_gib_per_gpu", "reserve_gib_per_gpu"]
    ]  # fmt: skip
    units = prefill.merge(decode, on="backend")
    if units.empty:
        return units.assign(**{name: pd.Series(dtype=float) for name in (*_METRICS, "gpus_per_unit", "concurrency")})
    if (units["backend"] == "sglang").any():
        # SGLang's disagg frontend without wide EP needs the same TP on both roles.
        units = units[(units["backend"] != "sglang") | (units["p_tp"] == units["d_tp"])]

    units = units.reset_index(drop=True)
    units["mode"] = "disagg"
    units["p_workers"] = 1
    units["d_workers"] = 1
    units["p_batch"] = 1
    units["fits"] = True
    units["gpus_per_unit"] = units["p_gpus_per_worker"] + units["d_gpus_per_worker"]
    units["requests_per_s"] = np.minimum(
        PREFILL_DEGRADATION * units["prefill_requests_per_s_per_worker"],
        DECODE_DEGRADATION * units["decode_requests_per_s_per_worker"],
    )
    units["prefill_queue_ms"], units["ttft_ms"] = disagg_ttft_ms(
        prefill_ms=units["prefill_ttft_ms"].to_numpy(dtype=float),
        prefill_slots=units["p_dp"].to_numpy(),
        requests_per_s=units["requests_per_s"].to_numpy(dtype=float),
        transfer_ms=units["kv_transfer_ms"].to_numpy(dtype=float),
    )
    units["request_latency_ms"] = units["ttft_ms"] + units["itl_ms"] * (request.osl - 1)
    units["tokens_per_s_per_user"] = 1000.0 / units["itl_ms"]
    units["tokens_per_s_per_gpu"] = units["requests_per_s"] * request.osl / units["gpus_per_unit"]
    units["concurrency"] = units["d_batch"].astype(float)
    return units


def _build_pick(request, row: pd.Series, sla_met: bool) -> Pick:
    replicas = int(row["replicas"])
    meets = bool(row["meets_sla"])
    notes = () if meets else _miss_notes(request, row)

    if row["mode"] == "agg":
        agg = _engine(row, "d", workers=replicas, max_batch=int(row["d_batch"]), max_tokens=request.isl + int(row["d_batch"]))
        prefill = decode = None
    else:
        agg = None
        # The sweep prices a prefill worker as one prompt per attention-DP rank,
        # so it must admit dp requests at once (SGLang splits the limit over ranks).
        prefill = _engine(
            row, "p", workers=replicas * int(row["p_workers"]), max_batch=int(row["p_dp"]) * int(row["p_batch"]),
            max_tokens=request.isl,
        )  # fmt: skip
        decode = _engine(
            row, "d", workers=replicas * int(row["d_workers"]), max_batch=int(row["d_batch"]),
            max_tokens=int(row["d_batch"]),
        )  # fmt: skip

    load_served = row.get("load_served_pct", 100.0)
    return Pick(
        mode=row["mode"],
        backend=row["backend"],
        agg=agg,
        prefill=prefill,
        decode=decode,
        total_gpus=replicas * int(row["gpus_per_unit"]),
        ttft_ms=float(row["ttft_ms"]),
        itl_ms=float(row["itl_ms"]),
        request_latency_ms=float(row["request_latency_ms"]),
        tokens_per_s_per_user=float(row["tokens_per_s_per_user"]),
        tokens_per_s_per_gpu=float(row["tokens_per_s_per_gpu"]),
        requests_per_s=replicas * float(row["requests_per_s"]),
        concurrency=replicas * float(row["concurrency"]),
        meets_sla=meets,
        provenance=str(row["provenance"]),
        load_served_pct=float(load_served) if pd.notna(load_served) else 100.0,
        **_load_fields(request, row, replicas),
        kv_capacity_tokens=_int_or_zero(row.get("kv_capacity_tokens")),
        weights_gib_per_gpu=_float_or_zero(row.get("weights_gib_per_gpu")),
        kv_cache_gib_per_gpu=_float_or_zero(row.get("kv_cache_gib_per_gpu")),
        reserve_gib_per_gpu=_float_or_zero(row.get("reserve_gib_per_gpu")),
        notes=notes,
    )


def _load_fields(request, row: pd.Series, replicas: int) -> dict:
    """Return the target load and the capacity of the deployed units (load_match rows only)."""
    capacity_rps = row.get("capacity_requests_per_s")
    if request.picking_mode != PickingMode.LOAD_MATCH or capacity_rps is None or pd.isna(capacity_rps):
        return {}
    return dict(
        target_requests_per_s=request.request_rate,
        target_concurrency=request.concurrency,
        capacity_requests_per_s=replicas * float(capacity_rps),
        capacity_concurrency=replicas * float(row["capacity_concurrency"]),
    )


def _engine(row: pd.Series, prefix: str, *, workers: int, max_batch: int, max_tokens: int) -> EngineLayout:
    # NOTE: max_num_tokens of an agg worker is one full prompt plus one decode
    # token per sequence; engines default to their own chunk size otherwise.
    return EngineLayout(
        tp=int(row[f"{prefix}_tp"]),
        pp=int(row[f"{prefix}_pp"]),
        dp=int(row[f"{prefix}_dp"]),
        moe_tp=int(row[f"{prefix}_moe_tp"]),
        moe_ep=int(row[f"{prefix}_moe_ep"]),
        workers=workers,
        max_batch_size=max_batch,
        max_num_tokens=max_tokens,
    )


def _miss_notes(request, row: pd.Series) -> tuple[str, ...]:
    """Say by how much a row misses each target and which targets it would meet (means)."""
    sla = request.sla
    notes = []
    if sla.is_e2e:
        latency = float(row["request_latency_ms"])
        if latency > sla.e2e_latency_ms:
            notes.append(
                f"misses e2e latency by {latency - sla.e2e_latency_ms:.0f} ms "
                f"({latency / sla.e2e_latency_ms - 1:+.0%} of {sla.e2e_latency_ms:g} ms)"
            )
        if math.isfinite(latency):
            notes.append(f"would meet an e2eLatency target of {math.ceil(latency):.0f} ms or looser (on means)")
        return tuple(notes)

    for name, target, value in (("TTFT", sla.ttft_ms, row["ttft_ms"]), ("ITL", sla.itl_ms, row["itl_ms"])):
        if target is not None and value > target:
            notes.append(f"misses {name} by {value - target:.1f} ms ({value / target - 1:+.0%} of {target:g} ms)")
    if not (math.isfinite(row["ttft_ms"]) and math.isfinite(row["itl_ms"])):
        return tuple(notes)  # the naive fallback predicts no latency
    # Rounded up, so the targets shown are ones the row meets.
    ttft_ms, itl_ms = math.ceil(row["ttft_ms"]), math.ceil(row["itl_ms"] * 10) / 10
    notes.append(f"would meet targets of TTFT {ttft_ms:.0f} ms and ITL {itl_ms:.1f} ms or looser (on means)")
    return tuple(notes)


def _sla_fallback_warning(request, best: Pick) -> str:
    """Warn that no row meets the SLA and raise the targets to what the pick achieves."""
    sla = request.sla
    if sla.is_e2e:
        raised = f"e2eLatency raised from {sla.e2e_latency_ms:g} ms to the achieved {best.request_latency_ms:.0f} ms"
    else:
        parts = []
        if sla.ttft_ms is not None and best.ttft_ms > sla.ttft_ms:
            parts.append(f"TTFT raised from {sla.ttft_ms:g} ms to the achieved {best.ttft_ms:.0f} ms")
        if sla.itl_ms is not None and best.itl_ms > sla.itl_ms:
            parts.append(f"ITL raised from {sla.itl_ms:g} ms to the achieved {best.itl_ms:.1f} ms")
        raised = "; ".join(parts)
    return (
        "no configuration meets the SLA (checked on predicted means); "
        f"returning the closest ones, ranked by how far they miss: {raised}"
    )


def _pick_naive(request, table: pd.DataFrame, warnings: list[str]) -> Selection:
    """Return the naive fallback pick: memory-sized agg workers filling the budget, metrics unknown."""
    naive = table[table["provenance"].eq("naive")]
    row = naive.iloc[0].copy()
    replicas = max(1, request.total_gpus // int(row["gpus_per_unit"]))
    row["replicas"] = replicas
    row["meets_sla"] = False
    table["replicas"] = replicas
    table["total_gpus"] = replicas * table["gpus_per_unit"]
    table["reject_reason"] = np.where(table["fits"], "", "does not fit")
    table = table.drop(columns="sla_miss")

    chosen = _build_pick(request, row, sla_met=False)
    chosen = _replace_notes(chosen, ("naive fallback: sized by memory only, no latency or throughput predicted",))
    if not bool(row["fits"]):
        warnings.append(
            f"{request.arch.model_id} does not fit in {chosen.agg.gpus_per_worker} GPUs even by the naive rule; "
            "raise hardware.totalGpus or use a smaller model"
        )
    warnings.append("the SLA cannot be checked: the naive fallback predicts no latency")
    return Selection(request.picking_mode.value, chosen, [chosen], table, False, warnings, chosen.backend)


def _replace_notes(pick_: Pick, notes: tuple[str, ...]) -> Pick:
    from dataclasses import replace

    return replace(pick_, notes=notes)


def _format_load(request) -> str:
    if request.request_rate is not None:
        return f"{request.request_rate:g} requests/s (workload.requestRate)"
    return f"{request.concurrency:g} concurrent requests (workload.concurrency)"


def _format_counts(counts: dict) -> str:
    return ", ".join(f"{reason or 'eligible'}: {count}" for reason, count in counts.items())


def _int_or_zero(value) -> int:
    return int(value) if value is not None and pd.notna(value) else 0


def _float_or_zero(value) -> float:
    return float(value) if value is not None and pd.notna(value) else 0.0
