"""Map GPU product names to catalog SKUs.

Names come from nvidia-smi ("NVIDIA H100 80GB HBM3"), Kubernetes GPU feature
discovery labels ("NVIDIA-H100-80GB-HBM3"), rocm-smi ("AMD Instinct MI300X")
and users ("H100-SXM5-80GB", "h100_sxm"). The name is split into tokens at
spaces, dashes and underscores. One token names the chip, optionally glued to
a form-factor marker or a memory size ("A100", "SXM4", "V100S", "80GB").

Form-factor rules for chips sold both as SXM modules and as PCIe cards
(H100, A100, V100):

- an explicit SXM, HGX or DGX marker means SXM;
- an explicit PCIe or FHHL (full-height half-length card) marker means PCIe;
- HBM3 means SXM, because the H100 PCIe card uses HBM2e and nvidia-smi names
  the SXM part "NVIDIA H100 80GB HBM3";
- NVL means PCIe: the H100 NVL is a PCIe card whose NVLink bridge joins pairs;
- no marker means SXM, because nvidia-smi and GFD always mark these PCIe
  cards ("NVIDIA H100 PCIe", "NVIDIA A100-PCIE-40GB", "Tesla V100-PCIE-16GB").

Chips sold in one form factor only (GB200, GB300, B200, B300, H200) map to
their SKU regardless of markers.
"""

from __future__ import annotations

import re

__all__ = ["infer_sku"]

# Chip token -> (SXM SKU, PCIe SKU). Chips with one form factor use the same SKU twice.
_CHIPS: dict[str, tuple[str, str]] = {
    "GB300": ("gb300", "gb300"),
    "GB200": ("gb200", "gb200"),
    "B300": ("b300_sxm", "b300_sxm"),
    "B200": ("b200_sxm", "b200_sxm"),
    # NOTE: the H200 NVL is a PCIe card with about 16% less compute than the
    # SXM part. The catalog has no separate SKU, so it maps to h200_sxm.
    "H200": ("h200_sxm", "h200_sxm"),
    # NOTE: the H100 NVL (94 GB, 3.9 TB/s) maps to h100_pcie by form factor;
    # its discovered memory replaces the catalog's 80 GB.
    "H100": ("h100_sxm", "h100_pcie"),
    "A100": ("a100_sxm", "a100_pcie"),
    "A30": ("a30", "a30"),
    "L40S": ("l40s", "l40s"),
    "L40": ("l40", "l40"),
    "L4": ("l4", "l4"),
    "V100S": ("v100_pcie", "v100_pcie"),  # the V100S exists only as a PCIe card
    "V100": ("v100_sxm", "v100_pcie"),
    "T4": ("t4", "t4"),
    "MI300X": ("mi300", "mi300"),
    "MI300": ("mi300", "mi300"),
    # The catalog's mi200 entry is one MI250X graphics compute die (GCD), which
    # ROCm exposes as one GPU. An MI250 GCD and an MI210 card are close to it.
    "MI250X": ("mi200", "mi200"),
    "MI250": ("mi200", "mi200"),
    "MI210": ("mi200", "mi200"),
    "MI200": ("mi200", "mi200"),
}

# Longest chip names first, so "L40S" is tried before "L40" and "L4".
_CHIP_PATTERN = "|".join(sorted(_CHIPS, key=len, reverse=True))
_MARKER_PATTERN = r"SXM\d*|PCIE|NVL|HGX|DGX|\d+GB"
_CHIP_TOKEN = re.compile(rf"(?P<chip>{_CHIP_PATTERN})(?P<suffix>{_MARKER_PATTERN})?")

_SXM_MARKER = re.compile(r"^(SXM\d*|HGX|DGX|DGXS)$")
_PCIE_MARKER = re.compile(r"^(PCIE|FHHL)$")


def _tokens(product_name: str) -> list[str]:
    return [token for token in re.split(r"[\s\-_/,()]+", product_name.upper()) if token]


def _form_factor(tokens: list[str]) -> str | None:
    """Return "sxm", "pcie", or None when explicit markers contradict each other."""
    explicit_sxm = any(_SXM_MARKER.match(token) for token in tokens)
    explicit_pcie = any(_PCIE_MARKER.match(token) for token in tokens)
    if explicit_sxm and explicit_pcie:
        return None
    if explicit_sxm:
        return "sxm"
    if explicit_pcie:
        return "pcie"
    if "NVL" in tokens:
        return "pcie"
    return "sxm"  # covers the HBM3 marker and names with no marker at all


def infer_sku(product_name: str) -> str | None:
    """Return the catalog SKU for a GPU product name, or None when it is unknown.

    The result is always a SKU of the loaded catalog (aliases resolve to their
    SKU), never a raw product string.

    Examples
    --------
    >>> infer_sku("NVIDIA H100 80GB HBM3")
    'h100_sxm'
    >>> infer_sku("NVIDIA A100-PCIE-40GB")
    'a100_pcie'
    >>> infer_sku("NVIDIA RTX A6000") is None
    True
    """
    from dgdr_kernel.hardware.catalog import load_catalog

    if not isinstance(product_name, str) or not product_name.strip():
        return None
    catalog = load_catalog()

    # A catalog SKU or alias written as is ("h100_sxm", "gb200_sxm").
    key = product_name.strip().lower()
    if key in catalog:
        return key
    for spec in catalog.values():
        if key in spec.aliases:
            return spec.sku

    tokens = _tokens(product_name)
    chips: set[str] = set()
    glued_markers: list[str] = []
    for token in tokens:
        match = _CHIP_TOKEN.fullmatch(token)
        if match:
            chips.add(match["chip"])
            if match["suffix"]:
                glued_markers.append(match["suffix"])
    if len(chips) != 1:
        return None  # no known chip, or two different chips in one name

    (chip,) = chips
    form_factor = _form_factor(tokens + glued_markers)
    if form_factor is None:
        return None
    sxm_sku, pcie_sku = _CHIPS[chip]
    sku = sxm_sku if form_factor == "sxm" else pcie_sku
    return sku if sku in catalog else None
