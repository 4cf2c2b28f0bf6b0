"""Time the rapid path (load, resolve, sweep, pick, Pareto) and report its memory.

Cases: Qwen3-32B on 8 x h200_sxm, DeepSeek-V3 on 16 x h200_sxm and
Llama-3.1-8B on 1 x l40s, all with backend auto so that three backends are
priced. The batch case runs DGDR variants (ISL, OSL, SLA, GPU count, backend
and model varied) in worker processes.

Each single case runs in a fresh process: one warm-up call (imports and
config parsing are cached after it), then `--repeat` timed calls; the median
is printed. Memory is reported two ways:

- `peak_mib`: the process's maximum resident set size (`resource.getrusage`
  `ru_maxrss`), interpreter, numpy and pandas included; what the OS sees.
- `traced_peak_mib`: the largest Python and numpy allocation of one call
  (`tracemalloc`), in a separate call so tracing does not slow the timed ones.

Usage::

    python benchmarks/bench_profile.py [--repeat 7] [--batch 1000] [--workers 2] [--json]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import random
import resource
import statistics
import sys
import time
import tracemalloc

CASES = {
    "qwen3_32b_8xh200_auto": dict(model="Qwen/Qwen3-32B", sku="h200_sxm", total_gpus=8, per_node=8),
    "deepseek_v3_16xh200_auto": dict(model="deepseek-ai/DeepSeek-V3", sku="h200_sxm", total_gpus=16, per_node=8),
    "llama31_8b_1xl40s_auto": dict(model="meta-llama/Llama-3.1-8B", sku="l40s", total_gpus=1, per_node=1),
}

# Targets of the rapid path, seconds per request.
TARGETS_S = {"qwen3_32b_8xh200_auto": 0.2, "deepseek_v3_16xh200_auto": 0.5, "llama31_8b_1xl40s_auto": 0.1}
BATCH_TARGET_S = 60.0
PEAK_TARGET_MIB = 300.0

# Models, SKUs and GPU budgets the batch draws from (all shipped configs and catalog SKUs).
_BATCH_MODELS = (
    "Qwen/Qwen3-32B", "Qwen/Qwen3-8B", "meta-llama/Llama-3.1-8B", "meta-llama/Llama-3.1-70B",
    "Qwen/Qwen3-30B-A3B", "openai/gpt-oss-20b", "deepseek-ai/DeepSeek-V3",
)  # fmt: skip
_BATCH_HARDWARE = (("h200_sxm", 8), ("h100_sxm", 8), ("b200_sxm", 8), ("l40s", 8))


def make_dgdr(model: str, sku: str, total_gpus: int, per_node: int, *, backend="auto", isl=4000, osl=1000,
              ttft_ms=2000.0, itl_ms=30.0, request_rate=None) -> dict:  # fmt: skip
    """Return a DGDR document as a dict."""
    workload = {"isl": isl, "osl": osl}
    if request_rate is not None:
        workload["requestRate"] = request_rate
    return {
        "apiVersion": "nvidia.com/v1beta1",
        "kind": "DynamoGraphDeploymentRequest",
        "metadata": {"name": "bench", "namespace": "dynamo"},
        "spec": {
            "model": model,
            "backend": backend,
            "workload": workload,
            "sla": {"ttft": ttft_ms, "itl": itl_ms},
            "hardware": {"gpuSku": sku, "totalGpus": total_gpus, "numGpusPerNode": min(per_node, total_gpus)},
        },
    }


def run_rapid_path(document: dict) -> int:
    """Run load -> resolve -> sweep -> pick -> Pareto on one DGDR; return the candidate count."""
    from dgdr_kernel.pareto import pareto_front
    from dgdr_kernel.picking import pick
    from dgdr_kernel.request import resolve_request
    from dgdr_kernel.spec import load_dgdr
    from dgdr_kernel.sweep import run_sweep

    loaded = load_dgdr(document)
    request = resolve_request(loaded, run_nvidia_smi=False, use_kubernetes=False)
    candidates = run_sweep(request)
    selection = pick(request, candidates)
    pareto_front(selection.candidates)
    return len(candidates)


def _max_rss_mib() -> float:
    # ru_maxrss is in KiB on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def time_case(document: dict, repeat: int) -> dict:
    """Time one case in the current process (meant to be a fresh one)."""
    candidates = run_rapid_path(document)  # warm-up
    seconds = []
    for _ in range(repeat):
        start = time.perf_counter()
        run_rapid_path(document)
        seconds.append(time.perf_counter() - start)

    tracemalloc.start()
    run_rapid_path(document)
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "median_s": statistics.median(seconds),
        "min_s": min(seconds),
        "peak_mib": _max_rss_mib(),
        "traced_peak_mib": traced_peak / 2**20,
        "candidates": candidates,
    }


def make_batch(count: int, seed: int = 0) -> list[dict]:
    """Return `count` DGDR variants drawn with a fixed seed."""
    rng = random.Random(seed)
    documents = []
    for _ in range(count):
        model = rng.choice(_BATCH_MODELS)
        sku, per_node = rng.choice(_BATCH_HARDWARE)
        total_gpus = rng.choice((1, 2, 4, 8, 16)) if model != "deepseek-ai/DeepSeek-V3" else rng.choice((8, 16))
        if sku == "l40s" and model == "deepseek-ai/DeepSeek-V3":
            sku, per_node = "h200_sxm", 8
        documents.append(
            make_dgdr(
                model, sku, total_gpus, per_node,
                backend=rng.choice(("auto", "vllm", "sglang", "trtllm")),
                isl=rng.choice((256, 1024, 2000, 4000, 8000)),
                osl=rng.choice((64, 256, 500, 1000, 2000)),
                ttft_ms=rng.choice((200.0, 500.0, 1000.0, 3000.0)),
                itl_ms=rng.choice((5.0, 10.0, 20.0, 50.0)),
                request_rate=rng.choice((None, None, 1.0, 10.0)),
            )
        )  # fmt: skip
    return documents


def _run_chunk(documents: list[dict]) -> dict:
    seconds = []
    failures = []
    for document in documents:
        start = time.perf_counter()
        try:
            run_rapid_path(document)
        except Exception as error:  # a failed variant is counted and reported, not fatal
            failures.append(f"{document['spec']['model']}: {type(error).__name__}: {error}")
        seconds.append(time.perf_counter() - start)
    return {"seconds": seconds, "failures": failures, "peak_mib": _max_rss_mib()}


def time_batch(count: int, workers: int) -> dict:
    """Run `count` variants in `workers` fresh processes; wall time includes their start-up."""
    documents = make_batch(count)
    chunks = [documents[i::workers] for i in range(workers)]
    context = multiprocessing.get_context("spawn")
    start = time.perf_counter()
    with context.Pool(workers) as pool:
        results = pool.map(_run_chunk, chunks)
    wall = time.perf_counter() - start
    seconds = [s for result in results for s in result["seconds"]]
    failures = [f for result in results for f in result["failures"]]
    return {
        "wall_s": wall,
        "requests": count,
        "workers": workers,
        "median_s": statistics.median(seconds),
        "max_s": max(seconds),
        "peak_mib": max(result["peak_mib"] for result in results),
        "failures": len(failures),
        "failure_examples": failures[:5],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7, help="timed calls per single case (default 7)")
    parser.add_argument("--batch", type=int, default=1000, help="DGDR variants in the batch case (default 1000)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes for the batch (default 2)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = parser.parse_args(argv)

    context = multiprocessing.get_context("spawn")
    results = {}
    for name, case in CASES.items():
        document = make_dgdr(**case)
        with context.Pool(1) as pool:
            results[name] = pool.apply(time_case, (document, args.repeat))
    if args.batch > 0:
        results["batch"] = time_batch(args.batch, args.workers)

    if args.json:
        print(json.dumps(results, indent=2))
        return 0

    for name, result in results.items():
        if name == "batch":
            print(
                f"batch of {result['requests']} on {result['workers']} workers: {result['wall_s']:.1f} s wall "
                f"(target {BATCH_TARGET_S:g} s), {result['median_s'] * 1000:.0f} ms median per request, "
                f"peak RSS {result['peak_mib']:.0f} MiB per worker, {result['failures']} failed"
            )
            for failure in result["failure_examples"]:
                print(f"    {failure}")
            continue
        print(
            f"{name}: median {result['median_s'] * 1000:.0f} ms (target {TARGETS_S[name] * 1000:.0f} ms), "
            f"peak RSS {result['peak_mib']:.0f} MiB (target {PEAK_TARGET_MIB:g}), "
            f"traced peak {result['traced_peak_mib']:.1f} MiB, {result['candidates']} candidates"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
