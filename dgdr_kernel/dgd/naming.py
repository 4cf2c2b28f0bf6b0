"""Names of the generated objects: the DGD, its services and its ConfigMaps.

Kubernetes object names must be DNS-1123 names, and Grove builds pod names
from the DGD name and the service name, which must together stay within
45 characters (multinode services add `-ldr` for the leader pod).
"""

from __future__ import annotations

import hashlib
import re

from dgdr_kernel.errors import RenderError

__all__ = [
    "MAX_DGD_PLUS_SERVICE_CHARS",
    "check_name_lengths",
    "configmap_name",
    "default_dgd_name",
    "is_dns1123_label",
    "is_dns1123_subdomain",
    "to_dns1123_label",
]

# Grove pod names are `<dgd name>-<service name>...`; the Dynamo profiler and the
# Grove admission webhook reject a DGD whose name plus a service name exceeds 45.
MAX_DGD_PLUS_SERVICE_CHARS = 45
DGD_NAME_SUFFIX = "-dgd"
LEADER_SUFFIX = "-ldr"

_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def is_dns1123_label(name: str) -> bool:
    """Tell whether `name` is a DNS-1123 label (63 characters at most)."""
    return len(name) <= 63 and bool(_DNS1123_LABEL.match(name))


def is_dns1123_subdomain(name: str) -> bool:
    """Tell whether `name` is a DNS-1123 subdomain, the rule for most object names."""
    return len(name) <= 253 and bool(_DNS1123_SUBDOMAIN.match(name))


def to_dns1123_label(text: str, *, max_chars: int = 63) -> str:
    """Turn any text (a model id, a file name) into a DNS-1123 label.

    Lowercases, maps every other character to `-`, collapses runs of `-` and
    trims them from both ends; an empty result becomes `dgdr`.
    """
    label = re.sub(r"[^a-z0-9-]+", "-", text.lower())
    label = re.sub(r"-{2,}", "-", label).strip("-")
    label = label[:max_chars].rstrip("-")
    return label or "dgdr"


def default_dgd_name(dgdr_name: str) -> str:
    """Return the DGD name the operator gives a DGDR's deployment: `<dgdr name>-dgd`."""
    return f"{to_dns1123_label(dgdr_name, max_chars=63 - len(DGD_NAME_SUFFIX))}{DGD_NAME_SUFFIX}"


def configmap_name(prefix: str, *seed_parts: str) -> str:
    """Return `<prefix>-<4 hex>`, the suffix derived from `seed_parts`.

    Upstream draws the suffix at random so that several deployments in one
    namespace do not collide; deriving it from the DGD name and namespace keeps
    that property and makes the output reproducible.
    """
    digest = hashlib.sha256("/".join(seed_parts).encode()).hexdigest()[:4]
    return f"{prefix}-{digest}"


def check_name_lengths(
    dgd_name: str,
    services: dict[str, dict],
    *,
    dgd_name_from_override: bool,
) -> None:
    """Raise RenderError when a DGD name plus a service name is too long for Grove.

    `services` maps service names to their v1alpha1 specs; a service with
    `multinode` counts its leader pod suffix `-ldr` as well. The message names
    every offending service and the longest DGDR (or override) name that fits.
    """
    problems = []
    tightest_budget = None
    for service_name, service in services.items():
        pod_name_part = service_name.lower()
        if (service or {}).get("multinode"):
            pod_name_part += LEADER_SUFFIX
        total = len(dgd_name) + len(pod_name_part)
        if total <= MAX_DGD_PLUS_SERVICE_CHARS:
            continue
        problems.append(f"{service_name!r} ({dgd_name!r} + {pod_name_part!r} = {total} characters)")
        budget = MAX_DGD_PLUS_SERVICE_CHARS - len(pod_name_part)
        tightest_budget = budget if tightest_budget is None else min(tightest_budget, budget)

    if not problems:
        return

    if dgd_name_from_override:
        fix = f"shorten overrides.dgd.metadata.name to at most {tightest_budget} characters"
    else:
        max_dgdr_chars = tightest_budget - len(DGD_NAME_SUFFIX)
        fix = (
            f"the DGD is named '<DGDR name>{DGD_NAME_SUFFIX}', so shorten metadata.name of the "
            f"DGDR to at most {max_dgdr_chars} characters, or set overrides.dgd.metadata.name"
        )
    raise RenderError(
        f"DGD name plus service name exceeds {MAX_DGD_PLUS_SERVICE_CHARS} characters, the limit of "
        f"Grove pod names, for service(s) {', '.join(problems)}; {fix}"
    )
