"""Checks every generated DGD and ConfigMap before it is written.

The DGD model follows the `nvidia.com/v1alpha1` DynamoGraphDeployment API
reference published by Dynamo (DynamoGraphDeploymentSpec,
DynamoComponentDeploymentSharedSpec, Resources, ResourceItem, VolumeMount,
MultinodeSpec, PVC, ScalingAdapter). Unknown fields are rejected so that a typo
in `overrides.dgd` is reported rather than silently ignored by the operator.

Pod parts (containers, env, volumes, tolerations, probes, the rest of the pod
spec) are checked against the Kubernetes Python client's own models: each key
must be a field of the model and each value must have the field's type.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from dgdr_kernel.dgd.naming import is_dns1123_label, is_dns1123_subdomain
from dgdr_kernel.errors import RenderError

__all__ = ["DynamoGraphDeployment", "check_kubernetes_object", "validate_configmap", "validate_dgd"]

# Known componentType values of the Dynamo operator.
COMPONENT_TYPES = ("frontend", "worker", "planner", "main", "epp")
RUNTIME_VERSION = re.compile(r"^(0|[1-9]\d{0,3})\.(0|[1-9]\d{0,3})\.(0|[1-9]\d{0,3})$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$")
# Kubernetes stores an object in etcd with a 1 MiB limit; ConfigMap data must fit.
CONFIGMAP_MAX_BYTES = 1024 * 1024


def _kubernetes_client():
    try:
        from kubernetes import client
    except ImportError as exc:  # the `kube` extra
        raise RenderError("checking pod specs needs the kubernetes client; install it with: pip install 'dgdr-workbench[kube]'") from exc
    return client


_PRIMITIVES = {"str": (str,), "int": (int,), "float": (int, float), "bool": (bool,), "object": (object,)}


def _check(value: Any, type_name: str, path: str, problems: list[str], *, construct: bool = True) -> None:
    """Walk `value` against a Kubernetes client type name, appending problems."""
    if type_name.startswith(("List[", "Dict[")):  # newer clients spell typing names
        type_name = type_name.replace("List[", "list[", 1) if type_name[0] == "L" else "dict(" + type_name[5:-1] + ")"
    if type_name.startswith("list["):
        if not isinstance(value, list):
            problems.append(f"{path}: expected a list, got {type(value).__name__}")
            return
        for index, item in enumerate(value):
            _check(item, type_name[5:-1], f"{path}[{index}]", problems)
        return
    if type_name.startswith("dict("):
        if not isinstance(value, dict):
            problems.append(f"{path}: expected a mapping, got {type(value).__name__}")
            return
        inner = type_name[5:-1].split(", ", 1)[1]
        for key, item in value.items():
            _check(item, inner, f"{path}.{key}", problems)
        return
    if type_name in _PRIMITIVES:
        expected = _PRIMITIVES[type_name]
        if isinstance(value, bool) and type_name in ("int", "float", "str") or not isinstance(value, expected):
            problems.append(f"{path}: expected {type_name}, got {value!r}")
        return
    if type_name in ("datetime", "date"):
        return

    client = _kubernetes_client()
    model = getattr(client, type_name)
    if not isinstance(value, dict):
        problems.append(f"{path}: expected a {type_name} mapping, got {type(value).__name__}")
        return
    attribute_of = {json_key: attribute for attribute, json_key in model.attribute_map.items()}
    for key, item in value.items():
        if key not in attribute_of:
            problems.append(f"{path}.{key}: unknown field of {type_name}")
            continue
        if item is not None:
            _check(item, model.openapi_types[attribute_of[key]], f"{path}.{key}", problems)

    if construct:
        # Constructing the model applies the client's required-field and enum checks.
        try:
            model(**{attribute_of[k]: v for k, v in value.items() if k in attribute_of})
        except (ValueError, TypeError) as exc:
            problems.append(f"{path}: {exc}")


def _check_pydantic(value: Any, type_name: str, path: str, problems: list[str], *, construct: bool) -> bool:
    """Validate with the client's pydantic models (kubernetes>=35); False if they are not pydantic."""
    client = _kubernetes_client()
    inner = type_name[5:-1] if type_name.lower().startswith("list[") else type_name
    model = getattr(client, inner, None)
    if model is None or not hasattr(model, "model_validate"):
        return False
    items = value if inner != type_name else [value]
    if inner != type_name and not isinstance(value, list):
        problems.append(f"{path}: expected a list, got {type(value).__name__}")
        return True
    for index, item in enumerate(items):
        where = f"{path}[{index}]" if inner != type_name else path
        if not construct and isinstance(item, dict):
            # Partial object: check the fields present, not the required ones.
            required = {name: field for name, field in model.model_fields.items() if field.is_required()}
            item = {**{(f.alias or n): _PLACEHOLDERS.get(n) for n, f in required.items()}, **item}
        try:
            model.model_validate(item)
        except ValidationError as error:
            problems += [f"{where}.{line}" if not line.startswith(":") else f"{where}{line}" for line in _format(error)]
    return True


# Stand-ins for required fields of a partial pod spec, which the operator fills.
_PLACEHOLDERS = {"containers": []}


def check_kubernetes_object(value: Any, type_name: str, path: str, *, construct: bool = True) -> list[str]:
    """Return the problems of `value` as the Kubernetes type `type_name` (e.g. V1Container).

    With `construct=False` required fields may be missing (a partial object).
    """
    problems: list[str] = []
    if not _check_pydantic(value, type_name, path, problems, construct=construct):
        _check(value, type_name, path, problems, construct=construct)
    return problems


def _raise_if(problems: list[str]) -> None:
    if problems:
        raise ValueError("; ".join(problems))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ResourceItem(_Strict):
    cpu: str | None = None
    memory: str | None = None
    gpu: str | None = Field(default=None, pattern=r"^[0-9]+$", description="GPU count as a string, e.g. '4'")
    gpuType: str | None = None
    custom: dict[str, str] | None = None


class Resources(_Strict):
    requests: ResourceItem | None = None
    limits: ResourceItem | None = None
    claims: list[dict] | None = None


class VolumeMount(_Strict):
    name: str = Field(min_length=1)
    mountPoint: str | None = None
    useAsCompilationCache: bool = False


class Multinode(_Strict):
    nodeCount: int = Field(ge=2, description="nodes of one multinode instance; must be at least 2")


class ScalingAdapter(_Strict):
    enabled: bool = False


class Pvc(_Strict):
    name: str
    create: bool | None = None
    storageClass: str | None = None
    size: str | None = None
    volumeAccessMode: str | None = None

    @model_validator(mode="after")
    def _creation_fields(self):
        if self.create and not (self.size and self.storageClass and self.volumeAccessMode):
            raise ValueError("when create is true, size, storageClass and volumeAccessMode are required")
        return self


class Service(_Strict):
    """One entry of spec.services (DynamoComponentDeploymentSharedSpec)."""

    componentType: Literal[COMPONENT_TYPES]  # type: ignore[valid-type]
    subComponentType: str | None = None
    replicas: int | None = Field(default=None, ge=0)
    resources: Resources | None = None
    multinode: Multinode | None = None
    scalingAdapter: ScalingAdapter | None = None
    envs: list[dict] | None = None
    envFromSecret: str | None = None
    volumeMounts: list[VolumeMount] | None = None
    extraPodSpec: dict | None = None
    extraPodMetadata: dict | None = None
    livenessProbe: dict | None = None
    readinessProbe: dict | None = None
    runtimeVersionOverride: str | None = Field(default=None, pattern=RUNTIME_VERSION.pattern)
    annotations: dict[str, str] | None = None
    labels: dict[str, str] | None = None
    serviceName: str | None = None
    dynamoNamespace: str | None = None
    globalDynamoNamespace: bool | None = None
    sharedMemory: dict | None = None
    ingress: dict | None = None
    modelRef: dict | None = None
    autoscaling: dict | None = None
    eppConfig: dict | None = None
    checkpoint: dict | None = None

    @field_validator("envs")
    @classmethod
    def _envs(cls, envs):
        _raise_if(check_kubernetes_object(envs, "list[V1EnvVar]", "envs"))
        return envs

    @field_validator("livenessProbe", "readinessProbe")
    @classmethod
    def _probe(cls, probe, info):
        _raise_if(check_kubernetes_object(probe, "V1Probe", info.field_name))
        return probe

    @field_validator("extraPodSpec")
    @classmethod
    def _pod(cls, pod):
        problems: list[str] = []
        pod = dict(pod)
        main = pod.pop("mainContainer", None)
        # The pod spec is partial (the operator adds the containers), so its
        # required-field check is skipped; each part is checked in full.
        problems += check_kubernetes_object(pod, "V1PodSpec", "extraPodSpec", construct=False)
        if main is not None:
            container = {"name": "main", **main} if isinstance(main, dict) else main
            problems += check_kubernetes_object(container, "V1Container", "extraPodSpec.mainContainer")
        _raise_if(problems)
        return pod if main is None else {**pod, "mainContainer": main}


class Metadata(_Strict):
    name: str
    namespace: str | None = None
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, name):
        if not is_dns1123_subdomain(name):
            raise ValueError(f"{name!r} is not a DNS-1123 name (lowercase letters, digits, '-', '.')")
        return name

    @field_validator("labels")
    @classmethod
    def _label_values(cls, labels):
        bad = {key: value for key, value in (labels or {}).items() if not LABEL_VALUE.match(value)}
        if bad:
            raise ValueError(f"label values {bad} are invalid; use at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit")
        return labels


class Spec(_Strict):
    services: dict[str, Service] = Field(max_length=25)
    pvcs: list[Pvc] | None = Field(default=None, max_length=100)
    envs: list[dict] | None = None
    backendFramework: Literal["sglang", "vllm", "trtllm"] | None = None
    annotations: dict[str, str] | None = None
    labels: dict[str, str] | None = None
    priorityClassName: str | None = None
    providerOverride: dict | None = None
    restart: dict | None = None
    topologyConstraint: dict | None = None
    experimental: dict | None = None

    @field_validator("services")
    @classmethod
    def _service_names(cls, services):
        bad = [name for name in services if not is_dns1123_label(name.lower())]
        if bad:
            raise ValueError(f"service names {bad} do not form DNS-1123 labels when lowercased")
        return services

    @field_validator("envs")
    @classmethod
    def _envs(cls, envs):
        _raise_if(check_kubernetes_object(envs, "list[V1EnvVar]", "envs"))
        return envs


class DynamoGraphDeployment(_Strict):
    """A v1alpha1 DynamoGraphDeployment as this tool writes it."""

    apiVersion: Literal["nvidia.com/v1alpha1"]
    kind: Literal["DynamoGraphDeployment"]
    metadata: Metadata
    spec: Spec


def _format(error: ValidationError) -> list[str]:
    lines = []
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"]) or "(root)"
        message = item["msg"].removeprefix("Value error, ")
        value = item.get("input")
        if isinstance(value, (str, int, float, bool)):
            message += f" (got {value!r})"  # say what was written, not only what was wrong
        lines.append(f"{where}: {message}")
    return lines


def validate_dgd(dgd: dict) -> None:
    """Raise RenderError listing every problem of a v1alpha1 DGD."""
    try:
        DynamoGraphDeployment.model_validate(dgd)
    except ValidationError as error:
        problems = "\n".join(f"  - {line}" for line in _format(error))
        raise RenderError(
            f"the generated DynamoGraphDeployment is invalid ({error.error_count()} problem(s)); "
            f"check overrides.dgd for these fields:\n{problems}"
        ) from None


def validate_configmap(config_map: dict) -> None:
    """Raise RenderError when a ConfigMap is malformed or too large for Kubernetes."""
    problems = check_kubernetes_object(config_map, "V1ConfigMap", "ConfigMap")
    name = (config_map.get("metadata") or {}).get("name", "")
    if not is_dns1123_subdomain(name):
        problems.append(f"ConfigMap.metadata.name: {name!r} is not a DNS-1123 name")
    size = sum(len(str(k)) + len(str(v).encode()) for k, v in (config_map.get("data") or {}).items())
    if size > CONFIGMAP_MAX_BYTES:
        problems.append(f"ConfigMap {name}: data is {size} bytes, over the {CONFIGMAP_MAX_BYTES}-byte Kubernetes limit")
    if problems:
        raise RenderError("generated ConfigMap is invalid:\n" + "\n".join(f"  - {p}" for p in problems))
