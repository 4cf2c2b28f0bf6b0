"""Status of a profiling run: phases, the profiler status file and the DGDR status.

Two files report a run, as the Dynamo profiler and its operator write them:

- `profiler_status.yaml`: `status` (running, success, failed), `phase`,
  `message`, `error`, `timestamp` (UTC, ISO 8601) and `outputs`. The
  operator's sidecar reads it, so it is written on every outcome.
- `dgdr_status.yaml`: the `.status` the operator would set on the DGDR after a
  successful run (phase, conditions, dgdName, profilingResults).
"""

from __future__ import annotations

from datetime import datetime, timezone
from enum import Enum
from typing import Any

__all__ = [
    "ProfilingPhase",
    "build_dgdr_status",
    "build_profiler_status",
    "utc_timestamp",
]


class ProfilingPhase(str, Enum):
    """Sub-phases of profiling, the DGDR's `status.profilingPhase` values."""

    INITIALIZING = "Initializing"
    SWEEPING_PREFILL = "SweepingPrefill"
    SWEEPING_DECODE = "SweepingDecode"
    SELECTING_CONFIG = "SelectingConfig"
    BUILDING_CURVES = "BuildingCurves"
    GENERATING_DGD = "GeneratingDGD"
    DONE = "Done"


PHASE_ORDER = tuple(phase.value for phase in ProfilingPhase)


def utc_timestamp() -> str:
    """Return the current UTC time as ISO 8601 with seconds, e.g. 2026-01-02T03:04:05Z."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def build_profiler_status(
    status: str,
    *,
    phase: str,
    message: str,
    error: str | None = None,
    outputs: dict[str, str] | None = None,
    timestamp: str | None = None,
) -> dict[str, Any]:
    """Return the content of profiler_status.yaml."""
    if status not in ("running", "success", "failed"):
        raise ValueError(f"status {status!r} is invalid; expected running, success or failed")
    return {
        "status": status,
        "phase": phase,
        "message": message,
        "error": error,
        "timestamp": timestamp or utc_timestamp(),
        "outputs": outputs or {},
    }


def _condition(kind: str, status: bool, reason: str, message: str, timestamp: str) -> dict[str, Any]:
    return {
        "type": kind,
        "status": "True" if status else "False",
        "lastTransitionTime": timestamp,
        "reason": reason,
        "message": message,
    }


def build_dgdr_status(
    *,
    dgdr_name: str,
    dgd_name: str,
    auto_apply: bool,
    selected_config: dict,
    pareto_rows: list[dict],
    timestamp: str | None = None,
) -> dict[str, Any]:
    """Return the DGDR `.status` after a successful profiling run.

    With autoApply the operator goes on to create the DGD (phase Deploying);
    without it the run ends in Ready with the DGD held in
    `profilingResults.selectedConfig`. `profilingPhase` is absent because the
    operator clears it when profiling ends. `pareto_rows` become
    `profilingResults.pareto[].config`, a field upstream has deprecated but
    older operators still fill.
    """
    timestamp = timestamp or utc_timestamp()
    conditions = [
        _condition("Validation", True, "ValidationPassed", "DGDR spec is valid", timestamp),
        _condition("Profiling", True, "ProfilingCompleted", "Profiling completed successfully", timestamp),
        _condition("SpecGenerated", True, "SpecGenerated", f"DynamoGraphDeployment {dgd_name} generated", timestamp),
    ]
    if auto_apply:
        phase = "Deploying"
        conditions.append(_condition("DeploymentReady", False, "Deploying", "Deployment is in progress", timestamp))
        conditions.append(_condition("Succeeded", False, "Deploying", "Deployment is in progress", timestamp))
    else:
        phase = "Ready"
        conditions.append(_condition("Succeeded", True, "SpecGenerated", "Profiling complete, spec available", timestamp))

    return {
        "phase": phase,
        "dgdName": dgd_name,
        "profilingJobName": f"profile-{dgdr_name}",
        "conditions": conditions,
        "profilingResults": {
            "selectedConfig": selected_config,
            "pareto": [{"config": row} for row in pareto_rows],
        },
    }
