"""Redraw time of the interactive planner: control change to new figure data.

Builds the planner app for Qwen3-32B on 8 h200_sxm (no front end needed),
then changes one control at a time and measures

- `new figure data`: re-planning with the pure pipeline (load, resolve,
  sweep, pick, Pareto) and building the five figures (target: 150 ms);
- `with widget update`: the whole observer call, which also serialises the
  figures into the widgets' outputs.

Run: `.venv/bin/python benchmarks/bench_widgets.py [--rounds N]`. It prints
the numbers; it does not fail on a slow machine.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

from dgdr_kernel.report.inputs import build_dgdr_document
from dgdr_kernel.spec import load_dgdr
from dgdr_kernel.widgets import LOAD_KINDS, PlannerApp

TARGET_MS = 150.0

# (control attribute, values to step through); each step is one measured redraw.
CHANGES = (
    ("isl", (2000, 8000, 4000)),
    ("osl", (500, 2000, 1000)),
    ("ttft_ms", (500.0, 2000.0)),
    ("itl_ms", (15.0, 30.0)),
    ("load_kind", (LOAD_KINDS[1], LOAD_KINDS[0])),
    ("backend", ("vllm", "auto")),
    ("gpu_sku", ("h100_sxm", "b200_sxm", "h200_sxm")),
    ("total_gpus", (16, 8)),
)


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="passes over the control changes (default: 3)")
    args = parser.parse_args()

    document = build_dgdr_document(
        model="Qwen/Qwen3-32B", backend="auto", gpu_sku="h200_sxm", total_gpus=8, num_gpus_per_node=8
    )
    app = PlannerApp(load_dgdr(document))  # the first plan warms the caches

    rows = []
    for _ in range(args.rounds):
        for attribute, values in CHANGES:
            control = getattr(app, attribute)
            for value in values:
                app.last_redraw_ms = None
                started = time.perf_counter()
                control.value = value
                total_ms = (time.perf_counter() - started) * 1000.0
                if app.last_redraw_ms is None:  # the plan failed; a stale time would mislead
                    raise SystemExit(f"{attribute} = {value!r} did not re-plan: {app.status.value}")
                rows.append((attribute, value, app.last_redraw_ms, total_ms, len(app.view.selection.candidates)))

    data_ms = [row[2] for row in rows]
    total_ms = [row[3] for row in rows]
    print(f"machine: {_cpu_name()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    print("request: Qwen/Qwen3-32B on 8 h200_sxm, backend auto (vllm, sglang, trtllm)")
    print(f"{'control':<11} {'value':>22} {'new figure data ms':>19} {'with widget update ms':>22} {'candidates':>11}")
    for attribute, value, data, total, candidates in rows[: sum(len(values) for _, values in CHANGES)]:
        print(f"{attribute:<11} {str(value):>22} {data:>19.1f} {total:>22.1f} {candidates:>11}")
    print(f"\n{len(rows)} redraws over {args.rounds} round(s)")
    for label, values in (("new figure data", data_ms), ("with widget update", total_ms)):
        print(
            f"{label:<19} median {statistics.median(values):6.1f} ms   p90 {_percentile(values, 0.9):6.1f} ms   "
            f"max {max(values):6.1f} ms"
        )
    verdict = "meets" if statistics.median(data_ms) <= TARGET_MS else "misses"
    print(f"target: new figure data <= {TARGET_MS:.0f} ms; the median {verdict} it")


if __name__ == "__main__":
    main()
