"""`dgdr batch`: reports in parallel worker processes, an index of all, failures listed."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest

from dgdr_kernel.cli import main

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
GOOD_SPECS = [EXAMPLES / "qwen3-32b-h200.yaml", EXAMPLES / "llama31-8b-l40s.yaml"]


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    folder = tmp_path_factory.mktemp("batch")
    invalid = folder / "invalid.yaml"
    invalid.write_text("model: Qwen/Qwen3-32B\nworkload:\n  isl: -5\n")
    unknown = folder / "unknown-model.yaml"
    unknown.write_text(
        "apiVersion: nvidia.com/v1beta1\nkind: DynamoGraphDeploymentRequest\nmetadata:\n  name: unknown-model\n"
        "spec:\n  model: example-org/no-such-model\n  hardware:\n    gpuSku: h200_sxm\n    totalGpus: 8\n    numGpusPerNode: 8\n"
    )
    out = folder / "out"
    specs = [*map(str, GOOD_SPECS), str(invalid), str(unknown)]
    code = main(["batch", *specs, "-o", str(out), "--jobs", "2"])
    return code, out


def _index_rows(page: str) -> list[str]:
    body = page.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return re.findall(r"<tr[^>]*>.*?</tr>", body, re.S)


def test_batch_exit_code_reports_failures(batch):
    code, _ = batch
    assert code == 1


def test_batch_writes_report_per_good_request(batch):
    _, out = batch
    for name in ("qwen3-32b", "llama31-8b"):
        assert (out / name / "report.html").is_file(), name
        assert (out / name / "final_config.yaml").is_file(), name


def test_index_lists_every_request(batch):
    _, out = batch
    page = (out / "index.html").read_text()
    rows = _index_rows(page)

    assert len(rows) == 4
    assert "4 request(s), 2 succeeded, 2 failed" in page
    failed = [row for row in rows if 'class="failed"' in row]
    assert len(failed) == 2
    assert "workload.isl" in html.unescape(failed[0])
    assert "no-such-model" in html.unescape(failed[1])


def test_index_links_and_numbers_match_reports(batch):
    _, out = batch
    page = (out / "index.html").read_text()
    for name in ("qwen3-32b", "llama31-8b"):
        summary = json.loads((out / name / "report_summary.json").read_text())
        row = next(row for row in _index_rows(page) if f'href="{name}/report.html"' in row)
        assert html.escape(summary["pick"]) in row
        assert f"{summary['itl_ms']:,.2f}" in row
        assert f"{summary['tokens_per_s_per_gpu']:,.1f}" in row
        assert f'<td class="number">{summary["total_gpus"]}</td>' in row


def test_batch_keeps_failed_notebook(batch):
    _, out = batch
    assert (out / "unknown-model" / "capacity_planner.failed.ipynb").is_file()
    assert not (out / "invalid").exists()
