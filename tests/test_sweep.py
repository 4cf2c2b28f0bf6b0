"""Search space, batch grid, rate matching and the sweep over the real performance model."""

import numpy as np
import pandas as pd
import pytest

from dgdr_kernel.modelarch import resolve_model
from dgdr_kernel.queueing import erlang_c, mdc_wait_ms
from dgdr_kernel.rate_matching import allowed_unit_gpus, match_rates
from dgdr_kernel.search_space import DECODE_BATCH_GRID, batch_grid, check_layouts, enumerate_layouts, worker_gpu_counts


def valid_labels(model, backend, counts=(1, 2, 4, 8)):
    layouts = enumerate_layouts(resolve_model(model), backend, list(counts))
    return layouts.loc[layouts["invalid_reason"] == "", "parallel"].tolist()


# ------------------------------------------------------------ search space


def test_gpu_counts_stop_at_node_and_budget():
    assert worker_gpu_counts(16, 8, "h200_sxm") == [1, 2, 4, 8]
    assert worker_gpu_counts(6, 8, "h200_sxm") == [1, 2, 4]
    assert worker_gpu_counts(1, 8, "l40s") == [1]
    # GB200 racks allow 16-GPU workers although one tray has 4 GPUs.
    assert worker_gpu_counts(32, 4, "gb200") == [1, 2, 4, 8, 16]
    assert worker_gpu_counts(32, 8, "h200_sxm", multi_node=True) == [1, 2, 4, 8, 16, 32]


@pytest.mark.parametrize("backend", ["vllm", "sglang", "trtllm"])
def test_deepseek_v3_uses_tep_and_dep_only(backend):
    # DeepSeek-V3 is MLA MoE: TEP and DEP only (upstream search space); 256 experts divide by 2..8.
    assert valid_labels("deepseek-ai/DeepSeek-V3", backend) == ["tp1", "tep2", "dep2", "tep4", "dep4", "tep8", "dep8"]


@pytest.mark.parametrize("backend", ["vllm", "sglang", "trtllm"])
def test_qwen3_235b_adds_pure_tp(backend):
    # Qwen3-MoE also allows experts split by TP; 4 KV heads are replicated at tp8.
    labels = valid_labels("Qwen/Qwen3-235B-A22B", backend)
    assert labels == ["tp1", "tp2", "tep2", "dep2", "tp4", "tep4", "dep4", "tp8", "tep8", "dep8"]


def test_dense_model_tp_only():
    assert valid_labels("Qwen/Qwen3-32B", "vllm") == ["tp1", "tp2", "tp4", "tp8"]


def test_moe_layouts_satisfy_gpu_identity():
    layouts = enumerate_layouts(resolve_model("Qwen/Qwen3-235B-A22B"), "trtllm", [1, 2, 4, 8])
    assert (layouts["tp"] * layouts["dp"] == layouts["moe_tp"] * layouts["moe_ep"]).all()
    assert (layouts["gpus_per_worker"] == layouts["tp"] * layouts["dp"]).all()


def test_backend_bans():
    arch = resolve_model("Qwen/Qwen3-235B-A22B")
    # tp2 x dp2 attention with 4-way EP (and plain TEP2); 2-way expert TP with 2-way EP.
    layouts = pd.DataFrame(dict(tp=[2, 2], pp=[1, 1], dp=[2, 1], moe_tp=[1, 1], moe_ep=[4, 2]))
    mixed = pd.DataFrame(dict(tp=[2], pp=[1], dp=[2], moe_tp=[2], moe_ep=[2]))

    assert check_layouts(arch, "trtllm", layouts).tolist() == ["trtllm does not combine attention DP with TP", ""]
    assert check_layouts(arch, "vllm", mixed).tolist() == ["vllm does not combine expert TP with EP"]
    assert check_layouts(arch, "sglang", mixed).tolist() == [""]


def test_divisibility_of_heads_and_experts():
    # Qwen3-32B: 64 heads, 8 KV heads. tp16 replicates each KV head twice; tp3 divides nothing.
    dense = resolve_model("Qwen/Qwen3-32B")
    layouts = pd.DataFrame(dict(tp=[16, 3], pp=1, dp=1, moe_tp=1, moe_ep=1))
    reasons = check_layouts(dense, "vllm", layouts)
    assert reasons[0] == ""
    assert "attention heads" in reasons[1]

    # DeepSeek-V3: 256 routed experts do not divide by 3.
    moe = resolve_model("deepseek-ai/DeepSeek-V3")
    layouts = pd.DataFrame(dict(tp=[1], pp=1, dp=[3], moe_tp=1, moe_ep=[3]))
    assert check_layouts(moe, "vllm", layouts).tolist() == ["256 experts not divisible by moe_ep"]


def test_batch_grid_follows_aic_list():
    # 1..15, 16..30 step 2, 32..124 step 4, 128..504 step 8, 512: 15 + 8 + 24 + 48 + 1 values.
    assert len(DECODE_BATCH_GRID) == 96
    index, batch = batch_grid(np.array([0, 20, 600]))
    assert (index == 0).sum() == 0
    assert batch[index == 1].tolist() == [*range(1, 16), 16, 18, 20]
    assert batch[index == 2].max() == 512


# ------------------------------------------------------------ rate matching


def test_allowed_unit_gpus():
    assert allowed_unit_gpus(8).tolist() == [1, 2, 4, 8]
    assert allowed_unit_gpus(40).tolist() == [1, 2, 4, 8, 16, 24, 32, 40]


def test_rate_matching_hand_case():
    # P = 10 req/s and D = 4 req/s, one GPU each, totals in {1, 2, 4, 8}.
    # Objective min(9x, 3.68y) / (x + y): (1,3) -> 9/4 = 2.25, (2,6) -> 18/8 = 2.25,
    # (3,5) -> 18.4/8 = 2.30 (best), (4,4) -> 14.72/8 = 1.84.
    match = match_rates([10.0], [1], [4.0], [1], allowed_unit_gpus(8))
    assert (match.p_workers[0], match.d_workers[0]) == (3, 5)
    assert match.requests_per_s[0] == pytest.approx(18.4)
    assert match.gpus[0] == 8

    # With 4 GPUs, (1,3) is best: min(9, 11.04) = 9 req/s.
    match = match_rates([10.0], [1], [4.0], [1], allowed_unit_gpus(4))
    assert (match.p_workers[0], match.d_workers[0]) == (1, 3)
    assert match.requests_per_s[0] == pytest.approx(9.0)


def test_rate_matching_ties_prefer_fewer_gpus():
    # P = D = 1 req/s: (1,1) and (2,2) give the same 0.9/2 req/s/GPU; (1,1) uses fewer GPUs.
    match = match_rates([1.0], [1], [1.0], [1], allowed_unit_gpus(8))
    assert (match.p_workers[0], match.d_workers[0]) == (1, 1)


def test_erlang_c_hand_values():
    # One server: P(wait) = rho. Two servers at offered load 1: C = 1/3
    # (Erlang C formula: a^c / c! * c / (c - a) over the sum, = 0.5 * 2 / (1 + 1 + 1)).
    assert erlang_c(np.array([1]), np.array([0.5]))[0] == pytest.approx(0.5)
    assert erlang_c(np.array([2]), np.array([1.0]))[0] == pytest.approx(1.0 / 3.0)


def test_mdc_wait_hand_values():
    # M/D/1 at rho 0.5, service 100 ms: rho / (2 (1 - rho)) * 100 = 50 ms (exact).
    # M/D/2 at 10 req/s, 100 ms: M/M/2 wait C / (c mu - lambda) = (1/3) / 10 s = 33.3 ms, halved.
    waits = mdc_wait_ms(np.array([5.0, 10.0, np.nan]), np.array([1, 2, 1]), np.array([100.0, 100.0, 100.0]))
    assert waits[0] == pytest.approx(50.0)
    assert waits[1] == pytest.approx(100.0 / 6.0)
    assert np.isnan(waits[2])


def test_mdc_wait_capped_at_saturation():
    # 20 req/s on one 100 ms slot is twice its capacity; utilisation is capped at 0.95:
    # 0.95 / (2 * 0.05) * 100 = 950 ms.
    assert mdc_wait_ms(np.array([20.0]), np.array([1]), np.array([100.0]))[0] == pytest.approx(950.0)


def test_rate_matching_without_allowed_split():
    # 3-GPU workers: every x*3 + y*3 is a multiple of 3, never in {1, 2, 4, 8}.
    # NaN rates are left unmatched as well.
    match = match_rates([5.0, np.nan], [3, 1], [5.0, 1.0], [3, 1], allowed_unit_gpus(8))
    assert match.p_workers.tolist() == [0, 0]
    assert np.isnan(match.requests_per_s).all()


# ------------------------------------------------------------ sweep over the real performance model

from dgdr_kernel.errors import PerfModelError  # noqa: E402
from dgdr_kernel.hardware import ResolvedHardware, get_gpu  # noqa: E402
from dgdr_kernel.picking import pick  # noqa: E402
from dgdr_kernel.request import PickingMode, ResolvedRequest, SlaTargets  # noqa: E402
from dgdr_kernel.sweep import CANDIDATE_COLUMNS, naive_candidates, run_sweep  # noqa: E402


def make_request(model, sku="h200_sxm", total_gpus=8, backends=("vllm",), isl=4000, osl=500):
    gpu = get_gpu(sku)
    hardware = ResolvedHardware(
        gpu=gpu, total_gpus=total_gpus, num_gpus_per_node=gpu.gpus_per_node, vram_mib=gpu.vram_mib,
        interconnect="nvlink", rdma=None,
    )  # fmt: skip
    return ResolvedRequest(
        dgdr=None, hardware=hardware, arch=resolve_model(model), backends=backends,
        picking_mode=PickingMode.DEFAULT, sla=SlaTargets(2000.0, 50.0), isl=isl, osl=osl,
        request_rate=None, concurrency=None, total_gpus=total_gpus,
    )  # fmt: skip


def fitting_parallels(table, mode="agg"):
    rows = table[(table["mode"] == mode) & table["fits"]]
    return sorted(set(rows["parallel"]))


@pytest.fixture(scope="module")
def qwen32b_auto():
    request = make_request("Qwen/Qwen3-32B", backends=("vllm", "sglang", "trtllm"))
    return request, run_sweep(request)


def test_sweep_columns_and_backends(qwen32b_auto):
    _, table = qwen32b_auto
    assert list(table.columns) == CANDIDATE_COLUMNS
    assert set(table["backend"]) == {"vllm", "sglang", "trtllm"}
    assert set(table["mode"]) == {"agg", "disagg"}
    assert set(table["provenance"]) <= {"calibrated", "modelled"}


def test_sweep_rows_consistent(qwen32b_auto):
    _, table = qwen32b_auto
    priced = table[table["fits"]]
    # The derived columns follow the metric definitions.
    assert np.allclose(priced["tokens_per_s_per_user"], 1000.0 / priced["itl_ms"])
    assert np.allclose(priced["request_latency_ms"], priced["ttft_ms"] + priced["itl_ms"] * 499)
    disagg = priced[priced["mode"] == "disagg"]
    units = disagg["p_workers"] * disagg["p_gpus_per_worker"] + disagg["d_workers"] * disagg["d_gpus_per_worker"]
    assert (units == disagg["gpus_per_unit"]).all()
    assert np.allclose(disagg["tokens_per_s_per_gpu"], disagg["requests_per_s"] * 500 / disagg["gpus_per_unit"])
    parts = disagg["prefill_ttft_ms"] + disagg["prefill_queue_ms"] + disagg["kv_transfer_ms"]
    assert np.allclose(disagg["ttft_ms"], parts)
    assert (disagg["prefill_queue_ms"] > 0).all()
    # Agg batches come from the grid and stay within each worker's KV capacity.
    agg = priced[priced["mode"] == "agg"]
    assert set(agg["d_batch"]) <= set(DECODE_BATCH_GRID.tolist())
    assert (agg["d_batch"] * 4500 <= agg["kv_capacity_tokens"]).all()


def test_sweep_unit_gpus_in_allowed_set(qwen32b_auto):
    _, table = qwen32b_auto
    disagg = table[(table["mode"] == "disagg") & table["fits"]]
    assert set(disagg["gpus_per_unit"]) <= {2, 4, 8}
    assert table["gpus_per_unit"].max() <= 8


def test_sglang_pairs_equal_tp(qwen32b_auto):
    _, table = qwen32b_auto
    disagg = table[(table["mode"] == "disagg") & table["fits"]]
    sglang = disagg[disagg["backend"] == "sglang"]
    vllm = disagg[disagg["backend"] == "vllm"]
    assert len(sglang) > 0
    assert (sglang["p_tp"] == sglang["d_tp"]).all()
    # vLLM has no such rule, so the filter above is not vacuous.
    assert (vllm["p_tp"] != vllm["d_tp"]).any()


def test_auto_backend_reports_winner(qwen32b_auto):
    request, table = qwen32b_auto
    selection = pick(request, table)
    assert selection.resolved_backend in {"vllm", "sglang", "trtllm"}
    assert selection.resolved_backend == selection.chosen.backend
    assert selection.chosen.total_gpus <= 8


def test_single_gpu_has_no_disagg():
    table = run_sweep(make_request("meta-llama/Llama-3.1-8B", sku="l40s", total_gpus=1))
    assert set(table["mode"]) == {"agg"}
    assert set(table["d_gpus_per_worker"]) == {1}


def test_memory_fit_filters_small_layouts():
    # Llama-3.1-70B in bf16 is 141 GB of weights (70.6e9 parameters x 2 bytes);
    # one L40S has 48 GiB (49152 MiB, NVIDIA datasheet), so tp1 and tp2
    # (70.6 GB per GPU) cannot store the weights.
    table = run_sweep(make_request("meta-llama/Llama-3.1-70B", sku="l40s", total_gpus=8))
    unfit = table[~table["fits"]]
    assert {"tp1", "tp2"} <= set(unfit["parallel"])
    assert unfit["ttft_ms"].isna().all()
    assert set(fitting_parallels(table)) <= {"tp4", "tp8"}
    assert "tp8" in fitting_parallels(table)

    selection = pick(make_request("meta-llama/Llama-3.1-70B", sku="l40s", total_gpus=8), table)
    assert set(selection.candidates.loc[~table["fits"], "reject_reason"]) == {"does not fit"}


@pytest.mark.parametrize("backend", ["vllm", "sglang", "trtllm"])
def test_deepseek_v3_needs_a_full_node(backend):
    # DeepSeek-V3's FP8 checkpoint is about 673 GB; four H200 hold 4 x 141 GiB =
    # 605 GB, so the smallest fitting workers are TEP8 and DEP8, and no
    # 16-GPU worker is tried because one node suffices.
    table = run_sweep(make_request("deepseek-ai/DeepSeek-V3", total_gpus=16, backends=(backend,)))
    assert fitting_parallels(table) == ["dep8", "tep8"]
    assert table["d_gpus_per_worker"].max() == 8
    # MLA MoE has no pure-TP layout; tp1 is the single-GPU layout.
    labels = set(table["parallel"])
    assert all(label == "tp1" or label.startswith(("tep", "dep")) for label in labels)


def test_qwen3_235b_has_tp_tep_dep():
    # Qwen3-235B-A22B: 470 GB in bf16, so 2 H200 (2 x 151 GB) cannot hold it; 8 can.
    table = run_sweep(make_request("Qwen/Qwen3-235B-A22B", backends=("trtllm",)))
    parallels = fitting_parallels(table)
    assert {"tp8", "tep8", "dep8"} <= set(parallels)
    assert not {"tp1", "tp2", "tep2", "dep2"} & set(parallels)


def test_multi_node_only_when_needed():
    # Llama-3.1-405B in bf16 is 812 GB; eight H100 hold 8 x 80 GiB = 687 GB,
    # so workers span two nodes (16 GPUs).
    table = run_sweep(make_request("meta-llama/Llama-3.1-405B-Instruct", sku="h100_sxm", total_gpus=16))
    assert fitting_parallels(table) == ["tp16"]

    # Qwen3-32B fits in one node, so 16 GPUs give no 16-GPU worker.
    table = run_sweep(make_request("Qwen/Qwen3-32B", total_gpus=16))
    assert table["d_gpus_per_worker"].max() == 8


def test_naive_fallback_sizes_tp_by_memory():
    # Llama-3.1-70B bf16: 1.5 x 141.1 GB = 211.7 GB. L40S: 49152 MiB = 51.5 GB.
    # tp4 gives 206.2 GB (too small), tp8 gives 412.3 GB: TP8, one worker on 8 GPUs.
    table = naive_candidates(make_request("meta-llama/Llama-3.1-70B", sku="l40s", total_gpus=8), "vllm")
    assert table["parallel"].tolist() == ["tp8"]
    assert table["fits"].tolist() == [True]
    assert table["provenance"].tolist() == ["naive"]

    # With 4 GPUs the cap binds: TP4 and fits is False.
    table = naive_candidates(make_request("meta-llama/Llama-3.1-70B", sku="l40s", total_gpus=4), "vllm")
    assert table["parallel"].tolist() == ["tp4"]
    assert table["fits"].tolist() == [False]


def test_naive_fallback_used_when_model_cannot_price(monkeypatch):
    import dgdr_kernel.perf

    class UnpricedModel:
        def __init__(self, arch, gpu, backend):
            raise PerfModelError(f"no parameters for {gpu.sku}")

    monkeypatch.setattr(dgdr_kernel.perf, "PerfModel", UnpricedModel)
    request = make_request("meta-llama/Llama-3.1-8B", sku="l40s", total_gpus=4, backends=("vllm", "sglang"))
    table = run_sweep(request)
    selection = pick(request, table)

    assert table["provenance"].tolist() == ["naive"]
    assert selection.chosen.agg.tp == 1
    assert selection.chosen.agg.workers == 4  # floor(4 / 1)
    assert not selection.sla_met
    assert any("naive" in w for w in request.warnings)


def test_model_too_large_gives_no_pick():
    # Llama-3.1-405B needs 812 GB in bf16; one L40S has 48 GiB, so nothing fits.
    request = make_request("meta-llama/Llama-3.1-405B-Instruct", sku="l40s", total_gpus=1)
    table = run_sweep(request)
    selection = pick(request, table)

    assert not table["fits"].any()
    assert selection.chosen is None
    assert set(selection.candidates["reject_reason"]) == {"does not fit"}
    assert any("does not fit: 1" in w for w in selection.warnings)
    assert any("raise hardware.totalGpus" in w for w in selection.warnings)
