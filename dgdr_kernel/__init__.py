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
    SpecError,
)

__version__ = "0.1.0"

__all__ = [
    "BundleError",
    "DgdrError",
    "HardwareError",
    "ModelArchError",
    "OverrideError",
    "PerfModelError",
    "RenderError",
    "SpecError",
    "__version__",
]
