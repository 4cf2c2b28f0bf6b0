"""DGDR documents built from notebook parameters and widget values."""

from __future__ import annotations

import copy
from typing import Any

__all__ = ["build_dgdr_document", "with_overrides"]

API_VERSION = "nvidia.com/v1beta1"
KIND = "DynamoGraphDeploymentRequest"


def build_dgdr_document(
    *,
    model: str,
    backend: str = "auto",
    gpu_sku: str | None = None,
    total_gpus: int | None = None,
    num_gpus_per_node: int | None = None,
    isl: int | None = None,
    osl: int | None = None,
    ttft_ms: float | None = None,
    itl_ms: float | None = None,
    e2e_latency_ms: float | None = None,
    request_rate: float | None = None,
    concurrency: float | None = None,
    name: str | None = None,
) -> dict[str, Any]:
    """Return a DGDR custom resource (DGDR field names) from plain values.

    Fields left as None are omitted, so `dgdr_kernel.spec.load_dgdr` applies
    its defaults and reports them. Numbers are converted to the types the DGDR
    schema requires (papermill passes `2000` as an int where a float is due).
    Other values are kept as given: `load_dgdr` rejects them with the field's name.
    """
    workload = _drop_none(
        isl=_as_int(isl),
        osl=_as_int(osl),
        requestRate=_as_float(request_rate),
        concurrency=_as_float(concurrency),
    )
    sla = _drop_none(ttft=_as_float(ttft_ms), itl=_as_float(itl_ms), e2eLatency=_as_float(e2e_latency_ms))
    hardware = _drop_none(
        gpuSku=gpu_sku or None,
        totalGpus=_as_int(total_gpus),
        numGpusPerNode=_as_int(num_gpus_per_node),
    )
    spec: dict[str, Any] = {"model": model, "backend": backend}
    for key, section in (("workload", workload), ("sla", sla), ("hardware", hardware)):
        if section:
            spec[key] = section

    document: dict[str, Any] = {"apiVersion": API_VERSION, "kind": KIND, "spec": spec}
    if name:
        document["metadata"] = {"name": name}
    return document


def with_overrides(document: dict[str, Any], **values: Any) -> dict[str, Any]:
    """Return a copy of a DGDR document with widget values set.

    Keys are the keyword names of `build_dgdr_document` (`isl`, `ttft_ms`,
    `gpu_sku`, ...). Setting `request_rate` clears `concurrency` and the
    other way round, because the DGDR allows only one of them; setting either
    to None clears it. A `gpu_sku` that differs from the document's also
    clears `vramMb` and `numGpusPerNode`, which belong to the previous SKU, so
    the new SKU's catalog values apply unless `num_gpus_per_node` is given too.
    """
    document = copy.deepcopy(document)
    spec = document.setdefault("spec", {})
    hardware = spec.get("hardware", {})
    if values.get("gpu_sku") is not None and str(values["gpu_sku"]) != hardware.get("gpuSku"):
        hardware.pop("vramMb", None)
        hardware.pop("numGpusPerNode", None)
    paths = {
        "backend": ((), "backend", str),
        "isl": (("workload",), "isl", _as_int),
        "osl": (("workload",), "osl", _as_int),
        "request_rate": (("workload",), "requestRate", _as_float),
        "concurrency": (("workload",), "concurrency", _as_float),
        "ttft_ms": (("sla",), "ttft", _as_float),
        "itl_ms": (("sla",), "itl", _as_float),
        "gpu_sku": (("hardware",), "gpuSku", str),
        "total_gpus": (("hardware",), "totalGpus", _as_int),
        "num_gpus_per_node": (("hardware",), "numGpusPerNode", _as_int),
    }
    for key, value in values.items():
        if key not in paths:
            raise KeyError(f"unknown DGDR override {key!r}; use one of: {', '.join(paths)}")
        sections, field, convert = paths[key]
        target = spec
        for section in sections:
            target = target.setdefault(section, {})
        if value is None:
            target.pop(field, None)
            continue
        target[field] = convert(value)
        if key == "request_rate":
            target.pop("concurrency", None)
        if key == "concurrency":
            target.pop("requestRate", None)
    return document


def _drop_none(**values: Any) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}


def _as_int(value: Any) -> Any:
    # Only whole floats are converted; anything else goes to the DGDR
    # validation as given, which names the field and the value it rejects.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _as_float(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value
