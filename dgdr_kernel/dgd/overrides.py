"""Merge `overrides.dgd` (a partial DGD) into the generated DGD.

Rules, those of the Dynamo profiler:

- `apiVersion` and `kind` give the DGD version the override is written in.
  Neither means v1alpha1 (with a warning), and only one of them is an error.
- From `metadata` only `name` (which names the DGD), `labels` and
  `annotations` are kept.
- v1alpha1: dicts merge key by key; the `args` of a worker's main container
  are appended; every other list replaces; scalars replace. An appended
  `--flag` that the generator already set replaces the generated occurrence,
  so the rendered args name each flag once, with a warning when the values
  differ (the predictions assume the generated value). A service that
  the generated DGD does not have is skipped with a warning, since an
  override cannot add services. The older service names of the v1alpha1 era
  (`VllmDecodeWorker`, `TRTLLMPrefillWorker`, ...) are mapped to the newest
  names with a warning.
- v1beta1: the generated DGD is converted to v1beta1, merged, and converted
  back. Lists of named items (`spec.components`, `containers`, `env`) merge
  by `name`; other lists, container `args` included, replace.
- `status` and `null` values are rejected: an override cannot delete fields.
"""

from __future__ import annotations

import copy
import logging

from dgdr_kernel.dgd import naming, v1beta1
from dgdr_kernel.errors import OverrideError

__all__ = ["LEGACY_SERVICE_NAMES", "apply_dgd_override", "override_dgd_name"]

logger = logging.getLogger(__name__)

# Service names of earlier generators and templates, mapped to the newest ones.
LEGACY_SERVICE_NAMES = {
    "VllmWorker": "worker",
    "VllmDecodeWorker": "decode",
    "VllmPrefillWorker": "prefill",
    "SGLangWorker": "worker",
    "SGLangDecodeWorker": "decode",
    "SGLangPrefillWorker": "prefill",
    "TRTLLMWorker": "worker",
    "TRTLLMDecodeWorker": "decode",
    "TRTLLMPrefillWorker": "prefill",
}
NON_WORKER_SERVICES = ("Frontend", "Planner")
KEPT_METADATA = ("name", "labels", "annotations")
V1BETA1_KEYED_LISTS = ("components", "containers", "env")


def _override_version(override: dict) -> tuple[str, list[str]]:
    api_version, kind = override.get("apiVersion"), override.get("kind")
    if api_version is None and kind is None:
        return "nvidia.com/v1alpha1", ["overrides.dgd has neither apiVersion nor kind; it is read as nvidia.com/v1alpha1"]
    if api_version is None or kind is None:
        missing = "apiVersion" if api_version is None else "kind"
        raise OverrideError(f"overrides.dgd.{missing} is missing; set both apiVersion and kind (e.g. nvidia.com/v1alpha1, DynamoGraphDeployment) or neither")
    if kind != "DynamoGraphDeployment":
        raise OverrideError(f"overrides.dgd.kind is {kind!r}; expected 'DynamoGraphDeployment'")
    if api_version not in ("nvidia.com/v1alpha1", "nvidia.com/v1beta1"):
        raise OverrideError(f"overrides.dgd.apiVersion is {api_version!r}; expected 'nvidia.com/v1alpha1' or 'nvidia.com/v1beta1'")
    return api_version, []


def _check_shape(override) -> None:
    """Raise OverrideError where the override's skeleton is not the shape of a DGD."""
    if not isinstance(override, dict):
        raise OverrideError(f"overrides.dgd must be a mapping (a partial DynamoGraphDeployment), got {type(override).__name__}")
    mappings = [("metadata", override.get("metadata")), ("spec", override.get("spec"))]
    metadata = override.get("metadata")
    if isinstance(metadata, dict):
        mappings += [(f"metadata.{key}", metadata.get(key)) for key in ("labels", "annotations")]
    for path, value in mappings:
        if value is not None and not isinstance(value, dict):
            raise OverrideError(f"overrides.dgd.{path} must be a mapping, got {type(value).__name__} {value!r}")
    components = (override.get("spec") or {}).get("components")
    if components is not None and (
        not isinstance(components, list) or not all(isinstance(c, dict) and "name" in c for c in components)
    ):
        raise OverrideError(
            f"overrides.dgd.spec.components must be a list of components, each a mapping with a name (got {components!r}); "
            "write e.g. components: [{name: decode, replicas: 2}]"
        )


def override_dgd_name(override: dict | None) -> str | None:
    """Return the DGD name the override chooses (`metadata.name`), or None."""
    if not override:
        return None
    _check_shape(override)
    name = (override.get("metadata") or {}).get("name")
    if name is None:
        return None
    if not isinstance(name, str) or not naming.is_dns1123_subdomain(name):
        raise OverrideError(
            f"overrides.dgd.metadata.name {name!r} is not a valid Kubernetes name; use lowercase letters, digits, '-' and '.', "
            "starting and ending with a letter or digit"
        )
    return name


def _reject_nulls(value, path: str) -> None:
    if value is None:
        raise OverrideError(f"overrides.dgd.{path} is null; an override cannot delete a field, so remove the key or give a value")
    if isinstance(value, dict):
        for key, item in value.items():
            _reject_nulls(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _reject_nulls(item, f"{path}[{index}]")


def _merge(base, override, path: tuple[str, ...], append_paths: set[tuple[str, ...]], keyed_lists: tuple[str, ...] = ()):
    """Deep-merge `override` into `base` and return the result (inputs untouched)."""
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            if key in base:
                merged[key] = _merge(base[key], value, path + (key,), append_paths, keyed_lists)
            else:
                merged[key] = copy.deepcopy(value)
        return merged

    if isinstance(base, list) and isinstance(override, list):
        if path in append_paths:
            return base + copy.deepcopy(override)
        all_named = all(isinstance(item, dict) and "name" in item for item in base + override)
        if path and path[-1] in keyed_lists and all_named:
            merged_items = {item["name"]: item for item in base}
            for item in override:
                name = item["name"]
                if name in merged_items:
                    merged_items[name] = _merge(merged_items[name], item, path + (name,), append_paths, keyed_lists)
                else:
                    merged_items[name] = copy.deepcopy(item)
            return list(merged_items.values())
    return copy.deepcopy(override)


def _merge_metadata(dgd: dict, override: dict) -> list[str]:
    warnings = []
    metadata = override.get("metadata") or {}
    dropped = sorted(set(metadata) - set(KEPT_METADATA))
    if dropped:
        warnings.append(f"overrides.dgd.metadata fields {dropped} are ignored; only name, labels and annotations apply")
    for key in KEPT_METADATA:
        if key not in metadata:
            continue
        if key == "name":
            dgd["metadata"]["name"] = metadata["name"]
        else:
            dgd["metadata"][key] = {**dgd["metadata"].get(key, {}), **metadata[key]}
    return warnings


def _resolve_service_name(name: str, services: dict) -> tuple[str, str | None]:
    resolved = LEGACY_SERVICE_NAMES.get(name, name)
    # Older aggregated templates called their only worker a decode worker.
    if resolved == "decode" and "decode" not in services and "worker" in services:
        resolved = "worker"
    if resolved == name:
        return name, None
    return resolved, f"overrides.dgd service {name!r} uses an older name; it is applied to {resolved!r}, the name this tool generates"


def _apply_v1alpha1(dgd: dict, override: dict) -> list[str]:
    warnings = []
    spec_override = dict(override.get("spec") or {})
    services_override = spec_override.pop("services", None) or {}
    if not isinstance(services_override, dict):
        raise OverrideError("overrides.dgd.spec.services must be a mapping of service name to service spec")

    dgd["spec"] = _merge(dgd["spec"], spec_override, ("spec",), set())

    services = dgd["spec"]["services"]
    skipped = []
    for name, service_override in services_override.items():
        target, warning = _resolve_service_name(name, services)
        if warning:
            warnings.append(warning)
        if target not in services:
            skipped.append(name)
            continue
        if not isinstance(service_override, dict):
            raise OverrideError(f"overrides.dgd.spec.services.{name} must be a mapping, got {type(service_override).__name__}")
        append = set() if target in NON_WORKER_SERVICES else {("extraPodSpec", "mainContainer", "args")}
        services[target] = _merge(services[target], service_override, (), append)
        if append:
            warnings += _drop_overridden_flags(services[target], service_override, target)
    if skipped:
        warnings.append(
            f"overrides.dgd services {skipped} are not in the generated DGD and were skipped (an override cannot add "
            f"services); generated services are {list(services)}"
        )
    return warnings


def _split_flags(args: list) -> list[tuple[str | None, list]]:
    """Split `args` into (flag, tokens) groups; a flag's values run to the next `--` token."""
    groups: list[tuple[str | None, list]] = []
    for token in args:
        if isinstance(token, str) and token.startswith("--"):
            groups.append((token.split("=", 1)[0], [token]))
        elif groups:
            groups[-1][1].append(token)
        else:
            groups.append((None, [token]))
    return groups


def _flag_value(tokens: list) -> str:
    first = str(tokens[0])
    values = ([first.split("=", 1)[1]] if "=" in first else []) + [str(t) for t in tokens[1:]]
    return " ".join(values) if values else "(set)"


def _drop_overridden_flags(service: dict, service_override: dict, name: str) -> list[str]:
    """Remove generated flags that the appended override args set again; return warnings.

    Without this the engine reads the last occurrence (the override's) while
    the predictions were made for the generated value, with nothing said.
    """
    container = (service.get("extraPodSpec") or {}).get("mainContainer") or {}
    appended = ((service_override.get("extraPodSpec") or {}).get("mainContainer") or {}).get("args")
    args = container.get("args")
    if not isinstance(appended, list) or not appended or not isinstance(args, list):
        return []

    generated = _split_flags(args[: len(args) - len(appended)])
    added = _split_flags(appended)
    added_values = {flag: _flag_value(tokens) for flag, tokens in added if flag is not None}
    warnings = []
    kept = []
    for flag, tokens in generated:
        if flag is None or flag not in added_values:
            kept.append(tokens)
            continue
        generated_value = _flag_value(tokens)
        if generated_value != added_values[flag]:
            warnings.append(
                f"overrides.dgd sets {flag} {added_values[flag]} on service {name!r}, where the generated (sized) value is "
                f"{generated_value}; the generated {flag} is dropped, so the engine runs with {added_values[flag]} "
                f"but the predictions assume {generated_value}"
            )
    container["args"] = [token for tokens in kept for token in tokens] + list(appended)
    return warnings + _reconcile_vllm_token_budget(container, set(added_values), name)


def _reconcile_vllm_token_budget(container: dict, overridden: set[str], name: str) -> list[str]:
    """Keep vLLM's step token budget at least its batch after an override raised the batch.

    vLLM refuses to start when --max-num-batched-tokens is below --max-num-seqs.
    A generated budget is raised to the new batch, with a warning. A budget the
    override set itself is the user's to fix, so it is an error.
    """
    groups = _split_flags(container["args"])
    values = {flag: _flag_value(tokens) for flag, tokens in groups if flag is not None}
    seqs, budget = values.get("--max-num-seqs"), values.get("--max-num-batched-tokens")
    if seqs is None or budget is None or not (seqs.isdigit() and budget.isdigit()) or int(budget) >= int(seqs):
        return []
    if "--max-num-batched-tokens" in overridden:
        raise OverrideError(
            f"overrides.dgd sets --max-num-batched-tokens {budget} below --max-num-seqs {seqs} on service {name!r}; "
            f"vLLM rejects a step token budget smaller than its batch: set --max-num-batched-tokens to at least {seqs}"
        )
    container["args"] = [
        token
        for flag, tokens in groups
        for token in ([flag, seqs] if flag == "--max-num-batched-tokens" else tokens)
    ]
    return [
        f"overrides.dgd raises --max-num-seqs to {seqs} on service {name!r}, above the generated "
        f"--max-num-batched-tokens {budget}; the token budget is raised to {seqs} so vLLM starts"
    ]


def apply_dgd_override(dgd: dict, override: dict) -> tuple[dict, list[str]]:
    """Return the v1alpha1 `dgd` with `override` merged in, and the warnings raised."""
    _check_shape(override)
    if "status" in override:
        raise OverrideError("overrides.dgd.status is not allowed; an override may only set metadata and spec")
    for key in ("metadata", "spec"):
        if key in override:
            _reject_nulls(override[key], key)
    unknown = sorted(set(override) - {"apiVersion", "kind", "metadata", "spec"})
    if unknown:
        raise OverrideError(f"overrides.dgd has unknown top-level fields {unknown}; expected apiVersion, kind, metadata and spec")

    version, warnings = _override_version(override)
    merged = copy.deepcopy(dgd)
    warnings += _merge_metadata(merged, override)

    if version == "nvidia.com/v1beta1":
        converted = v1beta1.to_v1beta1(merged)
        spec = override.get("spec") or {}
        known = {c.get("name") for c in converted["spec"].get("components", [])}
        wanted = [c.get("name") for c in spec.get("components", []) if isinstance(c, dict)]
        skipped = [name for name in wanted if name not in known]
        if skipped:
            warnings.append(f"overrides.dgd components {skipped} are not in the generated DGD and were skipped; generated components are {sorted(known)}")
            spec = {**spec, "components": [c for c in spec["components"] if c.get("name") in known]}
        converted["spec"] = _merge(converted["spec"], spec, ("spec",), set(), V1BETA1_KEYED_LISTS)
        merged = v1beta1.from_v1beta1(converted)
    else:
        warnings += _apply_v1alpha1(merged, override)

    # The caller shows these warnings to the user; logging them at WARNING too would print each twice.
    for warning in warnings:
        logger.info(warning)
    return merged, warnings
