"""Pydantic models of the DynamoGraphDeploymentRequest spec (`nvidia.com/v1beta1`).

Attributes are snake_case; each carries the DGDR's camelCase name as its alias
(`gpu_sku` / `gpuSku`). DGDR files are validated by alias only, so a file must
use the camelCase names the Kubernetes CRD uses. Python code may construct the
models with either name.

Each model checks its own fields (types, enums, positive numbers). The rules
that span fields (requestRate with concurrency, e2eLatency with ttft/itl,
thorough with backend auto, mocker with a planner that never sweeps) are in
`find_rule_problems` at the end. It runs on the raw input, so the loader in
`dgdr_kernel.spec` reports them together with every field error in one pass.

A numeric field's `examples` value is the example that its type error suggests
("write a whole number without units, e.g. 8").
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from dgdr_kernel.errors import DgdrError, SpecProblem
from dgdr_kernel.plannerconfig import PlannerConfig

__all__ = [
    "DEFAULT_IMAGE",
    "DEPRECATED_GPU_SKU_ALIASES",
    "GPU_SKUS",
    "DgdrSpec",
    "FeaturesSpec",
    "HardwareSpec",
    "KvRouterSpec",
    "MockerSpec",
    "ModelCacheSpec",
    "OverridesSpec",
    "SlaSpec",
    "WorkloadSpec",
    "catalogued_gpu_skus",
    "find_rule_problems",
    "suggest_gpu_sku",
]

# Profiling-job image used when spec.image is unset, as the operator's webhook
# does (`dynamo-planner:<operator version>`). 1.6.0 is the Dynamo GA release of
# 2026-10-22 (docs.nvidia.com/dynamo/latest/reference/releases/v1-6-0); the
# planner image name is the one the DGDR reference gives for Dynamo >= 1.1.0.
DEFAULT_IMAGE = "nvcr.io/nvidia/ai-dynamo/dynamo-planner:1.6.0"

# hardware.gpuSku values the v1beta1 CRD accepts (operator Go type, 2026).
GPU_SKUS: tuple[str, ...] = (
    "vr_nvl72",
    "gb200",
    "gb10",
    "gb300",
    "b300_sxm",
    "b200_sxm",
    "h200_sxm",
    "h100_sxm",
    "h100_pcie",
    "a100_sxm",
    "a100_pcie",
    "a30",
    "l40s",
    "l40",
    "l4",
    "v100_sxm",
    "v100_pcie",
    "t4",
    "mi200",
    "mi300",
)
DEPRECATED_GPU_SKU_ALIASES = {"gb200_sxm": "gb200"}

# Spec sections that may be written as an empty YAML key (`sla:`).
_SECTIONS = ("workload", "sla", "hardware", "features", "overrides")

# MAJOR.MINOR.PATCH, each 0 or up to four digits without a leading zero (CRD pattern).
RUNTIME_VERSION_PATTERN = r"^(0|[1-9]\d{0,3})\.(0|[1-9]\d{0,3})\.(0|[1-9]\d{0,3})$"


def catalogued_gpu_skus() -> tuple[str, ...]:
    """Return the `GPU_SKUS` values with a GPU catalog entry, the ones `dgdr profile` can plan for.

    Falls back to every value of `GPU_SKUS` when the catalog cannot be loaded,
    because a suggestion must never turn into a second error.
    """
    try:
        from dgdr_kernel.hardware import load_catalog

        catalog = load_catalog()
    except (ImportError, DgdrError):
        return GPU_SKUS
    return tuple(sku for sku in GPU_SKUS if sku in catalog)


def _gpu_sku_fix(suggestion: str | None) -> str:
    """Build the fix for an invalid gpuSku, marking SKUs that `dgdr profile` cannot plan for."""
    catalogued = catalogued_gpu_skus()
    uncatalogued = [sku for sku in GPU_SKUS if sku not in catalogued]
    if suggestion is not None and suggestion in catalogued:
        return f"use {suggestion!r}"
    if suggestion is not None:
        return (
            f"use {suggestion!r}, which is valid in a DGDR but has no GPU catalog entry, so dgdr profile "
            f"cannot plan for it; to profile, use one of: {', '.join(catalogued)}"
        )

    fix = "use one of: " + ", ".join(catalogued)
    if len(uncatalogued) == 1:
        fix += f" ({uncatalogued[0]} is also valid in a DGDR, but it has no GPU catalog entry, so dgdr profile cannot plan for it)"
    elif uncatalogued:
        names = ", ".join(uncatalogued[:-1]) + " and " + uncatalogued[-1]
        fix += f" ({names} are also valid in a DGDR, but they have no GPU catalog entry, so dgdr profile cannot plan for them)"
    return fix


def suggest_gpu_sku(text: str) -> str | None:
    """Return the supported SKU that `text` most likely means, or None.

    Uses `dgdr_kernel.hardware.infer_sku` (product-name rules such as
    "H100-SXM5-80GB" -> h100_sxm) when it is available, else a fuzzy match.
    """
    normalised = text.strip().lower().replace("-", "_").replace(" ", "_")
    normalised = DEPRECATED_GPU_SKU_ALIASES.get(normalised, normalised)
    if normalised in GPU_SKUS:
        return normalised

    try:
        from dgdr_kernel.hardware import infer_sku
    except ImportError:
        infer_sku = None
    if infer_sku is not None:
        try:
            inferred = infer_sku(text)
        except DgdrError:  # a suggestion must never turn into a second error
            inferred = None
        inferred = DEPRECATED_GPU_SKU_ALIASES.get(inferred, inferred)
        if inferred in GPU_SKUS:
            return inferred

    prefixed = [sku for sku in GPU_SKUS if sku.startswith(normalised + "_")]
    if len(prefixed) == 1:
        return prefixed[0]
    # Compare on the leading tokens ("h100_sxm5_80gb" -> "h100_sxm5") so memory
    # sizes and generations do not drown the chip name.
    for candidate_text in (normalised, "_".join(normalised.split("_")[:2]), normalised.split("_")[0]):
        matches = difflib.get_close_matches(candidate_text, GPU_SKUS, n=1, cutoff=0.75)
        if matches:
            return matches[0]
    return None


class _SpecModel(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, protected_namespaces=(), allow_inf_nan=False)


class WorkloadSpec(_SpecModel):
    """Traffic the deployment must serve."""

    isl: StrictInt = Field(default=4000, gt=0, examples=[4000], description="mean input sequence length in tokens")
    osl: StrictInt = Field(default=1000, gt=0, examples=[1000], description="mean output sequence length in tokens")
    request_rate: StrictFloat | None = Field(
        default=None, gt=0, alias="requestRate", examples=[10], description="target load in requests/s"
    )
    concurrency: StrictFloat | None = Field(default=None, gt=0, examples=[64], description="target in-flight requests")


class SlaSpec(_SpecModel):
    """Latency targets in ms, checked against predicted means.

    `ttft` and `itl` default to 2000 and 30 unless `e2eLatency` is set, in which
    case both stay None and the end-to-end target alone applies.
    """

    ttft: StrictFloat | None = Field(default=None, gt=0, examples=[2000], description="time to first token in ms")
    itl: StrictFloat | None = Field(default=None, gt=0, examples=[30], description="inter-token latency in ms")
    e2e_latency: StrictFloat | None = Field(
        default=None, gt=0, alias="e2eLatency", examples=[30000], description="end-to-end request latency in ms"
    )
    optimization_type: Literal["latency", "throughput"] | None = Field(
        default=None,
        alias="optimizationType",
        description="accepted for compatibility; upstream does not use it for picking either",
    )

    @model_validator(mode="after")
    def _fill_latency_defaults(self) -> "SlaSpec":
        # Assigning through object.__setattr__ keeps the fields out of
        # model_fields_set, so the loader reports them as defaults; an explicit
        # null is taken out of it, since the default replaces it too.
        if self.e2e_latency is None:
            for name, default_ms in (("ttft", 2000.0), ("itl", 30.0)):
                if getattr(self, name) is None:
                    object.__setattr__(self, name, default_ms)
                    self.model_fields_set.discard(name)
        return self


class HardwareSpec(_SpecModel):
    """GPUs to plan for; unset fields are discovered (`dgdr_kernel.hardware`)."""

    gpu_sku: StrictStr | None = Field(default=None, alias="gpuSku", description="GPU SKU from the DGDR enum")
    vram_mb: StrictFloat | None = Field(
        default=None, gt=0, alias="vramMb", examples=[81559], description="memory per GPU in MiB"
    )
    total_gpus: StrictInt | None = Field(default=None, gt=0, alias="totalGpus", examples=[8], description="GPU budget")
    num_gpus_per_node: StrictInt | None = Field(
        default=None, gt=0, alias="numGpusPerNode", examples=[8], description="GPUs in one node"
    )
    interconnect: StrictStr | None = Field(default=None, description="nvlink, pcie, ...; metadata only")
    rdma: StrictBool | None = Field(default=None, description="RDMA between nodes")

    @field_validator("gpu_sku")
    @classmethod
    def _check_gpu_sku(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if value in GPU_SKUS:
            return value
        if value in DEPRECATED_GPU_SKU_ALIASES:
            return DEPRECATED_GPU_SKU_ALIASES[value]  # the loader warns about the alias

        raise PydanticCustomError(
            "gpu_sku_unknown",
            "is not a supported GPU SKU (lowercase with underscores, e.g. h100_sxm)",
            {"fix": _gpu_sku_fix(suggest_gpu_sku(value))},
        )


class ModelCacheSpec(_SpecModel):
    """A PersistentVolumeClaim holding the model weights."""

    pvc_name: StrictStr | None = Field(default=None, alias="pvcName", min_length=1)
    pvc_model_path: StrictStr | None = Field(default=None, alias="pvcModelPath", description="path inside the PVC")
    pvc_mount_path: StrictStr = Field(default="/opt/model-cache", alias="pvcMountPath", min_length=1)


class MockerSpec(_SpecModel):
    """Simulated `dynamo.mocker` workers in place of real engines."""

    enabled: StrictBool = False


class KvRouterSpec(_SpecModel):
    """KV-aware routing on the Frontend (DYN_ROUTER_MODE=kv)."""

    enabled: StrictBool = False


class FeaturesSpec(_SpecModel):
    """Optional features of the generated deployment."""

    planner: PlannerConfig | None = Field(default=None, description="its presence enables the Planner service")
    mocker: MockerSpec = Field(default_factory=MockerSpec)
    kv_router: KvRouterSpec = Field(default_factory=KvRouterSpec, alias="kvRouter")


class OverridesSpec(_SpecModel):
    """Raw overrides merged into the profiling Job and the generated DGD."""

    profiling_job: dict[str, Any] | None = Field(
        default=None, alias="profilingJob", description="batch/v1 JobSpec merged into the profiling Job"
    )
    dgd: dict[str, Any] | None = Field(default=None, description="partial DynamoGraphDeployment merged into the output")
    trust_remote_code: StrictBool = Field(default=False, alias="trustRemoteCode")


class DgdrSpec(_SpecModel):
    """The `spec` of a DynamoGraphDeploymentRequest."""

    model: StrictStr = Field(min_length=1, description="HuggingFace id or private model name")
    backend: Literal["auto", "vllm", "sglang", "trtllm"] = "auto"
    image: StrictStr = Field(default=DEFAULT_IMAGE, min_length=1, description="profiling-job (planner) image")
    search_strategy: Literal["rapid", "thorough"] = Field(default="rapid", alias="searchStrategy")
    auto_apply: StrictBool = Field(default=True, alias="autoApply")
    runtime_version_override: StrictStr | None = Field(
        default=None, alias="runtimeVersionOverride", pattern=RUNTIME_VERSION_PATTERN
    )
    workload: WorkloadSpec = Field(default_factory=WorkloadSpec)
    sla: SlaSpec = Field(default_factory=SlaSpec)
    hardware: HardwareSpec = Field(default_factory=HardwareSpec)
    model_cache: ModelCacheSpec | None = Field(default=None, alias="modelCache")
    features: FeaturesSpec = Field(default_factory=FeaturesSpec)
    overrides: OverridesSpec = Field(default_factory=OverridesSpec)

    @model_validator(mode="before")
    @classmethod
    def _drop_empty_sections(cls, data: Any) -> Any:
        # A YAML key with nothing under it (`sla:`) parses as null. Treat it as
        # absent, so the section gets its defaults instead of a type error.
        if isinstance(data, dict):
            return {key: value for key, value in data.items() if not (value is None and key in _SECTIONS)}
        return data


def find_rule_problems(spec: Mapping) -> tuple[list[SpecProblem], list[str]]:
    """Check the rules that span fields on raw spec data; return (problems, warnings).

    Runs on the raw mapping so that these rules are reported even when a field
    elsewhere has the wrong type.
    """
    problems: list[SpecProblem] = []
    warnings: list[str] = []

    def section(name: str) -> Mapping:
        value = spec.get(name)
        return value if isinstance(value, Mapping) else {}

    workload = section("workload")
    if workload.get("requestRate") is not None and workload.get("concurrency") is not None:
        problems.append(
            SpecProblem(
                "workload",
                "requestRate and concurrency are mutually exclusive",
                {"requestRate": workload["requestRate"], "concurrency": workload["concurrency"]},
                "set only one of workload.requestRate and workload.concurrency",
            )
        )

    sla = section("sla")
    osl = workload.get("osl")
    if type(osl) is int and osl == 1 and sla.get("e2eLatency") is None:
        # The DGDR type allows osl 1 (int32, no minimum); such a request has a first token and nothing after it.
        itl = sla.get("itl")
        itl_text = "30 ms, the default" if itl is None else f"{itl} ms"
        warnings.append(
            f"workload.osl is 1, so a request has no inter-token latency: the ITL target (sla.itl: {itl_text}) "
            "is ignored, no candidate is rejected for ITL, and ITL and tokens/s/user are shown as n/a "
            "(candidates.csv keeps the model's mean iteration time in itl_ms)"
        )

    if sla.get("e2eLatency") is not None:
        explicit = [name for name in ("ttft", "itl") if sla.get(name) is not None]
        if explicit:
            problems.append(
                SpecProblem(
                    "sla",
                    "e2eLatency cannot be combined with explicit "
                    + " and ".join(explicit)
                    + "; the upstream profiler would silently drop them, so this tool rejects the combination",
                    {name: sla[name] for name in ["e2eLatency", *explicit]},
                    "remove " + " and ".join(f"sla.{name}" for name in explicit)
                    + " to plan for the end-to-end target, or remove sla.e2eLatency",
                )
            )

    backend = spec.get("backend", "auto")
    if spec.get("searchStrategy") == "thorough" and backend in (None, "auto"):
        problems.append(
            SpecProblem(
                "backend",
                "searchStrategy thorough measures one backend on real GPUs, so backend cannot be auto",
                backend,
                "set backend to vllm, sglang or trtllm, or use searchStrategy rapid",
            )
        )

    features = section("features")
    mocker = features.get("mocker")
    mocker_on = isinstance(mocker, Mapping) and mocker.get("enabled") is True
    if "planner" in features and features["planner"] is None:
        warnings.append(
            "features.planner: null means no planner is deployed; write 'planner: {}' for a planner "
            "with default settings"
        )
    planner = features.get("planner")
    if mocker_on and isinstance(planner, Mapping):
        sweep_mode = planner.get("pre_deployment_sweeping_mode", "rapid")
        if sweep_mode in (None, "none"):
            problems.append(
                SpecProblem(
                    "features.planner.pre_deployment_sweeping_mode",
                    "cannot be none when features.mocker is enabled, because mocker workers "
                    "replay the sweep's performance data",
                    sweep_mode,
                    "set pre_deployment_sweeping_mode to rapid or thorough, or disable the mocker",
                )
            )

    hardware = section("hardware")
    sku = hardware.get("gpuSku")
    if sku in DEPRECATED_GPU_SKU_ALIASES:
        warnings.append(
            f"hardware.gpuSku: {sku!r} is a deprecated alias of {DEPRECATED_GPU_SKU_ALIASES[sku]!r}; "
            "planning for the latter"
        )

    model_cache = section("modelCache")
    if model_cache.get("pvcModelPath") is not None and model_cache.get("pvcName") is None:
        problems.append(
            SpecProblem(
                "modelCache.pvcName",
                "is required when modelCache.pvcModelPath is set",
                None,
                "name the PersistentVolumeClaim that holds the model, or remove pvcModelPath",
            )
        )
    problems += _check_model_cache_paths(model_cache)

    problems += _check_job_tolerations(section("overrides").get("profilingJob"))

    dgd = section("overrides").get("dgd")
    if isinstance(dgd, Mapping):
        problems_dgd, warnings_dgd = _check_dgd_override(dgd)
        problems += problems_dgd
        warnings += warnings_dgd

    return problems, warnings


def _check_job_tolerations(job: Any) -> list[SpecProblem]:
    """Check the profiling Job's tolerations, which are copied onto every DGD service."""
    from dgdr_kernel.dgd.schema import check_kubernetes_object

    path = "overrides.profilingJob.template.spec.tolerations"
    template = job.get("template") if isinstance(job, Mapping) else None
    pod_spec = template.get("spec") if isinstance(template, Mapping) else None
    tolerations = pod_spec.get("tolerations") if isinstance(pod_spec, Mapping) else None
    if tolerations is None:
        return []
    problems = []
    for line in check_kubernetes_object(tolerations, "list[V1Toleration]", path):
        where, _, message = line.partition(": ")
        problems.append(
            SpecProblem(where, message, None, "write each toleration as in a pod spec, e.g. {key: nvidia.com/gpu, operator: Exists}")
        )
    return problems


def _check_model_cache_paths(model_cache: Mapping) -> list[SpecProblem]:
    """Check that the PVC name and paths can appear in a pod spec as written."""
    from dgdr_kernel.dgd.naming import is_dns1123_subdomain, to_dns1123_label

    problems = []
    pvc_name = model_cache.get("pvcName")
    if isinstance(pvc_name, str) and pvc_name and not is_dns1123_subdomain(pvc_name):
        problems.append(
            SpecProblem(
                "modelCache.pvcName",
                "is not a valid PersistentVolumeClaim name (DNS-1123: lowercase letters, digits, '-' and '.')",
                pvc_name,
                f"use the claim's name as `kubectl get pvc` prints it, e.g. {to_dns1123_label(pvc_name)!r}",
            )
        )
    mount_path = model_cache.get("pvcMountPath")
    if isinstance(mount_path, str) and mount_path and not mount_path.startswith("/"):
        problems.append(
            SpecProblem(
                "modelCache.pvcMountPath",
                "must be an absolute path, as Kubernetes requires of a volume mount",
                mount_path,
                f"use '/{mount_path.strip('/')}' or remove the field for /opt/model-cache",
            )
        )
    model_path = model_cache.get("pvcModelPath")
    if isinstance(model_path, str) and ".." in model_path.split("/"):
        problems.append(
            SpecProblem(
                "modelCache.pvcModelPath",
                "must not contain '..', which would leave the mounted PVC",
                model_path,
                "give the model's folder relative to the PVC root, e.g. hub/models--Qwen--Qwen3-32B",
            )
        )
    return problems


def _check_dgd_override(dgd: Mapping) -> tuple[list[SpecProblem], list[str]]:
    has_api_version = "apiVersion" in dgd
    has_kind = "kind" in dgd
    if not has_api_version and not has_kind:
        return [], [
            "overrides.dgd: has neither apiVersion nor kind; treated as a nvidia.com/v1alpha1 "
            "DynamoGraphDeployment (add both to make this explicit)"
        ]
    if has_api_version != has_kind:
        missing = "kind" if has_api_version else "apiVersion"
        present = "apiVersion" if has_api_version else "kind"
        return [
            SpecProblem(
                f"overrides.dgd.{missing}",
                f"is required when overrides.dgd.{present} is set",
                None,
                "set apiVersion (nvidia.com/v1alpha1 or nvidia.com/v1beta1) and kind: DynamoGraphDeployment, "
                "or remove both",
            )
        ], []

    problems = []
    if dgd["apiVersion"] not in ("nvidia.com/v1alpha1", "nvidia.com/v1beta1"):
        problems.append(
            SpecProblem(
                "overrides.dgd.apiVersion",
                "must be nvidia.com/v1alpha1 or nvidia.com/v1beta1",
                dgd["apiVersion"],
            )
        )
    if dgd["kind"] != "DynamoGraphDeployment":
        problems.append(
            SpecProblem("overrides.dgd.kind", "must be DynamoGraphDeployment", dgd["kind"], "set kind: DynamoGraphDeployment")
        )
    return problems, []
