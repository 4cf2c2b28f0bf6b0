"""The resolved request: a validated DGDR with its hardware and model filled in.

`ResolvedRequest` is what the pure middle of the pipeline (sweep, picking,
Pareto, planner curves, DGD rendering) works on. Only `resolve_request` reads
files or probes the machine; everything after it is a plain function call.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dgdr_kernel.hardware import GpuSpec, ResolvedHardware
    from dgdr_kernel.modelarch import ModelArch
    from dgdr_kernel.spec import LoadedDgdr

__all__ = ["PickingMode", "ResolvedRequest", "SlaTargets", "resolve_request"]


class PickingMode(str, Enum):
    """How the pick is chosen, as the upstream profiler decides it."""

    DEFAULT = "default"  # maximise cluster throughput over the whole GPU budget
    LOAD_MATCH = "load_match"  # fewest GPUs that serve workload.requestRate or .concurrency
    AUTOSCALE = "autoscale"  # a planner scales at run time: one prefill and one decode engine


@dataclass(frozen=True)
class SlaTargets:
    """SLA targets in ms, checked against predicted means.

    In e2eLatency mode `ttft_ms` and `itl_ms` are None and `e2e_latency_ms` is set.
    """

    ttft_ms: float | None
    itl_ms: float | None
    e2e_latency_ms: float | None = None

    @property
    def is_e2e(self) -> bool:
        return self.e2e_latency_ms is not None


@dataclass(frozen=True)
class ResolvedRequest:
    """Everything the sweep needs, with nothing left to look up."""

    dgdr: "LoadedDgdr"
    hardware: "ResolvedHardware"
    arch: "ModelArch"
    backends: tuple[str, ...]  # ("vllm",) or, for backend auto, ("vllm", "sglang", "trtllm")
    picking_mode: PickingMode
    sla: SlaTargets
    isl: int
    osl: int
    request_rate: float | None  # requests/s, load_match only
    concurrency: float | None  # in-flight requests, load_match only
    total_gpus: int
    warnings: list[str] = field(default_factory=list)

    @property
    def gpu(self) -> "GpuSpec":
        """The catalog SKU with the resolved memory per GPU.

        hardware.vramMb (or the memory nvidia-smi or the node labels report)
        wins over the catalog's figure, so an A100 40GB detected as a100_sxm is
        planned with 40 GB, not the catalog's 80 GB.
        """
        gpu = self.hardware.gpu
        if self.hardware.vram_mib and self.hardware.vram_mib != gpu.vram_mib:
            gpu = gpu.model_copy(update={"vram_mib": self.hardware.vram_mib})
        return gpu


def resolve_request(dgdr: "LoadedDgdr", **hardware_options) -> ResolvedRequest:
    """Resolve hardware and model architecture for a validated DGDR.

    `hardware_options` are passed to `dgdr_kernel.hardware.resolve_hardware`
    (for example a recorded nvidia-smi output in tests).
    """
    from dgdr_kernel.resolve import build_resolved_request

    return build_resolved_request(dgdr, **hardware_options)
