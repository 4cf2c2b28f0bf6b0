"""What the picking stage returns: the chosen configuration and its rivals.

These are plain data shared by picking, the DGD renderer, the planner files,
the status file and the report.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import pandas as pd

__all__ = ["EngineLayout", "Pick", "Selection"]

ServingMode = Literal["agg", "disagg"]


@dataclass(frozen=True)
class EngineLayout:
    """One engine (worker) role: its parallel layout, replica count and limits.

    GPUs per worker are tp * pp * dp; for MoE, tp * dp == moe_tp * moe_ep.
    """

    tp: int
    pp: int = 1
    dp: int = 1
    moe_tp: int = 1
    moe_ep: int = 1
    workers: int = 1  # replicas of this worker in the whole deployment
    max_batch_size: int = 1  # in-flight sequences per worker
    max_num_tokens: int = 0  # token budget of one forward step (chunked prefill)

    @property
    def gpus_per_worker(self) -> int:
        return self.tp * self.pp * self.dp

    @property
    def parallel(self) -> str:
        """AIC-style label: `dep8` (attention DP with EP), `tep8` (TP with EP), else `tp8`."""
        if self.moe_ep > 1 and self.dp > 1:
            return f"dep{self.moe_ep}"
        if self.moe_ep > 1:
            return f"tep{self.moe_ep}"
        return f"tp{self.tp}" if self.pp == 1 else f"tp{self.tp}pp{self.pp}"


@dataclass(frozen=True)
class Pick:
    """One complete serving configuration with its predicted metrics (means)."""

    mode: ServingMode
    backend: str
    agg: EngineLayout | None  # set for mode "agg"
    prefill: EngineLayout | None  # set for mode "disagg"
    decode: EngineLayout | None  # set for mode "disagg"
    total_gpus: int
    ttft_ms: float
    itl_ms: float
    request_latency_ms: float
    tokens_per_s_per_user: float
    tokens_per_s_per_gpu: float
    requests_per_s: float
    concurrency: float  # in-flight requests the whole deployment holds
    meets_sla: bool
    provenance: str  # "calibrated" or "modelled"
    load_served_pct: float = 100.0
    # load_match only: the target load and what the same replicas hold at
    # capacity. The metrics above are then predicted at the target load.
    target_requests_per_s: float | None = None
    target_concurrency: float | None = None
    capacity_requests_per_s: float | None = None
    capacity_concurrency: float | None = None
    kv_capacity_tokens: int = 0  # per decode (or agg) worker
    weights_gib_per_gpu: float = 0.0
    kv_cache_gib_per_gpu: float = 0.0
    reserve_gib_per_gpu: float = 0.0
    notes: tuple[str, ...] = ()

    @property
    def load_used_pct(self) -> float | None:
        """Return the share of capacity the target load uses (load_match), else None."""
        if self.target_requests_per_s is not None and self.capacity_requests_per_s:
            return 100.0 * self.target_requests_per_s / self.capacity_requests_per_s
        if self.target_concurrency is not None and self.capacity_concurrency:
            return 100.0 * self.target_concurrency / self.capacity_concurrency
        return None

    @property
    def workers(self) -> tuple[EngineLayout, ...]:
        return tuple(w for w in (self.agg, self.prefill, self.decode) if w is not None)


@dataclass
class Selection:
    """The outcome of picking.

    `chosen` is rank 1 (None only when nothing fits in memory at all);
    `top` is the ranked top-N including rank 1; `candidates` is every evaluated
    row with `reject_reason` filled for the rows that were not eligible.
    """

    picking_mode: str
    chosen: Pick | None
    top: list[Pick]
    candidates: pd.DataFrame
    sla_met: bool
    warnings: list[str] = field(default_factory=list)
    resolved_backend: str | None = None  # which backend won when backend was auto
