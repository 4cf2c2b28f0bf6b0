"""Model architectures parsed from HuggingFace `config.json` files.

`resolve_model(model_id)` finds a config (local directory, shipped copy or the
local HuggingFace cache) and returns a frozen `ModelArch` with the fields and
derived sizes (parameters, weight bytes, KV-cache bytes) the performance
model needs. Nothing is downloaded.
"""

from dgdr_kernel.modelarch.arch import KV_DTYPE_BYTES, WEIGHT_DTYPES, ModelArch, ParamCounts
from dgdr_kernel.modelarch.parse import parse_config
from dgdr_kernel.modelarch.resolve import (
    ConfigLocation,
    list_shipped_models,
    locate_config,
    resolve_model,
)

__all__ = [
    "KV_DTYPE_BYTES",
    "WEIGHT_DTYPES",
    "ConfigLocation",
    "ModelArch",
    "ParamCounts",
    "list_shipped_models",
    "locate_config",
    "parse_config",
    "resolve_model",
]
