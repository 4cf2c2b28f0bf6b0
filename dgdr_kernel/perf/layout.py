"""Parallel layout of one worker: TP, PP, attention DP, MoE TP and MoE EP.

A `Layout` holds integer arrays broadcast to one length N, one entry per
candidate, so the performance model prices N candidates in one numpy pass.
`tp` is the attention tensor-parallel size of one DP rank and `dp` the
attention data-parallel size, so one worker uses ``tp * pp * dp`` GPUs; for a
MoE model the expert layers spread the same ``tp * dp`` GPUs of a stage as
``moe_tp * moe_ep``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Layout", "validate_layout"]


@dataclass(frozen=True, init=False)
class Layout:
    """Parallel sizes of one worker, as int arrays of one common length N."""

    tp: np.ndarray
    pp: np.ndarray
    dp: np.ndarray
    moe_tp: np.ndarray
    moe_ep: np.ndarray

    def __init__(self, tp=1, pp=1, dp=1, moe_tp=1, moe_ep=1):
        arrays = np.broadcast_arrays(
            *(np.atleast_1d(np.asarray(value)) for value in (tp, pp, dp, moe_tp, moe_ep))
        )
        for name, array in zip(("tp", "pp", "dp", "moe_tp", "moe_ep"), arrays):
            object.__setattr__(self, name, np.asarray(array, dtype=np.int64).copy())

    def __len__(self) -> int:
        return int(self.tp.shape[0])

    @property
    def gpus_per_worker(self) -> np.ndarray:
        """GPUs of one worker: ``tp * pp * dp``."""
        return self.tp * self.pp * self.dp

    def take(self, index) -> "Layout":
        """Return the candidates at `index` (an int, a slice or an index array)."""
        index = np.atleast_1d(np.arange(len(self))[index])
        return Layout(self.tp[index], self.pp[index], self.dp[index], self.moe_tp[index], self.moe_ep[index])

    def label(self, is_moe: bool) -> np.ndarray:
        """Return the upstream labels: ``tpN`` (dense), ``tepN`` (EP with TP attention), ``depN`` (attention DP)."""
        gpus = self.gpus_per_worker.astype(str)
        if not is_moe:
            return np.char.add("tp", gpus)
        kind = np.where(self.dp > 1, "dep", np.where(self.moe_ep > 1, "tep", "tp"))
        return np.char.add(kind, gpus)


def validate_layout(layout: Layout, arch) -> np.ndarray:
    """Return one reason per candidate why it cannot run `arch`, "" when valid."""
    reasons = np.full(len(layout), "", dtype=object)

    def flag(mask, message):
        mask = np.asarray(mask, dtype=bool) & (reasons == "")
        reasons[mask] = message

    for name in ("tp", "pp", "dp", "moe_tp", "moe_ep"):
        values = getattr(layout, name)
        flag(values < 1, f"{name} must be a positive integer")

    tp = np.maximum(layout.tp, 1)
    flag(arch.num_attention_heads % tp != 0, f"{arch.num_attention_heads} attention heads are not divisible by tp")
    kv_heads = arch.num_kv_heads
    flag((tp < kv_heads) & (kv_heads % tp != 0), f"{kv_heads} KV heads are not divisible by tp")
    flag((tp > kv_heads) & (tp % max(kv_heads, 1) != 0), f"tp is not a multiple of the {kv_heads} KV heads")
    flag(arch.num_layers < layout.pp, f"pp exceeds the {arch.num_layers} layers")

    if arch.is_moe:
        moe_ep = np.maximum(layout.moe_ep, 1)
        flag(arch.num_experts % moe_ep != 0, f"{arch.num_experts} experts are not divisible by moe_ep")
        flag(layout.tp * layout.dp != layout.moe_tp * layout.moe_ep, "tp*dp must equal moe_tp*moe_ep for a MoE model")
        moe_tp = np.maximum(layout.moe_tp, 1)
        flag(arch.moe_intermediate_size % moe_tp != 0, f"moe_intermediate_size {arch.moe_intermediate_size} is not divisible by moe_tp")
    else:
        flag((layout.moe_ep != 1) | (layout.moe_tp != 1), "moe_tp and moe_ep must be 1 for a dense model")
    return reasons.astype(str)
