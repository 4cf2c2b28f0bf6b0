"""The exported report in headless Chromium: every figure renders with its traces, offline.

Needs Debian's `chromium` package; skipped with a reason when it is absent.
A copy of the report gets a small script that, after the page loads, writes
per-figure counts into a `<pre>` element; `--dump-dom` returns that DOM. The
browser runs with networking features disabled and on a local file, so a
figure that needed a CDN would not render.

The screenshot goes to `$DGDR_SCREENSHOT_DIR` (default: `reports/screenshots`
in the repository) for a person to look at.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from dgdr_kernel.cli import main
from dgdr_kernel.report.figureset import FIGURE_NAMES

REPO = Path(__file__).resolve().parent.parent
SPEC = REPO / "examples" / "qwen3-32b-h200.yaml"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
BROWSER_TIMEOUT_S = 120
# Virtual time lets the page's timers run without waiting in real time.
VIRTUAL_TIME_BUDGET_MS = 15000

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (Debian: apt-get install chromium)")

PROBE = """
<script>
window.addEventListener("load", function () {
  setTimeout(function () {
    var figures = [];
    document.querySelectorAll(".js-plotly-plot").forEach(function (gd) {
      var data = gd.data || [];
      figures.push({
        id: gd.id,
        traces: data.length,
        visible: data.filter(function (t) { return t.visible !== "legendonly"; }).length,
        drawn: gd.querySelectorAll("g.trace").length,
        svg: gd.querySelectorAll("svg.main-svg").length
      });
    });
    var pre = document.createElement("pre");
    pre.id = "dgdr-render-check";
    pre.textContent = JSON.stringify({plotly: typeof window.Plotly, figures: figures});
    document.body.appendChild(pre);
  }, 1000);
});
</script>
"""


def _chromium(*arguments: str, user_data_dir: Path) -> subprocess.CompletedProcess:
    command = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={user_data_dir}",
        f"--virtual-time-budget={VIRTUAL_TIME_BUDGET_MS}",
        *arguments,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=BROWSER_TIMEOUT_S, check=False)


@pytest.fixture(scope="module")
def report_html(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("browser") / "qwen3-32b"
    assert main(["report", str(SPEC), "-o", str(out)]) == 0
    return out / "report.html"


def test_report_renders_every_figure(report_html, tmp_path):
    probe = report_html.with_name("report-probe.html")
    probe.write_text(report_html.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"), encoding="utf-8")

    result = _chromium("--dump-dom", probe.as_uri(), user_data_dir=tmp_path / "profile")
    match = re.search(r'<pre id="dgdr-render-check">(.*?)</pre>', result.stdout, re.S)
    assert match, f"the page did not report its figures; chromium stderr:\n{result.stderr[-2000:]}"
    check = json.loads(match.group(1).replace("&quot;", '"').replace("&amp;", "&"))

    assert check["plotly"] == "object"
    figures = {figure["id"]: figure for figure in check["figures"]}
    assert sorted(figures) == sorted(f"dgdr-{name}" for name in FIGURE_NAMES)
    for div_id, figure in figures.items():
        assert figure["traces"] > 0, div_id
        assert figure["svg"] > 0, div_id
        # Every trace that is not hidden in the legend is drawn.
        assert figure["drawn"] == figure["visible"], div_id


def test_report_screenshot(report_html, tmp_path):
    folder = Path(os.environ.get("DGDR_SCREENSHOT_DIR", REPO / "reports" / "screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    screenshot = folder / "report.png"
    screenshot.unlink(missing_ok=True)

    result = _chromium(
        f"--screenshot={screenshot}", "--window-size=1400,5200", report_html.as_uri(), user_data_dir=tmp_path / "profile"
    )
    assert screenshot.is_file(), f"no screenshot; chromium stderr:\n{result.stderr[-2000:]}"
    # A PNG starts with its 8-byte signature; a blank page compresses to a few KiB.
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert screenshot.stat().st_size > 50_000
    print(f"screenshot: {screenshot}")
