"""Render the final config: the ConfigMaps and the DynamoGraphDeployment of a pick.

The steps, in the order that matters:

1. services for the pick: Frontend plus engine workers (or mocker workers);
2. planner: scaling adapters on the workers, the Planner service and the
   planner-config ConfigMap;
3. planner curves: the profile-data ConfigMap, mounted into the Planner and
   the mocker workers, when either reads it;
4. runtimeVersionOverride and the profiling job's tolerations on every service;
5. `overrides.dgd` merged in, the Frontend router mode reconciled;
6. the 45-character name check, the schema check, then conversion to
   `nvidia.com/v1beta1` when asked.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from dgdr_kernel.dgd import naming, overrides, schema, services, v1beta1
from dgdr_kernel.dgd.backends import PROFILE_DATA_MOUNT
from dgdr_kernel.dgd.inputs import RenderInputs, render_inputs_from_request
from dgdr_kernel.errors import RenderError
from dgdr_kernel.selection import Pick

if TYPE_CHECKING:
    from dgdr_kernel.planner import PlannerCurves
    from dgdr_kernel.request import ResolvedRequest
    from dgdr_kernel.selection import Selection

__all__ = ["API_VERSIONS", "RenderedConfig", "render_final_config", "render_pick"]

V1ALPHA1 = "nvidia.com/v1alpha1"
V1BETA1 = "nvidia.com/v1beta1"
API_VERSIONS = (V1ALPHA1, V1BETA1)
MANAGED_BY = "dynamo-operator"
# Keys of a service in the order a reader scans them; others follow in their own order.
SERVICE_KEY_ORDER = (
    "envFromSecret", "componentType", "subComponentType", "replicas", "resources", "multinode",
    "scalingAdapter", "runtimeVersionOverride", "envs", "volumeMounts", "extraPodSpec",
)  # fmt: skip


@dataclass
class RenderedConfig:
    """The documents of final_config.yaml: the planner ConfigMaps, when any, then the DGD last."""

    documents: list[dict]
    dgd_name: str
    api_version: str
    warnings: list[str] = field(default_factory=list)

    @property
    def dgd(self) -> dict:
        return self.documents[-1]

    @property
    def config_maps(self) -> list[dict]:
        return self.documents[:-1]


def _labels(inputs: RenderInputs) -> dict[str, str]:
    return {
        "dgdr.nvidia.com/name": inputs.dgdr_name,
        "dgdr.nvidia.com/namespace": inputs.namespace,
        "nvidia.com/managed-by": MANAGED_BY,
    }


def _configmap(inputs: RenderInputs, name: str, data: dict[str, str]) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": inputs.namespace, "labels": _labels(inputs)},
        "data": data,
    }


def _worker_roles(pick: Pick) -> list[tuple[str, object]]:
    if pick.mode == "agg":
        if pick.agg is None:
            raise RenderError("an agg pick has no agg engine layout; the picking stage must set Pick.agg")
        return [("agg", pick.agg)]
    if pick.prefill is None or pick.decode is None:
        raise RenderError("a disagg pick needs both a prefill and a decode engine layout")
    return [("prefill", pick.prefill), ("decode", pick.decode)]


def _build_services(inputs: RenderInputs, pick: Pick, *, profile_data: bool) -> tuple[dict, list[str]]:
    warnings = []
    built = {services.FRONTEND: services.build_frontend(inputs, backend=pick.backend)}
    for role, layout in _worker_roles(pick):
        name = services.WORKER_NAMES[role]
        if inputs.mocker:
            built[name] = services.build_mocker_worker(inputs, role=role, layout=layout, profile_data=profile_data)
            continue
        built[name] = services.build_worker(inputs, backend=pick.backend, role=role, layout=layout)
        pod_gpus = int(built[name]["resources"]["limits"]["gpu"]) * built[name].get("multinode", {}).get("nodeCount", 1)
        if layout.gpus_per_worker > pod_gpus:
            warnings.append(
                f"service {name!r} has {layout.gpus_per_worker} GPUs per worker ({layout.parallel}) but its pods "
                f"request {inputs.num_gpus_per_node}, one node's worth: data-parallel ranks do not span nodes in "
                "the generated DGD; set multinode in overrides.dgd if the engine needs them"
            )
    return built, warnings


def _enable_scaling_adapters(built: dict, planner: dict) -> None:
    # The planner scales replicas through the DGD scaling adapter unless it only advises.
    if planner.get("advisory"):
        return
    mode = planner.get("mode", "disagg")
    targets = {"prefill": {"prefill"}, "decode": {"decode", "worker"}, "agg": {"worker", "decode"}}.get(
        mode, {"prefill", "decode", "worker"}
    )
    for name in targets & set(built):
        built[name]["scalingAdapter"] = {"enabled": True}


def _add_planner(inputs: RenderInputs, pick: Pick, built: dict, dgd_name: str) -> tuple[dict, list[str]]:
    from dgdr_kernel.planner import build_planner_config

    planner_config, warnings = build_planner_config(inputs, pick)
    _enable_scaling_adapters(built, planner_config)
    name = naming.configmap_name("planner-config", inputs.namespace, dgd_name)
    built[services.PLANNER] = services.build_planner(inputs, planner_configmap=name)
    text = json.dumps(planner_config, indent=2, sort_keys=True)
    return _configmap(inputs, name, {services.PLANNER_CONFIG_FILE: text}), warnings


def _add_profile_data(inputs: RenderInputs, curves: "PlannerCurves", built: dict, dgd_name: str) -> dict:
    name = naming.configmap_name("planner-profile-data", inputs.namespace, dgd_name)
    readers = [services.PLANNER] if services.PLANNER in built else []
    if inputs.mocker:
        readers += [n for n in services.WORKER_NAMES.values() if n in built]
    for reader in readers:
        services.mount_configmap(built[reader], volume_name="planner-profile-data", configmap=name, mount_path=PROFILE_DATA_MOUNT)
    return _configmap(inputs, name, curves.configmap_data())


def _apply_tolerations(built: dict, tolerations: tuple[dict, ...]) -> None:
    for service in built.values():
        existing = service.setdefault("extraPodSpec", {}).setdefault("tolerations", [])
        for toleration in tolerations:
            if toleration not in existing:
                existing.append(copy.deepcopy(toleration))


def _reconcile_router_mode(dgd: dict, inputs: RenderInputs) -> None:
    # A --router-mode the user put on the Frontend wins over the kvRouter feature:
    # drop our DYN_ROUTER_MODE so the two never disagree.
    frontend = dgd["spec"]["services"].get(services.FRONTEND)
    if not inputs.kv_router or not frontend:
        return
    args = ((frontend.get("extraPodSpec") or {}).get("mainContainer") or {}).get("args") or []
    if any(str(arg).split("=")[0] == "--router-mode" for arg in args):
        envs = [env for env in frontend.get("envs", []) if env.get("name") != "DYN_ROUTER_MODE" or env.get("value") != "kv"]
        if envs:
            frontend["envs"] = envs
        else:
            frontend.pop("envs", None)


def _ordered(service: dict) -> dict:
    ordered = {key: service[key] for key in SERVICE_KEY_ORDER if key in service}
    ordered.update((key, value) for key, value in service.items() if key not in ordered)
    return ordered


def render_pick(
    inputs: RenderInputs,
    pick: Pick,
    *,
    curves: "PlannerCurves | None" = None,
    api_version: str = V1ALPHA1,
) -> RenderedConfig:
    """Render ConfigMaps and the DGD of `pick`, merged with overrides.dgd and checked.

    Raises RenderError (OverrideError for a bad override) when the result is
    invalid; nothing is returned half-built.
    """
    if api_version not in API_VERSIONS:
        raise RenderError(f"DGD apiVersion {api_version!r} is not supported; expected one of {list(API_VERSIONS)}")
    warnings = list(inputs.warnings)

    override_name = overrides.override_dgd_name(inputs.dgd_override)
    dgd_name = override_name or naming.default_dgd_name(inputs.dgdr_name)

    profile_data = inputs.needs_profile_data and curves is not None
    if inputs.needs_profile_data and curves is None:
        warnings.append("planner curves are not available, so the profile-data ConfigMap is not generated")
    built, service_warnings = _build_services(inputs, pick, profile_data=profile_data)
    warnings += service_warnings

    config_maps = []
    if inputs.planner is not None:
        planner_cm, planner_warnings = _add_planner(inputs, pick, built, dgd_name)
        config_maps.append(planner_cm)
        warnings += planner_warnings
    if profile_data:
        config_maps.append(_add_profile_data(inputs, curves, built, dgd_name))

    if inputs.runtime_version_override:
        for service in built.values():
            service["runtimeVersionOverride"] = inputs.runtime_version_override
    if inputs.tolerations:
        _apply_tolerations(built, inputs.tolerations)

    spec: dict = {}
    if not inputs.mocker:
        spec["backendFramework"] = pick.backend
    if inputs.model_source.pvc_name:
        spec["pvcs"] = [{"name": inputs.model_source.pvc_name, "create": False}]
    spec["services"] = built
    dgd = {
        "apiVersion": V1ALPHA1,
        "kind": "DynamoGraphDeployment",
        "metadata": {"name": dgd_name, "namespace": inputs.namespace, "labels": _labels(inputs)},
        "spec": spec,
    }

    if inputs.dgd_override:
        dgd, override_warnings = overrides.apply_dgd_override(dgd, inputs.dgd_override)
        warnings += override_warnings
    _reconcile_router_mode(dgd, inputs)
    dgd["spec"]["services"] = {name: _ordered(service) for name, service in dgd["spec"]["services"].items()}

    naming.check_name_lengths(dgd["metadata"]["name"], dgd["spec"]["services"], dgd_name_from_override=bool(override_name))
    schema.validate_dgd(dgd)
    for config_map in config_maps:
        schema.validate_configmap(config_map)

    if api_version == V1BETA1:
        dgd = v1beta1.to_v1beta1(dgd)
    return RenderedConfig(config_maps + [dgd], dgd["metadata"]["name"], api_version, warnings)


def render_final_config(
    request: "ResolvedRequest",
    selection: "Selection",
    *,
    curves: "PlannerCurves | None" = None,
    api_version: str = V1ALPHA1,
) -> RenderedConfig:
    """Render the final config of a selection's rank-1 pick for a resolved request."""
    if selection.chosen is None:
        raise RenderError("no DGD can be generated because no candidate was picked: " + "; ".join(selection.warnings or ["no candidate fits"]))
    return render_pick(render_inputs_from_request(request), selection.chosen, curves=curves, api_version=api_version)
