"""Pareto front: tokens/s/user (x) against tokens/s/GPU (y), both maximised; non-finite rows dropped."""

import numpy as np
import pandas as pd

from dgdr_kernel.pareto import describe_empty_front, pareto_front, pareto_mask


def frame(points, mode="agg", **columns):
    x, y = zip(*points)
    data = dict(mode=mode, tokens_per_s_per_user=x, tokens_per_s_per_gpu=y, fits=True)
    data.update(columns)
    return pd.DataFrame(data)


def test_mask_keeps_non_dominated_points():
    # (15, 70) is beaten by (20, 80); (5, 100) by (10, 100); the NaN point is skipped.
    x = np.array([10, 20, 15, 30, np.nan, 5])
    y = np.array([100, 80, 70, 50, 200, 100])
    assert pareto_mask(x, y).tolist() == [True, True, False, True, False, False]


def test_mask_keeps_one_of_duplicates():
    assert pareto_mask(np.array([10.0, 10.0]), np.array([5.0, 5.0])).sum() == 1


def test_front_per_mode_and_combined():
    # agg front: (10, 100), (30, 50). disagg front: (20, 120), (40, 40).
    # Combined: (20, 120) beats (10, 100); (30, 50) and (40, 40) both stay.
    candidates = pd.concat(
        [frame([(10, 100), (30, 50), (20, 40)], "agg"), frame([(20, 120), (40, 40)], "disagg")], ignore_index=True
    )
    front = pareto_front(candidates)

    by_front = {name: sorted(zip(g.tokens_per_s_per_user, g.tokens_per_s_per_gpu)) for name, g in front.groupby("front")}
    assert by_front["agg"] == [(10, 100), (30, 50)]
    assert by_front["disagg"] == [(20, 120), (40, 40)]
    assert by_front["combined"] == [(20, 120), (30, 50), (40, 40)]


def test_nan_group_dropped_other_group_kept():
    # The disagg group is all NaN, as when an interpolation fails for one parallel group.
    nan = float("nan")
    candidates = pd.concat(
        [frame([(10, 100), (30, 50)], "agg"), frame([(nan, nan), (np.inf, 5.0)], "disagg")], ignore_index=True
    )
    front = pareto_front(candidates)

    assert set(front["front"]) == {"agg", "combined"}
    assert len(front) == 4


def test_all_nan_gives_empty_front_and_message():
    nan = float("nan")
    candidates = frame([(nan, nan), (nan, 3.0)])
    front = pareto_front(candidates)

    assert front.empty
    assert "front" in front.columns
    message = describe_empty_front(candidates)
    assert message == "no feasible configuration: of 2 candidates, 2 have non-finite predictions"


def test_unfit_and_over_budget_rows_excluded():
    candidates = frame(
        [(10, 100), (50, 500), (60, 600)], reject_reason=["", "over budget", ""], fits=[True, True, False]
    )
    front = pareto_front(candidates)

    assert front.loc[front["front"] == "combined", "tokens_per_s_per_user"].tolist() == [10]


def test_empty_table():
    empty = pd.DataFrame(columns=["mode", "tokens_per_s_per_user", "tokens_per_s_per_gpu", "fits"])
    assert pareto_front(empty).empty
    assert describe_empty_front(empty) == "no feasible configuration: the sweep produced no candidates"
