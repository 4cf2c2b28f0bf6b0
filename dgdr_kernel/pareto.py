"""The Pareto front of the candidate table: tokens/s/user against tokens/s/GPU.

x is `tokens_per_s_per_user` and y is `tokens_per_s_per_gpu` (all GPUs of a
disagg unit count), both maximised, the convention of AIConfigurator, AIPerf
and vLLM's sweep plots. Rows with a non-finite x or y and rows that do not fit
are dropped first, so an all-NaN group gives an empty front, not an error.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["describe_empty_front", "pareto_front", "pareto_mask"]

X_COLUMN = "tokens_per_s_per_user"
Y_COLUMN = "tokens_per_s_per_gpu"

# Rows with these reasons cannot be deployed, so they stay off the front.
_UNDEPLOYABLE = ("does not fit", "over budget", "non-finite prediction")


def pareto_mask(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Return the mask of points no other point beats on both x and y (both maximised).

    Non-finite points are never on the front. Of duplicate points one is kept.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    mask = np.zeros(len(x), dtype=bool)
    finite = np.nonzero(np.isfinite(x) & np.isfinite(y))[0]
    if len(finite) == 0:
        return mask

    # Walk from the largest x down (ties: largest y first); a point is on the
    # front when its y beats every y seen so far.
    order = finite[np.lexsort((-y[finite], -x[finite]))]
    y_sorted = y[order]
    best_before = np.concatenate([[-np.inf], np.maximum.accumulate(y_sorted)[:-1]])
    mask[order[y_sorted > best_before]] = True
    return mask


def pareto_front(candidates: pd.DataFrame, by: str | None = None) -> pd.DataFrame:
    """Return the frontier rows per group of `by` (default `mode`) plus the combined front.

    The result has the candidate columns plus `front` (`agg`, `disagg` or
    `combined` with the default grouping), sorted by `front` then x. It is
    empty, with the same columns, when no row is feasible; see
    `describe_empty_front`.
    """
    by = by or "mode"
    feasible = _feasible_rows(candidates)
    fronts = []
    for name, group in feasible.groupby(by, sort=True):
        fronts.append(group[pareto_mask(group[X_COLUMN], group[Y_COLUMN])].assign(front=str(name)))
    fronts.append(feasible[pareto_mask(feasible[X_COLUMN], feasible[Y_COLUMN])].assign(front="combined"))

    columns = [*candidates.columns, "front"]
    non_empty = [front for front in fronts if not front.empty]
    if not non_empty:
        return pd.DataFrame(columns=columns)
    front = pd.concat(non_empty, ignore_index=True)
    return front.sort_values(["front", X_COLUMN], kind="stable").reset_index(drop=True)[columns]


def describe_empty_front(candidates: pd.DataFrame) -> str:
    """Return the sentence to show when the front is empty, with the reasons rows were dropped."""
    if candidates.empty:
        return "no feasible configuration: the sweep produced no candidates"
    reasons = []
    if "fits" in candidates:
        unfit = int((~candidates["fits"].fillna(False).astype(bool)).sum())
        if unfit:
            reasons.append(f"{unfit} do not fit in memory")
    values = candidates[[X_COLUMN, Y_COLUMN]].to_numpy(dtype=float)
    non_finite = int((~np.isfinite(values).all(axis=1)).sum())
    if non_finite:
        reasons.append(f"{non_finite} have non-finite predictions")
    detail = "; ".join(reasons) or "none is deployable"
    return f"no feasible configuration: of {len(candidates)} candidates, {detail}"


def _feasible_rows(candidates: pd.DataFrame) -> pd.DataFrame:
    if candidates.empty:
        return candidates
    keep = np.isfinite(candidates[[X_COLUMN, Y_COLUMN]].to_numpy(dtype=float)).all(axis=1)
    if "fits" in candidates:
        keep &= candidates["fits"].fillna(False).to_numpy(dtype=bool)
    if "reject_reason" in candidates:
        keep &= ~candidates["reject_reason"].isin(_UNDEPLOYABLE).to_numpy()
    return candidates[keep]
