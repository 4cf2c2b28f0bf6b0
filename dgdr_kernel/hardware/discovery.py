"""Discover GPUs from the local nvidia-smi and from Kubernetes node labels.

Both sources are reduced to `GpuNode` records (one per machine) so that the
resolver applies one rule to both: keep the nodes of the requested SKU, then
take the node with the most GPUs, then the most memory.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dgdr_kernel.errors import HardwareError
from dgdr_kernel.hardware.skus import infer_sku

__all__ = [
    "GpuNode",
    "NVIDIA_SMI_QUERY",
    "find_kubeconfig",
    "list_kubernetes_nodes",
    "nodes_from_kubernetes",
    "nodes_from_nvidia_smi",
    "parse_nvidia_smi_csv",
    "query_nvidia_smi",
]

logger = logging.getLogger(__name__)

NVIDIA_SMI_QUERY = ("nvidia-smi", "--query-gpu=name,memory.total", "--format=csv,noheader,nounits")
NVIDIA_SMI_TIMEOUT_S = 10.0
KUBERNETES_TIMEOUT_S = 10.0

# Labels set by NVIDIA GPU feature discovery (GFD) on every GPU node.
LABEL_PRODUCT = "nvidia.com/gpu.product"
LABEL_COUNT = "nvidia.com/gpu.count"
LABEL_MEMORY_MIB = "nvidia.com/gpu.memory"
# Either label set to "true" means the node has an RDMA-capable network.
RDMA_LABELS = ("nvidia.com/rdma.present", "feature.node.kubernetes.io/network-sriov.capable")


@dataclass(frozen=True)
class GpuNode:
    """One machine's GPUs of one product, as discovered."""

    name: str  # host or Kubernetes node name
    product: str  # product name as reported, e.g. "NVIDIA H100 80GB HBM3"
    sku: str | None  # catalog SKU inferred from `product`, None when unknown
    gpu_count: int
    vram_mib: int | None  # per GPU; None when not reported
    rdma: bool | None = None  # None when the source cannot tell


# --- nvidia-smi --------------------------------------------------------------


def query_nvidia_smi(*, timeout_s: float = NVIDIA_SMI_TIMEOUT_S) -> str | None:
    """Run the nvidia-smi GPU query and return its CSV output.

    Returns None when nvidia-smi is not on PATH, fails or times out. Each case
    is logged and none raises, because planning on a machine without GPUs is normal.
    """
    executable = shutil.which("nvidia-smi")
    if executable is None:
        logger.debug("nvidia-smi not found on PATH; skipping local GPU discovery")
        return None

    command = [executable, *NVIDIA_SMI_QUERY[1:]]
    try:
        completed = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        logger.warning("nvidia-smi timed out after %.0f s; skipping local GPU discovery", timeout_s)
        return None
    except OSError as exc:
        logger.warning("nvidia-smi could not be run (%s); skipping local GPU discovery", exc)
        return None

    if completed.returncode != 0:
        message = (completed.stderr or completed.stdout).strip().splitlines()
        logger.warning(
            "nvidia-smi failed with exit code %d (%s); skipping local GPU discovery",
            completed.returncode,
            message[0] if message else "no message",
        )
        return None
    return completed.stdout


def _parse_mib(text: str) -> int | None:
    value = text.strip().removesuffix("MiB").strip()
    if not value or value.startswith("["):  # "[N/A]", "[Not Supported]"
        return None
    try:
        return int(float(value))
    except ValueError:
        return None


def parse_nvidia_smi_csv(text: str) -> list[tuple[str, int | None]]:
    """Parse `--query-gpu=name,memory.total[,count]` CSV into (name, MiB) per GPU.

    Accepts output with or without `nounits` and with an optional third
    `count` column, which must agree with the number of lines.

    Raises
    ------
    HardwareError
        When a line does not have the expected columns.
    """
    gpus: list[tuple[str, int | None]] = []
    reported_counts: set[int] = set()
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        columns = [column.strip() for column in line.split(",")]
        if len(columns) not in (2, 3) or not columns[0]:
            raise HardwareError(
                f"nvidia-smi output line {number} is not 'name, memory.total[, count]': {line.strip()!r}"
            )
        gpus.append((columns[0], _parse_mib(columns[1])))
        if len(columns) == 3 and columns[2].isdigit():
            reported_counts.add(int(columns[2]))

    if reported_counts and reported_counts != {len(gpus)}:
        raise HardwareError(
            f"nvidia-smi output lists {len(gpus)} GPU line(s) but its count column reports "
            f"{sorted(reported_counts)}; pass the complete output"
        )
    return gpus


def nodes_from_nvidia_smi(text: str, *, host: str = "localhost") -> list[GpuNode]:
    """Group nvidia-smi's GPUs by product into one `GpuNode` per product."""
    by_product: dict[str, list[int | None]] = defaultdict(list)
    for product, vram_mib in parse_nvidia_smi_csv(text):
        by_product[product].append(vram_mib)

    nodes = []
    for product, memories in by_product.items():
        known = [m for m in memories if m is not None]
        nodes.append(
            GpuNode(
                name=host,
                product=product,
                sku=infer_sku(product),
                gpu_count=len(memories),
                vram_mib=min(known) if known else None,  # the smallest GPU bounds what fits
            )
        )
    return nodes


# --- Kubernetes ---------------------------------------------------------------


def find_kubeconfig() -> Path | None:
    """Return the first existing kubeconfig file ($KUBECONFIG, then ~/.kube/config)."""
    candidates = []
    if os.environ.get("KUBECONFIG"):
        candidates += [Path(p).expanduser() for p in os.environ["KUBECONFIG"].split(os.pathsep) if p]
    else:
        candidates.append(Path("~/.kube/config").expanduser())
    for path in candidates:
        if path.is_file():
            return path
    return None


def list_kubernetes_nodes(*, timeout_s: float = KUBERNETES_TIMEOUT_S) -> list[dict[str, Any]] | None:
    """List the cluster's nodes as plain dicts through the `kubernetes` client.

    Returns None when no kubeconfig exists or the API call fails (logged).

    NOTE: in-cluster service-account credentials and the DCGM exporter metrics
    that the Dynamo operator reads first are not used; only node labels are.

    Raises
    ------
    HardwareError
        When a kubeconfig exists but the `kubernetes` package is missing. The
        message gives the command that installs the `kube` extra.
    """
    kubeconfig = find_kubeconfig()
    if kubeconfig is None:
        logger.debug("no kubeconfig found; skipping Kubernetes GPU discovery")
        return None

    try:
        from kubernetes import client, config
    except ImportError as exc:
        raise HardwareError(
            f"found a kubeconfig at {kubeconfig} but the 'kubernetes' package is not installed; "
            "install it with `pip install 'dgdr-workbench[kube]'`, or set the hardware fields in the DGDR"
        ) from exc

    try:
        api_client = config.new_client_from_config(config_file=str(kubeconfig))
        node_list = client.CoreV1Api(api_client).list_node(_request_timeout=timeout_s)
    except Exception as exc:  # noqa: BLE001 - config, HTTP and API errors all mean "no cluster data"
        logger.warning("listing Kubernetes nodes with %s failed (%s); skipping Kubernetes GPU discovery", kubeconfig, exc)
        return None
    return [api_client.sanitize_for_serialization(node) for node in node_list.items]


def _field(obj: Any, name: str) -> Any:
    """Read `name` from a dict (API JSON) or an attribute (kubernetes.client models)."""
    if obj is None:
        return None
    if isinstance(obj, dict):
        return obj.get(name)
    return getattr(obj, name, None)


def _parse_int_label(labels: dict[str, str], key: str, node_name: str) -> int | None:
    text = labels.get(key)
    if text is None:
        return None
    try:
        return int(str(text).strip())
    except ValueError:
        logger.warning("node %s: label %s=%r is not an integer; ignoring it", node_name, key, text)
        return None


def nodes_from_kubernetes(nodes: list[Any]) -> list[GpuNode]:
    """Read GPU feature discovery labels from node objects (dicts or `V1Node`).

    Nodes without an `nvidia.com/gpu.product` label or without any GPU are skipped.
    The GPU count comes from `nvidia.com/gpu.count`, else the node's
    `nvidia.com/gpu` capacity.
    """
    gpu_nodes = []
    for node in nodes:
        metadata = _field(node, "metadata")
        labels = _field(metadata, "labels") or {}
        node_name = _field(metadata, "name") or "<unnamed>"
        product = labels.get(LABEL_PRODUCT)
        if not product:
            continue

        gpu_count = _parse_int_label(labels, LABEL_COUNT, node_name)
        if gpu_count is None:
            capacity = _field(_field(node, "status"), "capacity") or {}
            capacity_text = capacity.get("nvidia.com/gpu")
            gpu_count = int(capacity_text) if capacity_text and str(capacity_text).isdigit() else 0
        if gpu_count <= 0:
            logger.debug("node %s has product %s but no GPUs; skipping it", node_name, product)
            continue

        rdma_values = [str(labels[key]).lower() for key in RDMA_LABELS if key in labels]
        gpu_nodes.append(
            GpuNode(
                name=node_name,
                product=product,
                sku=infer_sku(product),
                gpu_count=gpu_count,
                vram_mib=_parse_int_label(labels, LABEL_MEMORY_MIB, node_name),
                rdma=("true" in rdma_values) if rdma_values else None,
            )
        )
    return gpu_nodes
