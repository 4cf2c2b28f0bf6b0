"""dgdr_kernel: capacity planning for LLM serving on NVIDIA Dynamo.

The pipeline, one function per stage (each usable on its own from a notebook):

    load_dgdr -> resolve_request -> run_sweep -> pick -> pareto_front
              -> render_dgd / build_planner_curves -> write_bundle

`profile` runs them all.
"""

from dgdr_kernel.errors import (
    BundleError,
    DgdrError,
    HardwareError,
    ModelArchError,
    OverrideError,
    PerfModelError,
    RenderError,
    ReportError,
    SpecError,
)

__version__ = "0.1.0"

# The stage functions import pandas, numpy and the kubernetes client, so they
# load on first use and `dgdr validate` starts fast.
_STAGES = {
    "load_dgdr": "dgdr_kernel.spec",
    "resolve_request": "dgdr_kernel.request",
    "run_sweep": "dgdr_kernel.sweep",
    "pick": "dgdr_kernel.picking",
    "pareto_front": "dgdr_kernel.pareto",
    "build_planner_curves": "dgdr_kernel.planner",
    "render_final_config": "dgdr_kernel.dgd",
    "profile": "dgdr_kernel.pipeline",
    "write_bundle": "dgdr_kernel.bundle",
}


def __getattr__(name: str):
    if name in _STAGES:
        import importlib

        return getattr(importlib.import_module(_STAGES[name]), name)
    raise AttributeError(f"module 'dgdr_kernel' has no attribute {name!r}")

__all__ = [
    "BundleError",
    "DgdrError",
    "HardwareError",
    "ModelArchError",
    "OverrideError",
    "PerfModelError",
    "RenderError",
    "ReportError",
    "SpecError",
    "__version__",
    "build_planner_curves",
    "load_dgdr",
    "pareto_front",
    "pick",
    "profile",
    "render_final_config",
    "resolve_request",
    "run_sweep",
    "write_bundle",
]
