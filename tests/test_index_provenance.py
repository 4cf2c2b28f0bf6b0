"""The batch index page: the pick's provenance and the run's warnings, per request."""

from __future__ import annotations

import html
import re

from dgdr_kernel.report.html import write_index


def _rows(page: str) -> list[str]:
    body = page.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return re.findall(r"<tr[^>]*>.*?</tr>", body, re.S)


def _cells(row: str) -> list[str]:
    return re.findall(r"<td[^>]*>.*?</td>", row, re.S)


def _header(page: str) -> list[str]:
    return re.findall(r"<th>(.*?)</th>", page.split("<thead>", 1)[1].split("</thead>", 1)[0])


def _cell(page: str, row: str, label: str) -> str:
    return _cells(row)[_header(page).index(label)]


ENTRIES = [
    {"request": "fitted", "pick": "agg trtllm 2x tp4", "gpus_used": 8, "gpu_budget": 8, "meets_sla": True,
     "provenance": "calibrated", "warnings": [], "report": "fitted/report.html"},
    {"request": "defaults", "pick": "agg sglang 2x tp4", "gpus_used": 8, "gpu_budget": 8, "meets_sla": True,
     "provenance": "modelled", "report": "defaults/report.html",
     "warnings": ["no measured data for a100_sxm/sglang: predictions use physical defaults", "a <second> warning"]},
    {"request": "older", "pick": "agg vllm 1x tp8", "gpus_used": 8, "gpu_budget": 8, "meets_sla": True, "warnings": [],
     "report": "older/report.html"},
    {"request": "broken", "error": "no DGD can be generated"},
]  # fmt: skip


def test_index_has_provenance_and_warnings_columns(tmp_path):
    page = write_index(ENTRIES, tmp_path / "index.html").read_text()
    header = _header(page)

    assert "provenance" in header
    assert "warnings" in header
    assert header.index("provenance") > header.index("pick")


def test_index_provenance_per_request(tmp_path):
    page = write_index(ENTRIES, tmp_path / "index.html").read_text()
    fitted, defaults, older, broken = _rows(page)

    assert _cell(page, fitted, "provenance") == '<td class="text">calibrated</td>'
    assert _cell(page, defaults, "provenance") == '<td class="modelled">modelled</td>'
    # A summary without the field reads 'not recorded' instead of staying blank.
    assert _cell(page, older, "provenance") == '<td class="text">not recorded</td>'
    # A failed request has no pick, so no provenance.
    assert _cell(page, broken, "provenance") == '<td class="text"></td>'
    style = page.split("<style>", 1)[1].split("</style>", 1)[0]
    assert re.search(r"td\.modelled\s*\{[^}]*background", style)


def test_index_warnings_counted_and_listed(tmp_path):
    page = write_index(ENTRIES, tmp_path / "index.html").read_text()
    fitted, defaults, _, broken = _rows(page)

    assert _cell(page, fitted, "warnings") == '<td class="warnings">0</td>'
    cell = _cell(page, defaults, "warnings")
    assert "<summary>2</summary>" in cell
    items = re.findall(r"<li>(.*?)</li>", cell)
    assert [html.unescape(item) for item in items] == ENTRIES[1]["warnings"]
    assert "&lt;second&gt;" in cell
    assert _cell(page, broken, "warnings") == '<td class="warnings"></td>'


def test_index_row_from_real_run(tmp_path):
    from dgdr_kernel.pipeline import profile
    from dgdr_kernel.report.summary import summarize_result
    from dgdr_kernel.spec import load_dgdr

    # Dense Qwen3-32B with sglang on H200: hwdata/calibrated/h200_sxm.yaml fits
    # sglang on DeepSeek-R1 (MoE) only, so the pick is 'modelled' with one caveat.
    document = (
        "model: Qwen/Qwen3-32B\nbackend: sglang\n"
        "hardware: {gpuSku: h200_sxm, totalGpus: 8, numGpusPerNode: 8}\n"
    )
    result = profile(load_dgdr(document), progress=lambda phase, message: None)
    entry = {**summarize_result(result, name="qwen"), "report": "qwen/report.html"}
    assert entry["provenance"] == "modelled"

    page = write_index([entry], tmp_path / "index.html").read_text()
    (row,) = _rows(page)

    assert _cell(page, row, "provenance") == '<td class="modelled">modelled</td>'
    cell = _cell(page, row, "warnings")
    assert f"<summary>{len(result.warnings)}</summary>" in cell
    assert any("h200_sxm/sglang parameters" in html.unescape(item) for item in re.findall(r"<li>(.*?)</li>", cell))
