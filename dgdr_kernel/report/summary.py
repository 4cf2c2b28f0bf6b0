"""One-line summaries of a profiling run, for the batch index and the notebook."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from dgdr_kernel.selection import Pick
from dgdr_kernel.summary import describe_configuration

__all__ = ["SUMMARY_FILE", "describe_load", "describe_pick_short", "describe_plan_markdown", "read_summary", "summarize_result", "write_summary"]

SUMMARY_FILE = "report_summary.json"


def describe_pick_short(pick: Pick | None) -> str:
    """Return a short label of a pick, e.g. `disagg vllm 2P(tp2) + 1D(tep8)`, as `dgdr profile` prints it."""
    if pick is None:
        return "none (nothing fits in memory)"
    return describe_configuration(pick)


def describe_load(pick: Pick | None) -> str:
    """Return the target load against the pick's capacity, e.g. `target 64 concurrent requests; capacity 80 (80% used)`.

    Empty outside load_match mode. The pick's metrics are predicted at the target.
    """
    if pick is None or pick.load_used_pct is None:
        return ""
    if pick.target_requests_per_s is not None:
        target, capacity = pick.target_requests_per_s, pick.capacity_requests_per_s
        text = f"target {target:g} requests/s; capacity {capacity:.2f} requests/s"
    else:
        target, capacity = pick.target_concurrency, pick.capacity_concurrency
        text = f"target {target:g} concurrent requests; capacity {capacity:g}"
    return f"{text} ({pick.load_used_pct:.0f}% used); metrics predicted at the target load"


def _finite(value: float | None) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


def summarize_result(result, *, name: str | None = None) -> dict[str, Any]:
    """Return the index row of a `ProfileResult`: request, pick and its predicted means.

    `gpus_used` is what the pick deploys and `gpu_budget` is
    `hardware.totalGpus`. In load_match mode the means are predicted at the
    target load, and the capacity fields give what the same replicas hold.
    """
    request = result.request
    pick = result.selection.chosen
    summary: dict[str, Any] = {
        "request": name or request.dgdr.name,
        "model": request.dgdr.spec.model,
        "gpu_sku": request.hardware.gpu.sku,
        "picking_mode": result.selection.picking_mode,
        "pick": describe_pick_short(pick),
        "gpus_used": None,
        "gpu_budget": int(request.total_gpus),
        "target_requests_per_s": request.request_rate,
        "target_concurrency": request.concurrency,
        "capacity_requests_per_s": None,
        "capacity_concurrency": None,
        "load_used_pct": None,
        "load": describe_load(pick),
        "ttft_ms": None,
        "itl_ms": None,
        "tokens_per_s_per_gpu": None,
        "meets_sla": False,
        "provenance": None,
        "warnings": list(result.warnings),
    }
    if pick is not None:
        summary.update(
            gpus_used=int(pick.total_gpus),
            capacity_requests_per_s=_finite(pick.capacity_requests_per_s),
            capacity_concurrency=_finite(pick.capacity_concurrency),
            load_used_pct=_finite(pick.load_used_pct),
            ttft_ms=_finite(pick.ttft_ms),
            itl_ms=_finite(pick.itl_ms) if request.osl > 1 else None,
            tokens_per_s_per_gpu=_finite(pick.tokens_per_s_per_gpu),
            meets_sla=bool(pick.meets_sla),
            provenance=pick.provenance,
        )
    return summary


def write_summary(summary: dict[str, Any], out_dir: str | os.PathLike) -> Path:
    """Write `summary` as JSON into `out_dir` and return the file's path."""
    path = Path(out_dir) / SUMMARY_FILE
    path.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return path


def read_summary(out_dir: str | os.PathLike) -> dict[str, Any] | None:
    """Read the summary a report run left in `out_dir`; None when there is none."""
    path = Path(out_dir) / SUMMARY_FILE
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def describe_plan_markdown(request, selection) -> str:
    """Return a Markdown paragraph: the pick, its predicted means against the SLA, and the picking mode."""
    pick = selection.chosen
    if pick is None:
        return "**No configuration fits in memory.** See the sweep table for the reject reasons."

    sla = request.sla
    if request.osl > 1:
        itl_line = f"- mean ITL {pick.itl_ms:.2f} ms" + (f" (SLA {sla.itl_ms:g} ms)" if sla.itl_ms is not None else "")
        per_user = f"{pick.tokens_per_s_per_user:.1f} tokens/s/user, "
    else:
        # One output token per request: no inter-token latency, no decode speed per user.
        itl_line = "- mean ITL n/a: one output token per request (OSL 1)"
        per_user = ""
    lines = [
        f"**Pick: {describe_pick_short(pick)}**, {pick.total_gpus} of {request.total_gpus} GPUs "
        f"({request.hardware.gpu.sku}), picking mode `{selection.picking_mode}`.",
        "",
        f"- SLA met on predicted means: {'yes' if pick.meets_sla else 'no'}; provenance: {pick.provenance}",
        f"- mean TTFT {pick.ttft_ms:.1f} ms" + (f" (SLA {sla.ttft_ms:g} ms)" if sla.ttft_ms is not None else ""),
        itl_line,
        f"- mean request latency {pick.request_latency_ms / 1000.0:.2f} s"
        + (f" (SLA {sla.e2e_latency_ms / 1000.0:g} s)" if sla.e2e_latency_ms is not None else ""),
        f"- {pick.tokens_per_s_per_gpu:.1f} tokens/s/GPU, {per_user}"
        f"{pick.requests_per_s:.2f} requests/s, {pick.concurrency:.4g} requests in flight",
    ]
    load_line = describe_load(pick)
    if load_line:
        lines.insert(3, f"- {load_line}")
    if pick.load_served_pct < 100.0:
        lines.append(f"- serves {pick.load_served_pct:.0f}% of the target load within the GPU budget")
    lines += [f"- note: {note}" for note in pick.notes]
    return "\n".join(lines)
