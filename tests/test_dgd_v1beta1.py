"""Conversion between the v1alpha1 and v1beta1 DGD shapes."""

import pytest

from regen_golden import CASES

from dgdr_kernel.dgd import render_pick, v1beta1


@pytest.mark.parametrize("name", sorted(n for n, case in CASES.items() if case[3] == "nvidia.com/v1alpha1"))
def test_round_trip_keeps_every_generated_field(name):
    inputs, pick, curves, _ = CASES[name]
    dgd = render_pick(inputs, pick, curves=curves).dgd
    assert v1beta1.from_v1beta1(v1beta1.to_v1beta1(dgd)) == dgd


def test_v1beta1_shape_of_a_disagg_worker():
    inputs, pick, curves, _ = CASES["trtllm-disagg-multinode"]
    converted = v1beta1.to_v1beta1(render_pick(inputs, pick, curves=curves).dgd)
    components = {c["name"]: c for c in converted["spec"]["components"]}

    assert converted["apiVersion"] == "nvidia.com/v1beta1"
    assert [c["name"] for c in converted["spec"]["components"]] == ["Frontend", "prefill", "decode"]
    decode = components["decode"]
    assert decode["type"] == "decode"
    assert decode["multinode"] == {"nodeCount": 2}
    container = decode["podTemplate"]["spec"]["containers"][0]
    assert container["name"] == "main"
    assert container["resources"] == {"limits": {"nvidia.com/gpu": "8"}}
    assert container["envFrom"] == [{"secretRef": {"name": "hf-token-secret"}}]
    assert components["Frontend"]["type"] == "frontend"


def test_rendering_v1beta1_on_request():
    inputs, pick, curves, _ = CASES["planner-vllm-disagg"]
    rendered = render_pick(inputs, pick, curves=curves, api_version="nvidia.com/v1beta1")
    types = {c["name"]: c["type"] for c in rendered.dgd["spec"]["components"]}
    assert rendered.dgd["apiVersion"] == "nvidia.com/v1beta1"
    assert types == {"Frontend": "frontend", "prefill": "prefill", "decode": "decode", "Planner": "planner"}
    assert [d["kind"] for d in rendered.documents] == ["ConfigMap", "ConfigMap", "DynamoGraphDeployment"]
