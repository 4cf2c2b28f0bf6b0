"""Accuracy of the performance model against measured serving rows.

Predicts every row of a measured-serving CSV, agg and disagg (the disagg
layout is read from `notes`). Prints, overall and per (model, GPU, engine,
precision) group, the median and mean absolute percentage error of TTFT and
ITL (the CSV's TPOT) and the share of rows within 20 %. Lists the rows it
cannot predict with the reason.

Usage::

    python benchmarks/accuracy.py CSV [--json] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np
import pandas as pd

from dgdr_kernel.errors import DgdrError
from dgdr_kernel.hardware import get_gpu
from dgdr_kernel.modelarch import resolve_model
from dgdr_kernel.perf.measured import map_rows, predict_rows, read_measured

GROUP_KEYS = ["model_label", "gpu_label", "engine_label", "precision"]


def predict_csv(path) -> pd.DataFrame:
    """Return every row of the CSV with predicted TTFT and ITL, errors and the reason a row was not predicted."""
    mapped = map_rows(read_measured(path), resolve_model, get_gpu)
    predicted = predict_rows(mapped, get_gpu)
    predicted["ttft_error_pct"] = (predicted["predicted_ttft_ms"] / predicted["measured_ttft_ms"] - 1.0) * 100.0
    predicted["itl_error_pct"] = (predicted["predicted_itl_ms"] / predicted["measured_itl_ms"] - 1.0) * 100.0
    predicted["precision"] = predicted["precision"].fillna("unstated")
    return predicted


def summarise(rows: pd.DataFrame) -> dict:
    """Return row counts, median and mean absolute errors and the share within 20 % of TTFT and ITL."""
    predicted = rows[rows["reason"] == ""]
    summary = {"rows": int(len(rows)), "rows_predicted": int(len(predicted))}
    for name in ("ttft", "itl"):
        error = predicted[f"{name}_error_pct"].abs()
        error = error[np.isfinite(error)]
        summary[f"{name}_compared"] = int(len(error))
        summary[f"{name}_median_abs_error_pct"] = round(float(error.median()), 1) if len(error) else None
        summary[f"{name}_mean_abs_error_pct"] = round(float(error.mean()), 1) if len(error) else None
        summary[f"{name}_within_20_pct"] = round(float((error <= 20.0).mean()), 3) if len(error) else None
    return summary


def build_report(predicted: pd.DataFrame) -> dict:
    """Return the summary, overall and per group, agg and disagg separately, with the unpredicted rows."""
    report = {}
    for mode in ("agg", "disagg"):
        rows = predicted[predicted["mode"] == mode]
        groups = []
        for key, group in rows.groupby(GROUP_KEYS, sort=True, dropna=False):
            groups.append({**dict(zip(["model", "gpu", "engine", "precision"], key)), **summarise(group)})
        report[mode] = {"overall": summarise(rows), "groups": groups}
    # Disagg rows that state their worker counts, and rows whose counts were
    # inferred (see dgdr_kernel.perf.measured.infer_disagg_workers).
    disagg = predicted[predicted["mode"] == "disagg"]
    stated = disagg["workers_stated"].fillna(False).astype(bool) if "workers_stated" in disagg else pd.Series(False, index=disagg.index)
    for name, rows in (("stated_workers", disagg[stated]), ("inferred_workers", disagg[~stated])):
        groups = [{**dict(zip(["model", "gpu", "engine", "precision"], key)), **summarise(group)} for key, group in rows.groupby(GROUP_KEYS, sort=True, dropna=False)]
        report["disagg"][name] = {"overall": summarise(rows), "groups": groups}
    skipped = predicted[predicted["reason"] != ""]
    report["not_predicted"] = {reason: int(count) for reason, count in skipped["reason"].value_counts().items()}
    return report


def _format(value):
    return "-" if value is None else f"{value}"


def _percent(share):
    """Return a share from 0 to 1 (as the JSON stores it) as a percentage."""
    return "-" if share is None else f"{share * 100:.1f} %"


def _print_groups(groups: list[dict]) -> None:
    table = pd.DataFrame(groups)
    if table.empty:
        return
    columns = ["model", "gpu", "engine", "precision", "rows", "rows_predicted", "ttft_median_abs_error_pct", "ttft_mean_abs_error_pct", "ttft_within_20_pct", "itl_median_abs_error_pct", "itl_mean_abs_error_pct", "itl_within_20_pct"]
    table = table[columns].copy()
    for name in ("ttft_within_20_pct", "itl_within_20_pct"):
        table[name] = (table[name] * 100).round(1)
    renamed = table.rename(columns=lambda name: name.replace("_abs_error_pct", "_%").replace("_within_20_pct", "_in20_%"))
    print(renamed.to_string(index=False))


def print_report(report: dict) -> None:
    for mode in ("agg", "disagg"):
        overall = report[mode]["overall"]
        print(f"== {mode}: {overall['rows_predicted']} of {overall['rows']} rows predicted")
        print(
            f"   TTFT median {_format(overall['ttft_median_abs_error_pct'])} %, mean {_format(overall['ttft_mean_abs_error_pct'])} %, "
            f"within 20 %: {_percent(overall['ttft_within_20_pct'])} | ITL median {_format(overall['itl_median_abs_error_pct'])} %, "
            f"mean {_format(overall['itl_mean_abs_error_pct'])} %, within 20 %: {_percent(overall['itl_within_20_pct'])}"
        )
        _print_groups(report[mode]["groups"])
        print()
    for name, title in (("stated_workers", "disagg rows that state worker counts"), ("inferred_workers", "disagg rows with inferred worker counts")):
        part = report["disagg"][name]["overall"]
        print(f"== {title}: {part['rows_predicted']} of {part['rows']} rows predicted")
        print(
            f"   TTFT median {_format(part['ttft_median_abs_error_pct'])} %, within 20 %: {_percent(part['ttft_within_20_pct'])} | "
            f"ITL median {_format(part['itl_median_abs_error_pct'])} %, within 20 %: {_percent(part['itl_within_20_pct'])}"
        )
        print()
    print("== rows not predicted")
    for reason, count in report["not_predicted"].items():
        print(f"   {count:5d}  {reason}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Compare performance-model predictions with a measured-serving CSV.")
    parser.add_argument("csv", help="measured-serving CSV (columns as in measured_serving.csv)")
    parser.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    parser.add_argument("--out", metavar="FILE", help="write every row with its predicted TTFT and ITL to this CSV file")
    args = parser.parse_args(argv)

    try:
        predicted = predict_csv(args.csv)
    except DgdrError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    report = build_report(predicted)

    if args.out:
        columns = ["row", "mode", "model_label", "gpu_label", "engine_label", "precision", "isl", "osl", "concurrency", "p_workers", "d_workers", "measured_ttft_ms", "predicted_ttft_ms", "ttft_error_pct", "measured_itl_ms", "predicted_itl_ms", "itl_error_pct", "provenance", "assumption", "reason"]
        predicted.reindex(columns=columns).to_csv(args.out, index=False)
    if args.json:
        print(json.dumps(report, indent=None))
    else:
        print_report(report)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:
        # Output piped into `head` and the like: stop quietly, and keep the
        # interpreter from reporting the closed pipe again at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)
