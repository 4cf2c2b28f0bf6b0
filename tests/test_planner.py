"""Planner curves and planner_config.json.

The array names, units and loading steps checked here are those of Dynamo's
planner interpolators (components/src/dynamo/planner/core/throughput/interpolation.py
in ai-dynamo/dynamo). The planner loads raw_data.npz with np.load and fits a
1-D cubic interp1d of TTFT and throughput over ISL. For decode it runs scipy
griddata (cubic, nearest for the gaps) onto a 100 x 100 grid of KV usage in
[0, 1] and context length.
"""

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import scipy.interpolate

from dgdr_kernel.errors import PerfModelError
from dgdr_kernel.planner import (
    build_planner_curves,
    decode_batch_sizes,
    decode_grid_isl,
    prefill_grid_isl,
    sweep_max_context_length,
    write_planner_curves,
)
from dgdr_kernel.selection import EngineLayout, Pick

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _pick(prefill, decode, backend="vllm"):
    return Pick(
        mode="disagg", backend=backend, agg=None, prefill=prefill, decode=decode, total_gpus=8, ttft_ms=1, itl_ms=1,
        request_latency_ms=1, tokens_per_s_per_user=1, tokens_per_s_per_gpu=1, requests_per_s=1, concurrency=1,
        meets_sla=True, provenance="modelled",
    )  # fmt: skip


@dataclass
class _Arch:
    max_position_embeddings: int


@dataclass
class _Request:
    arch: _Arch
    isl: int = 4000
    gpu: object = None


class LinearPerfModel:
    """A stand-in with hand-checkable formulas, so the grid arithmetic can be verified exactly."""

    kv_capacity_tokens = 60_000

    def disagg_prefill(self, layout, isl):
        ttft = 0.05 * np.asarray(isl, dtype=float) + 5.0
        return type("P", (), {"ttft_ms": ttft, "requests_per_s": layout.dp * 1000.0 / ttft})()

    def memory(self, layout):
        return type("M", (), {"kv_capacity_tokens": np.full(len(layout), self.kv_capacity_tokens)})()

    def disagg_decode(self, layout, isl, osl, batch):
        itl = 5.0 + 0.0001 * np.asarray(batch) * (np.asarray(isl) + osl / 2)
        return type("D", (), {"itl_ms": itl, "batch": np.asarray(batch, dtype=float), "tokens_per_s_per_gpu": batch * 1000.0 / itl / layout.gpus_per_worker})()


def test_prefill_grid_for_40k_context():
    # Qwen3-32B: max_position_embeddings 40960 (its config.json). Upper bound
    # 40960 - 512 = 40448, step (40448 - 100) // 16 = 2521.
    grid = prefill_grid_isl(40960)
    assert grid[0] == 100
    assert grid[1] - grid[0] == 2521
    assert grid[-1] == 100 + 16 * 2521
    assert len(grid) == 17
    assert grid.dtype == np.int64


def test_decode_grid_for_40k_context():
    # Upper bound 40960 - 500 = 40460, step 40460 // 6 = 6743.
    assert decode_grid_isl(40960).tolist() == [100, 6843, 13586, 20329, 27072, 33815]


def test_grids_reject_short_context():
    with pytest.raises(PerfModelError, match="leaves no room for prefill curves"):
        prefill_grid_isl(600)
    with pytest.raises(PerfModelError, match="too short for decode curves"):
        decode_grid_isl(600)


def test_sweep_max_context_length_fallbacks():
    assert sweep_max_context_length(131072, 4000) == 131072
    assert sweep_max_context_length(None, 4000) == 8000
    assert sweep_max_context_length(None, 0) == 8192


@pytest.mark.parametrize(
    ("dp", "max_concurrency", "expected"),
    [
        (1, 100, [1, 20, 40, 60, 80, 100]),  # step (100 - 1) / 5 = 19.8
        (8, 100, [8, 24, 40, 56, 72, 96]),  # 12 per rank, step 11 / 5 = 2.2
        (2, 7, [2, 4, 6]),
        (8, 7, []),
    ],
)
def test_decode_batch_sizes(dp, max_concurrency, expected):
    sizes = decode_batch_sizes(dp, max_concurrency)
    assert sizes == expected
    assert all(size <= max_concurrency for size in sizes)


def test_decode_batch_sizes_never_overshoot_for_large_dp():
    # Upstream spaced dp=8 up to ~15,944 for a 2000 maximum; ours stays below it.
    assert max(decode_batch_sizes(8, 2000)) <= 2000


def test_curves_follow_the_grid_formulas():
    prefill, decode = EngineLayout(tp=2), EngineLayout(tp=4)
    curves = build_planner_curves(_Request(_Arch(40960)), _pick(prefill, decode), perf_model=LinearPerfModel())

    # Prefill: ttft = 0.05 * isl + 5; thpt/GPU = isl / ttft * 1000 / 2 GPUs.
    assert curves.prefill_isl.tolist() == prefill_grid_isl(40960).tolist()
    np.testing.assert_allclose(curves.prefill_ttft, 0.05 * curves.prefill_isl + 5.0)
    np.testing.assert_allclose(curves.prefill_thpt_per_gpu, curves.prefill_isl / curves.prefill_ttft * 1000.0 / 2)

    # Decode: at ISL 100, max concurrency 60000 // 600 = 100, batches 1..100.
    first = curves.y_context_length == 350.0
    np.testing.assert_allclose(curves.x_kv_usage[first], np.array([1, 20, 40, 60, 80, 100]) * 350.0 / 60000)
    # ISL 33815: 60000 // 34315 = 1, one point at batch 1.
    assert (curves.y_context_length == 33815 + 250).sum() == 1
    assert curves.max_kv_tokens == 60000
    assert np.all(curves.x_kv_usage <= 1.0)


def test_npz_and_json_match_what_the_planner_loads(tmp_path):
    curves = build_planner_curves(_Request(_Arch(40960)), _pick(EngineLayout(tp=2), EngineLayout(tp=4)), perf_model=LinearPerfModel())
    write_planner_curves(curves, tmp_path)

    with np.load(tmp_path / "selected_prefill_interpolation/raw_data.npz") as prefill:
        assert sorted(prefill.files) == ["prefill_isl", "prefill_thpt_per_gpu", "prefill_ttft"]
        assert prefill["prefill_isl"].dtype.kind == "i"
        assert prefill["prefill_ttft"].dtype == np.float64
    with np.load(tmp_path / "selected_decode_interpolation/raw_data.npz") as decode:
        assert sorted(decode.files) == ["max_kv_tokens", "x_kv_usage", "y_context_length", "z_itl", "z_thpt_per_gpu"]
        assert decode["max_kv_tokens"].shape == (1,)
        assert decode["max_kv_tokens"][0] == 60000
        lengths = {decode[name].shape for name in ("x_kv_usage", "y_context_length", "z_itl", "z_thpt_per_gpu")}
        assert len(lengths) == 1

    data = curves.configmap_data()
    prefill_json = json.loads(data["prefill_raw_data.json"])
    decode_json = json.loads(data["decode_raw_data.json"])
    assert prefill_json["prefill_isl"] == curves.prefill_isl.tolist()
    assert decode_json["z_itl"] == curves.z_itl.tolist()
    assert decode_json["max_kv_tokens"] == 60000  # a plain int in the JSON form


def _interpolate_like_the_planner(folder: Path):
    with np.load(folder / "selected_prefill_interpolation/raw_data.npz") as raw:
        isl, ttft, thpt = raw["prefill_isl"], raw["prefill_ttft"], raw["prefill_thpt_per_gpu"]
    ttft_at = scipy.interpolate.interp1d(isl, ttft, kind="cubic")
    thpt_at = scipy.interpolate.interp1d(isl, thpt, kind="cubic")

    with np.load(folder / "selected_decode_interpolation/raw_data.npz") as raw:
        x, y, itl, dthpt, max_kv = raw["x_kv_usage"], raw["y_context_length"], raw["z_itl"], raw["z_thpt_per_gpu"], raw["max_kv_tokens"][0]
    grid_x, grid_y = np.meshgrid(np.linspace(0, 1, 100), np.linspace(0, max(y), 100))
    itl_grid = scipy.interpolate.griddata((x, y), itl, (grid_x, grid_y), method="cubic")
    gaps = np.isnan(itl_grid)
    itl_grid[gaps] = scipy.interpolate.griddata((x, y), itl, (grid_x, grid_y), method="nearest")[gaps]
    return ttft_at, thpt_at, itl_grid, max_kv


def test_real_model_curves_load_the_planner_way(tmp_path):
    from dgdr_kernel.request import resolve_request
    from dgdr_kernel.spec import load_dgdr

    request = resolve_request(load_dgdr(EXAMPLES / "qwen3-32b-h200.yaml"))
    curves = build_planner_curves(request, _pick(EngineLayout(tp=2), EngineLayout(tp=4)))
    write_planner_curves(curves, tmp_path)
    ttft_at, thpt_at, itl_grid, max_kv = _interpolate_like_the_planner(tmp_path)

    # Prefill TTFT grows with ISL; the planner queries inside the measured range.
    assert float(ttft_at(4000)) < float(ttft_at(30000))
    assert float(thpt_at(4000)) > 0
    assert itl_grid.shape == (100, 100)
    assert np.isfinite(itl_grid).all()
    assert max_kv > 0
    # More KV usage at a fixed context means a larger batch and a slower step.
    row = itl_grid[10]
    assert row[-1] > row[0]


def test_real_model_curves_for_dep_decode():
    from dgdr_kernel.request import resolve_request
    from dgdr_kernel.spec import load_dgdr

    request = resolve_request(load_dgdr(EXAMPLES / "deepseek-v3-h200.yaml"))
    dep8 = EngineLayout(tp=1, dp=8, moe_ep=8)
    tep8 = EngineLayout(tp=8, moe_ep=8)
    curves = build_planner_curves(request, _pick(tep8, dep8, backend="sglang"))
    assert len(curves.z_itl) > 3
    assert np.all(np.isfinite(curves.z_itl))
