"""The plain-text summary of a Selection that `dgdr profile` prints."""

from __future__ import annotations

import math
from typing import Iterable

from dgdr_kernel.selection import Pick, Selection

__all__ = ["describe_configuration", "format_selection"]

# "D batch" is the mean number of requests in flight per decode worker (D as in
# `1D(tp4)`, or per worker for agg). That is the decode batch at the predicted operating point.
_HEADERS = (
    "rank", "configuration", "GPUs", "TTFT ms", "ITL ms", "D batch", "tok/s/GPU", "tok/s/user", "SLA", "provenance",
)  # fmt: skip

# Text columns align left, numbers right.
_LEFT_ALIGNED = {1, 8, 9}


def format_selection(selection: Selection, request, *, warnings: Iterable[str] = ()) -> str:
    """Return the table of the pick and its alternatives, then warnings and rejected counts.

    The configuration column reads as `describe_configuration` writes it. The
    SLA column checks predicted means. The provenance column states whether the
    backend's parameters were fitted to measurements for this GPU SKU
    (`calibrated`) or are physical defaults (`modelled`). When no configuration meets the SLA, the first line after the
    table starts with "SLA NOT MET" and names the targets the pick would meet.

    The warnings block lists the request's and the picking's warnings, then
    `warnings` (the rest of the run's, such as calibration caveats), once each.
    """
    lines = [_title(selection, request), ""]
    if not selection.top:
        lines.append("no feasible configuration")
    else:
        itl_applies = _itl_applies(request)
        rows = [_row(rank, pick_, itl_applies=itl_applies) for rank, pick_ in enumerate(selection.top, start=1)]
        lines += _table(rows)
        if not selection.sla_met and selection.chosen is not None:
            lines += ["", _sla_not_met_line(selection.chosen, request.sla)]
        notes = [(rank, note) for rank, p in enumerate(selection.top, start=1) for note in p.notes]
        if notes:
            lines += ["", "notes:"] + [f"  {rank}: {note}" for rank, note in notes]
        chosen = selection.chosen
        if chosen is not None and chosen.load_served_pct < 100.0:
            lines.append(f"load served by the pick: {chosen.load_served_pct:.0f}%")

    # The request's warnings (defaults, naive fallback) come first, once each.
    listed = list(dict.fromkeys([*getattr(request, "warnings", []), *selection.warnings, *warnings]))
    if listed:
        lines += ["", "warnings:"] + [f"  - {warning}" for warning in listed]

    table = selection.candidates
    if "reject_reason" in table and len(table):
        counts = table["reject_reason"].value_counts()
        rejected = {reason: int(count) for reason, count in counts.items() if reason}
        eligible = int(counts.get("", 0))
        lines += ["", f"candidates: {len(table)} evaluated, {eligible} eligible"]
        lines += [f"  rejected, {reason}: {count}" for reason, count in sorted(rejected.items())]
    return "\n".join(lines)


def describe_configuration(pick_: Pick) -> str:
    """Return the label of a pick, e.g. `disagg vllm 4P(tp1) + 1D(tp4)` or `agg trtllm 2x dep8`.

    Workers come as `xP(...) + yD(...)` (disagg) or `nx` (agg), each engine
    by its `EngineLayout.parallel` label (`tp4`, `tep8`, `dep8`, `tp2pp2`).
    The report labels picks with this function too.
    """
    if pick_.mode == "agg" and pick_.agg is not None:
        return f"agg {pick_.backend} {pick_.agg.workers}x {pick_.agg.parallel}"
    prefill, decode = pick_.prefill, pick_.decode
    if prefill is None or decode is None:
        return f"{pick_.mode} {pick_.backend}"
    return f"disagg {pick_.backend} {prefill.workers}P({prefill.parallel}) + {decode.workers}D({decode.parallel})"


def _itl_applies(request) -> bool:
    """Return whether the request has an inter-token latency; with OSL 1 it has none."""
    return getattr(request, "osl", 2) > 1


def _sla_not_met_line(chosen: Pick, sla) -> str:
    """Say which targets the pick misses and the tightest targets it would meet."""
    if not math.isfinite(chosen.ttft_ms):
        return "SLA NOT CHECKED: the naive fallback predicts no latency, so nothing says whether the pick meets the SLA."

    # (name, requested ms, predicted ms, decimals of a target); predictions get one more decimal.
    if sla.is_e2e:
        targets = [("e2eLatency", sla.e2e_latency_ms, chosen.request_latency_ms, 0)]
    else:
        # At OSL 1 the request's SLA has no ITL target (see `build_sla_targets`).
        targets = [("TTFT", sla.ttft_ms, chosen.ttft_ms, 0), ("ITL", sla.itl_ms, chosen.itl_ms, 1)]
    targets = [target for target in targets if target[1] is not None]
    requested = " and ".join(f"{name} <= {limit:g} ms" for name, limit, _, _ in targets)
    missed = [target for target in targets if target[2] > target[1]]
    met = [target for target in targets if target[2] <= target[1]]

    predicted = " and ".join(f"{name} {value:.{digits + 1}f} ms" for name, _, value, digits in missed)
    # Rounded up, so the target shown is one the pick meets.
    needed = " and ".join(
        f"{_article(name)} {name} target of at least {_round_up(value, digits):.{digits}f} ms (requested {limit:g} ms)"
        for name, limit, value, digits in missed
    )
    line = (
        f"SLA NOT MET: no configuration meets {requested} on predicted means. "
        f"The closest configuration (rank 1) has {predicted}, so it needs {needed}"
    )
    if met:
        kept = " and ".join(f"its {name} {value:.{digits + 1}f} ms meets the {limit:g} ms target" for name, limit, value, digits in met)
        line += f"; {kept}"
    return line + "."


def _article(name: str) -> str:
    return "an" if name[0] in "AEIOUaeiou" else "a"


def _round_up(value: float, digits: int) -> float:
    scale = 10**digits
    return math.ceil(value * scale - 1e-9) / scale


def _title(selection: Selection, request) -> str:
    sla = request.sla
    if sla.is_e2e:
        target = f"e2e latency <= {sla.e2e_latency_ms:g} ms"
    else:
        parts = []
        if sla.ttft_ms is not None:
            parts.append(f"TTFT <= {sla.ttft_ms:g} ms")
        if not _itl_applies(request):
            parts.append("ITL not applicable at OSL 1")
        elif sla.itl_ms is not None:
            parts.append(f"ITL <= {sla.itl_ms:g} ms")
        target = ", ".join(parts) or "no SLA"
    backend = _backend_clause(selection, request)
    return (
        f"{request.arch.model_id} on {request.total_gpus} x {request.gpu.sku}, ISL {request.isl}, "
        f"OSL {request.osl}; picking mode {selection.picking_mode}{_load_target(request)}{backend}; "
        f"SLA {target} (on means)"
    )


def _backend_clause(selection: Selection, request) -> str:
    """Return the backend as a title clause; with backend auto it names the winner, not the request."""
    resolved = selection.resolved_backend
    if not resolved:
        return ""
    dgdr = getattr(request, "dgdr", None)
    if dgdr is not None and dgdr.spec.backend == "auto":
        return f", backend auto (picked {resolved})"
    return f", backend {resolved}"


def _load_target(request) -> str:
    """Return the load that load_match sizes for, as a title clause; empty for the other modes."""
    rate = getattr(request, "request_rate", None)
    concurrency = getattr(request, "concurrency", None)
    if rate is not None:
        return f", target {rate:g} requests/s"
    if concurrency is not None:
        return f", target {concurrency:g} concurrent requests"
    return ""


def _row(rank: int, pick_: Pick, *, itl_applies: bool = True) -> tuple[str, ...]:
    # One output token per request has no inter-token latency, so no decode speed per user either.
    itl = _number(pick_.itl_ms, 1) if itl_applies else "n/a"
    per_user = _number(pick_.tokens_per_s_per_user, 1) if itl_applies else "n/a"
    return (
        str(rank), describe_configuration(pick_), str(pick_.total_gpus),
        _number(pick_.ttft_ms, 0), itl, _decode_batch(pick_), _number(pick_.tokens_per_s_per_gpu, 0),
        per_user, "met" if pick_.meets_sla else "missed", pick_.provenance,
    )  # fmt: skip


def _decode_batch(pick_: Pick) -> str:
    """Return the mean requests in flight per decode worker (agg: per worker), one decimal below 10."""
    decoder = pick_.agg if pick_.mode == "agg" else pick_.decode
    if decoder is None or decoder.workers < 1 or not math.isfinite(pick_.concurrency):
        return "n/a"
    batch = pick_.concurrency / decoder.workers
    return f"{batch:,.0f}" if batch >= 10 else f"{batch:.1f}"


def _number(value: float, digits: int) -> str:
    return "n/a" if not math.isfinite(value) else f"{value:,.{digits}f}"


def _table(rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(_HEADERS)]

    def line(cells):
        text = "  ".join(c.ljust(w) if i in _LEFT_ALIGNED else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))
        return text.rstrip()

    return [line(_HEADERS), "  ".join("-" * w for w in widths), *(line(r) for r in rows)]
