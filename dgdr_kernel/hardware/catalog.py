"""The GPU catalog: one YAML file per SKU under `hwdata/`, validated on load.

Each file describes one GPU: memory, memory bandwidth, dense tensor-core peaks
per precision, the typical node it sits in, and the links between GPUs. Every
number names the vendor document it comes from in the file's `sources`
mapping. Adding a SKU is adding a file.

Capacities: vendors print HBM and GDDR capacity in "GB", but the parts are
binary-sized (an "80GB" H100 reports 81559 MiB usable in nvidia-smi, more than
80e9 bytes), so `vram_mib` is the printed number times 1024. nvidia-smi shows
a little less than that because the driver reserves some memory.
"""

from __future__ import annotations

import functools
import logging
from importlib import resources
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from dgdr_kernel.errors import HardwareError

__all__ = [
    "GpuSpec",
    "PRECISIONS",
    "SourceRef",
    "get_gpu",
    "list_skus",
    "load_catalog",
]

logger = logging.getLogger(__name__)

PRECISIONS = ("fp16", "bf16", "fp8", "fp4", "int8")
Precision = Literal["fp16", "bf16", "fp8", "fp4", "int8"]

# gpuSku values of the DGDR enum that have no catalog file, and why.
UNCATALOGUED_SKUS = {
    "gb10": "NVIDIA publishes only a sparse FP4 figure (1 PFLOP) for GB10, no BF16 or FP8 peak",
    "vr_nvl72": "NVIDIA publishes only rack-level NVFP4 and FP8 figures for Vera Rubin NVL72, no BF16 peak",
}

# Numeric fields that must each cite a source in the file's `sources` mapping.
SOURCED_FIELDS = (
    "vram_mib",
    "hbm_gb_per_s",
    "dense_tflops",
    "gpus_per_node",
    "intra_node_gb_per_s",
    "inter_node_gb_per_s",
    "tdp_w",
)


class SourceRef(BaseModel):
    """The vendor document behind one field, and how the value was read from it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    title: str = Field(min_length=1, description="document title as the vendor prints it")
    url: str = Field(min_length=1, description="where the document is published (text only)")
    note: str | None = Field(
        default=None,
        description="how the stored value follows from the document (e.g. dense = sparse / 2)",
    )


class GpuSpec(BaseModel):
    """One GPU SKU from `hwdata/<sku>.yaml`; all figures are per GPU."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sku: str = Field(pattern=r"^[a-z0-9]+(_[a-z0-9]+)*$", description="DGDR gpuSku value")
    aliases: tuple[str, ...] = Field(default=(), description="other gpuSku values meaning this SKU")
    name: str = Field(min_length=1, description="product name")
    vendor: Literal["nvidia", "amd"]
    vram_mib: int = Field(gt=0, description="memory capacity in MiB")
    hbm_gb_per_s: float = Field(gt=0, description="memory bandwidth (HBM or GDDR) in GB/s")
    dense_tflops: dict[Precision, float] = Field(
        description="dense (non-sparse) tensor-core peak in TFLOP/s (TOP/s for int8) per precision",
    )
    gpus_per_node: int = Field(gt=0, description="GPUs in the typical node (HGX/DGX board or server)")
    intra_node_link: Literal["nvlink", "pcie", "infinity_fabric"]
    intra_node_gb_per_s: float = Field(gt=0, description="GPU-to-GPU bandwidth in a node, GB/s per GPU per direction")
    inter_node_gb_per_s: float = Field(gt=0, description="bandwidth out of the node, GB/s per GPU per direction")
    tdp_w: float = Field(gt=0, description="maximum board power in W")
    aic_supported: bool = Field(description="AIConfigurator ships measured performance data for this SKU")
    sources: dict[str, SourceRef] = Field(description="field name -> vendor document it comes from")

    @model_validator(mode="after")
    def _check_tflops_and_sources(self) -> "GpuSpec":
        if not self.dense_tflops:
            raise ValueError("dense_tflops is empty; give at least one precision among " + ", ".join(PRECISIONS))
        for precision, tflops in self.dense_tflops.items():
            if tflops <= 0:
                raise ValueError(f"dense_tflops.{precision} must be positive, got {tflops}")

        # A source key is a sourced field, or `dense_tflops.<precision>` for one precision.
        allowed_keys = set(SOURCED_FIELDS) | {f"dense_tflops.{p}" for p in self.dense_tflops}
        unknown = sorted(set(self.sources) - allowed_keys)
        if unknown:
            raise ValueError(f"sources has unknown keys {unknown}; allowed: {sorted(allowed_keys)}")
        missing = [name for name in SOURCED_FIELDS if name not in self.sources]
        if "dense_tflops" in missing and all(f"dense_tflops.{p}" in self.sources for p in self.dense_tflops):
            missing.remove("dense_tflops")
        if missing:
            raise ValueError(f"sources is missing {missing}; every numeric field cites a vendor document")
        return self

    def __hash__(self) -> int:
        # The generated hash fails on the dict fields; a frozen spec hashes by its content.
        return hash(self.model_dump_json())

    @property
    def vram_gib(self) -> float:
        return self.vram_mib / 1024

    @property
    def precisions(self) -> tuple[str, ...]:
        """Precisions with a tensor-core peak, in the order of `PRECISIONS`."""
        return tuple(p for p in PRECISIONS if p in self.dense_tflops)

    def peak_tflops(self, precision: str) -> float:
        """Return the dense peak in TFLOP/s for `precision` (fp16, bf16, fp8, fp4, int8).

        Raises
        ------
        HardwareError
            When the GPU has no tensor-core support for `precision`.
        """
        key = precision.lower()
        if key not in self.dense_tflops:
            raise HardwareError(
                f"{self.sku} ({self.name}) has no {precision} tensor-core peak; "
                f"supported precisions: {', '.join(self.precisions)}"
            )
        return self.dense_tflops[key]

    def source_of(self, field_name: str) -> SourceRef | None:
        """Return the source of a field; `dense_tflops.fp8` falls back to `dense_tflops`."""
        if field_name in self.sources:
            return self.sources[field_name]
        if field_name.startswith("dense_tflops."):
            return self.sources.get("dense_tflops")
        return None


def _default_folder():
    return resources.files("dgdr_kernel.hwdata")


def _read_spec(entry, display_name: str) -> GpuSpec:
    try:
        data = yaml.safe_load(entry.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise HardwareError(f"GPU catalog file {display_name} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise HardwareError(f"GPU catalog file {display_name} must contain a mapping of fields, got {type(data).__name__}")

    try:
        spec = GpuSpec.model_validate(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            where = ".".join(str(part) for part in error["loc"]) or "(file)"
            problems.append(f"  - {where}: {error['msg']}")
        raise HardwareError(f"invalid GPU catalog file {display_name}:\n" + "\n".join(problems)) from exc

    stem = entry.name.removesuffix(".yaml")
    if spec.sku != stem:
        raise HardwareError(f"GPU catalog file {display_name}: sku {spec.sku!r} must match the file name {stem!r}")
    return spec


@functools.lru_cache(maxsize=8)
def _load_catalog_cached(path: str | None) -> dict[str, GpuSpec]:
    folder = _default_folder() if path is None else Path(path)
    if path is not None and not Path(path).is_dir():
        raise HardwareError(f"GPU catalog folder {path} does not exist or is not a folder")

    catalog: dict[str, GpuSpec] = {}
    names: dict[str, str] = {}  # sku or alias -> file that claimed it
    entries = sorted((e for e in folder.iterdir() if e.name.endswith(".yaml") and e.is_file()), key=lambda e: e.name)
    for entry in entries:
        display_name = str(entry) if path is not None else f"hwdata/{entry.name}"
        spec = _read_spec(entry, display_name)
        for name in (spec.sku, *spec.aliases):
            if name in names:
                raise HardwareError(f"GPU catalog: {name!r} is claimed by both {names[name]} and {display_name}")
            names[name] = display_name
        catalog[spec.sku] = spec

    if not catalog:
        raise HardwareError(f"GPU catalog folder {folder} contains no <sku>.yaml files")
    logger.debug("loaded %d GPU SKUs from %s", len(catalog), folder)
    return catalog


def load_catalog(path: str | Path | None = None) -> dict[str, GpuSpec]:
    """Load and validate every `<sku>.yaml` file, keyed by SKU (cached per folder).

    Parameters
    ----------
    path
        A folder of SKU files; by default the `hwdata/` shipped with the package.

    Raises
    ------
    HardwareError
        When a file is not valid YAML, lacks a field or a source, or two files
        claim the same SKU or alias. The message names the file and the field.
    """
    return dict(_load_catalog_cached(None if path is None else str(Path(path).resolve())))


def list_skus(path: str | Path | None = None) -> list[str]:
    """Return the catalog's SKUs, sorted."""
    return sorted(load_catalog(path))


def get_gpu(sku: str, *, path: str | Path | None = None, field: str = "hardware.gpuSku") -> GpuSpec:
    """Return the spec of `sku`; deprecated aliases such as `gb200_sxm` are accepted.

    `field` names the setting the user wrote the SKU in, for the error message
    (a DGDR field, or a command-line option such as `--gpu-sku`).

    Raises
    ------
    HardwareError
        When the SKU is not in the catalog; the message lists the supported SKUs.
    """
    catalog = load_catalog(path)
    key = str(getattr(sku, "value", sku)).strip().lower()
    if key in catalog:
        return catalog[key]
    for spec in catalog.values():
        if key in spec.aliases:
            return spec
    if key in UNCATALOGUED_SKUS and key not in catalog:
        raise HardwareError(
            f"GPU SKU {key!r} is a valid gpuSku but has no catalog entry: {UNCATALOGUED_SKUS[key]}. "
            f"Add hwdata/{key}.yaml with sourced figures, or set {field} to one of: {', '.join(sorted(catalog))}"
        )
    raise HardwareError(
        f"unknown GPU SKU {sku!r}; supported SKUs: {', '.join(sorted(catalog))}. "
        f"Set {field} to one of these (lowercase with underscores, e.g. h100_sxm)"
    )
