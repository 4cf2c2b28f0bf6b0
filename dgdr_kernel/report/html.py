"""Figures in notebooks, the offline HTML report and the batch index page.

The exported report must show its figures with no network, so:

- the notebook's setup cell embeds plotly.js once (`setup_notebook`);
- every figure is displayed as a bundle holding the Plotly JSON mimetype
  (rendered natively by JupyterLab) and an HTML div with a fixed id and no
  script of its own beyond `Plotly.newPlot` (rendered by nbconvert);
- nbconvert exports with a template that drops the require.js, MathJax,
  widget-manager and mermaid script tags that load from CDNs.
"""

from __future__ import annotations

import html
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping

__all__ = [
    "FigureDisplay",
    "export_report_html",
    "figure_div_html",
    "plotlyjs_html",
    "setup_notebook",
    "show_figure",
    "write_index",
]

# Loaded from the page itself, never from a CDN: plotly.js reads MathJax
# settings from this object when it starts.
_PLOTLY_CONFIG_SCRIPT = "<script type=\"text/javascript\">window.PlotlyConfig = {MathJaxConfig: 'local'};</script>"

_PLOTLY_DISPLAY_CONFIG = {"displaylogo": False, "responsive": True}

_OFFLINE_TEMPLATE_NAME = "dgdr_offline_report.html.j2"
_OFFLINE_TEMPLATE = """{%- extends 'lab/index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{% block jupyter_widgets %}{% endblock jupyter_widgets %}
"""


def plotlyjs_html() -> str:
    """Return script tags that define `window.Plotly` from the installed plotly.js."""
    from plotly.offline import get_plotlyjs

    return f'{_PLOTLY_CONFIG_SCRIPT}\n<script type="text/javascript">{get_plotlyjs()}</script>'


def setup_notebook() -> None:
    """Prepare a notebook kernel for figures that also survive HTML export.

    Sets the plotly renderer explicitly, because with plotly 6 and later the
    default can emit only the Plotly JSON mimetype, which nbconvert cannot
    render. Then displays plotly.js. Call it once, in the first code cell.
    Every run of that cell embeds plotly.js again, so the cell's saved output
    always carries it. Also lifts pandas' 50-character cell limit, which
    would cut the reasons and errors in the report's tables.
    """
    import pandas as pd
    import plotly.io as pio
    from IPython.display import HTML, display

    pio.renderers.default = "plotly_mimetype+notebook"
    pd.set_option("display.max_colwidth", None)
    display(HTML(plotlyjs_html()))


def figure_div_html(fig, div_id: str) -> str:
    """Return the figure as an HTML div with the fixed id `div_id` and no plotly.js.

    The page must define `window.Plotly` first (`setup_notebook` does).
    """
    import plotly.io as pio

    return pio.to_html(
        fig,
        include_plotlyjs=False,
        include_mathjax=False,
        full_html=False,
        div_id=div_id,
        default_width="100%",
        config=_PLOTLY_DISPLAY_CONFIG,
        validate=False,
    )


@dataclass
class FigureDisplay:
    """A figure with a fixed div id, displayable in JupyterLab and in exported HTML."""

    fig: object
    div_id: str

    def _repr_mimebundle_(self, include=None, exclude=None):
        import json

        import plotly.io as pio

        plotly_json = json.loads(pio.to_json(self.fig, validate=False))
        plotly_json["config"] = _PLOTLY_DISPLAY_CONFIG
        return {
            "application/vnd.plotly.v1+json": plotly_json,
            "text/html": figure_div_html(self.fig, self.div_id),
            "text/plain": f"<figure {self.div_id}>",
        }


def show_figure(fig, name: str) -> None:
    """Display `fig` under the div id `dgdr-<name>`, stable across runs."""
    from IPython.display import display

    display(FigureDisplay(fig, _div_id(name)))


def _div_id(name: str) -> str:
    slug = re.sub(r"[^a-zA-Z0-9_-]+", "-", name).strip("-").lower()
    return f"dgdr-{slug or 'figure'}"


def export_report_html(notebook_path: str | os.PathLike, html_path: str | os.PathLike, *, title: str | None = None) -> Path:
    """Export an executed notebook to one offline HTML file with the code hidden.

    Parameters
    ----------
    notebook_path
        The executed notebook (outputs included).
    html_path
        Where the HTML is written; its folder must exist.
    title
        The page title; default the notebook's file name.
    """
    import jinja2
    import nbformat
    from nbconvert import HTMLExporter

    notebook = nbformat.read(os.fspath(notebook_path), as_version=4)
    if title:
        notebook.metadata["title"] = title
    # Widget state saved in a notebook would make the template load the
    # widget manager from a CDN; reports never hold live widgets.
    notebook.metadata.pop("widgets", None)

    exporter = HTMLExporter(
        template_name="lab",
        extra_loaders=[jinja2.DictLoader({_OFFLINE_TEMPLATE_NAME: _OFFLINE_TEMPLATE})],
        template_file=_OFFLINE_TEMPLATE_NAME,
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
    )
    body, _ = exporter.from_notebook_node(notebook)

    html_path = Path(html_path)
    html_path.write_text(body, encoding="utf-8")
    return html_path


_INDEX_COLUMNS = (
    ("request", "request"),
    ("model", "model"),
    ("GPU SKU", "gpu_sku"),
    ("pick", "pick"),
    ("GPUs used", "gpus_used"),
    ("GPU budget", "gpu_budget"),
    ("mean TTFT (ms)", "ttft_ms"),
    ("mean ITL (ms)", "itl_ms"),
    ("tokens/s/GPU", "tokens_per_s_per_gpu"),
    ("meets SLA (means)", "meets_sla"),
    ("provenance", "provenance"),
    ("warnings", "warnings"),
)

_INDEX_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem; color: #1d2330; }
table { border-collapse: collapse; }
th, td { border-bottom: 1px solid #d0d4db; padding: 0.35rem 0.8rem; text-align: left; }
th { background: #f2f4f7; }
td.number { text-align: right; font-variant-numeric: tabular-nums; }
tr.failed td { background: #fdecea; }
td.pick { white-space: nowrap; }
td.sla-missed { background: #fde2b3; color: #7a3e00; font-weight: bold; }
td.modelled { background: #fde2b3; color: #7a3e00; }
td.warnings ul { margin: 0.3rem 0 0; padding-left: 1.2rem; max-width: 40rem; }
.error { color: #a4281b; white-space: pre-wrap; font-family: monospace; max-width: 40rem; }
"""


def _format_cell(key: str, value) -> tuple[str, bool]:
    """Return the escaped text of one index cell and whether it is a number."""
    if value is None or value == "":
        return "", False
    if key in ("ttft_ms",):
        return f"{float(value):,.1f}", True
    if key in ("itl_ms",):
        return f"{float(value):,.2f}", True
    if key in ("tokens_per_s_per_gpu",):
        return f"{float(value):,.1f}", True
    if key in ("gpus_used", "gpu_budget"):
        return str(int(value)), True
    if key == "meets_sla":
        return ("yes" if value else "no"), False
    if key == "warnings":
        return _format_warnings(value), False
    return html.escape(str(value)), False


def _format_warnings(warnings) -> str:
    """Return the count of a request's warnings, with the list folded under it."""
    if isinstance(warnings, str):
        warnings = [warnings]
    warnings = list(warnings)
    if not warnings:
        return "0"
    items = "".join(f"<li>{html.escape(str(warning))}</li>" for warning in warnings)
    return f"<details><summary>{len(warnings)}</summary><ul>{items}</ul></details>"


def _cell_class(key: str, value, is_number: bool) -> str:
    """Return the CSS class of one index cell: numbers align right, a missed SLA stands out."""
    if is_number:
        return "number"
    if key == "pick":
        return "pick"
    if key == "meets_sla" and value is False:
        return "sla-missed"
    if key == "provenance" and value == "modelled":
        return "modelled"
    if key == "warnings":
        return "warnings"
    return "text"


def write_index(entries: Iterable[Mapping], path: str | os.PathLike, *, title: str = "dgdr batch") -> Path:
    """Write an HTML index of batch results, one row per request.

    Each entry is a summary (see `summary.summarize_result`) plus `report`
    (the report's path relative to the index) or `error` (why the request
    failed). Failed requests are listed with their error. The provenance
    column shows the pick's `provenance` (`calibrated` or `modelled`, the
    latter highlighted) and the warnings column the number of `warnings`,
    which unfold into the list.
    """
    entries = list(entries)
    failed = sum(1 for entry in entries if entry.get("error"))
    head = "".join(f"<th>{html.escape(label)}</th>" for label, _ in _INDEX_COLUMNS) + "<th>report</th>"

    rows = []
    for entry in entries:
        cells = []
        for _, key in _INDEX_COLUMNS:
            value = entry.get(key)
            if key == "provenance" and value is None and not entry.get("error"):
                # A report_summary.json from before provenance was recorded lacks it.
                value = "not recorded"
            text, is_number = _format_cell(key, value)
            if key == "request" and entry.get("report"):
                text = f'<a href="{html.escape(str(entry["report"]))}">{text}</a>'
            cells.append(f'<td class="{_cell_class(key, value, is_number)}">{text}</td>')
        if entry.get("error"):
            cells.append(f'<td class="error">failed: {html.escape(str(entry["error"]))}</td>')
        else:
            link = html.escape(str(entry.get("report", "")))
            cells.append(f'<td><a href="{link}">report.html</a></td>' if link else "<td></td>")
        row_class = ' class="failed"' if entry.get("error") else ""
        rows.append(f"<tr{row_class}>{''.join(cells)}</tr>")

    summary = f"{len(entries)} request(s), {len(entries) - failed} succeeded, {failed} failed."
    page = (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<title>{html.escape(title)}</title>\n<style>{_INDEX_STYLE}</style>\n</head>\n<body>\n"
        f"<h1>{html.escape(title)}</h1>\n<p>{summary} TTFT and ITL are predicted means; "
        "the SLA is checked on means. Provenance <code>calibrated</code>: the performance model was fitted "
        "to measurements for that GPU SKU and backend; <code>modelled</code>: physical defaults, "
        "so treat the numbers as estimates.</p>\n"
        f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n" + "\n".join(rows) + "\n</tbody>\n</table>\n"
        "</body>\n</html>\n"
    )
    path = Path(path)
    path.write_text(page, encoding="utf-8")
    return path
