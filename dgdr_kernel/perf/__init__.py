"""Analytical performance model: forward-step time, memory and serving predictions.

>>> pm = PerfModel(arch, gpu, "vllm")
>>> pm.agg(Layout(tp=[1, 2, 4]), isl=4000, osl=500, concurrency=32).itl_ms
"""

from dgdr_kernel.perf.layout import Layout, validate_layout
from dgdr_kernel.perf.memory import MemoryEstimate
from dgdr_kernel.perf.model import PerfModel
from dgdr_kernel.perf.params import ENGINE_MEMORY, PerfParams, default_params, load_params
from dgdr_kernel.perf.predictions import AggPrediction, DecodePrediction, PrefillPrediction

__all__ = [
    "AggPrediction",
    "DecodePrediction",
    "ENGINE_MEMORY",
    "Layout",
    "MemoryEstimate",
    "PerfModel",
    "PerfParams",
    "PrefillPrediction",
    "default_params",
    "load_params",
    "validate_layout",
]
