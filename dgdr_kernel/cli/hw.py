"""`dgdr hw`: print the GPU catalog (`list`), one SKU with its sources (`show`), or the resolved hardware (`detect`)."""

from __future__ import annotations

import argparse
import json

import yaml

from dgdr_kernel.errors import HardwareError
from dgdr_kernel.hardware import GpuSpec, get_gpu, infer_sku, load_catalog, resolve_hardware
from dgdr_kernel.hardware.catalog import SOURCED_FIELDS

__all__ = ["register"]

_LIST_COLUMNS = (
    "SKU",
    "name",
    "VRAM GiB",
    "HBM TB/s",
    "fp16/bf16 TFLOP/s",
    "fp8 TFLOP/s",
    "fp4 TFLOP/s",
    "GPUs/node",
    "link",
)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "hw",
        help="print the GPU catalog or detect the local hardware",
        description=(
            "Print the GPU catalog shipped in hwdata/, or detect the hardware as "
            "`dgdr profile` resolves it. TFLOP/s are dense (non-sparse) tensor-core "
            "peaks per GPU; bandwidths are GB/s or TB/s per GPU."
        ),
    )
    actions = parser.add_subparsers(dest="hw_command", metavar="ACTION")
    actions.required = True

    list_parser = actions.add_parser("list", help="one line per SKU")
    list_parser.add_argument(
        "--output",
        choices=["table", "json", "yaml"],
        default="table",
        help="table (default) or every field of every SKU as JSON or YAML",
    )
    list_parser.set_defaults(func=run_list)

    show_parser = actions.add_parser("show", help="every field of one SKU with its source")
    show_parser.add_argument("sku", metavar="SKU", help="a gpuSku value, e.g. h100_sxm (see `dgdr hw list`)")
    show_parser.add_argument(
        "--output",
        choices=["text", "json", "yaml"],
        default="text",
        help="text (default), or the SKU file's fields as JSON or YAML",
    )
    show_parser.set_defaults(func=run_show)

    detect_parser = actions.add_parser(
        "detect",
        help="resolve the hardware as `dgdr profile` does and print each value with its source",
        description=(
            "Fill the hardware fields from the local nvidia-smi, then Kubernetes node labels "
            "(when a kubeconfig exists), then the catalog, and print where each value came from."
        ),
    )
    detect_parser.add_argument("--gpu-sku", metavar="SKU", help="hardware.gpuSku: plan for this SKU only")
    detect_parser.add_argument("--total-gpus", type=int, metavar="N", help="hardware.totalGpus: the GPU budget")
    detect_parser.add_argument(
        "--num-gpus-per-node", type=int, metavar="N", help="hardware.numGpusPerNode: GPUs in one node"
    )
    detect_parser.add_argument("--vram-mb", type=float, metavar="MIB", help="hardware.vramMb: memory per GPU in MiB")
    detect_parser.add_argument(
        "--nvidia-smi-output",
        metavar="FILE",
        help="read recorded `nvidia-smi --query-gpu=name,memory.total --format=csv,noheader,nounits` output instead of running it",
    )
    detect_parser.add_argument("--no-nvidia-smi", action="store_true", help="do not run nvidia-smi")
    detect_parser.add_argument("--no-kubernetes", action="store_true", help="do not list Kubernetes nodes")
    detect_parser.add_argument(
        "--output", choices=["text", "json", "yaml"], default="text", help="text (default), JSON or YAML"
    )
    detect_parser.set_defaults(func=run_detect)


def _format_tflops(gpu: GpuSpec, *precisions: str) -> str:
    """Format the first of `precisions` the GPU has tensor cores for, else '-'."""
    value = next((gpu.dense_tflops[p] for p in precisions if p in gpu.dense_tflops), None)
    return "-" if value is None else f"{value:g}"


def _list_rows(catalog: dict[str, GpuSpec]) -> list[tuple[str, ...]]:
    rows = []
    for sku in sorted(catalog):
        gpu = catalog[sku]
        rows.append(
            (
                gpu.sku + "".join(f" ({alias})" for alias in gpu.aliases),
                gpu.name,
                f"{gpu.vram_gib:g}",
                f"{gpu.hbm_gb_per_s / 1000:g}",
                _format_tflops(gpu, "bf16", "fp16"),
                _format_tflops(gpu, "fp8"),
                _format_tflops(gpu, "fp4"),
                str(gpu.gpus_per_node),
                gpu.intra_node_link,
            )
        )
    return rows


def _render_table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in [header, *rows]]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def _dump(data: object, output: str) -> str:
    if output == "json":
        return json.dumps(data, indent=2)
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True).rstrip()


def run_list(args: argparse.Namespace) -> int:
    catalog = load_catalog()
    if args.output == "table":
        print(_render_table(_LIST_COLUMNS, _list_rows(catalog)))
        print("\nTFLOP/s: dense tensor-core peak per GPU ('-': no tensor cores for that precision). `dgdr hw show SKU` cites sources.")
    else:
        print(_dump({sku: catalog[sku].model_dump(mode="json") for sku in sorted(catalog)}, args.output))
    return 0


def _lookup(sku: str) -> GpuSpec:
    try:
        return get_gpu(sku)
    except HardwareError as exc:
        suggestion = infer_sku(sku)
        if suggestion is None:
            raise
        raise HardwareError(f"unknown GPU SKU {sku!r}; did you mean {suggestion!r}?") from exc


def _show_text(gpu: GpuSpec) -> str:
    lines = [f"{gpu.sku}: {gpu.name} ({gpu.vendor})"]
    if gpu.aliases:
        lines.append(f"aliases: {', '.join(gpu.aliases)}")
    lines.append(f"AIConfigurator performance data: {'yes' if gpu.aic_supported else 'no'}")
    lines.append("")

    values = {
        "vram_mib": f"{gpu.vram_mib} MiB ({gpu.vram_gib:g} GiB)",
        "hbm_gb_per_s": f"{gpu.hbm_gb_per_s:g} GB/s",
        "gpus_per_node": str(gpu.gpus_per_node),
        "intra_node_gb_per_s": f"{gpu.intra_node_gb_per_s:g} GB/s per direction ({gpu.intra_node_link})",
        "inter_node_gb_per_s": f"{gpu.inter_node_gb_per_s:g} GB/s per direction",
        "tdp_w": f"{gpu.tdp_w:g} W",
    }
    for precision in gpu.precisions:
        unit = "TOP/s" if precision == "int8" else "TFLOP/s"
        values[f"dense_tflops.{precision}"] = f"{gpu.dense_tflops[precision]:g} dense {unit}"

    ordered = [name for name in SOURCED_FIELDS if name != "dense_tflops"]
    ordered[2:2] = [f"dense_tflops.{p}" for p in gpu.precisions]  # after memory, before the node
    for name in ordered:
        source = gpu.source_of(name)
        lines.append(f"{name}: {values[name]}")
        if source is not None:
            lines.append(f"    source: {source.title} <{source.url}>")
            if source.note:
                lines.append(f"    note: {' '.join(source.note.split())}")
    return "\n".join(lines)


def run_show(args: argparse.Namespace) -> int:
    gpu = _lookup(args.sku)
    if args.output == "text":
        print(_show_text(gpu))
    else:
        print(_dump(gpu.model_dump(mode="json"), args.output))
    return 0


# DGDR hardware field -> the `dgdr hw detect` option that sets it, so that
# errors and notes name what the user can type.
_DETECT_OPTIONS = {
    "gpuSku": "--gpu-sku",
    "totalGpus": "--total-gpus",
    "numGpusPerNode": "--num-gpus-per-node",
    "vramMb": "--vram-mb",
}


def run_detect(args: argparse.Namespace) -> int:
    nvidia_smi_output = None
    if args.nvidia_smi_output:
        try:
            with open(args.nvidia_smi_output, encoding="utf-8") as handle:
                nvidia_smi_output = handle.read()
        except OSError as exc:
            raise HardwareError(f"cannot read --nvidia-smi-output {args.nvidia_smi_output}: {exc.strerror}") from exc

    requested = {
        "gpuSku": args.gpu_sku,
        "totalGpus": args.total_gpus,
        "numGpusPerNode": args.num_gpus_per_node,
        "vramMb": args.vram_mb,
    }
    hardware = resolve_hardware(
        requested,
        nvidia_smi_output=nvidia_smi_output,
        run_nvidia_smi=not args.no_nvidia_smi,
        use_kubernetes=not args.no_kubernetes,
        field_labels=_DETECT_OPTIONS,
    )
    if args.output == "text":
        print(hardware.describe())
    else:
        print(_dump(hardware.to_dict(), args.output))
    return 0
