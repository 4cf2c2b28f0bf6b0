"""Plotly figures of one profiling run.

Every function here takes plain data (the candidate table, a `Pick`, curve
tables) and returns a `plotly.graph_objects.Figure`; nothing is displayed or
written. The SLA is checked against predicted means, so every SLA line is
labelled "checked on the mean", and every axis title names its unit.
"""

from __future__ import annotations

import functools

import pandas as pd
import plotly.graph_objects as go

from dgdr_kernel.report.placement import place_workers
from dgdr_kernel.selection import EngineLayout, Pick

__all__ = [
    "MODE_COLORS",
    "ROLE_COLORS",
    "candidate_hover",
    "describe_pick",
    "figure_itl_vs_concurrency",
    "figure_memory",
    "figure_pareto",
    "figure_replica_layout",
    "figure_ttft_vs_isl",
]

MODE_COLORS = {"agg": "#2a6fdb", "disagg": "#e8772e"}
ROLE_COLORS = {"prefill": "#7b4fd6", "decode": "#1a9e77", "agg": "#2a6fdb", "idle": "#d0d4db"}
SLA_COLOR = "#c0392b"
FADED_OPACITY = 0.22
FIGURE_HEIGHT_PX = 460

_MARGIN = dict(l=70, r=30, t=60, b=60)


@functools.lru_cache(maxsize=1)
def _template_layout() -> dict:
    import plotly.io as pio

    return pio.templates["plotly_white"].layout.to_plotly_json()


def _template() -> dict:
    """Return the layout part of plotly's `plotly_white` template.

    Its per-trace defaults are left out because copying them costs more than
    drawing the figure.
    """
    return {"layout": _template_layout()}


def _figure(traces: list[dict], *, title: str, x_title: str, y_title: str, height: int = FIGURE_HEIGHT_PX, **layout) -> go.Figure:
    """Build a figure from trace dicts without plotly's per-property validation.

    Validation costs more than the rest of a redraw (about 0.7 ms per trace),
    and the widgets must redraw quickly. The figure tests validate every
    figure once by rebuilding it with `go.Figure(fig.to_plotly_json())`.
    """
    xaxis = {"title": {"text": x_title}, **layout.pop("xaxis", {})}
    yaxis = {"title": {"text": y_title}, **layout.pop("yaxis", {})}
    full_layout = dict(
        template=_template(),
        title={"text": title},
        xaxis=xaxis,
        yaxis=yaxis,
        height=height,
        margin=_MARGIN,
        legend={"orientation": "v", "x": 1.02, "y": 1.0},
        **layout,
    )
    return go.Figure(data=traces, layout=full_layout, _validate=False)


def _role_fields(prefix: str) -> list[tuple[str, str]]:
    """(column, hover format) pairs of one role's layout."""
    return [
        (f"{prefix}tp", ""), (f"{prefix}pp", ""), (f"{prefix}moe_ep", ""), (f"{prefix}dp", ""),
        (f"{prefix}workers", ""), (f"{prefix}gpus_per_worker", ""),
    ]  # fmt: skip


_SHARED_FIELDS = [
    ("replicas", ""), ("gpus_per_unit", ""), ("total_gpus", ""), ("d_batch", ""),
    ("ttft_ms", ":.1f"), ("itl_ms", ":.2f"), ("tokens_per_s_per_user", ":.1f"), ("tokens_per_s_per_gpu", ":.1f"),
]  # fmt: skip


def candidate_hover(frame: pd.DataFrame, mode: str) -> dict:
    """Return the trace properties that describe each candidate row of one mode on hover.

    The hover shows the layout of each role (TP, PP, EP, DP, workers per
    unit and GPUs per worker), the replica units and GPUs, the batch, the
    predicted means and whether the row is eligible. Numbers travel as one
    float array (`customdata`) that plotly formats in the browser; the few
    strings travel as `text` and `hovertext`. Plotly deep-copies object
    arrays element by element, so keeping strings out of `customdata` keeps
    building the figure fast.
    """
    fields = list(_SHARED_FIELDS)
    if mode == "disagg":
        fields += _role_fields("p_") + _role_fields("d_")
    else:
        fields += _role_fields("d_")
    customdata = frame[[name for name, _ in fields]].to_numpy(dtype=float)

    reasons = frame["reject_reason"].fillna("").astype(str).tolist()
    headers = [f"{backend} · {parallel}" for backend, parallel in zip(frame["backend"].tolist(), frame["parallel"].tolist())]
    verdicts = [
        f"{'eligible' if not reason else 'rejected: ' + reason} · provenance: {provenance}"
        for reason, provenance in zip(reasons, frame["provenance"].tolist())
    ]

    slot = {name: f"%{{customdata[{index}]{fmt}}}" for index, (name, fmt) in enumerate(fields)}

    def role(prefix: str) -> str:
        return (
            f"TP{slot[prefix + 'tp']} PP{slot[prefix + 'pp']} EP{slot[prefix + 'moe_ep']} DP{slot[prefix + 'dp']}, "
            f"{slot[prefix + 'workers']} worker(s) of {slot[prefix + 'gpus_per_worker']} GPUs"
        )

    roles = f"prefill: {role('p_')}<br>decode: {role('d_')}" if mode == "disagg" else f"worker: {role('d_')}"
    template = (
        f"<b>{mode} · %{{text}}</b><br>{roles}<br>"
        f"{slot['replicas']} unit(s) × {slot['gpus_per_unit']} GPUs = {slot['total_gpus']} GPUs<br>"
        f"batch per decode worker: {slot['d_batch']}<br>"
        f"mean TTFT: {slot['ttft_ms']} ms · mean ITL: {slot['itl_ms']} ms<br>"
        f"{slot['tokens_per_s_per_user']} tokens/s/user · {slot['tokens_per_s_per_gpu']} tokens/s/GPU<br>"
        "%{hovertext}<extra></extra>"
    )
    return dict(customdata=customdata, text=headers, hovertext=verdicts, hovertemplate=template)


def _layout_text(role: str, layout: EngineLayout) -> str:
    plural = "s" if layout.workers != 1 else ""
    return (
        f"{role}: TP{layout.tp} EP{layout.moe_ep} DP{layout.dp} ({layout.parallel}), "
        f"{layout.workers} worker{plural} of {layout.gpus_per_worker} GPUs, "
        f"max batch {layout.max_batch_size}"
    )


def describe_pick(pick: Pick) -> str:
    """Return the hover text of the pick: mode, backend, every role and the numbers."""
    lines = [f"<b>pick: {pick.mode} · {pick.backend} · {pick.total_gpus} GPU{'' if pick.total_gpus == 1 else 's'}</b>"]
    roles = (("agg", pick.agg), ("prefill", pick.prefill), ("decode", pick.decode))
    lines += [_layout_text(role, layout) for role, layout in roles if layout is not None]
    lines.append(f"mean TTFT: {pick.ttft_ms:.1f} ms · mean ITL: {pick.itl_ms:.2f} ms")
    lines.append(
        f"{pick.tokens_per_s_per_user:.1f} tokens/s/user · {pick.tokens_per_s_per_gpu:.1f} tokens/s/GPU"
    )
    lines.append(f"meets SLA (means): {'yes' if pick.meets_sla else 'no'} · provenance: {pick.provenance}")
    return "<br>".join(lines)


def _sla_line_trace(axis_range: tuple[float, float], value: float, name: str, *, horizontal: bool) -> dict:
    """Return a dashed SLA line as a trace, so it is listed in the legend and hoverable."""
    xs, ys = (list(axis_range), [value, value]) if horizontal else ([value, value], list(axis_range))
    return dict(
        type="scatter",
        x=xs,
        y=ys,
        mode="lines",
        name=name,
        line=dict(color=SLA_COLOR, dash="dash", width=2),
        hovertemplate=f"{name}<extra></extra>",
    )


def _layout_curve_trace(x: pd.Series, y: pd.Series, name: str, *, is_chosen: bool, hover: str) -> dict:
    """Return one layout's curve; the chosen layout's line is drawn thicker."""
    return dict(
        type="scatter",
        x=x.to_numpy(),
        y=y.to_numpy(),
        mode="lines+markers",
        name=name,
        line=dict(width=4 if is_chosen else 1.5),
        marker=dict(size=7 if is_chosen else 4),
        hovertemplate=f"{name}<br>{hover}<extra></extra>",
    )


def _pick_trace(x: float, y: float, pick: Pick) -> dict:
    return dict(
        type="scatter",
        x=[x],
        y=[y],
        mode="markers",
        name="pick",
        marker=dict(symbol="star", size=18, color="#111", line=dict(color="white", width=1)),
        hovertext=[describe_pick(pick)],
        hoverinfo="text",
    )


def figure_ttft_vs_isl(
    curves: pd.DataFrame,
    *,
    ttft_sla_ms: float | None,
    chosen_layout: str | None = None,
    workload_isl: int | None = None,
) -> go.Figure:
    """Plot predicted TTFT against ISL, one line per prefill layout.

    Parameters
    ----------
    curves
        Columns `layout` (label such as `tp4` or `tep8`), `p_tp`, `isl`,
        `ttft_ms` (see `curves.build_ttft_curves`).
    ttft_sla_ms
        The TTFT target, drawn as a dashed line; None in e2e-latency mode.
    chosen_layout
        Label of the chosen prefill (or agg) layout; its line is drawn thicker.
    workload_isl
        The workload's ISL, marked with a dotted vertical line.
    """
    traces = []
    ordered = curves.sort_values(["p_tp", "layout", "isl"])
    for label in ordered["layout"].drop_duplicates():
        group = ordered[ordered["layout"] == label]
        chosen = chosen_layout is not None and label == chosen_layout
        name = f"prefill {label}" + (" (chosen)" if chosen else "")
        traces.append(
            _layout_curve_trace(
                group["isl"], group["ttft_ms"], name, is_chosen=chosen, hover="ISL %{x} tokens<br>TTFT %{y:.1f} ms"
            )
        )

    isl_range = (float(curves["isl"].min()), float(curves["isl"].max())) if len(curves) else (0.0, 1.0)
    if ttft_sla_ms is not None:
        name = f"TTFT SLA {ttft_sla_ms:g} ms (checked on the mean)"
        traces.append(_sla_line_trace(isl_range, ttft_sla_ms, name, horizontal=True))

    shapes, annotations = [], []
    if workload_isl is not None:
        shapes.append(
            dict(type="line", x0=workload_isl, x1=workload_isl, y0=0, y1=1, yref="paper", line=dict(color="#555", dash="dot", width=1))
        )
        annotations.append(
            dict(x=workload_isl, y=1.0, yref="paper", text=f"workload ISL {workload_isl}", showarrow=False, yanchor="bottom")
        )

    return _figure(
        traces,
        title="Predicted TTFT against ISL per prefill layout (one request, no queueing)",
        x_title="ISL (tokens)",
        y_title="TTFT (ms)",
        shapes=shapes,
        annotations=annotations,
    )


_DECODE_LAYOUT_COLUMNS = ["mode", "backend", "parallel", "d_tp", "d_pp", "d_dp", "d_moe_tp", "d_moe_ep"]


def figure_itl_vs_concurrency(
    candidates: pd.DataFrame,
    *,
    itl_sla_ms: float | None,
    chosen: Pick | None = None,
) -> go.Figure:
    """Plot mean ITL against batch (in-flight requests per decode worker), one line per decode layout.

    Layouts of the chosen mode and backend are shown; the others start hidden
    (click their legend entries to show them).
    """
    rows = candidates[candidates["itl_ms"].notna() & candidates["d_batch"].notna()]
    # A disagg decode layout repeats once per prefill layout it was paired with;
    # its ITL does not depend on the pairing.
    curves = rows.groupby(_DECODE_LAYOUT_COLUMNS + ["d_batch"], dropna=False, sort=True)["itl_ms"].min().reset_index()

    chosen_decode = None
    if chosen is not None:
        chosen_decode = chosen.agg if chosen.mode == "agg" else chosen.decode

    traces = []
    for key, group in curves.groupby(_DECODE_LAYOUT_COLUMNS, dropna=False, sort=True):
        mode, backend, parallel = key[0], key[1], key[2]
        same_engine = chosen is not None and (mode, backend) == (chosen.mode, chosen.backend)
        is_chosen = (
            same_engine
            and chosen_decode is not None
            and int(key[3]) == chosen_decode.tp
            and int(key[5]) == chosen_decode.dp
            and int(key[7]) == chosen_decode.moe_ep
        )
        name = f"{mode} {backend} {parallel}" + (" (chosen)" if is_chosen else "")
        trace = _layout_curve_trace(
            group["d_batch"], group["itl_ms"], name, is_chosen=is_chosen, hover="batch %{x} requests<br>mean ITL %{y:.2f} ms"
        )
        trace["visible"] = True if chosen is None or same_engine else "legendonly"
        # Drawn lines head the legend; hidden ones follow, so a long legend
        # does not push the drawn lines and the SLA out of view.
        trace["legendrank"] = 2 if trace["visible"] is True else 3
        traces.append(trace)

    batch_range = (float(curves["d_batch"].min()), float(curves["d_batch"].max())) if len(curves) else (0.0, 1.0)
    if itl_sla_ms is not None:
        name = f"ITL SLA {itl_sla_ms:g} ms (checked on the mean)"
        traces.append(dict(_sla_line_trace(batch_range, itl_sla_ms, name, horizontal=True), legendrank=1))
    if chosen is not None and chosen_decode is not None:
        traces.append(dict(_pick_trace(chosen_decode.max_batch_size, chosen.itl_ms, chosen), legendrank=1))

    return _figure(
        traces,
        title="Mean ITL against batch per decode (or agg) worker layout",
        x_title="batch per worker (in-flight requests)",
        y_title="mean ITL (ms)",
    )


def figure_pareto(
    candidates: pd.DataFrame,
    *,
    frontier: pd.DataFrame | None = None,
    chosen: Pick | None = None,
    itl_sla_ms: float | None = None,
) -> go.Figure:
    """Plot tokens/s/GPU against tokens/s/user for every priced candidate.

    Agg and disagg rows get their own colours; rows with a `reject_reason`
    are drawn faded rather than dropped. Rows without numbers (they do not fit
    in memory) cannot be placed and are left out. The combined frontier is
    drawn as a line (the per-mode fronts start hidden) and the pick as a
    star. With `itl_sla_ms`, the ITL SLA appears as the vertical line
    tokens/s/user = 1000 / ITL.
    """
    priced = candidates[candidates["tokens_per_s_per_user"].notna() & candidates["tokens_per_s_per_gpu"].notna()]
    reasons = priced["reject_reason"].fillna("").astype(str)

    traces = []
    for mode in ("agg", "disagg"):
        for eligible in (True, False):
            subset = priced[(priced["mode"] == mode) & ((reasons == "") == eligible)]
            if subset.empty:
                continue
            traces.append(
                dict(
                    type="scatter",
                    x=subset["tokens_per_s_per_user"].to_numpy(),
                    y=subset["tokens_per_s_per_gpu"].to_numpy(),
                    mode="markers",
                    name=mode if eligible else f"{mode} (rejected)",
                    opacity=1.0 if eligible else FADED_OPACITY,
                    marker=dict(color=MODE_COLORS[mode], size=7 if eligible else 6),
                    **candidate_hover(subset, mode),
                )
            )

    if frontier is not None and not frontier.empty:
        # `pareto.pareto_front` returns one front per mode plus the combined one.
        fronts = frontier["front"] if "front" in frontier.columns else pd.Series("combined", index=frontier.index)
        for front in ("agg", "disagg", "combined"):
            line = frontier[fronts == front].sort_values("tokens_per_s_per_user")
            if line.empty:
                continue
            combined = front == "combined"
            traces.append(
                dict(
                    type="scatter",
                    x=line["tokens_per_s_per_user"].to_numpy(),
                    y=line["tokens_per_s_per_gpu"].to_numpy(),
                    mode="lines",
                    name="Pareto front" if combined else f"Pareto front ({front})",
                    line=dict(color="#333" if combined else MODE_COLORS[front], width=2 if combined else 1, shape="hv"),
                    visible=True if combined else "legendonly",
                    hoverinfo="skip",
                )
            )

    if itl_sla_ms is not None and len(priced):
        y_range = (0.0, float(priced["tokens_per_s_per_gpu"].max()) * 1.05)
        speed = 1000.0 / itl_sla_ms
        name = f"ITL SLA {itl_sla_ms:g} ms = {speed:.1f} tokens/s/user (checked on the mean)"
        traces.append(_sla_line_trace(y_range, speed, name, horizontal=False))

    if chosen is not None:
        traces.append(_pick_trace(chosen.tokens_per_s_per_user, chosen.tokens_per_s_per_gpu, chosen))

    return _figure(
        traces,
        title="Throughput per GPU against speed per user (predicted means)",
        x_title="tokens/s/user (output tokens/s per request, = 1000 / mean ITL)",
        y_title="tokens/s/GPU (output tokens/s per GPU)",
    )


def figure_memory(
    roles: pd.DataFrame,
    *,
    vram_gib: float,
) -> go.Figure:
    """Plot the GPU memory breakdown of one GPU per role of the pick.

    Parameters
    ----------
    roles
        One row per role (`role` column: `agg`, `prefill` or `decode`) with
        `weights_gib_per_gpu`, `kv_cache_gib_per_gpu`, `reserve_gib_per_gpu`
        (see `curves.memory_by_role`).
    vram_gib
        Memory of one GPU; the remainder is drawn as unused.
    """
    parts = (
        ("weights", "weights_gib_per_gpu", "#4c5b74"),
        ("KV cache", "kv_cache_gib_per_gpu", "#1a9e77"),
        ("activations and runtime reserve", "reserve_gib_per_gpu", "#e8b32e"),
    )
    labels = [f"{role} GPU" for role in roles["role"]]
    used = roles[[column for _, column, _ in parts]].sum(axis=1)
    bars = [(name, roles[column].to_numpy(dtype=float), color) for name, column, color in parts]
    bars.append(("unused", (vram_gib - used).clip(lower=0.0).to_numpy(dtype=float), ROLE_COLORS["idle"]))

    traces = [
        dict(
            type="bar",
            y=labels,
            x=values,
            name=name,
            orientation="h",
            marker=dict(color=color),
            hovertemplate=f"{name}: %{{x:.1f}} GiB<extra>%{{y}}</extra>",
        )
        for name, values, color in bars
    ]
    vram_line = dict(type="line", x0=vram_gib, x1=vram_gib, y0=0, y1=1, yref="paper", line=dict(color="#111", dash="dot", width=1))
    return _figure(
        traces,
        title=f"GPU memory of the pick, one GPU per role ({vram_gib:.0f} GiB per GPU)",
        x_title="memory per GPU (GiB)",
        y_title="role",
        height=160 + 70 * len(roles),
        barmode="stack",
        shapes=[vram_line],
    )


def figure_replica_layout(pick: Pick, *, gpus_per_node: int, total_gpus: int) -> go.Figure:
    """Draw every GPU of the budget as a square, coloured by the worker it serves.

    NOTE: the placement is first fit, and a worker stays on one node unless
    it needs more GPUs than a node has. The Kubernetes scheduler may place
    workers differently.
    """
    slots = place_workers(pick, gpus_per_node=gpus_per_node, total_gpus=total_gpus)

    traces = []
    for role in ("prefill", "decode", "agg", "idle"):
        subset = slots[slots["role"] == role]
        if subset.empty:
            continue
        traces.append(
            dict(
                type="scatter",
                x=subset["gpu"].to_numpy(),
                y=[f"node {node}" for node in subset["node"]],
                mode="markers+text",
                name=role if role != "idle" else "unused GPU",
                text=list(subset["label"]),
                textfont=dict(color="white" if role != "idle" else "#555", size=10),
                marker=dict(symbol="square", size=34, color=ROLE_COLORS[role]),
                hovertext=list(subset["hover"]),
                hoverinfo="text",
            )
        )

    nodes = int(slots["node"].max()) + 1 if len(slots) else 1
    return _figure(
        traces,
        title=(
            f"Replica layout: {pick.mode}, {pick.total_gpus} of {total_gpus} GPUs in use, "
            f"{gpus_per_node} GPUs per node"
        ),
        x_title="GPU in node (index)",
        y_title="node (index)",
        height=170 + 48 * nodes,
        xaxis=dict(dtick=1, range=[-0.6, gpus_per_node - 0.4]),
        yaxis=dict(autorange="reversed", type="category"),
    )
