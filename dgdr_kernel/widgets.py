"""ipywidgets front end of the capacity planner: controls that re-plan and redraw in place.

`build_planner_app(loaded)` returns a widget with controls for ISL, OSL, the
TTFT and ITL targets, the load (request rate or concurrency), the GPU SKU,
the GPU count and the backend. Every change re-runs the pure middle of the
pipeline (resolve, sweep, pick, Pareto) on the edited DGDR and redraws the
figures and the pick. Nothing here runs in headless notebook runs: the
notebook builds the app only when its `interactive` parameter is True.

NOTE: the widgets need a live kernel; exported HTML keeps only the static
figures drawn before the app.
"""

from __future__ import annotations

import html
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from dgdr_kernel.errors import DgdrError

__all__ = ["PlannerApp", "PlanView", "build_planner_app", "compute_plan"]

logger = logging.getLogger(__name__)

BACKENDS = ("auto", "vllm", "sglang", "trtllm")
LOAD_KINDS = ("max throughput", "request rate (req/s)", "concurrency (requests)")


@dataclass
class PlanView:
    """Content of one redraw: the request, the selection, the figures and the time it took."""

    request: Any
    selection: Any
    figures: dict
    pick_markdown: str
    warnings: list[str] = field(default_factory=list)
    compute_ms: float = 0.0


def compute_plan(document: dict) -> PlanView:
    """Plan a DGDR document with the pure pipeline stages and build its figures.

    Skips what the widgets do not show (planner curves, DGD rendering), so
    a redraw stays fast. Raises a DgdrError when the document is invalid or
    cannot be planned.
    """
    from dgdr_kernel.pareto import pareto_front
    from dgdr_kernel.picking import pick
    from dgdr_kernel.report.figureset import build_figures
    from dgdr_kernel.report.summary import describe_plan_markdown
    from dgdr_kernel.request import resolve_request
    from dgdr_kernel.spec import load_dgdr
    from dgdr_kernel.sweep import run_sweep

    started = time.perf_counter()
    loaded = load_dgdr(document)
    request = resolve_request(loaded)
    selection = pick(request, run_sweep(request))
    frontier = pareto_front(selection.candidates)
    figures = build_figures(request, selection, frontier)
    warnings = list(dict.fromkeys([*loaded.warnings, *request.warnings, *selection.warnings]))
    return PlanView(
        request=request,
        selection=selection,
        figures=figures,
        pick_markdown=describe_plan_markdown(request, selection),
        warnings=warnings,
        compute_ms=(time.perf_counter() - started) * 1000.0,
    )


def _markdown_to_html(text: str) -> str:
    """Render the few Markdown forms `describe_plan_markdown` uses (bold, code, bullets)."""
    import re

    lines, items = [], []
    for line in text.splitlines():
        line = html.escape(line)
        line = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", line)
        line = re.sub(r"`(.+?)`", r"<code>\1</code>", line)
        if line.startswith("- "):
            items.append(f"<li>{line[2:]}</li>")
        elif line:
            lines.append(f"<p>{line}</p>")
    return "".join(lines) + (f"<ul>{''.join(items)}</ul>" if items else "")


class PlannerApp:
    """Controls, pick summary and figures bound to one base DGDR.

    `app.widget` is the ipywidgets box to display; `app.view` is the last
    successful plan and `app.last_redraw_ms` the time from a control change
    to new figure data.
    """

    def __init__(self, loaded):
        import ipywidgets as widgets

        from dgdr_kernel.hardware.catalog import list_skus
        from dgdr_kernel.spec import to_document

        self.base_document = to_document(loaded)
        spec = loaded.spec
        workload, sla, hardware = spec.workload, spec.sla, spec.hardware

        def slider(kind, value, low, high, step, description):
            return kind(
                value=value,
                min=low,
                max=max(high, value),
                step=step,
                description=description,
                continuous_update=False,
                style={"description_width": "9em"},
                layout={"width": "28em"},
            )

        self.isl = slider(widgets.IntSlider, workload.isl, 128, 32768, 128, "ISL (tokens)")
        self.osl = slider(widgets.IntSlider, workload.osl, 16, 16384, 16, "OSL (tokens)")
        self.ttft_ms = slider(widgets.FloatSlider, sla.ttft or 2000.0, 50.0, 10000.0, 50.0, "TTFT SLA (ms)")
        self.itl_ms = slider(widgets.FloatSlider, sla.itl or 30.0, 2.0, 200.0, 1.0, "ITL SLA (ms)")
        load_kind = LOAD_KINDS[0]
        if workload.request_rate:
            load_kind = LOAD_KINDS[1]
        elif workload.concurrency:
            load_kind = LOAD_KINDS[2]
        self.load_kind = widgets.Dropdown(options=LOAD_KINDS, value=load_kind, description="load target", style={"description_width": "9em"})
        self.load_value = widgets.BoundedFloatText(
            value=workload.request_rate or workload.concurrency or 1.0,
            min=0.001,
            max=1e6,
            description="load value",
            style={"description_width": "9em"},
        )
        skus = list_skus()
        self.gpu_sku = widgets.Dropdown(
            options=skus, value=hardware.gpu_sku if hardware.gpu_sku in skus else skus[0], description="GPU SKU",
            style={"description_width": "9em"},
        )  # fmt: skip
        self.total_gpus = slider(widgets.IntSlider, hardware.total_gpus or 8, 1, 64, 1, "GPU count")
        self.backend = widgets.Dropdown(options=BACKENDS, value=spec.backend, description="backend", style={"description_width": "9em"})

        self.controls = [self.isl, self.osl, self.ttft_ms, self.itl_ms, self.load_kind, self.load_value, self.gpu_sku, self.total_gpus, self.backend]
        self.status = widgets.HTML()
        self.pick = widgets.HTML()
        self.view: PlanView | None = None
        self.last_redraw_ms: float | None = None

        for control in self.controls:
            control.observe(self._on_change, names="value")

        from dgdr_kernel.report.figureset import FIGURE_NAMES

        self.figure_outputs = {name: widgets.Output() for name in FIGURE_NAMES}
        left = widgets.VBox(self.controls, layout={"min_width": "30em"})
        right = widgets.VBox([self.status, self.pick])
        self.widget = widgets.VBox([widgets.HBox([left, right]), *self.figure_outputs.values()])
        self.redraw()

    def document(self) -> dict:
        """Return the base DGDR with the current control values."""
        from dgdr_kernel.report.inputs import with_overrides

        kind = self.load_kind.value
        return with_overrides(
            self.base_document,
            isl=self.isl.value,
            osl=self.osl.value,
            ttft_ms=self.ttft_ms.value,
            itl_ms=self.itl_ms.value,
            request_rate=self.load_value.value if kind == LOAD_KINDS[1] else None,
            concurrency=self.load_value.value if kind == LOAD_KINDS[2] else None,
            gpu_sku=self.gpu_sku.value,
            total_gpus=self.total_gpus.value,
            backend=self.backend.value,
        )

    def _on_change(self, change) -> None:
        self.redraw()

    def redraw(self) -> None:
        """Re-plan with the current control values and redraw; on an invalid combination show why."""
        started = time.perf_counter()
        try:
            view = compute_plan(self.document())
        except DgdrError as exc:
            logger.info("interactive plan rejected: %s", exc)
            self.status.value = (
                f'<pre style="color:#a4281b;white-space:pre-wrap">{html.escape(str(exc))}</pre>'
                + ("<small>The pick and figures below are from the last valid settings.</small>" if self.view else "")
            )
            return
        self.last_redraw_ms = (time.perf_counter() - started) * 1000.0
        self.view = view

        warnings = "".join(f"<li>{html.escape(warning)}</li>" for warning in view.warnings)
        self.status.value = (
            f"<small>re-planned {len(view.selection.candidates)} candidates in {self.last_redraw_ms:.0f} ms</small>"
            + (f"<ul>{warnings}</ul>" if warnings else "")
        )
        self.pick.value = _markdown_to_html(view.pick_markdown)
        self._show_figures(view.figures)

    def _show_figures(self, figures: dict) -> None:
        from dgdr_kernel.report.html import FigureDisplay

        # Setting `outputs` directly works with or without a live kernel and
        # replaces the previous figure in one message.
        for name, output in self.figure_outputs.items():
            output.outputs = ()
            if name in figures:
                # Ids differ from the static figures above the app in the same page.
                output.append_display_data(FigureDisplay(figures[name], f"dgdr-live-{name}"))


def build_planner_app(loaded) -> Any:
    """Return the planner's widget box for a loaded DGDR (see `PlannerApp`)."""
    return PlannerApp(loaded).widget
