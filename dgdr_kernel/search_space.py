"""Which parallel layouts and batch sizes the sweep evaluates.

The rules follow the upstream profiler's search space (AIConfigurator's
parallel lists):

- dense models are split by tensor parallelism only (`tpN`);
- MoE models with MLA attention (DeepSeek-V3 and R1) use TEP (attention TP,
  experts spread by EP) or DEP (attention data parallel, experts spread by EP);
- Qwen3-MoE also allows pure TP (experts split by TP); other MoE models use
  TEP and DEP;
- TRT-LLM rejects attention DP together with TP, vLLM rejects expert TP
  together with EP, and for MoE `tp * dp` must equal `moe_tp * moe_ep`;
- GPUs per worker are powers of two up to one NVLink domain (one node, or 16
  GPUs on GB200/GB300 racks). Wider workers are added only when nothing fits
  in one domain, and no worker is wider than the GPU budget.

Everything here is pure: it needs the architecture and the budget, not the
performance model.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = [
    "DECODE_BATCH_GRID",
    "LAYOUT_COLUMNS",
    "batch_grid",
    "check_layouts",
    "enumerate_layouts",
    "worker_gpu_counts",
]

LAYOUT_COLUMNS = ("tp", "pp", "dp", "moe_tp", "moe_ep")

# The decode batch list AIConfigurator sweeps: 1..15, 16..30 step 2,
# 32..124 step 4, 128..504 step 8, then 512 (its decode_max_batch_size).
DECODE_BATCH_GRID = np.concatenate(
    [
        np.arange(1, 16),
        np.arange(16, 31, 2),
        np.arange(32, 125, 4),
        np.arange(128, 505, 8),
        [512],
    ]
).astype(np.int64)

# SKUs whose NVLink domain spans a rack, so one worker may use 16 GPUs.
_RACK_SKU_PREFIXES = ("gb200", "gb300")

# Widest worker considered even when the model needs several nodes.
_MAX_GPUS_PER_WORKER = 64

# MoE architectures that also allow pure tensor parallelism of the experts.
_MOE_PURE_TP_ARCHITECTURES = ("Qwen3MoeForCausalLM",)


def worker_gpu_counts(
    total_gpus: int, gpus_per_node: int, sku: str, *, multi_node: bool = False
) -> list[int]:
    """Return the GPUs-per-worker values to try: powers of two within the budget.

    Without `multi_node` the counts stop at one NVLink domain (`gpus_per_node`,
    or 16 on GB200/GB300); with it they go beyond, up to 64 GPUs.
    """
    domain = 16 if sku.lower().startswith(_RACK_SKU_PREFIXES) else gpus_per_node
    cap = min(total_gpus, _MAX_GPUS_PER_WORKER if multi_node else domain)
    counts = []
    count = 1
    while count <= cap:
        if multi_node or count <= domain:
            counts.append(count)
        count *= 2
    return counts


def _layout_rows(arch, gpus: int) -> list[dict]:
    """Return the candidate layouts for one worker width, before any check."""
    if not arch.is_moe:
        return [dict(tp=gpus, pp=1, dp=1, moe_tp=1, moe_ep=1, parallel=f"tp{gpus}")]
    if gpus == 1:
        return [dict(tp=1, pp=1, dp=1, moe_tp=1, moe_ep=1, parallel="tp1")]

    rows = []
    if not arch.is_mla and arch.architecture in _MOE_PURE_TP_ARCHITECTURES:
        rows.append(dict(tp=gpus, pp=1, dp=1, moe_tp=gpus, moe_ep=1, parallel=f"tp{gpus}"))
    rows.append(dict(tp=gpus, pp=1, dp=1, moe_tp=1, moe_ep=gpus, parallel=f"tep{gpus}"))
    rows.append(dict(tp=1, pp=1, dp=gpus, moe_tp=1, moe_ep=gpus, parallel=f"dep{gpus}"))
    return rows


def enumerate_layouts(arch, backend: str, gpu_counts: list[int]) -> pd.DataFrame:
    """Return every layout for `gpu_counts` with its structural check.

    Columns: `tp pp dp moe_tp moe_ep parallel gpus_per_worker invalid_reason`
    (empty when the layout is valid for this model and backend).
    """
    rows = [row for gpus in gpu_counts for row in _layout_rows(arch, gpus)]
    frame = pd.DataFrame(rows, columns=[*LAYOUT_COLUMNS, "parallel"])
    for column in LAYOUT_COLUMNS:
        frame[column] = frame[column].astype(np.int64)
    frame["gpus_per_worker"] = frame["tp"] * frame["pp"] * frame["dp"]
    frame["invalid_reason"] = check_layouts(arch, backend, frame)
    return frame


def check_layouts(arch, backend: str, layouts: pd.DataFrame) -> np.ndarray:
    """Return, per layout, why the model or backend rejects it ("" when valid).

    KV heads: when `tp` exceeds the KV heads, engines replicate each KV head
    on `tp / num_kv_heads` GPUs, so `tp` must be a multiple of the KV heads.
    Otherwise the KV heads must divide evenly by `tp`.
    """
    tp = layouts["tp"].to_numpy()
    dp = layouts["dp"].to_numpy()
    moe_tp = layouts["moe_tp"].to_numpy()
    moe_ep = layouts["moe_ep"].to_numpy()
    reasons = np.full(len(layouts), "", dtype=object)

    def reject(mask: np.ndarray, reason: str) -> None:
        # Keep the first reason found for each layout.
        reasons[mask & (reasons == "")] = reason

    reject(arch.num_attention_heads % tp != 0, f"{arch.num_attention_heads} attention heads not divisible by tp")
    if not arch.is_mla:
        kv_heads = arch.num_kv_heads
        kv_ok = np.where(tp <= kv_heads, kv_heads % tp == 0, tp % kv_heads == 0)
        reject(~kv_ok, f"{kv_heads} KV heads cannot be split or replicated over tp")
    if not arch.is_moe:
        reject(arch.intermediate_size % tp != 0, f"intermediate size {arch.intermediate_size} not divisible by tp")
    else:
        reject(tp * dp != moe_tp * moe_ep, "tp * dp must equal moe_tp * moe_ep")
        reject(arch.num_experts % moe_ep != 0, f"{arch.num_experts} experts not divisible by moe_ep")
        reject(
            arch.moe_intermediate_size % moe_tp != 0,
            f"MoE intermediate size {arch.moe_intermediate_size} not divisible by moe_tp",
        )

    if backend == "trtllm":
        reject((dp > 1) & (tp > 1), "trtllm does not combine attention DP with TP")
    if backend == "vllm":
        reject((moe_tp > 1) & (moe_ep > 1), "vllm does not combine expert TP with EP")
    return reasons


def batch_grid(max_batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Expand each candidate into the grid's batch sizes that fit its KV cache.

    Returns `(candidate_index, batch)`, two aligned 1-D arrays; a candidate
    whose `max_batch` is below 1 contributes no row.
    """
    max_batch = np.asarray(max_batch, dtype=np.int64)
    keep = DECODE_BATCH_GRID[None, :] <= max_batch[:, None]
    candidate_index, grid_index = np.nonzero(keep)
    return candidate_index, DECODE_BATCH_GRID[grid_index]
