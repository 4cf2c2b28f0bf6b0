"""Run a whole profiling pass: load -> resolve -> sweep -> pick -> Pareto -> curves -> DGD.

`profile` reports each phase through a callback `callback(phase, message)`
whose phases are the DGDR's `profilingPhase` values. Without a callback it
draws a progress bar in terminals and notebooks and logs phase lines
otherwise.
"""

from __future__ import annotations

import json
import logging
import sys
from dataclasses import dataclass, field
from typing import Any, Callable

import pandas as pd

from dgdr_kernel.dgd import API_VERSIONS, RenderedConfig, render_inputs_from_request, render_pick
from dgdr_kernel.errors import DgdrError, RenderError
from dgdr_kernel.status import PHASE_ORDER, ProfilingPhase, build_dgdr_status

__all__ = ["ProfileResult", "ProgressCallback", "calibration_caveats", "make_progress", "profile", "shown_backends"]

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[str, str], None]


@dataclass
class ProfileResult:
    """Everything one profiling run produced, ready for `bundle.write_bundle`."""

    dgdr: Any  # spec.LoadedDgdr
    request: Any  # request.ResolvedRequest
    selection: Any  # selection.Selection; .candidates is the evaluated table
    pareto: pd.DataFrame
    curves: Any  # planner.PlannerCurves, or None when the model could not price them
    rendered: RenderedConfig
    dgdr_status: dict
    warnings: list[str] = field(default_factory=list)

    @property
    def dgd(self) -> dict:
        return self.rendered.dgd


def _in_notebook() -> bool:
    shell = getattr(sys.modules.get("IPython"), "get_ipython", lambda: None)()
    return type(shell).__name__ == "ZMQInteractiveShell"


class _BarProgress:
    """A tqdm bar with one step per phase."""

    def __init__(self):
        from tqdm.auto import tqdm

        self._bar = tqdm(total=len(PHASE_ORDER), desc="profiling", unit="phase", leave=True)
        self._seen: set[str] = set()

    def __call__(self, phase: str, message: str) -> None:
        if phase not in self._seen:
            self._seen.add(phase)
            if len(self._seen) > 1:
                self._bar.update(1)
        self._bar.set_postfix_str(f"{phase}: {message}"[:80])
        if phase == ProfilingPhase.DONE.value:
            self._bar.update(1)
            self._bar.close()


def _log_progress(phase: str, message: str) -> None:
    logger.info("[%s] %s", phase, message)


def make_progress(kind: str = "auto") -> ProgressCallback:
    """Return a progress callback: `bar` (tqdm), `log` (log lines), `none`, or `auto`.

    `auto` draws a bar when standard error is a terminal or inside a Jupyter
    notebook, and logs otherwise (CI logs, pipes).
    """
    if kind == "auto":
        kind = "bar" if sys.stderr.isatty() or _in_notebook() else "log"
    if kind == "bar":
        return _BarProgress()
    if kind == "log":
        return _log_progress
    if kind == "none":
        return lambda phase, message: None
    raise ValueError(f"progress kind {kind!r} is invalid; expected auto, bar, log or none")


def _pareto_rows(front: pd.DataFrame) -> list[dict]:
    """Return the combined front (agg and disagg together) as JSON-safe dicts."""
    if "front" in front:
        front = front[front["front"] == "combined"].drop(columns="front")
    # The JSON round trip turns numpy scalars into plain numbers and NaN into null.
    return json.loads(front.to_json(orient="records"))


def shown_backends(selection, front: pd.DataFrame) -> list[str]:
    """Return the backends of the ranked picks and of the Pareto front, the pick's first."""
    backends = [pick_.backend for pick_ in selection.top]
    if "backend" in front:
        backends += [str(backend) for backend in front["backend"]]
    if selection.chosen is not None:
        backends.insert(0, selection.chosen.backend)
    return list(dict.fromkeys(backends))


def calibration_caveats(request, backends) -> list[str]:
    """Return the calibration caveat of each backend on the request's GPU SKU that has one.

    One per backend, because with backend auto the table and the Pareto front
    mix backends whose parameters may be fitted, fitted on another kind of
    model, or missing (see `PerfModel.calibration_caveat`).
    """
    from dgdr_kernel.perf import PerfModel

    caveats = []
    for backend in dict.fromkeys(backends):
        caveat = PerfModel(request.arch, request.gpu, backend).calibration_caveat()
        if caveat:
            caveats.append(caveat)
    return caveats


def profile(
    loaded_dgdr,
    *,
    progress: ProgressCallback | None = None,
    dgd_api_version: str = "nvidia.com/v1alpha1",
    top_n: int = 5,
    **hardware_options,
) -> ProfileResult:
    """Profile a loaded DGDR and return the pick, the Pareto front, the curves and the DGD.

    `hardware_options` go to `resolve_request` (for example a recorded
    nvidia-smi output). Raises a DgdrError subclass when the input cannot be
    profiled; the progress callback has then seen the phase that failed.

    NOTE: one sweep prices prefill and decode together, so SweepingPrefill
    marks its start and SweepingDecode its end.
    """
    from dgdr_kernel.pareto import pareto_front
    from dgdr_kernel.picking import pick
    from dgdr_kernel.planner import build_planner_curves
    from dgdr_kernel.request import resolve_request
    from dgdr_kernel.sweep import run_sweep

    report = progress or make_progress()
    if dgd_api_version not in API_VERSIONS:
        raise RenderError(f"DGD apiVersion {dgd_api_version!r} is not supported; expected one of {list(API_VERSIONS)}")

    report(ProfilingPhase.INITIALIZING.value, f"resolving hardware and model for {loaded_dgdr.spec.model}")
    request = resolve_request(loaded_dgdr, **hardware_options)

    report(ProfilingPhase.SWEEPING_PREFILL.value, f"pricing prefill and decode layouts for {', '.join(request.backends)}")
    candidates = run_sweep(request)
    modes = candidates["mode"].value_counts().to_dict() if "mode" in candidates else {}
    report(ProfilingPhase.SWEEPING_DECODE.value, f"priced {len(candidates)} candidates ({modes.get('agg', 0)} agg, {modes.get('disagg', 0)} disagg)")

    report(ProfilingPhase.SELECTING_CONFIG.value, f"picking in {request.picking_mode.value} mode")
    selection = pick(request, candidates, top_n=top_n)
    if selection.chosen is None:
        raise RenderError("no DGD can be generated: " + "; ".join(selection.warnings or ["no candidate fits"]))
    front = pareto_front(selection.candidates)

    inputs = render_inputs_from_request(request)
    report(ProfilingPhase.BUILDING_CURVES.value, f"pricing planner curves for {selection.chosen.mode} {selection.chosen.backend}")
    # request.warnings already starts with the DGDR's own warnings.
    warnings = list(request.warnings) + list(selection.warnings)
    warnings += calibration_caveats(request, shown_backends(selection, front))
    try:
        curves = build_planner_curves(request, selection.chosen)
    except DgdrError as exc:
        if inputs.needs_profile_data:
            raise
        curves = None
        warnings.append(f"planner curves were not written: {exc}")

    report(ProfilingPhase.GENERATING_DGD.value, f"rendering the DynamoGraphDeployment ({dgd_api_version})")
    rendered = render_pick(inputs, selection.chosen, curves=curves, api_version=dgd_api_version)
    warnings += rendered.warnings
    dgdr_status = build_dgdr_status(
        dgdr_name=loaded_dgdr.metadata.name,
        dgd_name=rendered.dgd_name,
        auto_apply=bool(getattr(loaded_dgdr.spec, "auto_apply", True)),
        selected_config=rendered.dgd,
        pareto_rows=_pareto_rows(front),
    )
    gpus = selection.chosen.total_gpus
    report(ProfilingPhase.DONE.value, f"picked {selection.chosen.mode} {selection.chosen.backend} on {gpus} GPU{'' if gpus == 1 else 's'}")
    return ProfileResult(loaded_dgdr, request, selection, front, curves, rendered, dgdr_status, list(dict.fromkeys(warnings)))
