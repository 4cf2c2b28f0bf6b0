"""The ipywidgets planner: controls re-plan with the pure pipeline and redraw in place.

The widgets run here without a kernel or front end; ipywidgets observers run
synchronously, so setting a control's value re-plans before the next line.
"""

from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path

import pytest

from dgdr_kernel.errors import SpecError
from dgdr_kernel.hardware.catalog import get_gpu
from dgdr_kernel.pipeline import profile
from dgdr_kernel.report.inputs import build_dgdr_document, with_overrides
from dgdr_kernel.report.summary import describe_pick_short
from dgdr_kernel.spec import load_dgdr
from dgdr_kernel.widgets import LOAD_KINDS, PlannerApp

SPEC = Path(__file__).resolve().parent.parent / "examples" / "qwen3-32b-h200.yaml"


@pytest.fixture()
def app() -> PlannerApp:
    return PlannerApp(load_dgdr(SPEC))


def _quiet(phase, message):
    pass


def test_initial_pick_matches_pipeline(app):
    expected = profile(load_dgdr(SPEC), progress=_quiet).selection.chosen
    assert describe_pick_short(app.view.selection.chosen) == describe_pick_short(expected)
    assert describe_pick_short(expected) in app.pick.value


def test_isl_change_replans(app):
    app.isl.value = 8000

    assert app.view.request.isl == 8000
    ttft = app.view.figures["ttft-vs-isl"]
    assert ttft.layout.annotations[0].text == "workload ISL 8000"
    expected = profile(load_dgdr(with_overrides(app.base_document, isl=8000)), progress=_quiet).selection.chosen
    assert describe_pick_short(app.view.selection.chosen) == describe_pick_short(expected)
    assert app.last_redraw_ms is not None


def test_figures_redrawn_with_live_ids(app):
    app.osl.value = 500
    bundle = app.figure_outputs["pareto"].outputs[0]["data"]
    assert 'id="dgdr-live-pareto"' in bundle["text/html"]
    assert bundle["application/vnd.plotly.v1+json"]["data"]


def test_load_kind_switches_picking_mode(app):
    app.load_value.value = 3.0
    app.load_kind.value = LOAD_KINDS[1]
    assert app.view.selection.picking_mode == "load_match"
    assert app.document()["spec"]["workload"]["requestRate"] == 3.0

    app.load_kind.value = LOAD_KINDS[2]
    workload = app.document()["spec"]["workload"]
    assert workload["concurrency"] == 3.0
    assert "requestRate" not in workload

    app.load_kind.value = LOAD_KINDS[0]
    assert app.view.selection.picking_mode == "default"


def test_gpu_sku_change_updates_memory(app):
    app.gpu_sku.value = "h100_sxm"
    vram_gib = get_gpu("h100_sxm").vram_mib / 1024.0
    assert app.view.request.hardware.gpu.sku == "h100_sxm"
    assert f"({vram_gib:.0f} GiB per GPU)" in app.view.figures["memory"].layout.title.text



def test_gpu_sku_change_takes_new_node_size(app):
    # The example sets numGpusPerNode: 8, right for h200_sxm; hwdata/gb200.yaml
    # gives 4 GPUs per GB200 node (NVIDIA Blackwell architecture brief).
    expected = get_gpu("gb200").gpus_per_node
    assert expected != app.view.request.hardware.num_gpus_per_node

    app.gpu_sku.value = "gb200"
    assert app.view.request.hardware.num_gpus_per_node == expected


def test_redraw_keeps_memory_set_in_dgdr():
    document = build_dgdr_document(model="Qwen/Qwen3-32B", gpu_sku="h200_sxm", total_gpus=8, num_gpus_per_node=8)
    # A memory size below the catalog's 141 GiB, as a DGDR may set for a smaller partition.
    document["spec"]["hardware"]["vramMb"] = 100_000.0
    app = PlannerApp(load_dgdr(document))
    assert app.view.request.hardware.vram_mib == 100_000

    app.isl.value = 2000
    assert app.view.request.hardware.vram_mib == 100_000
    assert app.view.request.hardware.num_gpus_per_node == 8

def test_nothing_fits_is_shown(app):
    # Qwen3-32B in bf16 is about 61 GiB of weights; one 48 GB L40S cannot hold it.
    app.total_gpus.value = 1
    app.gpu_sku.value = "l40s"

    assert app.view.selection.chosen is None
    assert "No configuration fits" in app.pick.value
    assert app.figure_outputs["memory"].outputs == ()
    assert app.figure_outputs["pareto"].outputs != ()


def test_invalid_plan_keeps_last_view(app):
    before = app.view
    app.base_document["spec"]["model"] = "example-org/no-such-model"
    app.isl.value = 2000

    assert app.view is before
    assert "no-such-model" in app.status.value
    assert "from the last valid settings" in app.status.value


def test_with_overrides_keeps_one_load_target():
    document = build_dgdr_document(model="Qwen/Qwen3-32B", concurrency=64, gpu_sku="h200_sxm")
    document["spec"]["hardware"]["vramMb"] = 143771.0

    changed = with_overrides(document, request_rate=2, gpu_sku="h100_sxm")
    assert changed["spec"]["workload"] == {"requestRate": 2.0}
    assert "vramMb" not in changed["spec"]["hardware"]
    # The input is not modified.
    assert document["spec"]["workload"] == {"concurrency": 64.0}


def test_with_overrides_rejects_unknown_key():
    with pytest.raises(KeyError, match="unknown DGDR override 'islx'"):
        with_overrides(build_dgdr_document(model="m"), islx=1)


def test_notebook_builds_widgets_only_when_interactive():
    notebook = json.loads((files("dgdr_kernel.notebooks") / "capacity_planner.ipynb").read_text())
    widget_cells = ["".join(cell["source"]) for cell in notebook["cells"] if "build_planner_app" in "".join(cell["source"])]
    assert len(widget_cells) == 1
    assert widget_cells[0].startswith("if interactive:")
    parameters = next(cell for cell in notebook["cells"] if "parameters" in cell["metadata"].get("tags", []))
    assert "interactive: bool = False" in "".join(parameters["source"])
    assert not any("interact(" in "".join(cell["source"]) for cell in notebook["cells"])


def test_parameter_of_wrong_type_names_the_field():
    # papermill injects `-p isl 4k` as the string "4k".
    document = build_dgdr_document(model="Qwen/Qwen3-32B", isl="4k", ttft_ms=2000)
    assert document["spec"]["sla"]["ttft"] == 2000.0
    with pytest.raises(SpecError, match=r"workload\.isl: must be an integer \(got '4k'\)"):
        load_dgdr(document)
