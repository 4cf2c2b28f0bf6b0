"""Convert a DGD between `nvidia.com/v1alpha1` and `nvidia.com/v1beta1`.

v1alpha1 keys services by name under `spec.services`, with `componentType` /
`subComponentType`, service-level `envs`, `envFromSecret`, `resources.limits.gpu`
and an `extraPodSpec` holding a `mainContainer`. v1beta1 lists `spec.components`
with `name` and `type` (frontend, worker, prefill, decode, planner) and a plain
`podTemplate` whose container `main` carries env, envFrom and
`resources.limits["nvidia.com/gpu"]`.

The conversion covers the fields this tool generates and passes every other
field through unchanged. NOTE: it is written from the published v1beta1 API
reference, not from the operator's conversion webhook, so fields outside that
set (probes, ingress, shared memory) are carried over as they are.
"""

from __future__ import annotations

import copy

__all__ = ["from_v1beta1", "to_v1beta1"]

V1ALPHA1 = "nvidia.com/v1alpha1"
V1BETA1 = "nvidia.com/v1beta1"
MAIN_CONTAINER = "main"
GPU_RESOURCE = "nvidia.com/gpu"
# Service-level fields that sit on the component in both versions.
COMPONENT_FIELDS = (
    "replicas", "multinode", "scalingAdapter", "volumeMounts", "runtimeVersionOverride",
    "annotations", "labels", "sharedMemory", "ingress", "extraPodMetadata", "dynamoNamespace",
    "globalDynamoNamespace", "autoscaling", "modelRef", "eppConfig", "checkpoint",
)  # fmt: skip
CONTAINER_FIELDS = ("livenessProbe", "readinessProbe")


def _component_type(service: dict) -> str:
    if service.get("componentType") == "worker" and service.get("subComponentType") in ("prefill", "decode"):
        return service["subComponentType"]
    return service.get("componentType", "worker")


def _container_resources(resources: dict) -> dict:
    converted = {}
    for section in ("requests", "limits"):
        item = resources.get(section)
        if not item:
            continue
        out = {}
        if "gpu" in item:
            out[item.get("gpuType") or GPU_RESOURCE] = item["gpu"]
        for key in ("cpu", "memory"):
            if key in item:
                out[key] = item[key]
        out.update(item.get("custom") or {})
        converted[section] = out
    return converted


def _service_to_component(name: str, service: dict) -> dict:
    component = {"name": name, "type": _component_type(service)}
    for key in COMPONENT_FIELDS:
        if key in service:
            component[key] = copy.deepcopy(service[key])

    pod = copy.deepcopy(service.get("extraPodSpec") or {})
    container = {"name": MAIN_CONTAINER, **(pod.pop("mainContainer", None) or {})}
    env = copy.deepcopy(service.get("envs") or []) + (container.pop("env", None) or [])
    if env:
        container["env"] = env
    if service.get("envFromSecret"):
        container["envFrom"] = [{"secretRef": {"name": service["envFromSecret"]}}] + (container.get("envFrom") or [])
    if service.get("resources"):
        container["resources"] = _container_resources(service["resources"])
    for key in CONTAINER_FIELDS:
        if key in service:
            container[key] = copy.deepcopy(service[key])
    pod["containers"] = [container] + pod.pop("containers", [])
    component["podTemplate"] = {"spec": pod}
    return component


def to_v1beta1(dgd: dict) -> dict:
    """Return the v1beta1 form of a v1alpha1 DGD (a new dict)."""
    spec = dgd.get("spec") or {}
    out_spec = {}
    if "backendFramework" in spec:
        out_spec["backendFramework"] = spec["backendFramework"]
    if "pvcs" in spec:
        out_spec["pvcs"] = copy.deepcopy(spec["pvcs"])
    if "envs" in spec:
        out_spec["env"] = copy.deepcopy(spec["envs"])
    for key, value in spec.items():
        if key not in ("backendFramework", "pvcs", "envs", "services"):
            out_spec[key] = copy.deepcopy(value)
    out_spec["components"] = [_service_to_component(name, service) for name, service in (spec.get("services") or {}).items()]
    return {
        "apiVersion": V1BETA1,
        "kind": dgd.get("kind", "DynamoGraphDeployment"),
        "metadata": copy.deepcopy(dgd.get("metadata") or {}),
        "spec": out_spec,
    }


def _service_resources(container_resources: dict) -> dict:
    resources = {}
    for section, values in container_resources.items():
        item, custom = {}, {}
        for key, value in values.items():
            if key == GPU_RESOURCE:
                item["gpu"] = str(value)
            elif key in ("cpu", "memory"):
                item[key] = value
            else:
                custom[key] = value
        if custom:
            item["custom"] = custom
        resources[section] = item
    return resources


def _component_to_service(component: dict) -> tuple[str, dict]:
    kind = component.get("type", "worker")
    service: dict = {}
    if kind in ("prefill", "decode"):
        service["componentType"], service["subComponentType"] = "worker", kind
    else:
        service["componentType"] = kind

    pod = copy.deepcopy((component.get("podTemplate") or {}).get("spec") or {})
    containers = pod.pop("containers", [])
    main = next((c for c in containers if c.get("name") == MAIN_CONTAINER), None)
    others = [c for c in containers if c is not main]
    if others:
        pod["containers"] = others
    container = {k: v for k, v in (main or {}).items() if k != "name"}

    env_from = container.pop("envFrom", None) or []
    secrets = [e for e in env_from if set(e) == {"secretRef"}]
    if secrets:
        service["envFromSecret"] = secrets[0]["secretRef"]["name"]
        env_from = [e for e in env_from if e is not secrets[0]]
    if env_from:
        container["envFrom"] = env_from
    if container.get("env"):
        service["envs"] = container.pop("env")
    if container.get("resources"):
        service["resources"] = _service_resources(container.pop("resources"))
    for key in CONTAINER_FIELDS:
        if key in container:
            service[key] = container.pop(key)
    for key in COMPONENT_FIELDS:
        if key in component:
            service[key] = copy.deepcopy(component[key])
    if container:
        pod["mainContainer"] = container
    if pod:
        service["extraPodSpec"] = pod
    return component["name"], service


def from_v1beta1(dgd: dict) -> dict:
    """Return the v1alpha1 form of a v1beta1 DGD (a new dict)."""
    spec = dgd.get("spec") or {}
    out_spec = {}
    for key, value in spec.items():
        if key == "components":
            continue
        out_spec["envs" if key == "env" else key] = copy.deepcopy(value)
    out_spec["services"] = dict(_component_to_service(c) for c in spec.get("components") or [])
    return {
        "apiVersion": V1ALPHA1,
        "kind": dgd.get("kind", "DynamoGraphDeployment"),
        "metadata": copy.deepcopy(dgd.get("metadata") or {}),
        "spec": out_spec,
    }
