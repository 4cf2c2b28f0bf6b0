"""Picking modes, SLA fallback, budget clamping and non-finite rows on hand-made candidate tables.

Every expected value below is derived by hand from the rows of the test and
the rules of the upstream profiler. Default mode: cluster throughput
`tokens/s/gpu * floor(B/G) * G / B` with `floor(B/G)` replicas. load_match:
`ceil(rate / requests/s)` replicas. autoscale: one prefill and one decode
worker serving `min(0.9 P, 0.92 D)` requests/s.
"""

import math

import numpy as np
import pandas as pd
import pytest

from dgdr_kernel.hardware import ResolvedHardware, get_gpu
from dgdr_kernel.modelarch import resolve_model
from dgdr_kernel.picking import explain_rank, pick
from dgdr_kernel.replicas import LOAD_POINT_COLUMNS
from dgdr_kernel.request import PickingMode, ResolvedRequest, SlaTargets
from dgdr_kernel.sla_check import e2e_sla_pairs, sla_reject_reasons
from dgdr_kernel.sweep import CANDIDATE_COLUMNS

OSL = 101  # 100 inter-token gaps keep the latency arithmetic round


def make_request(total_gpus=8, mode=PickingMode.DEFAULT, sla=SlaTargets(200.0, 10.0), rate=None, concurrency=None):
    gpu = get_gpu("h200_sxm")
    hardware = ResolvedHardware(
        gpu=gpu, total_gpus=total_gpus, num_gpus_per_node=8, vram_mib=gpu.vram_mib, interconnect="nvlink", rdma=None
    )
    return ResolvedRequest(
        dgdr=None,
        hardware=hardware,
        arch=resolve_model("Qwen/Qwen3-32B"),
        backends=("vllm",),
        picking_mode=mode,
        sla=sla,
        isl=1000,
        osl=OSL,
        request_rate=rate,
        concurrency=concurrency,
        total_gpus=total_gpus,
    )


def agg_row(tp, tokens_per_s_per_gpu, ttft_ms=100.0, itl_ms=8.0, requests_per_s=1.0, concurrency=8, **extra):
    row = dict(
        mode="agg", backend="vllm", parallel=f"tp{tp}",
        d_tp=tp, d_pp=1, d_dp=1, d_moe_tp=1, d_moe_ep=1, d_workers=1, d_gpus_per_worker=tp, d_batch=concurrency,
        gpus_per_unit=tp, concurrency=concurrency, ttft_ms=ttft_ms, itl_ms=itl_ms,
        request_latency_ms=ttft_ms + itl_ms * (OSL - 1), tokens_per_s_per_user=1000.0 / itl_ms,
        tokens_per_s_per_gpu=tokens_per_s_per_gpu, requests_per_s=requests_per_s,
        fits=True, provenance="modelled",
    )  # fmt: skip
    row.update(extra)
    return row


def disagg_row(p_tp, x, d_tp, y, tokens_per_s_per_gpu, ttft_ms=100.0, itl_ms=8.0, requests_per_s=1.0, **extra):
    row = agg_row(d_tp, tokens_per_s_per_gpu, ttft_ms, itl_ms, requests_per_s, **extra)
    row.update(
        mode="disagg", p_tp=p_tp, p_pp=1, p_dp=1, p_moe_tp=1, p_moe_ep=1, p_workers=x, p_gpus_per_worker=p_tp,
        p_batch=1, d_workers=y, gpus_per_unit=x * p_tp + y * d_tp,
    )  # fmt: skip
    return row


def table(*rows):
    return pd.DataFrame(list(rows)).reindex(columns=CANDIDATE_COLUMNS)


def at_capacity(request, rows, replicas):
    """Load point for hand-made rows: every unit reports its own (capacity) figures.

    The hand-made metrics come from no model, so the load_match tests below
    check sizing and ranking on them. tests/test_load_match.py checks the
    predictions at the target load with the real performance model.
    """
    return rows[list(LOAD_POINT_COLUMNS)]


def test_default_mode_prefers_units_dividing_budget():
    # B = 8. tp1: 1000 tok/s/GPU, cluster 1000 * 8 * 1 / 8 = 1000.
    # 1P(tp1)+2D(tp1), G = 3: 1200 tok/s/GPU, cluster 1200 * floor(8/3) * 3 / 8 = 900.
    candidates = table(agg_row(1, 1000.0), disagg_row(1, 1, 1, 2, 1200.0))
    selection = pick(make_request(), candidates)

    assert selection.chosen.mode == "agg"
    assert selection.chosen.agg.workers == 8
    assert selection.chosen.total_gpus == 8
    assert selection.sla_met
    assert selection.resolved_backend == "vllm"
    second = selection.top[1]
    assert second.prefill.workers == 2
    assert second.decode.workers == 4
    assert second.total_gpus == 6
    cluster = selection.candidates["tokens_per_s_per_gpu_cluster"].tolist()
    assert cluster == pytest.approx([1000.0, 900.0])


def test_reject_reasons_for_every_ineligible_row():
    candidates = table(
        agg_row(1, 1000.0),
        agg_row(2, 1100.0, ttft_ms=300.0),  # TTFT target 200 ms
        agg_row(4, 1100.0, itl_ms=12.0),  # ITL target 10 ms
        agg_row(16, 5000.0),  # 16 GPUs > 8
        agg_row(8, 5000.0, fits=False),
        agg_row(8, float("nan"), ttft_ms=float("nan")),
    )
    selection = pick(make_request(), candidates)

    reasons = selection.candidates["reject_reason"].tolist()
    assert reasons == ["", "misses TTFT", "misses ITL", "over budget", "does not fit", "non-finite prediction"]
    assert len(selection.top) == 1
    assert selection.chosen.total_gpus <= 8


def test_budget_never_exceeded_by_any_pick():
    # G = 3, 5 and 8 on a budget of 8: floor(8/G) replicas, so 6, 5 and 8 GPUs.
    candidates = table(
        disagg_row(1, 1, 1, 2, 900.0), disagg_row(1, 1, 2, 2, 800.0), agg_row(8, 700.0)
    )
    selection = pick(make_request(), candidates)

    totals = sorted(p.total_gpus for p in selection.top)
    assert totals == [5, 6, 8]
    assert all(p.total_gpus <= 8 for p in selection.top)


def test_load_match_fewest_gpus_for_rate():
    # Rate 10 req/s. tp1 at 3 req/s: ceil(10/3) = 4 units, 4 GPUs.
    # tp2 at 8 req/s: ceil(10/8) = 2 units, 4 GPUs, more tok/s/GPU, so it wins the tie.
    # tp1 at batch 4, 1.5 req/s: ceil(10/1.5) = 7 GPUs; the same layout as the
    # first row, so top-N lists the better of the two only.
    candidates = table(
        agg_row(1, 1000.0, requests_per_s=3.0),
        agg_row(2, 1100.0, requests_per_s=8.0),
        agg_row(1, 900.0, requests_per_s=1.5, d_batch=4),
    )
    selection = pick(make_request(mode=PickingMode.LOAD_MATCH, rate=10.0), candidates, load_point=at_capacity)

    assert selection.chosen.agg.tp == 2
    assert selection.chosen.agg.workers == 2
    assert selection.chosen.total_gpus == 4
    assert selection.chosen.load_served_pct == 100.0
    assert [p.total_gpus for p in selection.top] == [4, 4]
    assert selection.top[1].agg.max_batch_size == 8


def test_load_match_by_concurrency():
    # 100 concurrent requests, 16 per tp1 unit: ceil(100/16) = 7 units.
    candidates = table(agg_row(1, 1000.0, concurrency=16))
    selection = pick(make_request(mode=PickingMode.LOAD_MATCH, concurrency=100.0), candidates, load_point=at_capacity)

    assert selection.chosen.agg.workers == 7
    assert selection.chosen.concurrency == 7 * 16


def test_load_match_capped_reports_share_served():
    # Rate 100 req/s on 8 GPUs. tp1 at 3 req/s needs 34 units, gets 8: 8/34 served.
    # tp2 at 8 req/s needs 13 units, gets 4: 4/13 served; its cluster throughput
    # 1100 * 4 * 2 / 8 = 1100 beats 1000 * 8 / 8 = 1000.
    candidates = table(agg_row(1, 1000.0, requests_per_s=3.0), agg_row(2, 1100.0, requests_per_s=8.0))
    selection = pick(make_request(mode=PickingMode.LOAD_MATCH, rate=100.0), candidates, load_point=at_capacity)

    assert selection.chosen.agg.tp == 2
    assert selection.chosen.total_gpus == 8
    assert selection.chosen.load_served_pct == pytest.approx(100.0 * 4 / 13)
    assert selection.top[1].load_served_pct == pytest.approx(100.0 * 8 / 34)
    assert any("31%" in w and "26 GPUs" in w for w in selection.warnings)


def autoscale_rows():
    # Two engines per role. Prefill tp1 takes 100 ms (10 req/s), tp2 60 ms (16.7 req/s).
    common = dict(kv_transfer_ms=0.0)
    return table(
        disagg_row(1, 1, 1, 1, 0.0, prefill_ttft_ms=100.0, prefill_requests_per_s_per_worker=10.0,
                   itl_ms=10.0, decode_requests_per_s_per_worker=2.0, d_batch=8, **common),
        disagg_row(2, 1, 2, 1, 0.0, prefill_ttft_ms=60.0, prefill_requests_per_s_per_worker=1000.0 / 60.0,
                   itl_ms=8.0, decode_requests_per_s_per_worker=5.0, d_batch=16, **common),
    )  # fmt: skip


def test_autoscale_one_prefill_one_decode():
    # A 1P1D unit serves min(0.9 P, 0.92 D) req/s; TTFT = prefill + M/D/1 wait
    # rho / (2 (1 - rho)) * prefill, with rho = req/s * prefill time.
    # Prefill tp1 with decode tp1: 1.84 req/s, rho 0.184, TTFT 100 + 11.3 ms,
    # which misses the 100 ms target, as does tp1 with decode tp2 (142.6 ms).
    # Prefill tp2: decode tp1 gives 1.84 req/s on 3 GPUs (0.613 per GPU);
    # decode tp2 gives min(15, 4.6) = 4.6 req/s on 4 GPUs (1.15 per GPU) and wins,
    # rho = 4.6 * 0.06 = 0.276, TTFT = 60 + 0.5 * 0.276 / 0.724 * 60 = 71.44 ms.
    request = make_request(mode=PickingMode.AUTOSCALE, sla=SlaTargets(100.0, 12.0))
    selection = pick(request, autoscale_rows())

    chosen = selection.chosen
    assert chosen.mode == "disagg"
    assert (chosen.prefill.tp, chosen.prefill.workers) == (2, 1)
    assert (chosen.decode.tp, chosen.decode.workers) == (2, 1)
    assert chosen.total_gpus == 4
    assert chosen.ttft_ms == pytest.approx(60.0 + 0.5 * 0.276 / 0.724 * 60.0)
    assert chosen.requests_per_s == pytest.approx(4.6)
    assert chosen.tokens_per_s_per_gpu == pytest.approx(4.6 * OSL / 4)
    assert all(p.prefill.tp == 2 for p in selection.top)


def test_dep_prefill_admits_one_request_per_dp_rank():
    # The sweep prices a DEP8 prefill worker as 8 prompts at once, one per
    # attention-DP rank (sweep.disagg_rows, prefill_slots = x * dp); the DGD must
    # let 8 requests in (upstream: SGLang prefill --max-running-requests >= dp).
    dep8 = disagg_row(1, 1, 8, 1, 1000.0)
    dep8.update(p_dp=8, p_moe_ep=8, p_gpus_per_worker=8, gpus_per_unit=16)
    tp2 = disagg_row(2, 1, 4, 1, 900.0)  # another decode layout, so default mode keeps both
    selection = pick(make_request(total_gpus=16), table(dep8, tp2))

    by_parallel = {p.prefill.parallel: p.prefill for p in selection.top}
    assert by_parallel["dep8"].max_batch_size == 8
    assert by_parallel["tp2"].max_batch_size == 1


def test_sla_fallback_returns_closest_with_notes():
    # TTFT 300 vs 200 misses by 50 %; ITL 12 vs 10 misses by 20 %: the ITL row is closer.
    candidates = table(agg_row(1, 2000.0, ttft_ms=300.0), agg_row(2, 1000.0, itl_ms=12.0))
    selection = pick(make_request(), candidates)

    assert not selection.sla_met
    assert selection.chosen.agg.tp == 2
    assert not selection.chosen.meets_sla
    assert "misses ITL by 2.0 ms (+20% of 10 ms)" in selection.chosen.notes
    assert "would meet targets of TTFT 100 ms and ITL 12.0 ms or looser (on means)" in selection.chosen.notes
    assert any("ITL raised from 10 ms to the achieved 12.0 ms" in w for w in selection.warnings)
    assert [p.agg.tp for p in selection.top] == [2, 1]


def test_equal_throughput_tie_goes_to_lower_ttft():
    # Both disagg units use 8 GPUs at 1000 tok/s/GPU and ITL 8 ms; only TTFT
    # differs (409 ms against 402 ms), so the 402 ms row ranks first although it
    # comes second in the table.
    candidates = table(
        disagg_row(1, 4, 4, 1, 1000.0, ttft_ms=409.0),
        disagg_row(2, 2, 4, 1, 1000.0, ttft_ms=402.0),
    )
    request = make_request(sla=SlaTargets(2000.0, 30.0))
    selection = pick(request, candidates)

    assert [p.prefill.tp for p in selection.top] == [2, 1]
    why = explain_rank(selection.top[1], selection.chosen, selection.picking_mode, request.sla)
    assert why == "same tokens/s/GPU over the budget and tokens/s/user; 7 ms higher TTFT"


def test_tie_on_throughput_ignores_float_noise():
    # 1000 and 1000 + 1e-9 tok/s/GPU are the same throughput; TTFT decides.
    candidates = table(agg_row(1, 1000.0 + 1e-9, ttft_ms=150.0), agg_row(2, 1000.0, ttft_ms=120.0))
    selection = pick(make_request(), candidates)

    assert [p.agg.tp for p in selection.top] == [2, 1]


def test_equal_ttft_tie_goes_to_fewer_gpus():
    # tp1 and tp2 both fill the 8-GPU budget; tp3 fills 6 of 8 GPUs, so its
    # cluster throughput 1200 * 2 * 3 / 8 = 900 equals tp1's 900 * 8 / 8.
    # Same tokens/s/user and TTFT: the 6-GPU deployment wins.
    candidates = table(agg_row(1, 900.0), agg_row(3, 1200.0))
    request = make_request()
    selection = pick(request, candidates)

    assert [p.total_gpus for p in selection.top] == [6, 8]
    why = explain_rank(selection.top[1], selection.chosen, selection.picking_mode, request.sla)
    assert why.endswith("; 2 more GPUs (8 against 6)")


def test_load_match_tie_goes_to_lower_ttft():
    # Rate 10 req/s: tp2 at 8 req/s needs ceil(10/8) = 2 units, tp4 at 10 req/s
    # needs 1 unit; both 4 GPUs at 1100 tok/s/GPU, so TTFT decides.
    candidates = table(
        agg_row(2, 1100.0, requests_per_s=8.0, ttft_ms=180.0),
        agg_row(4, 1100.0, requests_per_s=10.0, ttft_ms=150.0),
    )
    request = make_request(mode=PickingMode.LOAD_MATCH, rate=10.0)
    selection = pick(request, candidates, load_point=at_capacity)

    assert [p.ttft_ms for p in selection.top] == [150.0, 180.0]
    assert [p.total_gpus for p in selection.top] == [4, 4]
    why = explain_rank(selection.top[1], selection.chosen, selection.picking_mode, request.sla)
    assert why == "same GPU count, tokens/s/GPU and tokens/s/user; 30 ms higher TTFT"


def test_explain_rank_names_throughput_loss():
    candidates = table(agg_row(1, 1000.0), agg_row(2, 950.0))
    request = make_request()
    selection = pick(request, candidates)

    # 1 - 950 / 1000 = 5.0 % fewer.
    assert explain_rank(selection.top[1], selection.chosen, selection.picking_mode, request.sla) == "5.0% fewer tokens/s/GPU over the budget"


def test_summary_says_sla_not_met_first():
    from dgdr_kernel.summary import format_selection

    # Same rows as the fallback test: the pick has TTFT 100 ms (meets 200 ms)
    # and ITL 12 ms against 10 ms.
    request = make_request()
    selection = pick(request, table(agg_row(1, 2000.0, ttft_ms=300.0), agg_row(2, 1000.0, itl_ms=12.0)))
    lines = format_selection(selection, request).splitlines()
    after_table = lines[lines.index("") + 1 :]
    first = next(line for line in after_table[after_table.index("") :] if line)

    assert first.startswith("SLA NOT MET: no configuration meets TTFT <= 200 ms and ITL <= 10 ms on predicted means.")
    assert "needs an ITL target of at least 12.0 ms (requested 10 ms)" in first
    assert "its TTFT 100.0 ms meets the 200 ms target" in first


def test_summary_sla_line_rounds_target_up():
    from dgdr_kernel.summary import format_selection

    # ITL 26.04 ms shows as 26.0 but a 26.0 ms target would still miss: the line says 26.1.
    request = make_request(sla=SlaTargets(200.0, 25.0))
    selection = pick(request, table(agg_row(1, 1000.0, ttft_ms=90.0, itl_ms=26.04)))
    text = format_selection(selection, request)

    assert "needs an ITL target of at least 26.1 ms (requested 25 ms)" in text
    assert "has ITL 26.04 ms" in text


def test_summary_sla_line_in_e2e_mode():
    from dgdr_kernel.summary import format_selection

    # Request latency 100 + 10 * (101 - 1) = 1100 ms against 900 ms.
    request = make_request(sla=SlaTargets(None, None, 900.0))
    text = format_selection(pick(request, table(agg_row(1, 1000.0, itl_ms=10.0))), request)

    assert "SLA NOT MET: no configuration meets e2eLatency <= 900 ms on predicted means." in text
    assert "needs an e2eLatency target of at least 1100 ms (requested 900 ms)." in text


def test_summary_without_sla_line_when_met():
    from dgdr_kernel.summary import format_selection

    request = make_request()
    assert "SLA NOT MET" not in format_selection(pick(request, table(agg_row(1, 1000.0))), request)


def test_nan_parallel_group_dropped():
    # One parallel group priced as NaN (the interpolation failure behind
    # the upstream KeyError crash) must not reach the ranking.
    candidates = table(
        agg_row(1, 1000.0),
        agg_row(2, float("nan"), ttft_ms=float("nan"), itl_ms=float("nan")),
        agg_row(2, float("inf")),
    )
    selection = pick(make_request(), candidates)

    assert selection.chosen.agg.tp == 1
    assert len(selection.top) == 1
    assert selection.candidates["reject_reason"].tolist()[1:] == ["non-finite prediction"] * 2


def test_all_nan_table_gives_no_pick():
    nan = float("nan")
    candidates = table(agg_row(1, nan, ttft_ms=nan, itl_ms=nan), agg_row(2, nan, ttft_ms=nan, itl_ms=nan))
    selection = pick(make_request(), candidates)

    assert selection.chosen is None
    assert selection.top == []
    assert not selection.sla_met
    assert any("no feasible configuration" in w for w in selection.warnings)


def test_top_n_distinct_layouts():
    # Three batches of the same tp1 layout count as one layout.
    candidates = table(
        agg_row(1, 1000.0, concurrency=8), agg_row(1, 1200.0, concurrency=16), agg_row(1, 1100.0, concurrency=12),
        agg_row(2, 900.0),
    )
    selection = pick(make_request(), candidates, top_n=5)

    assert [(p.agg.tp, p.agg.max_batch_size) for p in selection.top] == [(1, 16), (2, 8)]


def test_e2e_pairs_within_grid():
    # L = 2000 ms, OSL 101: grid TTFTs below 2000 are 300..1600 (9 values); ITL = (2000 - t) / 100.
    pairs = e2e_sla_pairs(2000.0, 101)
    assert pairs[:, 0].tolist() == [300, 400, 500, 600, 800, 1000, 1200, 1400, 1600]
    assert pairs[0, 1] == pytest.approx(17.0)
    assert pairs[-1, 1] == pytest.approx(4.0)


def test_e2e_pairs_outside_grid_use_fractions():
    # L = 200 ms is below 300 ms: only L * (0.1, 0.2, 0.3, 0.5, 0.7), plus the given TTFT of 50 ms.
    pairs = e2e_sla_pairs(200.0, 11, ttft_ms=50.0)
    assert pairs[:, 0].tolist() == pytest.approx([20.0, 40.0, 50.0, 60.0, 100.0, 140.0])
    assert pairs[0, 1] == pytest.approx(18.0)


def test_e2e_mode_checks_pairs_and_ranks_latency():
    # L = 2000 ms, OSL 101. Row 1: TTFT 250, ITL 16 -> meets the pair (300, 17).
    # Row 2: TTFT 900, ITL 11.5 -> latency 2050 misses. Row 3: TTFT 550, ITL 14
    # (latency 1950) meets (600, 14). Same cluster throughput: lower latency first.
    sla = SlaTargets(None, None, e2e_latency_ms=2000.0)
    candidates = table(
        agg_row(1, 1000.0, ttft_ms=250.0, itl_ms=16.0),
        agg_row(2, 1000.0, ttft_ms=900.0, itl_ms=11.5),
        agg_row(4, 1000.0, ttft_ms=550.0, itl_ms=14.0),
    )
    reasons = sla_reject_reasons(candidates, sla, OSL)
    assert reasons.tolist() == ["", "misses e2e latency", ""]

    selection = pick(make_request(sla=sla), candidates)
    assert [p.agg.tp for p in selection.top] == [1, 4]
    assert selection.top[0].request_latency_ms == pytest.approx(1850.0)


def test_empty_table_gives_no_pick():
    selection = pick(make_request(), pd.DataFrame())

    assert selection.chosen is None
    assert selection.candidates.empty
    assert any("no feasible configuration" in w for w in selection.warnings)


def test_summary_lists_picks_and_rejections():
    from dgdr_kernel.summary import format_selection

    request = make_request()
    candidates = table(agg_row(1, 1000.0), disagg_row(1, 1, 1, 2, 1200.0), agg_row(2, 900.0, ttft_ms=300.0))
    text = format_selection(pick(request, candidates), request)
    lines = text.splitlines()

    assert "SLA TTFT <= 200 ms, ITL <= 10 ms (on means)" in lines[0]
    assert lines[2].split() == [
        "rank", "configuration", "GPUs", "TTFT", "ms", "ITL", "ms", "D", "batch", "tok/s/GPU", "tok/s/user", "SLA", "provenance",
    ]  # fmt: skip
    # agg_row runs each worker at batch 8, so D batch (requests per decode worker) is 8.0.
    assert lines[4].split() == ["1", "agg", "vllm", "8x", "tp1", "8", "100", "8.0", "8.0", "1,000", "125.0", "met", "modelled"]
    assert lines[5].split()[:7] == ["2", "disagg", "vllm", "2P(tp1)", "+", "4D(tp1)", "6"]
    assert "candidates: 3 evaluated, 2 eligible" in text
    assert "  rejected, misses TTFT: 1" in lines
