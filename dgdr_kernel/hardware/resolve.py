"""Fill in the DGDR's hardware section: the DGDR, then nvidia-smi, Kubernetes, the catalog.

Every field the DGDR sets wins. Missing fields come from the first discovery
source that finds GPUs of the requested SKU (any known SKU when gpuSku is not
set): the local nvidia-smi, then the Kubernetes nodes' GPU feature discovery
labels. What is still missing comes from the catalog entry of the SKU. When
no SKU can be determined, a `HardwareError` names the fields to set.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from dgdr_kernel.errors import HardwareError
from dgdr_kernel.hardware import discovery
from dgdr_kernel.hardware.catalog import GpuSpec, get_gpu, list_skus
from dgdr_kernel.hardware.discovery import GpuNode

__all__ = ["ResolvedHardware", "TOTAL_GPUS_AUTO_CAP", "resolve_hardware"]

logger = logging.getLogger(__name__)

# The upstream operator caps an auto-detected GPU budget at 32, so a large
# cluster does not turn into a huge sweep. Setting totalGpus lifts the cap.
TOTAL_GPUS_AUTO_CAP = 32

# DGDR field (camelCase, as users write it) -> attribute of the spec model.
_DGDR_FIELDS = {
    "gpuSku": "gpu_sku",
    "vramMb": "vram_mb",
    "totalGpus": "total_gpus",
    "numGpusPerNode": "num_gpus_per_node",
    "interconnect": "interconnect",
    "rdma": "rdma",
}


@dataclass(frozen=True)
class ResolvedHardware:
    """The hardware a plan is made for, with where each value came from."""

    gpu: GpuSpec
    total_gpus: int
    num_gpus_per_node: int
    vram_mib: int  # per GPU; discovered or requested memory wins over the catalog's
    interconnect: str
    rdma: bool | None  # None when neither the DGDR nor discovery sets it
    sources: dict[str, str] = field(default_factory=dict)  # field -> dgdr | nvidia-smi | kubernetes | catalog
    notes: list[str] = field(default_factory=list)

    @property
    def sku(self) -> str:
        return self.gpu.sku

    def to_dict(self) -> dict[str, Any]:
        """Return the resolved values under their DGDR field names, with sources and notes."""
        return {
            "gpuSku": self.gpu.sku,
            "vramMb": self.vram_mib,
            "totalGpus": self.total_gpus,
            "numGpusPerNode": self.num_gpus_per_node,
            "interconnect": self.interconnect,
            "rdma": self.rdma,
            "sources": dict(self.sources),
            "notes": list(self.notes),
        }

    def describe(self) -> str:
        """Return one line per field: value and where it came from."""
        rows = [
            ("gpuSku", f"{self.gpu.sku} ({self.gpu.name})", "gpu"),
            ("vramMb", f"{self.vram_mib} MiB", "vram_mib"),
            ("numGpusPerNode", str(self.num_gpus_per_node), "num_gpus_per_node"),
            ("totalGpus", str(self.total_gpus), "total_gpus"),
            ("interconnect", self.interconnect, "interconnect"),
            ("rdma", "unknown" if self.rdma is None else str(self.rdma).lower(), "rdma"),
        ]
        lines = []
        for label, value, key in rows:
            source = self.sources.get(key)
            lines.append(f"{label}: {value} [{source}]" if source else f"{label}: {value} (not set, not discovered)")
        lines += [f"note: {note}" for note in self.notes]
        return "\n".join(lines)


def _read_requested(hardware_spec: Any) -> dict[str, Any]:
    """Read the DGDR hardware section from a pydantic model, a dict, or None."""
    if hardware_spec is None:
        return {}
    requested = {}
    for camel, snake in _DGDR_FIELDS.items():
        if isinstance(hardware_spec, Mapping):
            value = hardware_spec.get(snake, hardware_spec.get(camel))
        else:
            value = getattr(hardware_spec, snake, None)
        value = getattr(value, "value", value)  # enum members -> their string
        if value is not None:
            requested[camel] = value
    return requested


def _require_positive_int(label: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0 or int(value) != value:
        raise HardwareError(f"{label} must be a positive integer, got {value!r}; set it or remove it to auto-detect")
    return int(value)


def _choose_node(
    nodes: list[GpuNode], sku: str | None, sku_label: str, source: str, notes: list[str], unknown_products: set[str]
) -> tuple[GpuNode, list[GpuNode]] | None:
    """Pick the best node (most GPUs, then most memory) and all nodes of its SKU."""
    unknown = sorted({node.product for node in nodes if node.sku is None})
    if unknown:
        unknown_products.update(unknown)
        notes.append(f"{source}: ignored GPU product(s) not in the catalog: {', '.join(unknown)}")

    known = [node for node in nodes if node.sku is not None]
    if sku is not None:
        others = sorted({node.sku for node in known if node.sku != sku})
        known = [node for node in known if node.sku == sku]
        if others and not known:
            notes.append(f"{source}: found {', '.join(others)} GPUs but none of {sku_label} {sku}; ignored them")
    if not known:
        return None

    best = max(known, key=lambda node: (node.gpu_count, node.vram_mib or 0))
    return best, [node for node in known if node.sku == best.sku]


def _nvidia_smi_nodes(nvidia_smi_output: str | None, run_nvidia_smi: bool, attempts: list[str]) -> list[GpuNode]:
    if nvidia_smi_output is not None:
        nodes = discovery.nodes_from_nvidia_smi(nvidia_smi_output)  # a caller's bad output raises
    elif not run_nvidia_smi:
        attempts.append("nvidia-smi: not run (disabled)")
        return []
    else:
        live_output = discovery.query_nvidia_smi()
        if live_output is None:
            attempts.append("nvidia-smi: not on PATH or failed")
            return []
        try:
            nodes = discovery.nodes_from_nvidia_smi(live_output)
        except HardwareError as exc:
            logger.warning("ignoring unreadable nvidia-smi output: %s", exc)
            attempts.append(f"nvidia-smi: {exc}")
            return []
    if not nodes:
        attempts.append("nvidia-smi: reported no GPUs")
    return nodes


def _kubernetes_nodes(k8s_nodes: list[Any] | None, use_kubernetes: bool, attempts: list[str]) -> list[GpuNode]:
    if k8s_nodes is None:
        if not use_kubernetes:
            attempts.append("Kubernetes: not queried (disabled)")
            return []
        try:
            k8s_nodes = discovery.list_kubernetes_nodes()
        except HardwareError as exc:  # kubeconfig present but the client package missing
            logger.warning("%s", exc)
            attempts.append(f"Kubernetes: {exc}")
            return []
        if k8s_nodes is None:
            attempts.append("Kubernetes: no kubeconfig, or listing nodes failed")
            return []
    nodes = discovery.nodes_from_kubernetes(k8s_nodes)
    if not nodes:
        attempts.append("Kubernetes: no node has the nvidia.com/gpu.product label")
    return nodes


def resolve_hardware(
    hardware_spec: Any = None,
    *,
    nvidia_smi_output: str | None = None,
    run_nvidia_smi: bool = True,
    k8s_nodes: list[Any] | None = None,
    use_kubernetes: bool = True,
    field_labels: Mapping[str, str] | None = None,
) -> ResolvedHardware:
    """Resolve the GPU SKU, memory, GPU counts and links for a plan.

    Parameters
    ----------
    hardware_spec
        The DGDR's `hardware` section (model with `gpu_sku`, `vram_mb`,
        `total_gpus`, `num_gpus_per_node`, `interconnect`, `rdma`; a dict with
        those or the camelCase keys; or None).
    nvidia_smi_output
        Recorded `nvidia-smi --query-gpu=name,memory.total --format=csv,noheader,nounits`
        output to use instead of running nvidia-smi.
    run_nvidia_smi
        Run nvidia-smi (when it is on PATH) if no output is given.
    k8s_nodes
        Node objects (API dicts or `kubernetes.client.V1Node`) to use instead of
        listing the cluster's nodes.
    use_kubernetes
        List nodes through the `kubernetes` client (when a kubeconfig exists)
        if no nodes are given.
    field_labels
        The name of each hardware field in errors and notes, keyed by DGDR
        field name (`{"gpuSku": "--gpu-sku"}` for a command line). Fields not
        listed appear as `hardware.<field>`.

    Raises
    ------
    HardwareError
        When a requested value is invalid, the SKU is unknown, discovery finds
        only GPUs outside the catalog, or nothing names a SKU.
    """
    requested = _read_requested(hardware_spec)
    labels = {camel: (field_labels or {}).get(camel, f"hardware.{camel}") for camel in _DGDR_FIELDS}
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    notes: list[str] = []

    if "gpuSku" in requested:
        gpu = get_gpu(requested["gpuSku"], field=labels["gpuSku"])
        if requested["gpuSku"] != gpu.sku:
            notes.append(f"{labels['gpuSku']} {requested['gpuSku']!r} is a deprecated alias of {gpu.sku!r}")
        values["gpu"], sources["gpu"] = gpu.sku, "dgdr"
    if "vramMb" in requested:
        vram = requested["vramMb"]
        if isinstance(vram, bool) or not isinstance(vram, (int, float)) or vram <= 0:
            raise HardwareError(f"{labels['vramMb']} must be a positive number of MiB, got {vram!r}")
        values["vram_mib"], sources["vram_mib"] = int(round(vram)), "dgdr"
    for name, key in (("totalGpus", "total_gpus"), ("numGpusPerNode", "num_gpus_per_node")):
        if name in requested:
            values[key], sources[key] = _require_positive_int(labels[name], requested[name]), "dgdr"
    if "interconnect" in requested:
        values["interconnect"], sources["interconnect"] = str(requested["interconnect"]), "dgdr"
    if "rdma" in requested:
        values["rdma"], sources["rdma"] = bool(requested["rdma"]), "dgdr"

    # Discovery, in order; each source only fills what is still missing.
    discovered = ("gpu", "vram_mib", "total_gpus", "num_gpus_per_node")
    attempts: list[str] = []
    unknown_products: set[str] = set()
    source_loaders: list[tuple[str, Callable[[], list[GpuNode]]]] = [
        ("nvidia-smi", lambda: _nvidia_smi_nodes(nvidia_smi_output, run_nvidia_smi, attempts)),
        ("kubernetes", lambda: _kubernetes_nodes(k8s_nodes, use_kubernetes, attempts)),
    ]
    for source, load_nodes in source_loaders:
        if all(key in values for key in discovered):
            break
        chosen = _choose_node(load_nodes(), values.get("gpu"), labels["gpuSku"], source, notes, unknown_products)
        if chosen is None:
            continue
        best, same_sku = chosen
        found = {
            "gpu": best.sku,
            "num_gpus_per_node": best.gpu_count,
            # Summed over the nodes, which equals GPUs per node x nodes on a uniform cluster.
            "total_gpus": sum(node.gpu_count for node in same_sku),
            "vram_mib": best.vram_mib,
            "rdma": best.rdma,
        }
        for key, value in found.items():
            if key not in values and value is not None:
                values[key], sources[key] = value, source
                logger.info("hardware %s = %s (from %s)", key, value, source)

    if "gpu" not in values:
        raise _unresolved_error(attempts, unknown_products, labels)

    # The catalog fills what discovery could not.
    gpu = get_gpu(values["gpu"])
    for key, catalog_value in (
        ("vram_mib", gpu.vram_mib),
        ("num_gpus_per_node", gpu.gpus_per_node),
        ("interconnect", gpu.intra_node_link),
    ):
        if key not in values:
            values[key], sources[key] = catalog_value, "catalog"
    if "total_gpus" not in values:
        values["total_gpus"], sources["total_gpus"] = values["num_gpus_per_node"], sources["num_gpus_per_node"]
        notes.append(
            f"totalGpus was not set or discovered; planning for one node of {values['total_gpus']} GPUs "
            f"(set {labels['totalGpus']} to plan for more)"
        )
        # INFO, not WARNING: the note reaches the user through the request warnings.
        logger.info("%s", notes[-1])

    if "totalGpus" not in requested and values["total_gpus"] > TOTAL_GPUS_AUTO_CAP:
        notes.append(
            f"auto-detected totalGpus {values['total_gpus']} capped at {TOTAL_GPUS_AUTO_CAP}; "
            f"set {labels['totalGpus']} to use more"
        )
        logger.info("%s", notes[-1])
        values["total_gpus"] = TOTAL_GPUS_AUTO_CAP

    return ResolvedHardware(
        gpu=gpu,
        total_gpus=values["total_gpus"],
        num_gpus_per_node=values["num_gpus_per_node"],
        vram_mib=values["vram_mib"],
        interconnect=values["interconnect"],
        rdma=values.get("rdma"),
        sources=sources,
        notes=notes,
    )


def _unresolved_error(attempts: list[str], unknown_products: set[str], labels: Mapping[str, str]) -> HardwareError:
    supported = ", ".join(list_skus())
    others = f"{labels['vramMb']}, {labels['totalGpus']} and {labels['numGpusPerNode']}"
    if unknown_products:
        return HardwareError(
            f"discovered GPU product(s) {', '.join(sorted(unknown_products))} are not in the catalog "
            f"(supported SKUs: {supported}); set {labels['gpuSku']} to the closest supported SKU, "
            f"together with {others}"
        )
    tried = "; ".join(attempts) if attempts else "nothing"
    return HardwareError(
        f"could not determine the GPU SKU (tried {tried}); set {labels['gpuSku']} (one of {supported}), "
        f"and optionally {labels['numGpusPerNode']}, {labels['totalGpus']} and {labels['vramMb']}"
    )
