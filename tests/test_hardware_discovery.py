"""Hardware discovery and resolution from recorded nvidia-smi output and Kubernetes node objects."""

from __future__ import annotations

import json
import logging
import os
import stat
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from dgdr_kernel.errors import HardwareError
from dgdr_kernel.hardware import TOTAL_GPUS_AUTO_CAP, get_gpu, resolve_hardware
from dgdr_kernel.hardware.discovery import (
    list_kubernetes_nodes,
    nodes_from_kubernetes,
    nodes_from_nvidia_smi,
    parse_nvidia_smi_csv,
    query_nvidia_smi,
)

FIXTURES = Path(__file__).parent / "fixtures"


def smi(name: str) -> str:
    return (FIXTURES / "nvidia_smi" / name).read_text()


def k8s(name: str) -> list[dict]:
    return yaml.safe_load((FIXTURES / "k8s_nodes" / name).read_text())


# Recorded inputs only: never run the machine's nvidia-smi or read its kubeconfig.
OFFLINE = {"run_nvidia_smi": False, "use_kubernetes": False}


# --- nvidia-smi parsing --------------------------------------------------------------


def test_parse_nvidia_smi_two_columns():
    gpus = parse_nvidia_smi_csv(smi("h100_sxm_8gpu.csv"))
    assert gpus == [("NVIDIA H100 80GB HBM3", 81559)] * 8


def test_parse_nvidia_smi_count_column():
    gpus = parse_nvidia_smi_csv(smi("h200_8gpu_with_count.csv"))
    assert len(gpus) == 8
    assert gpus[0] == ("NVIDIA H200", 143771)


def test_parse_nvidia_smi_with_units():
    assert parse_nvidia_smi_csv(smi("l40s_2gpu_with_units.csv")) == [("NVIDIA L40S", 46068)] * 2


def test_parse_nvidia_smi_memory_not_available():
    assert parse_nvidia_smi_csv(smi("gb200_memory_not_available.csv")) == [("NVIDIA GB200", None)] * 4


def test_parse_nvidia_smi_driver_failure_rejected():
    with pytest.raises(HardwareError, match="line 1 is not 'name, memory.total"):
        parse_nvidia_smi_csv(smi("driver_failure.csv"))


def test_parse_nvidia_smi_count_mismatch_rejected():
    with pytest.raises(HardwareError, match="lists 2 GPU line"):
        parse_nvidia_smi_csv(smi("count_mismatch.csv"))


def test_nodes_from_nvidia_smi_groups_products():
    nodes = nodes_from_nvidia_smi(smi("mixed_l4_t4.csv"))
    by_sku = {node.sku: node for node in nodes}
    assert by_sku["l4"].gpu_count == 2
    assert by_sku["l4"].vram_mib == 23034
    assert by_sku["t4"].gpu_count == 4
    assert by_sku["t4"].vram_mib == 15360


# --- resolution from nvidia-smi ---------------------------------------------------------


def test_resolve_from_nvidia_smi_fills_everything():
    hardware = resolve_hardware(None, nvidia_smi_output=smi("h100_sxm_8gpu.csv"), **OFFLINE)
    assert hardware.gpu.sku == "h100_sxm"
    assert hardware.vram_mib == 81559
    assert hardware.num_gpus_per_node == 8
    assert hardware.total_gpus == 8
    assert hardware.interconnect == "nvlink"
    assert hardware.sources == {
        "gpu": "nvidia-smi",
        "vram_mib": "nvidia-smi",
        "num_gpus_per_node": "nvidia-smi",
        "total_gpus": "nvidia-smi",
        "interconnect": "catalog",
    }
    assert hardware.rdma is None


def test_resolve_dgdr_fields_win_over_nvidia_smi():
    requested = {"gpuSku": "h100_sxm", "totalGpus": 4, "vramMb": 80000.0}
    hardware = resolve_hardware(requested, nvidia_smi_output=smi("h100_sxm_8gpu.csv"), **OFFLINE)
    assert hardware.total_gpus == 4
    assert hardware.vram_mib == 80000
    assert hardware.num_gpus_per_node == 8
    assert hardware.sources["gpu"] == "dgdr"
    assert hardware.sources["total_gpus"] == "dgdr"
    assert hardware.sources["vram_mib"] == "dgdr"
    assert hardware.sources["num_gpus_per_node"] == "nvidia-smi"


def test_resolve_mixed_node_picks_most_gpus():
    hardware = resolve_hardware(None, nvidia_smi_output=smi("mixed_l4_t4.csv"), **OFFLINE)
    assert hardware.gpu.sku == "t4"
    assert hardware.num_gpus_per_node == 4


def test_resolve_sku_selector_on_nvidia_smi():
    hardware = resolve_hardware({"gpuSku": "l4"}, nvidia_smi_output=smi("mixed_l4_t4.csv"), **OFFLINE)
    assert hardware.gpu.sku == "l4"
    assert hardware.num_gpus_per_node == 2
    assert hardware.vram_mib == 23034


def test_resolve_sku_selector_ignores_other_gpus():
    hardware = resolve_hardware({"gpuSku": "h200_sxm"}, nvidia_smi_output=smi("h100_sxm_8gpu.csv"), **OFFLINE)
    assert hardware.gpu.sku == "h200_sxm"
    assert hardware.sources["vram_mib"] == "catalog"
    assert hardware.vram_mib == 141 * 1024
    assert any("none of hardware.gpuSku h200_sxm" in note for note in hardware.notes)


def test_resolve_memory_not_available_uses_catalog():
    hardware = resolve_hardware(None, nvidia_smi_output=smi("gb200_memory_not_available.csv"), **OFFLINE)
    assert hardware.gpu.sku == "gb200"
    assert hardware.num_gpus_per_node == 4
    assert hardware.sources["num_gpus_per_node"] == "nvidia-smi"
    assert hardware.vram_mib == get_gpu("gb200").vram_mib
    assert hardware.sources["vram_mib"] == "catalog"


def test_resolve_unknown_product_rejected():
    with pytest.raises(HardwareError) as excinfo:
        resolve_hardware(None, nvidia_smi_output=smi("unknown_rtx_4090.csv"), **OFFLINE)
    message = str(excinfo.value)
    assert "NVIDIA GeForce RTX 4090" in message
    assert "h100_sxm" in message  # the supported SKUs are listed
    assert "hardware.gpuSku" in message


def test_resolve_unknown_product_beside_known_ignored():
    hardware = resolve_hardware(None, nvidia_smi_output=smi("mixed_unknown_and_h100_pcie.csv"), **OFFLINE)
    assert hardware.gpu.sku == "h100_pcie"
    assert hardware.num_gpus_per_node == 2
    assert any("NVIDIA GeForce RTX 4090" in note for note in hardware.notes)


# --- resolution from Kubernetes ----------------------------------------------------------


def test_nodes_from_kubernetes_reads_labels():
    nodes = nodes_from_kubernetes(k8s("h100_cluster.yaml"))
    assert [node.name for node in nodes] == ["gpu-h100-0", "gpu-h100-1", "gpu-h100-2", "gpu-l40s-0"]
    assert nodes[0].sku == "h100_sxm"
    assert nodes[0].vram_mib == 81559
    assert nodes[0].rdma is True
    assert nodes[3].sku == "l40s"
    assert nodes[3].rdma is None


def test_nodes_from_kubernetes_count_from_capacity():
    nodes = nodes_from_kubernetes(k8s("gb200_nvl72_trays.yaml"))
    assert [node.gpu_count for node in nodes] == [4, 4, 4, 4]


def test_resolve_from_kubernetes_best_node_and_total():
    hardware = resolve_hardware(None, k8s_nodes=k8s("h100_cluster.yaml"), **OFFLINE)
    assert hardware.gpu.sku == "h100_sxm"
    assert hardware.num_gpus_per_node == 8
    assert hardware.total_gpus == 24  # 3 nodes x 8; the L40S node is another SKU
    assert hardware.vram_mib == 81559
    assert hardware.rdma is True
    assert hardware.sources["total_gpus"] == "kubernetes"
    assert hardware.sources["rdma"] == "kubernetes"


def test_resolve_kubernetes_most_memory_breaks_tie():
    hardware = resolve_hardware(None, k8s_nodes=k8s("mixed_b200_h100.yaml"), **OFFLINE)
    assert hardware.gpu.sku == "b200_sxm"
    assert hardware.total_gpus == 16


def test_resolve_kubernetes_sku_selector():
    hardware = resolve_hardware({"gpuSku": "h100_sxm"}, k8s_nodes=k8s("mixed_b200_h100.yaml"), **OFFLINE)
    assert hardware.gpu.sku == "h100_sxm"
    assert hardware.total_gpus == 8
    assert hardware.vram_mib == 81559


def test_resolve_kubernetes_selector_small_node():
    hardware = resolve_hardware({"gpuSku": "l40s"}, k8s_nodes=k8s("h100_cluster.yaml"), **OFFLINE)
    assert hardware.num_gpus_per_node == 4
    assert hardware.total_gpus == 4
    assert hardware.vram_mib == 46068


def test_resolve_total_gpus_capped_at_32(caplog):
    caplog.set_level(logging.INFO, logger="dgdr_kernel.hardware")
    hardware = resolve_hardware(None, k8s_nodes=k8s("h200_six_nodes.yaml"), **OFFLINE)
    assert TOTAL_GPUS_AUTO_CAP == 32
    assert hardware.total_gpus == 32
    assert any("48 capped at 32" in note for note in hardware.notes)
    assert any("capped at 32" in record.getMessage() and record.levelno == logging.INFO for record in caplog.records)


def test_resolve_requested_total_not_capped():
    hardware = resolve_hardware({"totalGpus": 64}, k8s_nodes=k8s("h200_six_nodes.yaml"), **OFFLINE)
    assert hardware.total_gpus == 64
    assert not any("capped" in note for note in hardware.notes)


def test_resolve_total_from_requested_node_capped():
    # Only numGpusPerNode is set, so totalGpus is derived (one node) and still capped.
    hardware = resolve_hardware({"gpuSku": "gb200", "numGpusPerNode": 72}, **OFFLINE)
    assert hardware.num_gpus_per_node == 72
    assert hardware.total_gpus == 32


def test_resolve_nvidia_smi_before_kubernetes():
    hardware = resolve_hardware(
        None,
        nvidia_smi_output=smi("a100_pcie_40gb_4gpu.csv"),
        k8s_nodes=k8s("h100_cluster.yaml"),
        run_nvidia_smi=False,
        use_kubernetes=False,
    )
    assert hardware.gpu.sku == "a100_pcie"
    assert hardware.vram_mib == 40960
    assert hardware.total_gpus == 4
    assert set(hardware.sources.values()) <= {"nvidia-smi", "catalog"}


def test_resolve_kubernetes_after_selector_miss():
    # The local GPUs are not of the requested SKU, so the cluster is asked next.
    hardware = resolve_hardware(
        {"gpuSku": "h100_sxm"},
        nvidia_smi_output=smi("mixed_l4_t4.csv"),
        k8s_nodes=k8s("h100_cluster.yaml"),
        **OFFLINE,
    )
    assert hardware.total_gpus == 24
    assert hardware.sources["total_gpus"] == "kubernetes"


def test_resolve_kubernetes_unknown_products_rejected():
    with pytest.raises(HardwareError) as excinfo:
        resolve_hardware(None, k8s_nodes=k8s("unknown_product.yaml"), **OFFLINE)
    message = str(excinfo.value)
    assert "NVIDIA-RTX-PRO-6000-Blackwell-Server-Edition" in message
    assert "NVIDIA-GH200-480GB" in message
    assert "supported SKUs: a100_pcie" in message


def test_resolve_accepts_v1node_objects():
    client = pytest.importorskip("kubernetes.client")
    nodes = [
        client.V1Node(
            metadata=client.V1ObjectMeta(
                name=f"gpu-{index}",
                labels={"nvidia.com/gpu.product": "NVIDIA-H200", "nvidia.com/gpu.memory": "143771"},
            ),
            status=client.V1NodeStatus(capacity={"nvidia.com/gpu": "8"}),
        )
        for index in range(2)
    ]
    hardware = resolve_hardware(None, k8s_nodes=nodes, **OFFLINE)
    assert hardware.gpu.sku == "h200_sxm"
    assert hardware.total_gpus == 16
    assert hardware.vram_mib == 143771


# --- catalog fallback and errors ------------------------------------------------------------


def test_resolve_sku_only_uses_catalog():
    hardware = resolve_hardware({"gpuSku": "b200_sxm"}, **OFFLINE)
    assert hardware.vram_mib == 180 * 1024
    assert hardware.num_gpus_per_node == 8
    assert hardware.total_gpus == 8
    assert hardware.sources == {
        "gpu": "dgdr",
        "vram_mib": "catalog",
        "num_gpus_per_node": "catalog",
        "interconnect": "catalog",
        "total_gpus": "catalog",
    }
    assert any("one node of 8 GPUs" in note for note in hardware.notes)


def test_resolve_all_fields_from_dgdr():
    requested = {
        "gpuSku": "gb200_sxm",
        "vramMb": 189471.0,
        "totalGpus": 16,
        "numGpusPerNode": 4,
        "interconnect": "nvlink",
        "rdma": True,
    }
    hardware = resolve_hardware(requested, nvidia_smi_output=smi("h100_sxm_8gpu.csv"), **OFFLINE)
    assert hardware.gpu.sku == "gb200"
    assert set(hardware.sources.values()) == {"dgdr"}
    assert hardware.rdma is True
    assert any("deprecated alias" in note for note in hardware.notes)


def test_resolve_with_spec_model():
    from dgdr_kernel.spec_models import HardwareSpec

    spec = HardwareSpec.model_validate({"gpuSku": "h200_sxm", "totalGpus": 16})
    hardware = resolve_hardware(spec, **OFFLINE)
    assert hardware.gpu.sku == "h200_sxm"
    assert hardware.total_gpus == 16
    assert hardware.num_gpus_per_node == 8


def test_resolve_nothing_found_names_fields():
    with pytest.raises(HardwareError) as excinfo:
        resolve_hardware(None, **OFFLINE)
    message = str(excinfo.value)
    assert "hardware.gpuSku" in message
    assert "hardware.numGpusPerNode" in message
    assert "nvidia-smi: not run" in message


def test_resolve_unknown_requested_sku_rejected():
    with pytest.raises(HardwareError, match="unknown GPU SKU 'H100-SXM5-80GB'; supported SKUs"):
        resolve_hardware({"gpuSku": "H100-SXM5-80GB"}, **OFFLINE)


@pytest.mark.parametrize(
    ("requested", "field"),
    [({"totalGpus": 0}, "totalGpus"), ({"numGpusPerNode": 2.5}, "numGpusPerNode"), ({"vramMb": -1}, "vramMb")],
)
def test_resolve_invalid_requested_value_rejected(requested, field):
    with pytest.raises(HardwareError, match=f"hardware.{field} must be a positive"):
        resolve_hardware({"gpuSku": "l4", **requested}, **OFFLINE)


def test_describe_lists_sources():
    hardware = resolve_hardware({"gpuSku": "l40s", "totalGpus": 4}, **OFFLINE)
    text = hardware.describe()
    assert "gpuSku: l40s (NVIDIA L40S 48GB PCIe) [dgdr]" in text
    assert "totalGpus: 4 [dgdr]" in text
    assert "numGpusPerNode: 8 [catalog]" in text


# --- real nvidia-smi and Kubernetes calls against local stand-ins ------------------------------


def _install_fake_nvidia_smi(tmp_path: Path, monkeypatch, body: str) -> None:
    script = tmp_path / "bin" / "nvidia-smi"
    script.parent.mkdir()
    script.write_text("#!/bin/sh\n" + body)
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", os.pathsep.join([str(script.parent), os.environ.get("PATH", "")]))


@pytest.mark.skipif(sys.platform == "win32", reason="shell script stand-in for nvidia-smi")
def test_query_nvidia_smi_runs_executable(tmp_path, monkeypatch):
    recorded = FIXTURES / "nvidia_smi" / "h200_8gpu_with_count.csv"
    # The stand-in checks that it was called with the documented query.
    _install_fake_nvidia_smi(
        tmp_path,
        monkeypatch,
        '[ "$1" = "--query-gpu=name,memory.total" ] && [ "$2" = "--format=csv,noheader,nounits" ] || exit 3\n'
        f'cat "{recorded}"\n',
    )
    assert query_nvidia_smi() == recorded.read_text()

    hardware = resolve_hardware(None, use_kubernetes=False)
    assert hardware.gpu.sku == "h200_sxm"
    assert hardware.sources["gpu"] == "nvidia-smi"


@pytest.mark.skipif(sys.platform == "win32", reason="shell script stand-in for nvidia-smi")
def test_query_nvidia_smi_failure_returns_none(tmp_path, monkeypatch, caplog):
    _install_fake_nvidia_smi(tmp_path, monkeypatch, "echo 'NVIDIA-SMI has failed' >&2\nexit 9\n")
    assert query_nvidia_smi() is None
    assert "exit code 9" in caplog.text


@pytest.mark.skipif(sys.platform == "win32", reason="shell script stand-in for nvidia-smi")
def test_query_nvidia_smi_timeout_returns_none(tmp_path, monkeypatch, caplog):
    _install_fake_nvidia_smi(tmp_path, monkeypatch, "exec sleep 30\n")
    assert query_nvidia_smi(timeout_s=0.2) is None
    assert "timed out" in caplog.text


@pytest.mark.skipif(sys.platform == "win32", reason="shell script stand-in for nvidia-smi")
def test_resolve_unreadable_live_output_skipped(tmp_path, monkeypatch):
    # A driver error printed with exit status 0 must not stop the Kubernetes step.
    recorded = FIXTURES / "nvidia_smi" / "driver_failure.csv"
    _install_fake_nvidia_smi(tmp_path, monkeypatch, f'cat "{recorded}"\n')
    hardware = resolve_hardware(None, k8s_nodes=k8s("h100_cluster.yaml"))
    assert hardware.sources["gpu"] == "kubernetes"

    with pytest.raises(HardwareError) as excinfo:
        resolve_hardware(None, use_kubernetes=False)
    assert "nvidia-smi: nvidia-smi output line 1" in str(excinfo.value)


def test_query_nvidia_smi_missing_returns_none(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert query_nvidia_smi() is None


class _NodeListHandler(BaseHTTPRequestHandler):
    node_list: dict = {}

    def do_GET(self):  # noqa: N802 - http.server naming
        if self.path.split("?")[0] != "/api/v1/nodes":
            self.send_error(404)
            return
        body = json.dumps(self.node_list).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):  # keep pytest output clean
        pass


@pytest.fixture
def kube_api(tmp_path, monkeypatch):
    """Serve GET /api/v1/nodes on loopback and write a kubeconfig that points at it."""
    pytest.importorskip("kubernetes")
    _NodeListHandler.node_list = {"apiVersion": "v1", "kind": "NodeList", "items": k8s("h100_cluster.yaml")}
    server = ThreadingHTTPServer(("127.0.0.1", 0), _NodeListHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "local", "cluster": {"server": f"http://127.0.0.1:{server.server_port}"}}],
                "users": [{"name": "tester", "user": {"token": "not-a-secret"}}],
                "contexts": [{"name": "local", "context": {"cluster": "local", "user": "tester"}}],
                "current-context": "local",
            }
        )
    )
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    yield kubeconfig
    server.shutdown()
    server.server_close()


def test_list_kubernetes_nodes_through_client(kube_api):
    nodes = list_kubernetes_nodes()
    assert [node["metadata"]["name"] for node in nodes] == ["gpu-h100-0", "gpu-h100-1", "gpu-h100-2", "gpu-l40s-0", "cpu-0"]

    hardware = resolve_hardware(None, run_nvidia_smi=False)
    assert hardware.gpu.sku == "h100_sxm"
    assert hardware.total_gpus == 24
    assert hardware.sources["gpu"] == "kubernetes"


def test_list_kubernetes_nodes_without_kubeconfig(tmp_path, monkeypatch):
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))
    assert list_kubernetes_nodes() is None


def test_list_kubernetes_nodes_unreachable_returns_none(tmp_path, monkeypatch, caplog):
    pytest.importorskip("kubernetes")
    kubeconfig = tmp_path / "kubeconfig"
    # Port 9 on loopback (discard) refuses connections on a normal test machine.
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": "http://127.0.0.1:9"}}],
                "users": [{"name": "u", "user": {}}],
                "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "c",
            }
        )
    )
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    assert list_kubernetes_nodes(timeout_s=2) is None
    assert "listing Kubernetes nodes" in caplog.text


def test_missing_kubernetes_package_gives_install_hint(tmp_path, monkeypatch):
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\n")
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    monkeypatch.setitem(sys.modules, "kubernetes", None)  # import kubernetes now raises ImportError

    with pytest.raises(HardwareError, match=r"pip install 'dgdr-workbench\[kube\]'"):
        list_kubernetes_nodes()
    with pytest.raises(HardwareError) as excinfo:
        resolve_hardware(None, run_nvidia_smi=False)
    assert "dgdr-workbench[kube]" in str(excinfo.value)


def test_kubeconfig_path_list_uses_first_existing(tmp_path, monkeypatch):
    from dgdr_kernel.hardware.discovery import find_kubeconfig

    second = tmp_path / "second"
    second.write_text("apiVersion: v1\n")
    monkeypatch.setenv("KUBECONFIG", os.pathsep.join([str(tmp_path / "first"), str(second)]))
    assert find_kubeconfig() == second
