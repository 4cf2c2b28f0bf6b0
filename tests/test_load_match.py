"""load_match picks report their figures at the target load, predicted by the performance model.

The examples are the repository's own DGDRs: qwen3-235b-fp8-trtllm (64
concurrent requests on up to 16 H200) and gpt-oss-20b-h100 (10 requests/s).
Sizing stays the upstream rule (`ceil(target / capacity)` units), so the
capacity figures are the candidate row's, multiplied by the units.
"""

from pathlib import Path

import numpy as np
import pytest

from dgdr_kernel.picking import pick
from dgdr_kernel.report.summary import describe_load
from dgdr_kernel.request import resolve_request
from dgdr_kernel.spec import load_dgdr
from dgdr_kernel.sweep import run_sweep

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def picked(name):
    request = resolve_request(load_dgdr(EXAMPLES / name))
    candidates = run_sweep(request)
    return request, candidates, pick(request, candidates)


@pytest.fixture(scope="module")
def qwen():
    return picked("qwen3-235b-fp8-trtllm.yaml")


@pytest.fixture(scope="module")
def gpt_oss():
    return picked("gpt-oss-20b-h100.yaml")


def same_layout(candidates, chosen):
    layout = chosen.agg if chosen.mode == "agg" else chosen.decode
    rows = candidates[
        candidates["mode"].eq(chosen.mode) & candidates["backend"].eq(chosen.backend)
        & candidates["d_tp"].eq(layout.tp) & candidates["d_dp"].eq(layout.dp) & candidates["d_moe_ep"].eq(layout.moe_ep)
    ]  # fmt: skip
    if chosen.mode == "disagg":
        rows = rows[rows["p_tp"].eq(chosen.prefill.tp) & rows["p_dp"].eq(chosen.prefill.dp)]
    return rows


def test_concurrency_target_at_replica_share(qwen):
    request, _, selection = qwen
    chosen = selection.chosen
    assert request.concurrency == 64
    rows = same_layout(selection.candidates, chosen)
    capacity_row = rows[rows["d_batch"].eq((chosen.agg or chosen.decode).max_batch_size)].iloc[0]
    replicas = round(chosen.capacity_concurrency / capacity_row["concurrency"])

    # The whole deployment runs the target concurrency, each unit its share.
    assert chosen.concurrency == pytest.approx(64.0)
    assert chosen.target_concurrency == 64
    assert chosen.capacity_concurrency >= 64
    assert chosen.load_used_pct == pytest.approx(100.0 * 64 / chosen.capacity_concurrency)
    # Sizing is by capacity: one unit fewer could not run the target.
    assert (replicas - 1) * capacity_row["concurrency"] < 64 <= replicas * capacity_row["concurrency"]
    assert capacity_row["meets_sla"]

    share = 64 / replicas
    if chosen.mode == "agg" and share in set(rows["d_batch"]):
        # The sweep priced this layout at the share itself: the pick must equal that row, not the capacity row.
        at_share = rows[rows["d_batch"].eq(share)].iloc[0]
        assert chosen.ttft_ms == pytest.approx(at_share["ttft_ms"])
        assert chosen.itl_ms == pytest.approx(at_share["itl_ms"])
        assert chosen.tokens_per_s_per_gpu == pytest.approx(at_share["tokens_per_s_per_gpu"])
        assert chosen.requests_per_s == pytest.approx(replicas * at_share["requests_per_s"])
    if chosen.load_used_pct < 100:
        # Below capacity the replica runs fewer requests, so its ITL is lower than the capacity row's.
        assert chosen.itl_ms < capacity_row["itl_ms"]
    assert chosen.meets_sla
    assert chosen.ttft_ms <= request.sla.ttft_ms
    assert chosen.itl_ms <= request.sla.itl_ms


def test_rate_target_reports_the_target_rate(gpt_oss):
    request, candidates, selection = gpt_oss
    chosen = selection.chosen
    assert request.request_rate == 10

    assert chosen.requests_per_s == pytest.approx(10.0, rel=1e-6)
    assert chosen.target_requests_per_s == 10
    assert chosen.capacity_requests_per_s >= 10
    assert chosen.load_used_pct == pytest.approx(100.0 * 10 / chosen.capacity_requests_per_s)
    # tokens/s/GPU at the target: 10 requests/s x OSL over the GPUs deployed.
    assert chosen.tokens_per_s_per_gpu == pytest.approx(10.0 * request.osl / chosen.total_gpus, rel=1e-6)
    assert chosen.meets_sla
    # Every ranked alternative is described at the target load too.
    for alternative in selection.top:
        assert alternative.requests_per_s == pytest.approx(10.0, rel=1e-6)
        assert alternative.load_used_pct <= 100.0


def test_capacity_line_states_target_and_share(qwen, gpt_oss):
    qwen_pick, gpt_pick = qwen[2].chosen, gpt_oss[2].chosen
    assert describe_load(qwen_pick).startswith(
        f"target 64 concurrent requests; capacity {qwen_pick.capacity_concurrency:g} ({qwen_pick.load_used_pct:.0f}% used)"
    )
    assert describe_load(gpt_pick).startswith(
        f"target 10 requests/s; capacity {gpt_pick.capacity_requests_per_s:.2f} requests/s"
    )


def test_default_mode_picks_carry_no_target(qwen):
    request, candidates, _ = qwen
    from dataclasses import replace

    from dgdr_kernel.request import PickingMode

    default = pick(replace(request, picking_mode=PickingMode.DEFAULT, concurrency=None), candidates)
    assert default.chosen.load_used_pct is None
    assert describe_load(default.chosen) == ""


def test_solver_inverts_an_increasing_curve():
    from dgdr_kernel.replicas import _solve_increasing

    # A closed-loop throughput shape: rate(c) = c / (1 + c / 50), rising
    # towards 50. Its inverse is c = 50 r / (50 - r), so rate 25 needs c 50
    # and rate 40 needs c 200 (hand-derived).
    def rate(c):
        return c / (1.0 + c / 50.0)

    low, high = np.full(4, 1e-3), np.full(4, 400.0)
    goal = np.array([25.0, 40.0, 1e-6, 49.0])
    solved = _solve_increasing(rate, goal, low=low, high=high)

    assert solved[0] == pytest.approx(50.0, rel=1e-8)
    assert solved[1] == pytest.approx(200.0, rel=1e-8)
    # Below the curve's value at `low`: returns low. Above its value at `high` (44.4): returns high.
    assert solved[2] == 1e-3
    assert solved[3] == 400.0
