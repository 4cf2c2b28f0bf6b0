"""`dgdr validate FILE...`: check DGDR files and print them normalised.

For each valid file the normalised DGDR goes to standard output as YAML, with
every value that came from a default marked `# default`. Problems and warnings
go to standard error. With `--output json` one JSON document describing every
file goes to standard output instead.

Beyond the spec itself, the check compares workload.isl and workload.osl with
the model's context window when the model's config.json resolves offline. A
private model name is legal in a DGDR, so a model that does not resolve only
produces a warning.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from typing import Any

import yaml

from dgdr_kernel.errors import DgdrError, HardwareError, SpecError, SpecProblem
from dgdr_kernel.spec import LoadedDgdr, default_paths_in_document, load_dgdr, to_document

__all__ = ["register", "render_marked_yaml", "run_validate", "validate_source"]

EXIT_OK = 0
EXIT_INVALID_INPUT = 1
EXIT_USAGE = 2

DEFAULT_MARK = "  # default"


@dataclass
class ValidationResult:
    """The outcome of validating one DGDR source."""

    source: str
    dgdr: LoadedDgdr | None = None
    problems: list[SpecProblem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    headline: str | None = None  # set when the file could not be read at all

    @property
    def valid(self) -> bool:
        return self.dgdr is not None and not self.problems


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "validate",
        help="check DGDR files and print them with defaults applied",
        description=(
            "Validate DynamoGraphDeploymentRequest files (nvidia.com/v1beta1; whole custom "
            "resource or bare spec; YAML or JSON). Prints each valid file normalised, with "
            "applied defaults marked '# default', and every problem of each invalid file. "
            "Exit code 0 when all files are valid, 1 when any is invalid or unreadable, "
            "2 on a usage error."
        ),
    )
    parser.add_argument(
        "files",
        nargs="+",
        metavar="FILE",
        help="DGDR file to check; '-' reads one DGDR from standard input",
    )
    parser.add_argument(
        "--output",
        choices=["yaml", "json"],
        default="yaml",
        help=(
            "yaml (default): normalised DGDRs on standard output, problems and warnings on "
            "standard error; json: one JSON document with the result of every file on "
            "standard output, for scripts"
        ),
    )
    parser.set_defaults(func=run_validate)


def run_validate(args: argparse.Namespace) -> int:
    """Validate every file of `args.files`; return the exit code."""
    if args.files.count("-") > 1:
        print("error: '-' (standard input) can be given only once", file=sys.stderr)
        return EXIT_USAGE

    results = [validate_source(name) for name in args.files]
    if args.output == "json":
        _print_json(results)
    else:
        _print_yaml(results)
    return EXIT_OK if all(result.valid for result in results) else EXIT_INVALID_INPUT


def validate_source(name: str) -> ValidationResult:
    """Load and check one source (a path or '-'), collecting problems instead of raising."""
    source = "<stdin>" if name == "-" else name
    try:
        dgdr = load_dgdr(name)
    except SpecError as exc:
        return ValidationResult(source=exc.source or source, problems=list(exc.problems), headline=exc.headline)

    result = ValidationResult(source=dgdr.source, dgdr=dgdr, warnings=list(dgdr.warnings))
    _check_context_window(result)
    _check_backend_vendor(result)
    return result


def _check_backend_vendor(result: ValidationResult) -> None:
    from dgdr_kernel.hardware import get_gpu
    from dgdr_kernel.hardware.catalog import UNCATALOGUED_SKUS
    from dgdr_kernel.resolve import expand_backends
    from dgdr_kernel.spec_models import catalogued_gpu_skus

    spec = result.dgdr.spec
    sku = spec.hardware.gpu_sku
    if sku is None:
        return  # the vendor is known once profile detects the GPUs

    # The DGDR enum has SKUs without a catalog entry. Such a DGDR stays valid,
    # because the operator accepts it, but this tool cannot profile it.
    try:
        gpu = get_gpu(sku)
    except HardwareError:
        reason = UNCATALOGUED_SKUS.get(sku, "no sourced figures for it are shipped")
        result.warnings.append(
            f"hardware.gpuSku: {sku!r} has no GPU catalog entry ({reason}), so dgdr profile and "
            f"dgdr report will fail for this DGDR; to profile it, set hardware.gpuSku to a catalogued "
            f"SKU ({', '.join(catalogued_gpu_skus())}) or add hwdata/{sku}.yaml with sourced figures"
        )
        return

    try:
        expand_backends(spec.backend, gpu.vendor)
    except SpecError as exc:
        result.problems += exc.problems


def _check_context_window(result: ValidationResult) -> None:
    from dgdr_kernel.resolve import find_context_window_problems

    spec = result.dgdr.spec
    try:
        from dgdr_kernel.modelarch import resolve_model

        arch = resolve_model(spec.model)
    except (ImportError, DgdrError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        result.warnings.append(
            f"model: context window not checked, because the config.json of "
            f"{spec.model!r} could not be resolved ({reason})"
        )
        return
    result.problems += find_context_window_problems(spec, arch)


# --------------------------------------------------------------------------- YAML output


def _scalar_text(value: Any) -> str:
    text = yaml.safe_dump(value, default_flow_style=True, width=10_000).strip()
    return text.removesuffix("\n...").removesuffix("...").strip()


def render_marked_yaml(document: dict, marked_paths: set[str]) -> str:
    """Render `document` as block YAML, appending `# default` to each marked leaf.

    `marked_paths` contains dotted key paths (`spec.workload.isl`). Lists and empty
    mappings are written as YAML blocks or flow values without marks.
    """
    lines: list[str] = []
    _render_mapping(document, marked_paths, "", 0, lines)
    return "\n".join(lines) + "\n"


def _render_mapping(mapping: dict, marked: set[str], prefix: str, indent: int, lines: list[str]) -> None:
    pad = " " * indent
    for key, value in mapping.items():
        path = f"{prefix}{key}"
        key_text = _scalar_text(key)
        if isinstance(value, dict) and value:
            lines.append(f"{pad}{key_text}:")
            _render_mapping(value, marked, f"{path}.", indent + 2, lines)
        elif isinstance(value, list) and value:
            block = yaml.safe_dump({key: value}, sort_keys=False, default_flow_style=False, width=10_000)
            lines += [f"{pad}{line}" for line in block.rstrip("\n").split("\n")]
        else:
            mark = DEFAULT_MARK if path in marked else ""
            lines.append(f"{pad}{key_text}: {_scalar_text(value)}{mark}")


def _print_yaml(results: list[ValidationResult]) -> None:
    first = True
    for result in results:
        for note in result.warnings:
            print(f"warning: {result.source}: {note}", file=sys.stderr)

        if not result.valid:
            print(f"error: {SpecError(result.problems, source=result.source, headline=result.headline)}", file=sys.stderr)
            continue

        if not first:
            print("---")
        first = False
        dgdr = result.dgdr
        print(f"# {result.source}: valid; {len(dgdr.defaults_applied)} default(s) applied")
        print(render_marked_yaml(to_document(dgdr), default_paths_in_document(dgdr)), end="")


# --------------------------------------------------------------------------- JSON output


def _problem_as_dict(problem: SpecProblem) -> dict:
    return {"path": problem.path, "message": problem.message, "value": problem.value, "fix": problem.fix}


def _result_as_dict(result: ValidationResult) -> dict:
    entry: dict[str, Any] = {
        "source": result.source,
        "valid": result.valid,
        "problems": [_problem_as_dict(problem) for problem in result.problems],
        "warnings": list(result.warnings),
    }
    if result.valid:
        entry["dgdr"] = to_document(result.dgdr)
        entry["defaults_applied"] = list(result.dgdr.defaults_applied)
    return entry


def _print_json(results: list[ValidationResult]) -> None:
    payload = {
        "valid": all(result.valid for result in results),
        "results": [_result_as_dict(result) for result in results],
    }
    print(json.dumps(payload, indent=2, default=str))
