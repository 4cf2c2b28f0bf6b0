"""The plain-text summary of a Selection that `dgdr profile` prints."""

from __future__ import annotations

import math

from dgdr_kernel.selection import EngineLayout, Pick, Selection

__all__ = ["format_selection"]

_HEADERS = (
    "rank", "mode", "backend", "prefill", "decode/agg", "workers", "GPUs",
    "TTFT ms", "ITL ms", "tok/s/GPU", "tok/s/user", "SLA",
)  # fmt: skip


def format_selection(selection: Selection, request) -> str:
    """Return the table of the pick and its alternatives, then warnings and rejected counts.

    Layouts read `TPxEPyDPz`; workers read `xP+yD` (disagg) or `n` (agg). The
    SLA column checks predicted means.
    """
    lines = [_title(selection, request), ""]
    if not selection.top:
        lines.append("no feasible configuration")
    else:
        rows = [_row(rank, pick_) for rank, pick_ in enumerate(selection.top, start=1)]
        lines += _table(rows)
        notes = [(rank, note) for rank, p in enumerate(selection.top, start=1) for note in p.notes]
        if notes:
            lines += ["", "notes:"] + [f"  {rank}: {note}" for rank, note in notes]
        chosen = selection.chosen
        if chosen is not None and chosen.load_served_pct < 100.0:
            lines.append(f"load served by the pick: {chosen.load_served_pct:.0f}%")

    # The request's warnings (defaults, naive fallback) come first, once each.
    warnings = list(dict.fromkeys([*getattr(request, "warnings", []), *selection.warnings]))
    if warnings:
        lines += ["", "warnings:"] + [f"  - {warning}" for warning in warnings]

    table = selection.candidates
    if "reject_reason" in table and len(table):
        counts = table["reject_reason"].value_counts()
        rejected = {reason: int(count) for reason, count in counts.items() if reason}
        eligible = int(counts.get("", 0))
        lines += ["", f"candidates: {len(table)} evaluated, {eligible} eligible"]
        lines += [f"  rejected, {reason}: {count}" for reason, count in sorted(rejected.items())]
    return "\n".join(lines)


def _title(selection: Selection, request) -> str:
    sla = request.sla
    if sla.is_e2e:
        target = f"e2e latency <= {sla.e2e_latency_ms:g} ms"
    else:
        parts = []
        if sla.ttft_ms is not None:
            parts.append(f"TTFT <= {sla.ttft_ms:g} ms")
        if sla.itl_ms is not None:
            parts.append(f"ITL <= {sla.itl_ms:g} ms")
        target = ", ".join(parts) or "no SLA"
    backend = f", backend {selection.resolved_backend}" if selection.resolved_backend else ""
    return (
        f"{request.arch.model_id} on {request.total_gpus} x {request.gpu.sku}, ISL {request.isl}, "
        f"OSL {request.osl}; picking mode {selection.picking_mode}{backend}; SLA {target} (on means)"
    )


def _layout(engine: EngineLayout | None) -> str:
    if engine is None:
        return "-"
    text = f"TP{engine.tp}"
    if engine.pp > 1:
        text += f"PP{engine.pp}"
    if engine.moe_ep > 1:
        text += f"EP{engine.moe_ep}"
    if engine.dp > 1:
        text += f"DP{engine.dp}"
    return text


def _row(rank: int, pick_: Pick) -> tuple[str, ...]:
    if pick_.mode == "agg":
        prefill, decode, workers = "-", _layout(pick_.agg), str(pick_.agg.workers)
    else:
        prefill, decode = _layout(pick_.prefill), _layout(pick_.decode)
        workers = f"{pick_.prefill.workers}P+{pick_.decode.workers}D"
    return (
        str(rank), pick_.mode, pick_.backend, prefill, decode, workers, str(pick_.total_gpus),
        _number(pick_.ttft_ms, 0), _number(pick_.itl_ms, 1), _number(pick_.tokens_per_s_per_gpu, 0),
        _number(pick_.tokens_per_s_per_user, 1), "met" if pick_.meets_sla else "missed",
    )  # fmt: skip


def _number(value: float, digits: int) -> str:
    return "n/a" if not math.isfinite(value) else f"{value:,.{digits}f}"


def _table(rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(_HEADERS)]
    # Text columns align left, numbers right.
    left = {1, 2, 3, 4, 5}

    def line(cells):
        return "  ".join(c.ljust(w) if i in left else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    return [line(_HEADERS), "  ".join("-" * w for w in widths), *(line(r) for r in rows)]
