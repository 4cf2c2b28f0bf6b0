"""Placement of a pick's workers on the GPUs of the budget, for drawing.

NOTE: this is an illustration, first fit in role order. The Kubernetes
scheduler decides the real placement.
"""

from __future__ import annotations

import math

import pandas as pd

from dgdr_kernel.selection import EngineLayout, Pick

__all__ = ["place_workers"]

_ROLE_LETTERS = {"agg": "A", "prefill": "P", "decode": "D"}


def _roles(pick: Pick) -> list[tuple[str, EngineLayout]]:
    if pick.mode == "agg":
        return [("agg", pick.agg)] if pick.agg is not None else []
    return [(role, layout) for role, layout in (("prefill", pick.prefill), ("decode", pick.decode)) if layout is not None]


def place_workers(pick: Pick, *, gpus_per_node: int, total_gpus: int) -> pd.DataFrame:
    """Place every worker of `pick` on nodes of `gpus_per_node` GPUs, first fit.

    A worker that fits on one node stays on one node; a larger worker takes
    whole free nodes (multinode). GPUs of the budget that no worker uses are
    returned with role `idle`. If the pick needs more GPUs than the budget
    holds, extra nodes are added so that every worker is shown.

    Returns
    -------
    DataFrame
        One row per GPU: `node`, `gpu` (index in its node), `role`
        (`agg`, `prefill`, `decode`, `idle`), `worker` (index within its
        role, -1 for idle), `label` (e.g. `P2`) and `hover` text.
    """
    if gpus_per_node < 1:
        raise ValueError(f"gpus_per_node must be at least 1, got {gpus_per_node}")

    node_count = max(1, math.ceil(total_gpus / gpus_per_node))
    # free[n] lists the free GPU indices of node n. When the budget is not a
    # multiple of the node size, the last node has only the remainder.
    free: list[list[int]] = []
    for node in range(node_count):
        size = min(gpus_per_node, total_gpus - node * gpus_per_node) if total_gpus > 0 else gpus_per_node
        free.append(list(range(max(size, 0))))

    rows: list[dict] = []
    for role, layout in _roles(pick):
        gpus = layout.gpus_per_worker
        for worker in range(layout.workers):
            hover = (
                f"{role} worker {worker} ({layout.parallel}: TP{layout.tp} EP{layout.moe_ep} DP{layout.dp}, "
                f"{gpus} GPUs)"
            )
            for node, gpu in _claim(free, gpus, gpus_per_node):
                rows.append(
                    dict(
                        node=node,
                        gpu=gpu,
                        role=role,
                        worker=worker,
                        label=f"{_ROLE_LETTERS[role]}{worker}",
                        hover=hover + f"<br>node {node}, GPU {gpu}",
                    )
                )

    for node, gpu_indices in enumerate(free):
        for gpu in gpu_indices:
            rows.append(dict(node=node, gpu=gpu, role="idle", worker=-1, label="", hover=f"unused<br>node {node}, GPU {gpu}"))

    columns = ["node", "gpu", "role", "worker", "label", "hover"]
    return pd.DataFrame(rows, columns=columns).sort_values(["node", "gpu"]).reset_index(drop=True)


def _claim(free: list[list[int]], gpus: int, gpus_per_node: int) -> list[tuple[int, int]]:
    """Take `gpus` GPUs from `free` (first fit) and return them as (node, gpu) pairs."""
    if gpus <= gpus_per_node:
        for node, indices in enumerate(free):
            if len(indices) >= gpus:
                taken, free[node] = indices[:gpus], indices[gpus:]
                return [(node, gpu) for gpu in taken]
        free.append(list(range(gpus_per_node)))
        return _claim(free, gpus, gpus_per_node)

    # Multinode worker: whole, fully free nodes.
    nodes_needed = math.ceil(gpus / gpus_per_node)
    whole = [node for node, indices in enumerate(free) if len(indices) == gpus_per_node]
    while len(whole) < nodes_needed:
        free.append(list(range(gpus_per_node)))
        whole.append(len(free) - 1)

    claimed: list[tuple[int, int]] = []
    remaining = gpus
    for node in whole[:nodes_needed]:
        count = min(remaining, gpus_per_node)
        claimed += [(node, gpu) for gpu in free[node][:count]]
        free[node] = free[node][count:]
        remaining -= count
    return claimed
