"""Load and validate a DynamoGraphDeploymentRequest (DGDR, `nvidia.com/v1beta1`).

`load_dgdr` accepts a whole custom resource (apiVersion, kind, metadata, spec)
or a bare spec, as YAML or JSON, from a file, standard input, a string or a
dict. It applies the defaults, records each one it applied, and raises a
`SpecError` listing every problem it found, not just the first.

The field models and the rules that span fields (`find_rule_problems`) are in
`dgdr_kernel.spec_models`; this module reads the input, maps pydantic errors to
`SpecProblem`s and records the defaults.
"""

from __future__ import annotations

import difflib
import json
import logging
import os
import re
import sys
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from dgdr_kernel.errors import SpecError, SpecProblem
from dgdr_kernel.plannerconfig import RULE_PROBLEMS_CONTEXT_KEY, WARNINGS_CONTEXT_KEY
from dgdr_kernel.spec_models import DEFAULT_IMAGE, GPU_SKUS, DgdrSpec, find_rule_problems

__all__ = [
    "API_VERSION",
    "DEFAULT_IMAGE",
    "GPU_SKUS",
    "KIND",
    "DgdrMetadata",
    "DgdrSpec",
    "LoadedDgdr",
    "default_paths_in_document",
    "derive_name_from_model",
    "find_rule_problems",
    "load_dgdr",
    "to_document",
]

logger = logging.getLogger(__name__)

API_VERSION = "nvidia.com/v1beta1"
KIND = "DynamoGraphDeploymentRequest"
RESOURCE_KEYS = ("apiVersion", "kind", "metadata", "spec")

# Kubernetes DNS-1123 label: what a DGDR name must be to become DGD and pod names.
DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1123_LABEL_MAX_CHARS = 63

# Pod names built from `<name>-dgd` plus a service name must stay within 45
# characters (Grove). A service name such as TRTLLMPrefillWorker (19 characters)
# leaves 22 for the DGDR name.
NAME_CHARS_SAFE_FOR_SERVICES = 45 - len("-dgd") - len("TRTLLMPrefillWorker")

# Names derived from a model id are cut to this length for the same reason.
DERIVED_NAME_MAX_CHARS = 20


@dataclass(frozen=True)
class DgdrMetadata:
    """The parts of `metadata` used to name the outputs."""

    name: str
    namespace: str | None = None
    labels: dict[str, str] = field(default_factory=dict)


@dataclass
class LoadedDgdr:
    """A validated DGDR with its defaults applied.

    `defaults_applied` lists the dotted paths (DGDR names, relative to `spec`,
    plus `metadata.name` when it was derived) of every value that was not in the
    input. `warnings` lists what was accepted but deserves a second look.
    """

    metadata: DgdrMetadata
    spec: DgdrSpec
    defaults_applied: list[str]
    source: str
    warnings: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.metadata.name


# --------------------------------------------------------------------------- reading


class _UniqueKeyLoader(yaml.SafeLoader):
    """A SafeLoader that rejects duplicate mapping keys instead of keeping the last."""


def _construct_unique_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: set = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_unique_mapping)


def _read_error(source_name: str, message: str, fix: str | None = None) -> SpecError:
    return SpecError([SpecProblem("(document)", message, None, fix)], source=source_name)


def _file_error(source_name: str, message: str, fix: str | None = None) -> SpecError:
    return SpecError(
        [SpecProblem("(file)", message, None, fix)],
        source=source_name,
        headline=f"cannot read DGDR file {source_name}",
    )


def _unique_json_object(pairs: list[tuple[str, Any]]) -> dict:
    keys = [key for key, _ in pairs]
    duplicates = sorted({key for key in keys if keys.count(key) > 1})
    if duplicates:
        raise ValueError(f"duplicate key {duplicates[0]!r}")
    return dict(pairs)


def parse_text(text: str, source_name: str) -> Any:
    """Parse YAML or JSON text into Python data, rejecting duplicate keys and multiple documents."""
    if text.lstrip().startswith("{"):
        try:
            return json.loads(text, object_pairs_hook=_unique_json_object)
        except json.JSONDecodeError as exc:
            json_error = _read_error(source_name, f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}")
        except ValueError as exc:
            raise _read_error(source_name, f"invalid JSON: {exc}", "keep one of the two values") from None
        # `{model: x}` is flow-style YAML rather than JSON; report the JSON error
        # only when the text is neither.
        try:
            return _parse_yaml(text, source_name)
        except SpecError:
            raise json_error from None
    return _parse_yaml(text, source_name)


def _parse_yaml(text: str, source_name: str) -> Any:
    try:
        documents = [doc for doc in yaml.load_all(text, Loader=_UniqueKeyLoader) if doc is not None]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise _read_error(source_name, f"invalid YAML{where}: {problem}") from None

    if not documents:
        raise _read_error(source_name, "the document is empty", "write a DGDR with at least spec.model")
    if len(documents) > 1:
        raise _read_error(
            source_name,
            f"found {len(documents)} YAML documents, expected one DGDR",
            "put each DGDR in its own file",
        )
    return documents[0]


def _looks_like_text(text: str) -> bool:
    return "\n" in text or text.lstrip().startswith(("{", "["))


def read_source(source: str | os.PathLike | Mapping) -> tuple[Any, str]:
    """Read `source` into Python data; return it with a name for messages.

    `source` is a mapping (used as is), `-` (standard input), a path to a YAML
    or JSON file, or YAML/JSON text.
    """
    if isinstance(source, Mapping):
        return dict(source), "<dict>"

    if isinstance(source, os.PathLike):
        return _read_file(Path(source))

    if not isinstance(source, str):
        raise TypeError(f"load_dgdr expects a path, '-', YAML/JSON text or a dict, got {type(source).__name__}")

    if source == "-":
        return parse_text(sys.stdin.read(), "<stdin>"), "<stdin>"
    if _looks_like_text(source):
        return parse_text(source, "<text>"), "<text>"

    path = Path(source)
    if path.exists() or path.suffix.lower() in (".yaml", ".yml", ".json") or os.sep in source:
        return _read_file(path)
    return parse_text(source, "<text>"), "<text>"


def _read_file(path: Path) -> tuple[Any, str]:
    name = str(path)
    if not path.exists():
        raise _file_error(name, f"file not found: {name}", "check the path")
    if path.is_dir():
        raise _file_error(name, f"{name} is a directory, not a DGDR file", "pass a .yaml or .json file")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise _file_error(name, f"cannot read {name}: {exc}") from None
    return parse_text(text, name), name


# --------------------------------------------------------------------------- names


def derive_name_from_model(model_id: str) -> str:
    """Derive a short DNS-1123 name from a model id (`Qwen/Qwen3-32B` -> `qwen3-32b`)."""
    base = model_id.rstrip("/").rsplit("/", 1)[-1].lower()
    name = re.sub(r"[^a-z0-9]+", "-", base).strip("-")
    name = name[:DERIVED_NAME_MAX_CHARS].rstrip("-")
    return name or "dgdr"


def _check_dns1123(path: str, value: object) -> list[SpecProblem]:
    if not isinstance(value, str):
        return [SpecProblem(path, "must be a string", value)]
    if len(value) > DNS1123_LABEL_MAX_CHARS:
        return [
            SpecProblem(
                path,
                f"is {len(value)} characters long; a DNS-1123 label has at most {DNS1123_LABEL_MAX_CHARS}",
                value,
                f"use a shorter name such as {derive_name_from_model(value)!r}",
            )
        ]
    if not DNS1123_LABEL.match(value):
        suggestion = derive_name_from_model(value)
        return [
            SpecProblem(
                path,
                "is not a DNS-1123 label (lowercase letters, digits and '-', starting and ending "
                "with a letter or digit)",
                value,
                f"use {suggestion!r}",
            )
        ]
    return []


# --------------------------------------------------------------------------- document shape


def _split_document(data: Any, source_name: str) -> tuple[Any, dict, list[SpecProblem], list[str]]:
    """Return (spec data, metadata data, problems, warnings) of a CR or a bare spec."""
    if not isinstance(data, dict):
        raise _read_error(
            source_name,
            f"a DGDR must be a mapping, got {type(data).__name__}",
            "write a DynamoGraphDeploymentRequest or a bare spec with at least 'model'",
        )

    if not any(key in data for key in RESOURCE_KEYS):
        return data, {}, [], []

    problems: list[SpecProblem] = []
    warnings: list[str] = []

    api_version = data.get("apiVersion")
    if api_version != API_VERSION:
        fix = f"set apiVersion: {API_VERSION}"
        if isinstance(api_version, str) and api_version.endswith("v1alpha1"):
            fix += " and move profilingConfig fields to the v1beta1 layout (model, workload, sla, hardware)"
        message = "is required" if api_version is None else f"must be {API_VERSION}"
        problems.append(SpecProblem("apiVersion", message, api_version, fix))

    kind = data.get("kind")
    if kind != KIND:
        message = "is required" if kind is None else f"must be {KIND}"
        problems.append(SpecProblem("kind", message, kind, f"set kind: {KIND}"))

    for key in data:
        if key in RESOURCE_KEYS:
            continue
        if key == "status":
            warnings.append("status: ignored; a DGDR's status is written by the operator, not read")
            continue
        problems.append(_unknown_field_problem(str(key), data[key], RESOURCE_KEYS + ("status",)))

    metadata = data.get("metadata")
    if metadata is None:
        metadata = {}
    elif not isinstance(metadata, dict):
        problems.append(SpecProblem("metadata", "must be a mapping", metadata))
        metadata = {}

    spec = data.get("spec")
    if spec is None:
        problems.append(SpecProblem("spec", "is required", None, "add spec with at least spec.model"))
    elif not isinstance(spec, dict):
        problems.append(SpecProblem("spec", "must be a mapping", spec))
        spec = None
    return spec, metadata, problems, warnings


def _build_metadata(metadata: dict, spec_data: Any) -> tuple[DgdrMetadata | None, list[SpecProblem], list[str], bool]:
    """Return (metadata, problems, warnings, name_was_derived)."""
    problems: list[SpecProblem] = []
    warnings: list[str] = []

    name = metadata.get("name")
    derived = False
    if name is None:
        model = spec_data.get("model") if isinstance(spec_data, dict) else None
        name = derive_name_from_model(model) if isinstance(model, str) and model else "dgdr"
        derived = True
    else:
        problems += _check_dns1123("metadata.name", name)
        if not problems and len(name) > NAME_CHARS_SAFE_FOR_SERVICES:
            warnings.append(
                f"metadata.name: {name!r} is {len(name)} characters; the DGD name '<name>-dgd' plus a "
                f"service name must stay within 45 characters, so names over "
                f"{NAME_CHARS_SAFE_FOR_SERVICES} characters can fail for long service names"
            )

    namespace = metadata.get("namespace")
    if namespace is not None:
        problems += _check_dns1123("metadata.namespace", namespace)

    labels = metadata.get("labels") or {}
    if not isinstance(labels, dict) or not all(isinstance(v, str) for v in labels.values()):
        problems.append(
            SpecProblem("metadata.labels", "must map label names to strings", labels, "quote numeric label values")
        )
        labels = {}

    if problems:
        return None, problems, warnings, derived
    return DgdrMetadata(name=name, namespace=namespace, labels={str(k): v for k, v in labels.items()}), [], warnings, derived


# --------------------------------------------------------------------------- pydantic errors


def _nested_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for argument in typing.get_args(annotation):
        found = _nested_model(argument)
        if found is not None:
            return found
    return None


def _model_at(loc: tuple) -> type[BaseModel] | None:
    """Return the model class that validates the mapping at `loc` (DGDR names)."""
    model: type[BaseModel] | None = DgdrSpec
    for part in loc:
        if model is None:
            return None
        match = next(
            (info for name, info in model.model_fields.items() if part in (name, info.alias)),
            None,
        )
        if match is None:
            return None
        model = _nested_model(match.annotation)
    return model


def _closest_name(key: str, allowed: typing.Iterable[str]) -> str | None:
    allowed = list(allowed)

    def squash(text: str) -> str:
        return text.lower().replace("_", "").replace("-", "")

    for candidate in allowed:
        if squash(candidate) == squash(key):
            return candidate
    matches = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
    return matches[0] if matches else None


def _unknown_field_problem(path: str, value: object, allowed: typing.Iterable[str]) -> SpecProblem:
    allowed = list(allowed)
    key = path.rsplit(".", 1)[-1]
    closest = _closest_name(key, allowed)
    if closest is not None:
        fix = f"did you mean {closest!r}?"
    else:
        fix = "allowed fields here: " + ", ".join(allowed)
    return SpecProblem(path, "unknown field", value, fix)


_TYPE_MESSAGES = {
    "int_type": "must be an integer",
    "int_parsing": "must be an integer",
    "int_from_float": "must be a whole number",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "finite_number": "must be a finite number",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "string_type": "must be a string",
    "dict_type": "must be a mapping",
    "model_type": "must be a mapping",
    "model_attributes_type": "must be a mapping",
    "string_too_short": "must not be empty",
    "missing": "is required",
}


# A number fix ends with the field's own `examples` value (", e.g. 8" for
# hardware.totalGpus), so the example is plausible for that field.
_TYPE_FIXES = {
    "int_type": "write a whole number without units",
    "int_parsing": "write a whole number without units",
    "int_from_float": "drop the fractional part",
    "float_type": "write a plain number without units",
    "float_parsing": "write a plain number without units",
    "bool_type": "write true or false",
    "bool_parsing": "write true or false",
}
_FIXES_WITH_EXAMPLE = ("int_type", "int_parsing", "float_type", "float_parsing")

# Names users write for an engine, mapped to the DGDR's backend values.
_BACKEND_SPELLINGS = {
    "tensorrt-llm": "trtllm",
    "tensorrt_llm": "trtllm",
    "tensorrtllm": "trtllm",
    "trt-llm": "trtllm",
    "trt_llm": "trtllm",
}


def _closest_literal(value: object, context: dict) -> str | None:
    """Suggest the allowed value a mistyped enum value most likely means."""
    if not isinstance(value, str):
        return None
    if value.lower() in _BACKEND_SPELLINGS:
        return f"use {_BACKEND_SPELLINGS[value.lower()]!r}"
    allowed = re.findall(r"'([^']*)'", str(context.get("expected", "")))
    if value.lower() in allowed:
        return f"use {value.lower()!r} (values are lowercase)"
    closest = difflib.get_close_matches(value.lower(), allowed, n=1, cutoff=0.6)
    return f"did you mean {closest[0]!r}?" if closest else None


def _field_example(loc: tuple) -> object | None:
    """Return the first `examples` value of the field at `loc` (DGDR names), or None."""
    if not loc:
        return None
    model = _model_at(loc[:-1])
    if model is None:
        return None
    info = next((info for name, info in model.model_fields.items() if loc[-1] in (name, info.alias)), None)
    if info is None or not info.examples:
        return None
    return info.examples[0]


def _type_fix(kind: str, loc: tuple) -> str | None:
    fix = _TYPE_FIXES.get(kind)
    if fix is None or kind not in _FIXES_WITH_EXAMPLE:
        return fix
    example = _field_example(loc)
    return fix if example is None else f"{fix}, e.g. {example}"


def _number_text(number: object) -> str:
    if isinstance(number, float) and number.is_integer():
        return str(int(number))
    return str(number)


def _problem_from_error(error: dict, prefix: tuple = ()) -> SpecProblem:
    loc = prefix + tuple(error["loc"])
    path = ".".join(str(part) for part in loc)
    kind = error["type"]
    context = error.get("ctx") or {}
    value = error.get("input") if kind != "missing" else None

    if kind == "extra_forbidden":
        model = _model_at(tuple(error["loc"])[:-1])
        allowed = [info.alias or name for name, info in model.model_fields.items()] if model else []
        return _unknown_field_problem(path, value, allowed)
    if kind in ("greater_than", "greater_than_equal", "less_than_equal", "less_than"):
        relation = {
            "greater_than": f"greater than {_number_text(context.get('gt'))}",
            "greater_than_equal": f"at least {_number_text(context.get('ge'))}",
            "less_than": f"less than {_number_text(context.get('lt'))}",
            "less_than_equal": f"at most {_number_text(context.get('le'))}",
        }[kind]
        fix = "set a positive value or remove the field" if context.get("gt") == 0 else None
        return SpecProblem(path, f"must be {relation}", value, fix)
    if kind == "literal_error":
        return SpecProblem(path, f"must be one of {context.get('expected')}", value, _closest_literal(value, context))
    if kind == "string_pattern_mismatch":
        return SpecProblem(
            path,
            "must be a version MAJOR.MINOR.PATCH (each 0 to 9999, no leading zeros)",
            value,
            "use a value such as '1.6.0'",
        )
    if kind in ("gpu_sku_unknown", "planner_value"):
        return SpecProblem(path, error["msg"], value, context.get("fix"))
    if kind == "missing":
        return SpecProblem(path, "is required", None, f"set {path}")
    if kind in _TYPE_MESSAGES:
        return SpecProblem(path, _TYPE_MESSAGES[kind], value, _type_fix(kind, loc))
    message = error["msg"].removeprefix("Value error, ")
    return SpecProblem(path, message, value)


def _planner_rule_to_problem(problem: SpecProblem) -> SpecProblem:
    return SpecProblem(f"features.planner.{problem.path}", problem.message, problem.value, problem.fix)


# --------------------------------------------------------------------------- defaults


def _collect_defaults(model: BaseModel, prefix: str = "") -> list[str]:
    """List the dotted DGDR paths of fields filled from defaults, depth first."""
    paths: list[str] = []
    for name, info in type(model).model_fields.items():
        value = getattr(model, name)
        key = info.alias or name
        path = f"{prefix}{key}"
        if isinstance(value, BaseModel):
            paths += _collect_defaults(value, prefix=f"{path}.")
        elif name not in model.model_fields_set and value is not None:
            paths.append(path)
    return paths


# --------------------------------------------------------------------------- entry point


def load_dgdr(source: str | os.PathLike | Mapping) -> LoadedDgdr:
    """Load, validate and default a DGDR.

    Parameters
    ----------
    source
        A path, `-` for standard input, YAML or JSON text, or a dict; either a
        whole `DynamoGraphDeploymentRequest` or a bare spec.

    Raises
    ------
    SpecError
        With every problem found (unreadable input included).
    """
    data, source_name = read_source(source)
    spec_data, metadata_data, problems, warnings = _split_document(data, source_name)

    metadata, metadata_problems, metadata_warnings, name_derived = _build_metadata(metadata_data, spec_data)
    problems += metadata_problems
    warnings += metadata_warnings

    spec = None
    if spec_data is not None:
        rule_problems, rule_warnings = find_rule_problems(spec_data)
        planner_rule_problems: list[SpecProblem] = []
        planner_warnings: list[str] = []
        try:
            spec = DgdrSpec.model_validate(
                spec_data,
                by_alias=True,
                by_name=False,
                context={
                    RULE_PROBLEMS_CONTEXT_KEY: planner_rule_problems,
                    WARNINGS_CONTEXT_KEY: planner_warnings,
                },
            )
        except ValidationError as exc:
            problems += [_problem_from_error(error) for error in exc.errors()]
        problems += rule_problems
        problems += [_planner_rule_to_problem(problem) for problem in planner_rule_problems]
        warnings += rule_warnings
        warnings += [f"features.planner: {note}" for note in planner_warnings]

    if problems or spec is None or metadata is None:
        raise SpecError(_deduplicate(problems), source=source_name)

    defaults = (["metadata.name"] if name_derived else []) + _collect_defaults(spec)
    for note in warnings:
        logger.info("%s: warning: %s", source_name, note)
    return LoadedDgdr(metadata=metadata, spec=spec, defaults_applied=defaults, source=source_name, warnings=warnings)


def _deduplicate(problems: list[SpecProblem]) -> list[SpecProblem]:
    seen = set()
    unique = []
    for problem in problems:
        key = (problem.path, problem.message)
        if key not in seen:
            seen.add(key)
            unique.append(problem)
    return unique


def to_document(dgdr: LoadedDgdr) -> dict:
    """Return the normalised DGDR as a whole custom resource (plain data, DGDR names)."""
    metadata: dict[str, Any] = {"name": dgdr.metadata.name}
    if dgdr.metadata.namespace:
        metadata["namespace"] = dgdr.metadata.namespace
    if dgdr.metadata.labels:
        metadata["labels"] = dict(dgdr.metadata.labels)
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": metadata,
        "spec": dgdr.spec.model_dump(by_alias=True, exclude_none=True, mode="json"),
    }


def default_paths_in_document(dgdr: LoadedDgdr) -> set[str]:
    """Return the applied defaults as dotted paths into `to_document(dgdr)`."""
    return {path if path.startswith("metadata.") else f"spec.{path}" for path in dgdr.defaults_applied}

