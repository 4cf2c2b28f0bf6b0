"""Serving modes: an aggregated worker in a closed loop, disaggregated prefill and decode.

The functions take a `PerfModel` and return arrays. They contain the
queueing logic, and the model contains the forward-step physics.
"""

from __future__ import annotations

import numpy as np

from dgdr_kernel.perf.layout import Layout
from dgdr_kernel.perf.ops import StepShape
from dgdr_kernel.perf.predictions import AggPrediction, DecodePrediction, PrefillPrediction

__all__ = ["adp_balance_wait_iters", "predict_agg", "predict_disagg_prefill", "predict_disagg_decode", "predict_kv_transfer_ms", "predict_disagg_closed_loop"]

def prefill_token_budget(batch, isl):
    """Return the prompt tokens one iteration may hold per DP rank.

    The upstream profiler renders agg workers with max_num_tokens (TensorRT-LLM),
    max_num_batched_tokens (vLLM) or the prefill limits (SGLang) set to
    batch + ISL + 1500, so one whole prompt always fits in an iteration.
    """
    return np.asarray(batch, dtype=float) + isl + 1500.0


# Cap on the share of time a prefill slot is busy, so the M/D/1 wait stays finite.
_MAX_PREFILL_UTILISATION = 0.95


def _md1_wait(utilisation, service_ms):
    """Return the mean M/D/1 queueing wait for a server at `utilisation` with deterministic service."""
    rho = np.clip(utilisation, 0.0, _MAX_PREFILL_UTILISATION)
    return rho / (2.0 * (1.0 - rho)) * service_ms


def adp_balance_wait_iters(dp, batch_rank, osl, timeout_iters):
    """Return the mean iterations attention-DP balancing delays a new request's prefill.

    The engine delays prefill from the first new request until each of the
    other dp - 1 ranks has one too, or the timeout expires. In a closed
    loop each rank's finished requests are replaced at once, so a rank
    receives about batch_rank / osl new requests per iteration. All dp - 1
    other ranks have had one after H(dp - 1) / rate iterations on average,
    H being the harmonic number. Requests arrive
    evenly over that delay, so each waits half of it on average.
    """
    dp = np.asarray(dp, dtype=float)
    rate = np.maximum(np.asarray(batch_rank, dtype=float), 1e-9) / np.maximum(osl, 1.0)
    # H(dp - 1), summed term by term up to the largest DP size (a few terms).
    others = np.maximum(dp - 1.0, 0.0)
    harmonic = np.zeros_like(others)
    for k in range(1, int(others.max(initial=0.0)) + 1):
        harmonic = harmonic + np.where(others >= k, 1.0 / k, 0.0)
    delay_iters = np.minimum(timeout_iters, harmonic / rate)
    return np.where(dp > 1, 0.5 * delay_iters, 0.0)


def predict_agg(model, layout: Layout, isl, osl, concurrency) -> AggPrediction:
    """Return closed-loop TTFT, ITL and throughput of one aggregated worker.

    `concurrency` requests are always in flight and a finished request is
    replaced at once. The engine runs min(concurrency, KV capacity) of them
    and the rest queue (Little's law gives their wait). Requests are prefilled
    in groups, as many per iteration as fit in the token budget, inside
    iterations that also decode everyone else. Those longer iterations raise
    the mean ITL (prefill interference). TTFT adds the wait for the running
    iteration, an M/D/1 wait for the prefill slot, a fixed request overhead,
    and a share of the opening burst (see `PerfParams.opening_burst_share`).
    TensorRT-LLM workers with attention DP also wait for DP-rank balancing
    (see `PerfParams.adp_balance_timeout_iters`).
    """
    isl = np.asarray(isl, dtype=float)
    osl = np.maximum(np.asarray(osl, dtype=float), 1.0)
    concurrency = np.asarray(concurrency, dtype=float)
    dp = layout.dp.astype(float)

    # TensorRT-LLM's default scheduler (GUARANTEED_NO_EVICT) admits a request
    # only when its whole isl + osl fits. vLLM and SGLang allocate KV blocks as
    # tokens arrive, so they admit a request while its prompt fits.
    admitted_len = osl if model.backend == "trtllm" else 0.0
    capacity = model.max_batch(layout, isl, admitted_len).astype(float)
    batch = np.minimum(concurrency, np.maximum(capacity, 0.0))
    batch_rank = batch / dp
    context = isl + osl / 2.0

    decode_ms = model.step_ms(layout, StepShape(decode_seqs=batch_rank, decode_context=context, moe_tokens=batch))

    # Requests that arrive together are prefilled together, as many as fit in
    # the token budget of one iteration (a prompt longer than the budget is
    # chunked over several iterations). Each DP rank does the same at once.
    budget = prefill_token_budget(batch_rank, isl)
    chunk = np.minimum(isl, budget)
    chunks = np.ceil(isl / budget)
    group = np.clip(np.floor(budget / isl), 1.0, np.maximum(batch_rank, 1.0))
    mixed_shape = StepShape(
        decode_seqs=np.maximum(batch_rank - group, 0.0),
        decode_context=context,
        prefill_seqs=group,
        prefill_tokens=chunk,
        moe_tokens=(np.maximum(batch_rank - group, 0.0) + group * chunk) * dp,
    )
    mixed_ms = model.step_ms(layout, mixed_shape)

    # Each request spends `chunks` iterations in prefill and osl - 1 in
    # decode, so a share of the iterations carries a prefill group. Those
    # iterations are longer, which raises everyone's mean ITL.
    share_mixed = np.minimum(batch_rank * chunks / (group * osl), 1.0)
    itl_ms = share_mixed * mixed_ms + (1.0 - share_mixed) * decode_ms

    # A new request waits for the running iteration to end (none runs when it
    # is alone) and for groups ahead of it (M/D/1 on the prefill slot), then
    # runs its own prefill iterations.
    others_running = 1.0 - 1.0 / np.maximum(batch, 1.0)
    prefill_service_ms = chunks * mixed_ms
    busy = share_mixed * mixed_ms / np.maximum(itl_ms, 1e-9)
    engine_ttft_ms = others_running * (0.5 * itl_ms + _md1_wait(busy, prefill_service_ms)) + prefill_service_ms + model.params.request_overhead_ms
    if model.backend == "trtllm" and model.params.adp_balance_timeout_iters > 0:
        # Attention-DP balancing delays the request's prefill (see `adp_balance_wait_iters`).
        engine_ttft_ms = engine_ttft_ms + adp_balance_wait_iters(dp, batch_rank, osl, model.params.adp_balance_timeout_iters) * decode_ms
    in_engine_ms = engine_ttft_ms + (osl - 1.0) * itl_ms
    # The closed loop cannot finish requests faster than the iterations admit
    # them: at most `group` new requests per rank every `chunks` mixed
    # iterations. Prefill-heavy work (long prompts, short outputs) reaches that
    # bound. The M/D/1 wait above is capped, so there the rest of the wait is
    # added here, by Little's law, to keep batch = throughput x time in engine.
    prefill_bound_per_ms = dp * group / prefill_service_ms
    requests_per_ms = np.minimum(batch / in_engine_ms, prefill_bound_per_ms)
    engine_ttft_ms = engine_ttft_ms + np.maximum(batch / requests_per_ms - in_engine_ms, 0.0)
    queue_ms = np.maximum(concurrency - batch, 0.0) / requests_per_ms

    # The opening burst: all requests start together and queue for prefill,
    # each waiting for half the groups ahead of it. Only a share of the
    # measured requests sees it (about 1 / the number of waves a benchmark runs).
    groups_ahead = np.maximum(np.ceil(batch_rank / group) - 1.0, 0.0)
    burst_ms = model.params.opening_burst_share * groups_ahead / 2.0 * prefill_service_ms
    ttft_ms = queue_ms + engine_ttft_ms + burst_ms
    latency_ms = ttft_ms + (osl - 1.0) * itl_ms
    requests_per_s = requests_per_ms * 1e3

    no_room = capacity < 1
    ttft_ms, itl_ms, latency_ms, requests_per_s = (np.where(no_room, np.nan, value) for value in (ttft_ms, itl_ms, latency_ms, requests_per_s))
    return AggPrediction(
        ttft_ms=ttft_ms,
        itl_ms=itl_ms,
        request_latency_ms=latency_ms,
        requests_per_s=requests_per_s,
        tokens_per_s_per_gpu=requests_per_s * osl / layout.gpus_per_worker,
        tokens_per_s_per_user=1e3 / itl_ms,
        batch=batch,
        provenance=model.provenance_array(len(layout)),
    )


def predict_disagg_prefill(model, layout: Layout, isl) -> PrefillPrediction:
    """Return the prefill time of one request and the prefills per second of one worker.

    Each attention DP rank prefills its own request (batch 1 per rank, as the
    upstream rapid mode sizes prefill workers).
    """
    prefill_ms = model.prefill_ms(layout, isl, batch=1)
    return PrefillPrediction(
        ttft_ms=prefill_ms + model.params.request_overhead_ms,
        requests_per_s=layout.dp * 1e3 / prefill_ms,
        provenance=model.provenance_array(len(layout)),
    )


def predict_disagg_decode(model, layout: Layout, isl, osl, batch) -> DecodePrediction:
    """Return the ITL and throughput of one decode worker at `batch` running requests (capped by its KV capacity)."""
    isl = np.asarray(isl, dtype=float)
    osl = np.maximum(np.asarray(osl, dtype=float), 1.0)
    capacity = model.max_batch(layout, isl, osl).astype(float)
    batch = np.minimum(np.asarray(batch, dtype=float), capacity)
    itl_ms = model.decode_step_ms(layout, batch, isl + osl / 2.0)
    itl_ms = np.where(batch >= 1, itl_ms, np.nan)
    tokens_per_s = batch * 1e3 / itl_ms
    return DecodePrediction(
        itl_ms=itl_ms,
        requests_per_s=tokens_per_s / osl,
        tokens_per_s_per_gpu=tokens_per_s / layout.gpus_per_worker,
        tokens_per_s_per_user=1e3 / itl_ms,
        batch=batch,
        provenance=model.provenance_array(len(layout)),
    )


def predict_kv_transfer_ms(model, prefill_layout: Layout, decode_layout: Layout, isl):
    """Return the time to move the KV cache of one request from a prefill to a decode worker.

    Both workers in one node use NVLink (the intra-node link); otherwise the
    transfer crosses the NIC. Each prefill GPU sends its shard, in parallel
    over min(prefill GPUs, decode GPUs) links.
    """
    gpu = model.gpu
    params = model.params
    total_bytes = np.asarray(isl, dtype=float) * model.kv_bytes_per_token_unsharded
    prefill_gpus = prefill_layout.gpus_per_worker
    decode_gpus = decode_layout.gpus_per_worker
    same_node = (prefill_gpus + decode_gpus) <= gpu.gpus_per_node
    link_gb_per_s = np.where(same_node, gpu.intra_node_gb_per_s, gpu.inter_node_gb_per_s)
    links = np.minimum(prefill_gpus, decode_gpus)
    latency_ms = np.where(same_node, 0.05, 0.5)  # connection and descriptor setup per transfer (estimate)
    return latency_ms + total_bytes / (links * link_gb_per_s * 1e9 * params.comm_efficiency) * 1e3


def predict_disagg_closed_loop(model, prefill_layout: Layout, decode_layout: Layout, prefill_workers, decode_workers, isl, osl, concurrency, iterations: int = 12):
    """Return (ttft_ms, itl_ms, requests_per_s) of an xPyD deployment in a closed loop at `concurrency`.

    Requests queue at the prefill workers (M/D/1 per DP rank), cross the KV
    link, then decode in batches of concurrency / decode workers. The KV
    capacity caps that batch, and the excess waits before prefill. A few fixed-point
    iterations settle the throughput.
    """
    isl = np.asarray(isl, dtype=float)
    osl = np.maximum(np.asarray(osl, dtype=float), 1.0)
    concurrency = np.asarray(concurrency, dtype=float)
    prefill_workers = np.asarray(prefill_workers, dtype=float)
    decode_workers = np.asarray(decode_workers, dtype=float)

    prefill_ms = model.prefill_ms(prefill_layout, isl, batch=1)
    transfer_ms = predict_kv_transfer_ms(model, prefill_layout, decode_layout, isl)
    decode = predict_disagg_decode(model, decode_layout, isl, osl, concurrency / decode_workers)
    running = decode.batch * decode_workers
    prefill_servers = prefill_workers * prefill_layout.dp

    overhead_ms = model.params.request_overhead_ms
    requests_per_ms = running / (prefill_ms + transfer_ms + osl * decode.itl_ms)
    for _ in range(iterations):
        utilisation = requests_per_ms * prefill_ms / prefill_servers
        ttft_ms = prefill_ms + _md1_wait(utilisation, prefill_ms) + transfer_ms + overhead_ms
        capped = np.minimum(running / (ttft_ms + (osl - 1.0) * decode.itl_ms), prefill_servers / prefill_ms * _MAX_PREFILL_UTILISATION)
        requests_per_ms = 0.5 * requests_per_ms + 0.5 * capped

    queue_ms = np.maximum(concurrency - running, 0.0) / requests_per_ms
    return ttft_ms + queue_ms, decode.itl_ms, requests_per_ms * 1e3
