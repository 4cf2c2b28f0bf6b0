"""Tests of the report tables: why each alternative ranks where it does."""

from __future__ import annotations

from dataclasses import replace

from dgdr_kernel.report.tables import alternatives_table
from dgdr_kernel.request import SlaTargets
from dgdr_kernel.selection import EngineLayout, Pick, Selection

SLA = SlaTargets(ttft_ms=2000.0, itl_ms=30.0)


def _disagg_pick(prefill_tp: int, prefill_workers: int, ttft_ms: float, tokens_per_s_per_gpu: float = 900.0) -> Pick:
    return Pick(
        mode="disagg",
        backend="vllm",
        agg=None,
        prefill=EngineLayout(tp=prefill_tp, workers=prefill_workers),
        decode=EngineLayout(tp=4, workers=1, max_batch_size=64),
        total_gpus=8,
        ttft_ms=ttft_ms,
        itl_ms=29.0,
        request_latency_ms=ttft_ms + 29.0 * 999,
        tokens_per_s_per_user=1000.0 / 29.0,
        tokens_per_s_per_gpu=tokens_per_s_per_gpu,
        requests_per_s=7.0,
        concurrency=240.0,
        meets_sla=True,
        provenance="calibrated",
    )


def _selection(*picks: Pick) -> Selection:
    return Selection(picking_mode="default", chosen=picks[0], top=list(picks), candidates=None, sla_met=True)


def test_tie_explained_by_ttft():
    chosen = _disagg_pick(prefill_tp=2, prefill_workers=2, ttft_ms=402.0)
    slower = _disagg_pick(prefill_tp=1, prefill_workers=4, ttft_ms=409.0)

    table = alternatives_table(_selection(chosen, slower), SLA)

    assert table.loc[2, "why"] == "same tokens/s/GPU over the budget and tokens/s/user; 7 ms higher TTFT"


def test_throughput_loss_explained():
    chosen = _disagg_pick(prefill_tp=2, prefill_workers=2, ttft_ms=402.0)
    # 882 / 900 = 0.98, so the alternative delivers 2.0 % fewer tokens/s/GPU.
    weaker = replace(chosen, tokens_per_s_per_gpu=882.0)

    table = alternatives_table(_selection(chosen, weaker), SLA)

    assert table.loc[2, "why"] == "2.0% fewer tokens/s/GPU over the budget"


def test_without_sla_names_visible_loss():
    chosen = _disagg_pick(prefill_tp=2, prefill_workers=2, ttft_ms=402.0)
    weaker = replace(chosen, tokens_per_s_per_gpu=882.0)

    table = alternatives_table(_selection(chosen, weaker))

    assert table.loc[2, "why"] == "2.0% fewer tokens/s/GPU"
    assert table.loc[1, "why"].startswith("chosen: highest tokens/s/GPU")
