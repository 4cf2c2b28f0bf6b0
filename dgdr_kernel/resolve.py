"""Turn a validated DGDR into a `ResolvedRequest`: hardware, architecture, mode, SLA.

This is the last step that reads files or probes the machine (through
`dgdr_kernel.hardware.resolve_hardware` and `dgdr_kernel.modelarch.resolve_model`);
everything after it works on the returned value alone.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from dgdr_kernel.errors import SpecError, SpecProblem
from dgdr_kernel.request import PickingMode, ResolvedRequest, SlaTargets

if TYPE_CHECKING:
    from dgdr_kernel.modelarch import ModelArch
    from dgdr_kernel.spec import LoadedDgdr
    from dgdr_kernel.spec_models import DgdrSpec, SlaSpec

__all__ = [
    "ALL_BACKENDS",
    "build_resolved_request",
    "determine_picking_mode",
    "expand_backends",
    "find_context_window_problems",
]

logger = logging.getLogger(__name__)

# The backends `backend: auto` sweeps, in the order the upstream profiler checks them.
ALL_BACKENDS: tuple[str, ...] = ("vllm", "sglang", "trtllm")


def determine_picking_mode(spec: "DgdrSpec") -> PickingMode:
    """Pick the mode as the upstream profiler does.

    A planner with scaling enabled autoscales (one prefill and one decode engine);
    otherwise a requestRate or concurrency target selects the fewest GPUs that
    serve it; otherwise the whole GPU budget is used for maximum throughput.
    """
    planner = spec.features.planner
    if planner is not None and planner.scaling_enabled():
        return PickingMode.AUTOSCALE
    if spec.workload.request_rate is not None or spec.workload.concurrency is not None:
        return PickingMode.LOAD_MATCH
    return PickingMode.DEFAULT


def build_sla_targets(sla: "SlaSpec", osl: int | None = None) -> SlaTargets:
    """Return the SLA targets in ms; in e2eLatency mode TTFT and ITL are None.

    With one output token (`osl` 1) there is no inter-token latency, so the
    ITL target is dropped (loading the DGDR warns about it).
    """
    if sla.e2e_latency is not None:
        return SlaTargets(ttft_ms=None, itl_ms=None, e2e_latency_ms=sla.e2e_latency)
    return SlaTargets(ttft_ms=sla.ttft, itl_ms=sla.itl if osl is None or osl > 1 else None)


# TensorRT-LLM builds CUDA kernels only; it has no AMD (ROCm) port.
NVIDIA_ONLY_BACKENDS: tuple[str, ...] = ("trtllm",)


def expand_backends(backend: str, vendor: str = "nvidia", *, source: str | None = None) -> tuple[str, ...]:
    """Return the backends to sweep: those of the GPU vendor for `auto`, else the one named.

    Raises
    ------
    SpecError
        When the named backend does not run on the vendor's GPUs.
    """
    if backend == "auto":
        return tuple(b for b in ALL_BACKENDS if vendor == "nvidia" or b not in NVIDIA_ONLY_BACKENDS)
    if vendor != "nvidia" and backend in NVIDIA_ONLY_BACKENDS:
        allowed = [b for b in ALL_BACKENDS if b not in NVIDIA_ONLY_BACKENDS]
        raise SpecError(
            [
                SpecProblem(
                    "backend",
                    f"runs on NVIDIA GPUs only, and hardware.gpuSku is an {vendor.upper()} GPU",
                    backend,
                    f"set backend to one of {allowed} or auto, or choose an NVIDIA hardware.gpuSku",
                )
            ],
            source=source,
        )
    return (backend,)


def find_context_window_problems(spec: "DgdrSpec", arch: "ModelArch") -> list[SpecProblem]:
    """List workload lengths that do not fit the model's context window.

    At its last token a request has its input and all its output tokens in the KV cache, so
    isl + osl must fit within `max_position_embeddings` too.
    """
    window = arch.max_position_embeddings
    if not window:
        return []

    isl = spec.workload.isl
    osl = spec.workload.osl
    where = f"{spec.model} has a context window of {window} tokens (max_position_embeddings)"
    problems: list[SpecProblem] = []
    if isl > window:
        problems.append(
            SpecProblem("workload.isl", f"exceeds the context window: {where}", isl, f"set workload.isl below {window}")
        )
    if osl > window:
        problems.append(
            SpecProblem("workload.osl", f"exceeds the context window: {where}", osl, f"set workload.osl below {window}")
        )
    if not problems and isl + osl > window:
        problems.append(
            SpecProblem(
                "workload.osl",
                f"isl + osl = {isl + osl} tokens exceeds the context window: {where}",
                osl,
                f"lower workload.isl or workload.osl so that their sum is at most {window}",
            )
        )
    return problems


def build_resolved_request(dgdr: "LoadedDgdr", **hardware_options) -> ResolvedRequest:
    """Resolve the model architecture and the hardware of a validated DGDR.

    `hardware_options` go to `dgdr_kernel.hardware.resolve_hardware` (for
    example a recorded nvidia-smi output in tests).

    Raises
    ------
    SpecError
        When workload.isl or workload.osl exceeds the model's context window.
    ModelArchError, HardwareError
        When the model's config.json or the GPUs cannot be resolved.
    """
    from dgdr_kernel.hardware import resolve_hardware
    from dgdr_kernel.modelarch import resolve_model

    spec = dgdr.spec
    arch = resolve_model(spec.model)
    problems = find_context_window_problems(spec, arch)
    if problems:
        raise SpecError(problems, source=dgdr.source)

    hardware = resolve_hardware(spec.hardware, **hardware_options)
    backends = expand_backends(spec.backend, hardware.gpu.vendor, source=dgdr.source)
    picking_mode = determine_picking_mode(spec)
    # Hardware notes (a total assumed from one node, the 32-GPU cap on a
    # discovered total) change the plan, so the user sees them with the pick.
    warnings = list(dgdr.warnings) + list(hardware.notes)

    if spec.search_strategy == "thorough":
        # NOTE: thorough mode deploys and benchmarks candidates on live GPUs.
        # That measurement step is not built yet, so the rapid model predicts instead.
        warnings.append(
            "searchStrategy thorough benchmarks candidates on live GPUs, which this "
            "workbench does not do yet; every number here comes from the rapid "
            "performance model (set searchStrategy: rapid to silence this warning)"
        )

    request_rate = spec.workload.request_rate
    concurrency = spec.workload.concurrency
    if picking_mode is not PickingMode.LOAD_MATCH:
        if request_rate is not None or concurrency is not None:
            target = "requestRate" if request_rate is not None else "concurrency"
            warnings.append(
                f"workload.{target} is ignored: features.planner selects autoscale mode, "
                "where the planner sizes the deployment at run time"
            )
        request_rate = None
        concurrency = None

    logger.info(
        "resolved %s: %s x %d, picking mode %s, backends %s",
        dgdr.source,
        hardware.gpu.sku,
        hardware.total_gpus,
        picking_mode.value,
        ",".join(backends),
    )
    return ResolvedRequest(
        dgdr=dgdr,
        hardware=hardware,
        arch=arch,
        backends=backends,
        picking_mode=picking_mode,
        sla=build_sla_targets(spec.sla, spec.workload.osl),
        isl=spec.workload.isl,
        osl=spec.workload.osl,
        request_rate=request_rate,
        concurrency=concurrency,
        total_gpus=hardware.total_gpus,
        warnings=warnings,
    )
