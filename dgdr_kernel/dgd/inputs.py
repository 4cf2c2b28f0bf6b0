"""Everything the DGD renderer reads, gathered from a resolved request.

`RenderInputs` is a plain value object so that rendering can be tested from
hand-built inputs and picks, independent of the spec loader and the sweep.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dgdr_kernel.dgd.images import DEFAULT_IMAGE
from dgdr_kernel.dgd.modelcache import ModelSource, resolve_model_source

if TYPE_CHECKING:
    from dgdr_kernel.request import ResolvedRequest

__all__ = ["RenderInputs", "render_inputs_from_request"]


@dataclass(frozen=True)
class RenderInputs:
    """The DGDR fields and resolved facts that shape the generated DGD."""

    dgdr_name: str
    namespace: str
    model: str
    image: str
    num_gpus_per_node: int
    isl: int
    osl: int
    max_context_tokens: int | None = None  # the model's max_position_embeddings
    pvc_name: str | None = None
    pvc_model_path: str | None = None
    pvc_mount_path: str | None = None
    trust_remote_code: bool = False
    kv_router: bool = False
    mocker: bool = False
    runtime_version_override: str | None = None
    planner: dict[str, Any] | None = None  # features.planner as planner_config.json fields
    planner_fields_set: frozenset[str] = frozenset()  # planner fields the user wrote
    # The effective SLA the picks were sized for, defaults included; TTFT and ITL
    # are None in e2eLatency mode, where only the end-to-end target is set.
    sla_ttft_ms: float | None = None
    sla_itl_ms: float | None = None
    sla_e2e_latency_ms: float | None = None
    tolerations: tuple[dict, ...] = ()  # overrides.profilingJob.template.spec.tolerations
    dgd_override: dict | None = None  # overrides.dgd
    warnings: tuple[str, ...] = field(default=())

    @property
    def model_source(self) -> ModelSource:
        return resolve_model_source(
            self.model,
            pvc_name=self.pvc_name,
            pvc_model_path=self.pvc_model_path,
            pvc_mount_path=self.pvc_mount_path,
        )

    @property
    def needs_profile_data(self) -> bool:
        """Mocker workers and a throughput-scaling planner read the planner curves."""
        if self.mocker:
            return True
        return bool(self.planner and self.planner.get("enable_throughput_scaling", False))


def _field(obj: Any, name: str, default: Any = None) -> Any:
    """Read `name` from a pydantic model, dataclass or dict."""
    if obj is None:
        return default
    if isinstance(obj, dict):
        return obj.get(name, default)
    return getattr(obj, name, default)


def _planner_dump(planner: Any) -> tuple[dict | None, frozenset[str]]:
    if planner is None:
        return None, frozenset()
    if isinstance(planner, dict):
        return dict(planner), frozenset(planner)
    dumped = planner.model_dump(mode="json", exclude_none=True)
    return dumped, frozenset(getattr(planner, "model_fields_set", set()))


def render_inputs_from_request(request: "ResolvedRequest") -> RenderInputs:
    """Gather the renderer's inputs from a resolved request."""
    loaded = request.dgdr
    spec = loaded.spec
    metadata = loaded.metadata
    features = _field(spec, "features")
    overrides = _field(spec, "overrides")
    model_cache = _field(spec, "model_cache")

    planner, planner_fields_set = _planner_dump(_field(features, "planner"))
    profiling_job = _field(overrides, "profiling_job") or {}
    tolerations = (((profiling_job.get("template") or {}).get("spec") or {}).get("tolerations")) or []

    warnings = []
    image = _field(spec, "image")
    if not image:
        image = DEFAULT_IMAGE
        warnings.append(f"spec.image is not set; images are derived from {DEFAULT_IMAGE}")

    return RenderInputs(
        dgdr_name=_field(metadata, "name") or "dgdr",
        namespace=_field(metadata, "namespace") or "default",
        model=spec.model,
        image=image,
        num_gpus_per_node=request.hardware.num_gpus_per_node,
        isl=request.isl,
        osl=request.osl,
        max_context_tokens=getattr(request.arch, "max_position_embeddings", None),
        pvc_name=_field(model_cache, "pvc_name"),
        pvc_model_path=_field(model_cache, "pvc_model_path"),
        pvc_mount_path=_field(model_cache, "pvc_mount_path"),
        trust_remote_code=bool(_field(overrides, "trust_remote_code", False)),
        kv_router=bool(_field(_field(features, "kv_router"), "enabled", False)),
        mocker=bool(_field(_field(features, "mocker"), "enabled", False)),
        runtime_version_override=_field(spec, "runtime_version_override"),
        planner=planner,
        planner_fields_set=planner_fields_set,
        sla_ttft_ms=request.sla.ttft_ms,
        sla_itl_ms=request.sla.itl_ms,
        sla_e2e_latency_ms=request.sla.e2e_latency_ms,
        tolerations=tuple(tolerations),
        dgd_override=_field(overrides, "dgd"),
        warnings=tuple(warnings),
    )
