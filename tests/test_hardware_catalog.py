"""The GPU catalog in hwdata/: loading, validation, sources, datasheet values, SKU inference."""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from dgdr_kernel.errors import HardwareError
from dgdr_kernel.hardware import GpuSpec, get_gpu, infer_sku, list_skus, load_catalog
from dgdr_kernel.hardware.catalog import PRECISIONS, SOURCED_FIELDS

HWDATA = Path(str(resources.files("dgdr_kernel.hwdata")))

# The gpuSku enum of the DGDR v1beta1 Go type without the gb200_sxm alias and
# without gb10 and vr_nvl72, whose vendors publish no per-GPU BF16 figure.
# b300_sxm and gb300 are in the enum and have AIConfigurator measurements.
EXPECTED_SKUS = {
    "gb200", "gb300", "b300_sxm", "b200_sxm", "h200_sxm", "h100_sxm", "h100_pcie",
    "a100_sxm", "a100_pcie", "a30", "l40s", "l40", "l4", "v100_sxm", "v100_pcie",
    "t4", "mi200", "mi300",
}  # fmt: skip


def _copy_catalog(tmp_path: Path) -> Path:
    folder = tmp_path / "hwdata"
    folder.mkdir()
    for source in HWDATA.glob("*.yaml"):
        shutil.copy(source, folder / source.name)
    return folder


def _spec_dict(sku: str = "h100_sxm") -> dict:
    return yaml.safe_load((HWDATA / f"{sku}.yaml").read_text())


# --- loading ---------------------------------------------------------------


def test_catalog_has_one_sku_per_file():
    files = {path.stem for path in HWDATA.glob("*.yaml")}
    assert set(list_skus()) == files
    assert files == EXPECTED_SKUS


def test_catalog_every_numeric_field_cites_source():
    for sku, gpu in load_catalog().items():
        for name in SOURCED_FIELDS:
            source = gpu.source_of(name)
            assert source is not None, f"{sku}.{name} has no source"
            assert source.title.strip(), f"{sku}.{name} source has no title"
            assert source.url.startswith("https://"), f"{sku}.{name} source URL {source.url!r}"
        for precision in gpu.dense_tflops:
            assert gpu.source_of(f"dense_tflops.{precision}") is not None


def test_catalog_dense_sparse_stated_in_tflops_source():
    # Every peak must state whether the vendor figure was dense or sparse.
    for sku, gpu in load_catalog().items():
        note = (gpu.source_of("dense_tflops").note or "").lower()
        assert "dense" in note or "sparsity" in note, f"{sku} dense_tflops source does not say dense or sparse"


def test_catalog_precision_keys_and_links_valid():
    for gpu in load_catalog().values():
        assert set(gpu.dense_tflops) <= set(PRECISIONS)
        assert gpu.intra_node_link in {"nvlink", "pcie", "infinity_fabric"}
        # Within one node GPUs never talk slower than over the network, except
        # PCIe cards, whose host link can be slower than a 400 Gb/s NIC.
        if gpu.intra_node_link != "pcie":
            assert gpu.intra_node_gb_per_s >= gpu.inter_node_gb_per_s


def test_catalog_is_cached():
    assert load_catalog() == load_catalog()
    assert get_gpu("h100_sxm") is get_gpu("h100_sxm")


# --- values against vendor documents ----------------------------------------


def test_h100_sxm_matches_datasheet():
    # NVIDIA H100 Tensor Core GPU datasheet, H100 SXM column: 80GB, 3.35TB/s,
    # BF16 1,979 and FP8 3,958 TFLOPS with sparsity, up to 700W, NVLink 900GB/s.
    gpu = get_gpu("h100_sxm")
    assert gpu.vram_mib == 80 * 1024
    assert gpu.hbm_gb_per_s == 3350
    assert gpu.peak_tflops("bf16") == pytest.approx(1979 / 2)
    assert gpu.peak_tflops("fp8") == pytest.approx(3958 / 2)
    assert gpu.tdp_w == 700
    assert gpu.intra_node_gb_per_s == 900 / 2
    assert "fp4" not in gpu.dense_tflops  # Hopper has no FP4 tensor cores


def test_h200_sxm_matches_datasheet():
    # NVIDIA H200 datasheet: 141GB HBM3e at 4.8TB/s; same compute as the H100 SXM.
    gpu = get_gpu("h200_sxm")
    assert gpu.vram_mib == 141 * 1024
    assert gpu.hbm_gb_per_s == 4800
    assert gpu.dense_tflops == get_gpu("h100_sxm").dense_tflops


def test_b200_matches_blackwell_datasheet():
    # NVIDIA Blackwell datasheet, HGX B200 column: FP4 18, FP8 9, BF16 4.5 PFLOPS
    # with sparsity; 180GB HBM3E at 7.7TB/s; up to 1,000W.
    gpu = get_gpu("b200_sxm")
    assert gpu.peak_tflops("fp4") == pytest.approx(18000 / 2)
    assert gpu.peak_tflops("fp8") == pytest.approx(9000 / 2)
    assert gpu.peak_tflops("bf16") == pytest.approx(4500 / 2)
    assert gpu.vram_mib == 180 * 1024
    assert gpu.hbm_gb_per_s == 7700
    assert gpu.tdp_w == 1000


def test_l40s_matches_datasheet():
    # NVIDIA L40S datasheet: BF16 362.05 | 733*, FP8 733 | 1,466* (dense | sparse),
    # 48GB GDDR6 at 864GB/s, 350W, PCIe Gen4 x16 64GB/s bidirectional.
    gpu = get_gpu("l40s")
    assert gpu.peak_tflops("bf16") == pytest.approx(362.05)
    assert gpu.peak_tflops("fp8") == pytest.approx(733)
    assert gpu.hbm_gb_per_s == 864
    assert gpu.tdp_w == 350
    assert gpu.intra_node_link == "pcie"
    assert gpu.intra_node_gb_per_s == 64 / 2


def test_a100_sxm_matches_datasheet():
    # NVIDIA A100 datasheet, 80GB SXM column: BF16 312 | 624*, 2,039GB/s, 400W.
    gpu = get_gpu("a100_sxm")
    assert gpu.peak_tflops("bf16") == pytest.approx(312)
    assert gpu.hbm_gb_per_s == 2039
    assert gpu.tdp_w == 400
    assert "fp8" not in gpu.dense_tflops  # Ampere has no FP8 tensor cores


def test_mi300x_matches_amd_datasheet():
    # AMD Instinct MI300X data sheet: 192GB HBM3, 5.3TB/s, dense BF16 1,307.4 and
    # FP8 2,614.9 TFLOPS, 750W peak board power.
    gpu = get_gpu("mi300")
    assert gpu.vram_mib == 192 * 1024
    assert gpu.hbm_gb_per_s == 5300
    assert gpu.peak_tflops("bf16") == pytest.approx(1307.4)
    assert gpu.peak_tflops("fp8") == pytest.approx(2614.9)
    assert gpu.intra_node_link == "infinity_fabric"


# AIConfigurator aic-core systems/*.yaml (commit 095f58a5): memory in MiB, memory
# bandwidth in GB/s, GPUs per node.
AIC_SYSTEMS = {
    "h100_sxm": (80 * 1024, 3350, 8),
    "h100_pcie": (80 * 1024, 2000, 8),
    "h200_sxm": (141 * 1024, 4800, 8),
    "b200_sxm": (180 * 1024, 7700, 8),
    "b300_sxm": (275040, 7750, 8),
    "gb200": (189471, 8000, 4),
    "gb300": (284208, 8000, 4),
    "a100_sxm": (80 * 1024, 2040, 8),
    "a100_pcie": (80 * 1024, 1940, 8),
    "a30": (24 * 1024, 930, 8),
    "l40s": (46068, 860, 8),
    "l4": (24 * 1024, 300, 8),
}


@pytest.mark.parametrize("sku", sorted(AIC_SYSTEMS))
def test_catalog_agrees_with_aic_system_files(sku):
    aic_vram_mib, aic_gb_per_s, aic_gpus_per_node = AIC_SYSTEMS[sku]
    gpu = get_gpu(sku)

    # Some AIC files hold what nvidia-smi reports, which is below the printed
    # capacity by the driver's reserve; at most 1/16 when GDDR6 ECC is on.
    assert aic_vram_mib <= gpu.vram_mib
    assert aic_vram_mib >= gpu.vram_mib * 15 / 16 - 16
    assert gpu.hbm_gb_per_s == pytest.approx(aic_gb_per_s, rel=0.01)
    assert gpu.gpus_per_node == aic_gpus_per_node


def test_aic_supported_marks_skus_with_aic_data():
    # SKUs with measured GEMM data in AIConfigurator (aic-core systems/data).
    supported = {sku for sku, gpu in load_catalog().items() if gpu.aic_supported}
    assert supported == {"h100_sxm", "h200_sxm", "b200_sxm", "b300_sxm", "gb200", "gb300", "a100_sxm", "l40s"}


# --- GpuSpec behaviour --------------------------------------------------------


def test_peak_tflops_rejects_unsupported_precision():
    with pytest.raises(HardwareError) as excinfo:
        get_gpu("h100_sxm").peak_tflops("fp4")
    message = str(excinfo.value)
    assert "h100_sxm" in message
    assert "fp4" in message
    assert "fp16, bf16, fp8, int8" in message


def test_peak_tflops_accepts_upper_case():
    assert get_gpu("l4").peak_tflops("FP8") == pytest.approx(485 / 2)  # L4 datasheet: FP8 485 TFLOPS*


def test_gpu_spec_is_frozen():
    gpu = get_gpu("t4")
    with pytest.raises(ValidationError):
        gpu.vram_mib = 1


def test_gpu_spec_is_hashable():
    specs = {get_gpu("t4"), get_gpu("t4"), GpuSpec.model_validate(_spec_dict("t4")), get_gpu("l4")}
    assert len(specs) == 2


def test_get_gpu_accepts_deprecated_alias():
    assert get_gpu("gb200_sxm").sku == "gb200"
    assert get_gpu(" H200_SXM ").sku == "h200_sxm"


def test_get_gpu_enum_sku_without_file_explained():
    with pytest.raises(HardwareError) as excinfo:
        get_gpu("gb10")
    message = str(excinfo.value)
    assert "valid gpuSku but has no catalog entry" in message
    assert "hwdata/gb10.yaml" in message
    assert "h100_sxm" in message


def test_get_gpu_unknown_lists_supported():
    with pytest.raises(HardwareError) as excinfo:
        get_gpu("H100-SXM5-80GB")
    message = str(excinfo.value)
    assert "'H100-SXM5-80GB'" in message
    for sku in EXPECTED_SKUS:
        assert sku in message


# --- adding and validating files -------------------------------------------------


def test_load_catalog_picks_up_added_file(tmp_path):
    folder = _copy_catalog(tmp_path)
    data = _spec_dict("l40s")
    data.update(sku="rtx_pro_6000", name="NVIDIA RTX PRO 6000 Blackwell Server Edition", vram_mib=96 * 1024)
    (folder / "rtx_pro_6000.yaml").write_text(yaml.safe_dump(data))

    catalog = load_catalog(folder)
    assert "rtx_pro_6000" in catalog
    assert catalog["rtx_pro_6000"].vram_mib == 96 * 1024
    assert get_gpu("rtx_pro_6000", path=folder).name.startswith("NVIDIA RTX PRO 6000")
    assert "rtx_pro_6000" not in load_catalog()  # the shipped catalog is unchanged


def _write_invalid(tmp_path: Path, name: str, data) -> Path:
    folder = tmp_path / "bad"
    folder.mkdir()
    text = data if isinstance(data, str) else yaml.safe_dump(data)
    (folder / name).write_text(text)
    return folder


def test_load_catalog_missing_source_names_file_and_field(tmp_path):
    data = _spec_dict()
    del data["sources"]["tdp_w"]
    folder = _write_invalid(tmp_path, "h100_sxm.yaml", data)
    with pytest.raises(HardwareError) as excinfo:
        load_catalog(folder)
    assert "h100_sxm.yaml" in str(excinfo.value)
    assert "tdp_w" in str(excinfo.value)


def test_load_catalog_unknown_field_rejected(tmp_path):
    data = _spec_dict()
    data["vram_gb"] = 80
    folder = _write_invalid(tmp_path, "h100_sxm.yaml", data)
    with pytest.raises(HardwareError) as excinfo:
        load_catalog(folder)
    assert "vram_gb" in str(excinfo.value)
    assert "Extra inputs are not permitted" in str(excinfo.value)


def test_load_catalog_unknown_precision_rejected(tmp_path):
    data = _spec_dict()
    data["dense_tflops"]["fp32"] = 67
    folder = _write_invalid(tmp_path, "h100_sxm.yaml", data)
    with pytest.raises(HardwareError) as excinfo:
        load_catalog(folder)
    assert "dense_tflops.fp32" in str(excinfo.value)


def test_load_catalog_negative_value_rejected(tmp_path):
    data = _spec_dict()
    data["hbm_gb_per_s"] = -1
    folder = _write_invalid(tmp_path, "h100_sxm.yaml", data)
    with pytest.raises(HardwareError, match="hbm_gb_per_s"):
        load_catalog(folder)


def test_load_catalog_sku_must_match_file_name(tmp_path):
    folder = _write_invalid(tmp_path, "h100.yaml", _spec_dict())
    with pytest.raises(HardwareError, match="must match the file name 'h100'"):
        load_catalog(folder)


def test_load_catalog_duplicate_alias_rejected(tmp_path):
    folder = _copy_catalog(tmp_path)
    data = _spec_dict("gb300")
    data["aliases"] = ["gb200_sxm"]
    (folder / "gb300.yaml").write_text(yaml.safe_dump(data))
    with pytest.raises(HardwareError, match="'gb200_sxm' is claimed by both"):
        load_catalog(folder)


def test_load_catalog_invalid_yaml_rejected(tmp_path):
    folder = _write_invalid(tmp_path, "h100_sxm.yaml", "sku: [unclosed\n")
    with pytest.raises(HardwareError, match="h100_sxm.yaml is not valid YAML"):
        load_catalog(folder)


def test_load_catalog_missing_folder_rejected(tmp_path):
    with pytest.raises(HardwareError, match="does not exist"):
        load_catalog(tmp_path / "nowhere")


def test_gpu_spec_model_validates_directly():
    gpu = GpuSpec.model_validate(_spec_dict("a30"))
    assert gpu == get_gpu("a30")


# --- SKU inference ---------------------------------------------------------------

INFERENCE_CASES = [
    # nvidia-smi product names
    ("NVIDIA H100 80GB HBM3", "h100_sxm"),  # HBM3 80GB is the SXM5 part
    ("NVIDIA H100 PCIe", "h100_pcie"),
    ("NVIDIA H100 NVL", "h100_pcie"),  # a PCIe card joined in pairs by an NVLink bridge
    ("NVIDIA H200", "h200_sxm"),
    ("NVIDIA H200 NVL", "h200_sxm"),  # no h200 PCIe SKU in the enum
    ("NVIDIA B200", "b200_sxm"),
    ("NVIDIA B300 SXM6 AC", "b300_sxm"),
    ("NVIDIA GB200", "gb200"),
    ("NVIDIA GB300", "gb300"),
    ("NVIDIA A100-SXM4-80GB", "a100_sxm"),
    ("NVIDIA A100-SXM4-40GB", "a100_sxm"),
    ("NVIDIA A100 80GB PCIe", "a100_pcie"),
    ("NVIDIA A100-PCIE-40GB", "a100_pcie"),
    ("NVIDIA A30", "a30"),
    ("NVIDIA L40S", "l40s"),
    ("NVIDIA L40", "l40"),
    ("NVIDIA L4", "l4"),
    ("Tesla T4", "t4"),
    ("Tesla V100-SXM2-32GB", "v100_sxm"),
    ("Tesla V100-SXM2-16GB", "v100_sxm"),
    ("Tesla V100-PCIE-16GB", "v100_pcie"),
    ("Tesla V100-FHHL-16GB", "v100_pcie"),
    ("Tesla V100S-PCIE-32GB", "v100_pcie"),
    ("Tesla V100-DGXS-32GB", "v100_sxm"),
    ("AMD Instinct MI300X", "mi300"),
    ("AMD Instinct MI250X", "mi200"),
    ("AMD Instinct MI210", "mi200"),
    # Kubernetes GPU feature discovery labels
    ("NVIDIA-H100-80GB-HBM3", "h100_sxm"),
    ("NVIDIA-H100-PCIe", "h100_pcie"),
    ("NVIDIA-A100-SXM4-80GB", "a100_sxm"),
    ("NVIDIA-GB200", "gb200"),
    ("NVIDIA-L40S", "l40s"),
    # what users write
    ("H100-SXM5-80GB", "h100_sxm"),
    ("H100SXM5", "h100_sxm"),
    ("HGX H100", "h100_sxm"),
    ("h100", "h100_sxm"),  # no marker: nvidia-smi always marks the PCIe card
    ("h100_pcie", "h100_pcie"),
    ("gb200_sxm", "gb200"),
    ("B200-SXM-180GB", "b200_sxm"),
    ("mi300", "mi300"),
]


@pytest.mark.parametrize(("product", "sku"), INFERENCE_CASES)
def test_infer_sku_maps_product_names(product, sku):
    assert infer_sku(product) == sku


@pytest.mark.parametrize(
    "product",
    [
        "NVIDIA GeForce RTX 4090",
        "NVIDIA RTX PRO 6000 Blackwell Server Edition",
        "NVIDIA A10",  # not an A100
        "NVIDIA A10G",
        "NVIDIA A40",
        "NVIDIA GH200 480GB",  # Grace Hopper is no SKU of the enum
        "NVIDIA H800",
        "AMD Instinct MI300A",
        "AMD Instinct MI325X",
        "H100 SXM5 PCIe",  # contradictory markers
        "H100 and B200",  # two chips
        "",
        "   ",
    ],
)
def test_infer_sku_unknown_returns_none(product):
    assert infer_sku(product) is None


def test_infer_sku_returns_catalog_skus_only():
    skus = set(list_skus())
    for product, _ in INFERENCE_CASES:
        assert infer_sku(product) in skus
