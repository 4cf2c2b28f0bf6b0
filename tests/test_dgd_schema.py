"""The DGD schema check: Dynamo's API fields plus the Kubernetes client's pod models."""

import copy

import pytest

from regen_golden import DENSE_AGG, _inputs, _pick

from dgdr_kernel.dgd import render_pick, schema
from dgdr_kernel.errors import RenderError

VALID = render_pick(_inputs("qwen3-32b", pvc_name="cache"), _pick("vllm", agg=DENSE_AGG)).dgd


def _broken(path, value):
    dgd = copy.deepcopy(VALID)
    node = dgd
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return dgd


def test_generated_dgd_is_valid():
    schema.validate_dgd(VALID)


@pytest.mark.parametrize(
    ("path", "value", "where"),
    [
        (("spec", "services", "worker", "resources", "limits", "gpu"), 4, "resources.limits.gpu"),
        (("spec", "services", "worker", "resources", "limits", "gpu"), "four", "resources.limits.gpu"),
        (("spec", "services", "worker", "replicas"), -1, "replicas"),
        (("spec", "services", "worker", "multinode"), {"nodeCount": 1}, "multinode.nodeCount"),
        (("spec", "services", "worker", "componentType"), "engine", "componentType"),
        (("spec", "services", "worker", "replica"), 2, "replica"),
        (("spec", "services", "worker", "envs"), [{"value": "x"}], "envs"),
        (("spec", "services", "worker", "extraPodSpec", "mainContainer", "args"), "--tp 2", "mainContainer.args"),
        (("spec", "services", "worker", "extraPodSpec", "volumes"), [{"configMap": {"name": "c"}}], "volumes.0.name"),
        (("spec", "services", "worker", "runtimeVersionOverride"), "v1.3", "runtimeVersionOverride"),
        (("spec", "backendFramework"), "llamacpp", "backendFramework"),
        (("spec", "pvcs"), [{"name": "c", "create": True}], "pvcs"),
        (("metadata", "name"), "Bad_Name", "metadata.name"),
        (("apiVersion",), "nvidia.com/v2", "apiVersion"),
    ],
)
def test_invalid_field_is_reported(path, value, where):
    with pytest.raises(RenderError) as caught:
        schema.validate_dgd(_broken(path, value))
    assert where in str(caught.value)


def test_service_name_must_be_dns_label():
    dgd = copy.deepcopy(VALID)
    dgd["spec"]["services"]["my_worker"] = dgd["spec"]["services"].pop("worker")
    with pytest.raises(RenderError, match="my_worker"):
        schema.validate_dgd(dgd)


def test_kubernetes_container_check_finds_required_and_types():
    problems = schema.check_kubernetes_object({"image": "x", "ports": [{"containerPort": "80"}]}, "V1Container", "c")
    assert any(p.startswith("c.name") for p in problems)
    assert any("ports.0.containerPort" in p for p in problems)


def test_kubernetes_toleration_and_resources_accept_valid_values():
    assert schema.check_kubernetes_object({"key": "k", "operator": "Equal", "value": "v", "effect": "NoSchedule"}, "V1Toleration", "t") == []
    assert schema.check_kubernetes_object({"limits": {"memory": "8Gi", "cpu": "2"}}, "V1ResourceRequirements", "r") == []


def test_configmap_over_one_mebibyte_is_rejected():
    config_map = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "big"}, "data": {"a": "x" * (1024 * 1024)}}
    with pytest.raises(RenderError, match="over the 1048576-byte Kubernetes limit"):
        schema.validate_configmap(config_map)


def test_configmap_with_non_string_data_is_rejected():
    config_map = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": [1, 2]}}
    with pytest.raises(RenderError, match="data"):
        schema.validate_configmap(config_map)


def test_label_value_must_be_kubernetes_label():
    dgd = copy.deepcopy(VALID)
    dgd["metadata"]["labels"]["team"] = "has space"
    with pytest.raises(RenderError, match="label values"):
        schema.validate_dgd(dgd)


def test_field_walker_for_older_kubernetes_clients(monkeypatch):
    # Clients before the pydantic models expose only attribute_map and openapi_types.
    monkeypatch.setattr(schema, "_check_pydantic", lambda *args, **kwargs: False)
    good = {"name": "main", "args": ["--x"], "env": [{"name": "A", "value": "1"}], "resources": {"limits": {"cpu": "2"}}}
    assert schema.check_kubernetes_object(good, "V1Container", "c") == []
    problems = schema.check_kubernetes_object({"name": "main", "args": "--x", "env": [{"value": 1}], "bogus": 1}, "V1Container", "c")
    assert any("c.args" in p for p in problems)
    assert any("c.env[0].value" in p for p in problems)
    assert any("c.bogus: unknown field" in p for p in problems)
