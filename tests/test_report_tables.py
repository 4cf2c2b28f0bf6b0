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


def _agg_pick(engine: EngineLayout, backend: str = "trtllm") -> Pick:
    return replace(_disagg_pick(1, 1, 400.0), mode="agg", backend=backend, agg=engine, prefill=None, decode=None)


def test_cli_and_report_labels_match():
    from dgdr_kernel.report.summary import describe_pick_short
    from dgdr_kernel.summary import describe_configuration

    dep8 = EngineLayout(tp=1, dp=8, moe_ep=8, workers=2)
    tep4 = EngineLayout(tp=4, moe_ep=4, workers=2)
    cases = {
        "agg trtllm 2x dep8": _agg_pick(dep8),
        "agg vllm 1x tp2pp2": _agg_pick(EngineLayout(tp=2, pp=2), backend="vllm"),
        "disagg vllm 4P(tp1) + 1D(tp4)": _disagg_pick(prefill_tp=1, prefill_workers=4, ttft_ms=400.0),
        "disagg sglang 2P(tep4) + 1D(dep8)": replace(
            _disagg_pick(1, 1, 400.0), backend="sglang", prefill=tep4, decode=replace(dep8, workers=1)
        ),
    }
    for expected, pick in cases.items():
        assert describe_configuration(pick) == expected
        assert describe_pick_short(pick) == expected


def _request():
    from dgdr_kernel.hardware import ResolvedHardware, get_gpu
    from dgdr_kernel.modelarch import resolve_model
    from dgdr_kernel.request import PickingMode, ResolvedRequest

    gpu = get_gpu("h200_sxm")
    hardware = ResolvedHardware(gpu=gpu, total_gpus=8, num_gpus_per_node=8, vram_mib=gpu.vram_mib, interconnect="nvlink", rdma=None)
    return ResolvedRequest(
        dgdr=None, hardware=hardware, arch=resolve_model("Qwen/Qwen3-32B"), backends=("vllm", "sglang"),
        picking_mode=PickingMode.DEFAULT, sla=SLA, isl=4000, osl=1000, request_rate=None, concurrency=None, total_gpus=8,
    )  # fmt: skip


def test_cli_table_uses_report_labels():
    import pandas as pd

    from dgdr_kernel.summary import format_selection

    chosen = _disagg_pick(prefill_tp=1, prefill_workers=4, ttft_ms=400.0)
    modelled = replace(_agg_pick(EngineLayout(tp=4, workers=2), backend="sglang"), provenance="modelled")
    selection = replace(_selection(chosen, modelled), candidates=pd.DataFrame())
    lines = format_selection(selection, _request()).splitlines()

    assert lines[2].split() == [
        "rank", "configuration", "GPUs", "TTFT", "ms", "ITL", "ms", "D", "batch", "tok/s/GPU", "tok/s/user", "SLA",
        "provenance",
    ]  # fmt: skip
    assert lines[4].startswith("   1  disagg vllm 4P(tp1) + 1D(tp4)  ")
    assert lines[4].split()[-2:] == ["met", "calibrated"]
    # 240 requests in flight (_disagg_pick) on the one decode worker.
    assert lines[4].split()[-5] == "240"
    assert lines[5].startswith("   2  agg sglang 2x tp4  ")
    assert lines[5].split()[-2:] == ["met", "modelled"]
    assert "TP1" not in "\n".join(lines)


def test_alternatives_table_shows_provenance():
    chosen = _disagg_pick(prefill_tp=2, prefill_workers=2, ttft_ms=402.0)
    modelled = replace(chosen, backend="sglang", provenance="modelled", tokens_per_s_per_gpu=850.0)

    table = alternatives_table(_selection(chosen, modelled), SLA)

    assert table["provenance"].tolist() == ["calibrated", "modelled"]
    assert table.loc[2, "configuration"] == "disagg sglang 2P(tp2) + 1D(tp4)"


def test_compare_plans_carries_provenance_and_caveat():
    from dgdr_kernel.report import build_dgdr_document
    from dgdr_kernel.report.compare import compare_plans

    # hwdata/calibrated/h200_sxm.yaml: trtllm is fitted on dense models among
    # others (calibrated for Qwen3-32B); sglang on DeepSeek-R1 (MoE) only, so
    # the dense model gets the defaults (modelled).
    base = build_dgdr_document(model="Qwen/Qwen3-32B", gpu_sku="h200_sxm", total_gpus=8, num_gpus_per_node=8)
    table = compare_plans(base, gpu_skus=["h200_sxm"], backends=["trtllm", "sglang"], workloads={"chat": (4000, 1000)})
    rows = table.set_index("backend")

    assert rows.loc["trtllm", "provenance"] == "calibrated"
    assert rows.loc["trtllm", "calibration_caveat"] == ""
    assert rows.loc["sglang", "provenance"] == "modelled"
    caveat = rows.loc["sglang", "calibration_caveat"]
    assert "h200_sxm/sglang parameters were fitted on MoE models only (deepseek-ai/DeepSeek-R1)" in caveat


def test_request_table_spells_values_as_yaml():
    from dgdr_kernel.report.tables import request_table
    from dgdr_kernel.spec import load_dgdr

    loaded = load_dgdr(
        "model: Qwen/Qwen3-32B\nbackend: vllm\nautoApply: false\n"
        "workload: {requestRate: 10}\nhardware: {gpuSku: h200_sxm, totalGpus: 8, numGpusPerNode: 8}\n"
    )
    values = request_table(loaded)["value"]

    assert values["spec.autoApply"] == "false"
    assert values["spec.workload.requestRate"] == "10"
    assert values["spec.model"] == "Qwen/Qwen3-32B"
    assert not any(value in ("True", "False", "None") for value in values)


def test_format_yaml_value_cases():
    from dgdr_kernel.report.tables import format_yaml_value

    assert format_yaml_value(True) == "true"
    assert format_yaml_value(None) == "null"
    assert format_yaml_value(10.0) == "10"
    assert format_yaml_value(2.5) == "2.5"
    assert format_yaml_value([{"key": "gpu", "operator": "Exists"}]) == "[{key: gpu, operator: Exists}]"


def test_hardware_table_labels_int8_in_tops():
    from types import SimpleNamespace

    from dgdr_kernel.hardware.catalog import load_catalog
    from dgdr_kernel.report.tables import hardware_table

    gpu = load_catalog()["h100_sxm"]
    hardware = SimpleNamespace(
        gpu=gpu, sources={}, vram_mib=gpu.vram_mib, num_gpus_per_node=8, total_gpus=8, interconnect="nvlink"
    )
    row = hardware_table(SimpleNamespace(hardware=hardware))["value"]["dense tensor-core peak per GPU by precision"]
    parts = dict(part.split(" ", 1) for part in row.split(", "))

    # Units follow the precision: integer ops for int8, floating point for the rest (hwdata/h100_sxm.yaml).
    assert parts["int8"].endswith(" TOP/s")
    assert all(text.endswith(" TFLOP/s") for precision, text in parts.items() if precision != "int8")
    assert parts["int8"] == f"{gpu.dense_tflops['int8']:g} TOP/s"
