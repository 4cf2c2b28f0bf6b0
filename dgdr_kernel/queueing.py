"""Queueing wait of the prefill pool of a disagg unit (M/D/c).

Requests arrive as a Poisson stream and every prefill slot (one per attention
DP rank of each prefill worker) serves one request in a fixed time, so the pool
is an M/D/c queue. Its mean wait uses the Allen-Cunneen approximation: the
M/M/c wait (Erlang C) times `(ca^2 + cs^2) / 2`, which is 1/2 for Poisson
arrivals and deterministic service. For one slot this is the exact M/D/1 wait.
"""

from __future__ import annotations

import numpy as np

__all__ = ["MAX_UTILISATION", "erlang_c", "mdc_wait_ms"]

# Utilisation is capped here so the wait stays finite at saturation.
MAX_UTILISATION = 0.95


def erlang_c(servers: np.ndarray, offered_load: np.ndarray) -> np.ndarray:
    """Return the probability that an arrival waits in an M/M/c queue.

    `servers` is c (integers of at least 1) and `offered_load` is
    `arrival rate * service time`, which must be below c.
    """
    servers = np.asarray(servers, dtype=np.int64)
    load = np.asarray(offered_load, dtype=float)
    servers, load = np.broadcast_arrays(servers, load)

    # Erlang B by its recursion B(k) = a B(k-1) / (k + a B(k-1)), stopped at each row's c.
    blocking = np.ones(load.shape)
    for k in range(1, int(servers.max(initial=1)) + 1):
        step = load * blocking / (k + load * blocking)
        blocking = np.where(k <= servers, step, blocking)
    return servers * blocking / (servers - load * (1.0 - blocking))


def mdc_wait_ms(arrival_per_s: np.ndarray, servers: np.ndarray, service_ms: np.ndarray) -> np.ndarray:
    """Return the mean queueing wait in ms of an M/D/c queue (Allen-Cunneen approximation).

    Non-finite inputs give NaN; a utilisation above `MAX_UTILISATION` is capped.
    """
    service_ms = np.asarray(service_ms, dtype=float)
    servers = np.maximum(np.asarray(servers, dtype=np.int64), 1)
    load = np.asarray(arrival_per_s, dtype=float) * service_ms / 1000.0
    load = np.minimum(load, MAX_UTILISATION * servers)

    finite = np.isfinite(load) & np.isfinite(service_ms)
    safe_load = np.where(finite, np.maximum(load, 0.0), 0.0)
    waiting = erlang_c(servers, safe_load)
    mmc_wait_ms = waiting * service_ms / (servers - safe_load)
    return np.where(finite, 0.5 * mmc_wait_ms, np.nan)
