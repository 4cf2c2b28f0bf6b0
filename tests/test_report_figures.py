"""Figures, tables and HTML helpers of the report, on hand-made candidate tables.

The tables here are built by hand with the columns of the candidate table
(docs/design.md), so each expected value follows from the rows below.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from dgdr_kernel.report import figures, html, placement, summary
from dgdr_kernel.selection import EngineLayout, Pick

NAN = float("nan")


def _row(mode, parallel, *, d_tp, d_batch, itl_ms, tps_gpu, reject="", p_tp=NAN, d_ep=1, d_dp=1, ttft_ms=500.0):
    disagg = mode == "disagg"
    return {
        "mode": mode, "backend": "vllm", "parallel": parallel,
        "p_tp": p_tp, "p_pp": 1 if disagg else NAN, "p_dp": 1 if disagg else NAN, "p_moe_tp": 1 if disagg else NAN,
        "p_moe_ep": 1 if disagg else NAN, "p_workers": 2 if disagg else NAN,
        "p_gpus_per_worker": p_tp if disagg else NAN, "p_batch": 1 if disagg else NAN,
        "d_tp": d_tp, "d_pp": 1, "d_dp": d_dp, "d_moe_tp": 1, "d_moe_ep": d_ep, "d_workers": 1,
        "d_gpus_per_worker": d_tp * d_dp, "d_batch": d_batch,
        "gpus_per_unit": 8, "replicas": 1, "total_gpus": 8, "concurrency": d_batch,
        "ttft_ms": ttft_ms, "itl_ms": itl_ms, "request_latency_ms": ttft_ms + itl_ms * 999,
        "tokens_per_s_per_user": 1000.0 / itl_ms if itl_ms == itl_ms else NAN,
        "tokens_per_s_per_gpu": tps_gpu, "tokens_per_s_per_gpu_cluster": tps_gpu, "requests_per_s": 1.0,
        "kv_capacity_tokens": 100000, "weights_gib_per_gpu": 16.0, "kv_cache_gib_per_gpu": 90.0,
        "reserve_gib_per_gpu": 6.0, "fits": itl_ms == itl_ms, "meets_sla": reject == "",
        "reject_reason": reject, "provenance": "modelled",
    }  # fmt: skip


@pytest.fixture()
def candidates() -> pd.DataFrame:
    rows = [
        _row("agg", "tp4", d_tp=4, d_batch=8, itl_ms=10.0, tps_gpu=200.0),
        _row("agg", "tp4", d_tp=4, d_batch=64, itl_ms=25.0, tps_gpu=900.0),
        _row("agg", "tp4", d_tp=4, d_batch=256, itl_ms=60.0, tps_gpu=1500.0, reject="misses ITL"),
        # The same decode layout paired with two prefill layouts: one ITL curve.
        _row("disagg", "tp4", p_tp=2, d_tp=4, d_batch=32, itl_ms=12.0, tps_gpu=500.0),
        _row("disagg", "tp4", p_tp=1, d_tp=4, d_batch=32, itl_ms=12.0, tps_gpu=450.0),
        _row("disagg", "tp4", p_tp=2, d_tp=4, d_batch=128, itl_ms=22.0, tps_gpu=1100.0),
        _row("disagg", "tp2", p_tp=2, d_tp=2, d_batch=128, itl_ms=40.0, tps_gpu=1300.0, reject="misses ITL"),
        # Does not fit: no numbers, cannot be placed on the Pareto plot.
        _row("agg", "tp1", d_tp=1, d_batch=1, itl_ms=NAN, tps_gpu=NAN, reject="does not fit", ttft_ms=NAN),
    ]
    return pd.DataFrame(rows)


@pytest.fixture()
def disagg_pick() -> Pick:
    return Pick(
        mode="disagg", backend="vllm", agg=None,
        prefill=EngineLayout(tp=2, workers=2, max_batch_size=1),
        decode=EngineLayout(tp=4, workers=1, max_batch_size=128),
        total_gpus=8, ttft_ms=480.0, itl_ms=22.0, request_latency_ms=22458.0,
        tokens_per_s_per_user=1000.0 / 22.0, tokens_per_s_per_gpu=1100.0, requests_per_s=5.0,
        concurrency=128, meets_sla=True, provenance="modelled",
        weights_gib_per_gpu=16.0, kv_cache_gib_per_gpu=90.0, reserve_gib_per_gpu=6.0,
    )  # fmt: skip


def _points(fig) -> int:
    return sum(len(trace.x) for trace in fig.data if trace.mode == "markers" and trace.name != "pick")


def test_pareto_keeps_rejected_points_faded(candidates, disagg_pick):
    fig = figures.figure_pareto(candidates, chosen=disagg_pick, itl_sla_ms=30.0)

    # 7 rows have numbers; the row that does not fit has none.
    assert _points(fig) == 7
    rejected = [trace for trace in fig.data if "(rejected)" in (trace.name or "")]
    assert {trace.name for trace in rejected} == {"agg (rejected)", "disagg (rejected)"}
    assert all(trace.opacity < 0.5 for trace in rejected)
    eligible = {trace.name: trace for trace in fig.data if trace.name in ("agg", "disagg")}
    assert eligible["agg"].opacity == 1.0
    assert eligible["agg"].marker.color != eligible["disagg"].marker.color


def test_pareto_marks_pick_and_sla(candidates, disagg_pick):
    fig = figures.figure_pareto(candidates, chosen=disagg_pick, itl_sla_ms=25.0)

    star = next(trace for trace in fig.data if trace.name == "pick")
    assert star.x[0] == pytest.approx(1000.0 / 22.0)
    assert star.y[0] == pytest.approx(1100.0)
    sla = next(trace for trace in fig.data if (trace.name or "").startswith("ITL SLA"))
    # 25 ms per token is 40 tokens/s per user.
    assert list(sla.x) == [pytest.approx(40.0), pytest.approx(40.0)]
    assert "mean" in sla.name
    assert "tokens/s/user" in fig.layout.xaxis.title.text
    assert "tokens/s/GPU" in fig.layout.yaxis.title.text


def _hover_of_point(trace, index: int) -> str:
    """Fill the trace's hovertemplate with one point's customdata, as plotly.js does."""
    row = trace.customdata[index]

    def fill(match):
        value = row[int(match.group(1))]
        fmt = match.group(2)
        if fmt:
            return format(float(value), fmt[1:])
        # JavaScript prints the number 2.0 as "2".
        return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)

    text = re.sub(r"%\{customdata\[(\d+)\](:[^}]*)?\}", fill, trace.hovertemplate)
    text = text.replace("%{text}", trace.text[index]).replace("%{hovertext}", trace.hovertext[index])
    return text.replace("<extra></extra>", "")


def test_pareto_hover_names_layout(candidates):
    fig = figures.figure_pareto(candidates)
    disagg = next(trace for trace in fig.data if trace.name == "disagg")
    first = _hover_of_point(disagg, 0)
    assert first.startswith("<b>disagg · vllm · tp4</b>")
    assert "prefill: TP2 PP1 EP1 DP1, 2 worker(s) of 2 GPUs" in first
    assert "decode: TP4 PP1 EP1 DP1, 1 worker(s) of 4 GPUs" in first
    assert "1 unit(s) × 8 GPUs = 8 GPUs" in first
    assert "mean ITL: 12.00 ms" in first
    assert "eligible · provenance: modelled" in first

    rejected = next(trace for trace in fig.data if trace.name == "agg (rejected)")
    assert "rejected: misses ITL" in _hover_of_point(rejected, 0)


def test_pareto_draws_frontier(candidates):
    frontier = candidates.iloc[[0, 3, 5]]
    fig = figures.figure_pareto(candidates, frontier=frontier)
    line = next(trace for trace in fig.data if trace.name == "Pareto front")
    assert list(line.x) == sorted(frontier["tokens_per_s_per_user"])


def test_pareto_draws_one_line_per_front(candidates):
    frontier = pd.concat(
        [candidates.iloc[[0, 1]].assign(front="agg"), candidates.iloc[[3, 5]].assign(front="disagg"),
         candidates.iloc[[0, 5]].assign(front="combined")]
    )  # fmt: skip
    fig = figures.figure_pareto(candidates, frontier=frontier)
    lines = {trace.name: trace for trace in fig.data if trace.mode == "lines"}

    assert set(lines) == {"Pareto front (agg)", "Pareto front (disagg)", "Pareto front"}
    # Sorted by tokens/s/user: row 5 (1000 / 22 ms) before row 0 (1000 / 10 ms).
    assert list(lines["Pareto front"].y) == [1100.0, 200.0]
    assert lines["Pareto front (agg)"].visible == "legendonly"


def test_ttft_curves_one_trace_per_tp():
    isl = np.array([1000, 2000, 4000, 8000])
    curves = pd.concat(
        [pd.DataFrame({"layout": f"tp{tp}", "p_tp": tp, "isl": isl, "ttft_ms": isl * 0.1 / tp}) for tp in (4, 1, 2)],
        ignore_index=True,
    )
    fig = figures.figure_ttft_vs_isl(curves, ttft_sla_ms=300.0, chosen_layout="tp2", workload_isl=4000)

    names = [trace.name for trace in fig.data]
    assert names[:3] == ["prefill tp1", "prefill tp2 (chosen)", "prefill tp4"]
    assert fig.data[1].line.width > fig.data[0].line.width
    assert list(fig.data[2].y) == pytest.approx([25.0, 50.0, 100.0, 200.0])
    sla = fig.data[3]
    assert list(sla.y) == [300.0, 300.0]
    assert "checked on the mean" in sla.name
    assert fig.layout.xaxis.title.text == "ISL (tokens)"
    assert fig.layout.yaxis.title.text == "TTFT (ms)"


def test_itl_curves_deduplicate_prefill_pairings(candidates, disagg_pick):
    fig = figures.figure_itl_vs_concurrency(candidates, itl_sla_ms=30.0, chosen=disagg_pick)

    by_name = {trace.name: trace for trace in fig.data}
    chosen = by_name["disagg vllm tp4 (chosen)"]
    # Two rows at batch 32 (two prefill pairings) give one point.
    assert list(chosen.x) == [32, 128]
    assert list(chosen.y) == [12.0, 22.0]
    assert by_name["agg vllm tp4"].visible == "legendonly"
    assert by_name["disagg vllm tp2"].visible is True
    assert list(by_name["ITL SLA 30 ms (checked on the mean)"].y) == [30.0, 30.0]
    assert by_name["pick"].x[0] == 128
    assert fig.layout.yaxis.title.text == "mean ITL (ms)"



def test_itl_legend_lists_sla_and_drawn_lines_first(candidates, disagg_pick):
    fig = figures.figure_itl_vs_concurrency(candidates, itl_sla_ms=30.0, chosen=disagg_pick)

    # Plotly orders legend entries by legendrank (default 1000), then by trace order.
    order = sorted(range(len(fig.data)), key=lambda i: (fig.data[i].legendrank or 1000, i))
    names = [fig.data[i].name for i in order]
    hidden = [i for i, name in enumerate(names) if fig.data[order[i]].visible == "legendonly"]
    assert names.index("ITL SLA 30 ms (checked on the mean)") < min(hidden)
    assert names.index("disagg vllm tp4 (chosen)") < min(hidden)

def test_memory_bars_fill_the_gpu():
    roles = pd.DataFrame(
        {"role": ["prefill", "decode"], "weights_gib_per_gpu": [32.0, 16.0],
         "kv_cache_gib_per_gpu": [80.0, 100.0], "reserve_gib_per_gpu": [8.0, 6.0]}
    )  # fmt: skip
    fig = figures.figure_memory(roles, vram_gib=141.0)

    totals = np.sum([np.asarray(trace.x, dtype=float) for trace in fig.data], axis=0)
    assert list(totals) == pytest.approx([141.0, 141.0])
    unused = next(trace for trace in fig.data if trace.name == "unused")
    assert list(unused.x) == pytest.approx([21.0, 19.0])
    assert fig.layout.xaxis.title.text == "memory per GPU (GiB)"


def test_placement_packs_one_node(disagg_pick):
    slots = placement.place_workers(disagg_pick, gpus_per_node=8, total_gpus=8)

    assert list(slots["label"]) == ["P0", "P0", "P1", "P1", "D0", "D0", "D0", "D0"]
    assert set(slots["node"]) == {0}
    assert (slots["role"] != "idle").all()


def test_placement_multinode_worker_takes_whole_nodes():
    pick = Pick(
        mode="agg", backend="sglang", agg=EngineLayout(tp=16, workers=1), prefill=None, decode=None,
        total_gpus=16, ttft_ms=1.0, itl_ms=1.0, request_latency_ms=1.0, tokens_per_s_per_user=1.0,
        tokens_per_s_per_gpu=1.0, requests_per_s=1.0, concurrency=1, meets_sla=True, provenance="modelled",
    )  # fmt: skip
    slots = placement.place_workers(pick, gpus_per_node=8, total_gpus=20)

    used = slots[slots["role"] == "agg"]
    assert len(used) == 16
    assert sorted(set(used["node"])) == [0, 1]
    # The budget of 20 leaves a third node with 4 GPUs, all idle.
    idle = slots[slots["role"] == "idle"]
    assert list(idle["node"]) == [2, 2, 2, 2]


def test_placement_adds_nodes_over_budget(disagg_pick):
    slots = placement.place_workers(disagg_pick, gpus_per_node=4, total_gpus=4)
    assert len(slots[slots["role"] != "idle"]) == 8
    assert slots["node"].max() == 1


def test_replica_layout_axes(disagg_pick):
    fig = figures.figure_replica_layout(disagg_pick, gpus_per_node=8, total_gpus=16)
    names = [trace.name for trace in fig.data]
    assert names == ["prefill", "decode", "unused GPU"]
    assert len(fig.data[2].x) == 8
    assert "(index)" in fig.layout.xaxis.title.text


def test_describe_pick_short(disagg_pick):
    assert summary.describe_pick_short(disagg_pick) == "disagg vllm 2P(tp2) + 1D(tp4)"
    assert summary.describe_pick_short(None).startswith("none")


def test_figure_div_id_is_stable(candidates):
    fig = figures.figure_pareto(candidates)
    first = html.figure_div_html(fig, "dgdr-pareto")
    second = html.figure_div_html(figures.figure_pareto(candidates), "dgdr-pareto")
    assert first == second
    assert 'id="dgdr-pareto"' in first
    assert "<script src=" not in first


def test_figure_display_bundle(candidates):
    bundle = html.FigureDisplay(figures.figure_pareto(candidates), "dgdr-x")._repr_mimebundle_()
    assert set(bundle) >= {"application/vnd.plotly.v1+json", "text/html"}
    assert len(bundle["application/vnd.plotly.v1+json"]["data"]) == 4


def test_index_lists_failures(tmp_path):
    entries = [
        {"request": "ok-run", "model": "Qwen/Qwen3-32B", "gpu_sku": "h200_sxm", "pick": "agg vllm 2x tp4",
         "gpus_used": 6, "gpu_budget": 16, "ttft_ms": 812.34, "itl_ms": 21.456, "tokens_per_s_per_gpu": 1234.5,
         "meets_sla": True, "report": "ok-run/report.html"},
        {"request": "bad-run", "error": "invalid DGDR: hardware.gpuSku <x>"},
    ]  # fmt: skip
    page = html.write_index(entries, tmp_path / "index.html").read_text()

    assert '<a href="ok-run/report.html">ok-run</a>' in page
    for number in ("812.3", "21.46", "1,234.5"):
        assert number in page
    assert "failed: invalid DGDR: hardware.gpuSku &lt;x&gt;" in page
    assert "1 succeeded, 1 failed" in page
    # GPUs used and the budget are separate columns, in that order.
    assert "<th>GPUs used</th><th>GPU budget</th>" in page
    assert '<td class="number">6</td><td class="number">16</td>' in page



def test_index_pick_on_one_line_and_sla_miss_marked(tmp_path):
    entries = [
        {"request": "met", "pick": "disagg vllm 4P(tp1) + 1D(tp4)", "gpus_used": 8, "gpu_budget": 8, "meets_sla": True,
         "report": "met/report.html"},
        {"request": "missed", "pick": "agg sglang 1x tp8", "gpus_used": 8, "gpu_budget": 8, "meets_sla": False,
         "report": "missed/report.html"},
        {"request": "broken", "error": "no DGD can be generated"},
    ]  # fmt: skip
    page = html.write_index(entries, tmp_path / "index.html").read_text()
    style = page.split("<style>", 1)[1].split("</style>", 1)[0]
    rows = re.findall(r"<tr[^>]*>.*?</tr>", page.split("<tbody>", 1)[1], re.S)

    assert re.search(r"td\.pick\s*\{[^}]*white-space:\s*nowrap", style)
    assert '<td class="pick">disagg vllm 4P(tp1) + 1D(tp4)</td>' in rows[0]
    assert re.search(r"td\.sla-missed\s*\{[^}]*background", style)
    assert '<td class="sla-missed">no</td>' in rows[1]
    assert "sla-missed" not in rows[0]
    # A failed request has no pick, so its SLA cell stays empty and unmarked.
    assert "sla-missed" not in rows[2]

def test_placed_points_are_finite(candidates):
    # Rows without numbers (they do not fit) must not reach the plot.
    fig = figures.figure_pareto(candidates)
    for trace in fig.data:
        assert not np.isnan(np.asarray(trace.x, dtype=float)).any(), trace.name
        assert not np.isnan(np.asarray(trace.y, dtype=float)).any(), trace.name


def test_figures_are_valid_plotly(candidates, disagg_pick):
    # The figures are built without plotly's validation for speed; rebuilding
    # them with validation raises on any invalid property.
    import plotly.graph_objects as go

    curves = pd.DataFrame({"layout": "tp1", "p_tp": 1, "isl": [1000, 2000], "ttft_ms": [100.0, 210.0]})
    roles = pd.DataFrame(
        {"role": ["decode"], "weights_gib_per_gpu": [16.0], "kv_cache_gib_per_gpu": [100.0], "reserve_gib_per_gpu": [6.0]}
    )
    built = [
        figures.figure_pareto(candidates, frontier=candidates.iloc[[0, 1]], chosen=disagg_pick, itl_sla_ms=30.0),
        figures.figure_ttft_vs_isl(curves, ttft_sla_ms=500.0, chosen_layout="tp1", workload_isl=1500),
        figures.figure_itl_vs_concurrency(candidates, itl_sla_ms=30.0, chosen=disagg_pick),
        figures.figure_memory(roles, vram_gib=141.0),
        figures.figure_replica_layout(disagg_pick, gpus_per_node=8, total_gpus=8),
    ]
    for fig in built:
        rebuilt = go.Figure(fig.to_plotly_json())
        assert len(rebuilt.data) == len(fig.data)
        assert rebuilt.layout.xaxis.title.text
        assert rebuilt.layout.yaxis.title.text


def test_cost_per_million_tokens():
    from dgdr_kernel.errors import ReportError
    from dgdr_kernel.report.compare import add_cost_columns

    table = pd.DataFrame({"gpu_sku": ["h200_sxm", "b200_sxm"], "tokens_per_s_per_gpu": [1000.0, 500.0]})
    priced = add_cost_columns(table, {"h200_sxm": 2.0})

    # 2 $/GPU-hour over 1000 tokens/s/GPU x 3600 s = 3.6e6 tokens per GPU-hour: 0.5556 $ per 1e6 tokens.
    assert priced["usd_per_million_output_tokens"][0] == pytest.approx(2.0 / 3.6)
    assert np.isnan(priced["usd_per_million_output_tokens"][1])
    with pytest.raises(ReportError, match=r"usd_per_gpu_hour\['h200_sxm'\]"):
        add_cost_columns(table, {"h200_sxm": -1.0})


def test_compare_keeps_unplannable_rows():
    from dgdr_kernel.report.compare import compare_plans
    from dgdr_kernel.report.inputs import build_dgdr_document

    base = build_dgdr_document(model="Qwen/Qwen3-8B", gpu_sku="h100_sxm", total_gpus=8, num_gpus_per_node=8)
    table = compare_plans(base, gpu_skus=["h100_sxm", "x100_sxm"], backends=["vllm"], workloads={"chat": (4000, 1000)})

    assert list(table["gpu_sku"]) == ["h100_sxm", "x100_sxm"]
    assert table["error"][0] == ""
    assert table["tokens_per_s_per_gpu"][0] > 0
    assert "hardware.gpuSku" in table["error"][1]


def test_compare_auto_row_keeps_its_backend():
    from dgdr_kernel.report.compare import compare_plans, figure_compare
    from dgdr_kernel.report.inputs import build_dgdr_document

    base = build_dgdr_document(model="Qwen/Qwen3-8B", gpu_sku="h100_sxm", total_gpus=8, num_gpus_per_node=8)
    table = compare_plans(base, gpu_skus=["h100_sxm"], backends=["vllm", "sglang", "trtllm", "auto"], workloads={"chat": (4000, 1000)})

    assert list(table["backend"]) == ["vllm", "sglang", "trtllm", "auto"]
    # `auto` picks one of the three, with that backend's numbers.
    auto = table.iloc[3]
    same = table[table["backend"] == auto["picked_backend"]].iloc[0]
    assert auto["tokens_per_s_per_gpu"] == pytest.approx(same["tokens_per_s_per_gpu"])
    # One bar per row: no two rows share an x category.
    (bars,) = figure_compare(table, value="tokens_per_s_per_gpu", title="t", y_title="y").data
    assert len(set(bars.x)) == 4
    assert bars.x[3] == f"h100_sxm<br>auto ({auto['picked_backend']})"
