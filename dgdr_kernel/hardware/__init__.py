"""GPU hardware: the SKU catalog, product-name inference, discovery and resolution.

- `get_gpu`, `load_catalog`, `list_skus`, `GpuSpec`: the catalog in `hwdata/`.
- `infer_sku`: a GPU product name ("NVIDIA H100 80GB HBM3") to a catalog SKU.
- `resolve_hardware`, `ResolvedHardware`: fill the DGDR's hardware section from
  the DGDR, nvidia-smi, Kubernetes node labels and the catalog.
"""

from dgdr_kernel.hardware.catalog import PRECISIONS, GpuSpec, SourceRef, get_gpu, list_skus, load_catalog
from dgdr_kernel.hardware.resolve import TOTAL_GPUS_AUTO_CAP, ResolvedHardware, resolve_hardware
from dgdr_kernel.hardware.skus import infer_sku

__all__ = [
    "PRECISIONS",
    "TOTAL_GPUS_AUTO_CAP",
    "GpuSpec",
    "ResolvedHardware",
    "SourceRef",
    "get_gpu",
    "infer_sku",
    "list_skus",
    "load_catalog",
    "resolve_hardware",
]
