"""A request with one output token: no inter-token latency anywhere a user reads it."""

from __future__ import annotations

from dgdr_kernel.pipeline import profile
from dgdr_kernel.report.summary import describe_plan_markdown, summarize_result
from dgdr_kernel.spec import load_dgdr

DOCUMENT = (
    "model: Qwen/Qwen3-32B\nbackend: vllm\n"
    "hardware: {gpuSku: h200_sxm, totalGpus: 8, numGpusPerNode: 8}\n"
    "workload: {isl: 4000, osl: 1}\nsla: {ttft: 2000, itl: 5}\n"
)


def test_osl_one_reports_no_itl():
    result = profile(load_dgdr(DOCUMENT), progress=lambda phase, message: None)
    summary = summarize_result(result)
    plan = describe_plan_markdown(result.request, result.selection)

    assert summary["itl_ms"] is None
    assert "mean ITL n/a" in plan
    assert "tokens/s/user" not in plan
    # The 5 ms ITL target is dropped, so no candidate is rejected for it.
    assert not result.selection.candidates["reject_reason"].astype(str).str.contains("ITL").any()


def test_osl_one_throughput_within_prefill_bound():
    # Every request is one 4000-token prefill. Qwen3-32B (config.json: 32.8 B
    # parameters) needs 2 x 32.8e9 x 4000 = 262 TFLOP per prompt, and 8 H200 give
    # at most 8 x 989.5 dense BF16 TFLOP/s (NVIDIA H200 datasheet), so no
    # deployment can finish more than 7916 / 262 = 30.2 requests/s.
    result = profile(load_dgdr(DOCUMENT), progress=lambda phase, message: None)
    chosen = result.selection.chosen
    # Requests/s of the whole deployment, from its tokens/s/GPU at one output token per request.
    deployment_requests_per_s = chosen.tokens_per_s_per_gpu * chosen.total_gpus
    assert 0 < deployment_requests_per_s <= 30.2


def test_osl_one_tables_show_no_itl():
    from dgdr_kernel.report.tables import alternatives_table
    from dgdr_kernel.summary import format_selection

    result = profile(load_dgdr(DOCUMENT), progress=lambda phase, message: None)
    table = alternatives_table(result.selection, result.request.sla, osl=result.request.osl)
    text = format_selection(result.selection, result.request)
    first_row = next(line for line in text.splitlines() if line.strip().startswith("1 "))

    assert set(table["mean ITL (ms)"]) == {"n/a"}
    assert set(table["tokens/s/user"]) == {"n/a"}
    # Rank 1 of the CLI table: ITL and tok/s/user both n/a.
    assert first_row.split().count("n/a") == 2
