"""Planner files: the planner-config JSON and the planner curves.

The SLA planner sizes prefill and decode workers from two curves measured
before deployment. Upstream measures them on live engines (thorough mode);
here they come from our performance model, priced on the same grids:

- prefill, at ISL = 100, 100 + s, ... below `max_context - 512` with
  s = (max_context - 612) // 16: TTFT (ms) and prefill tokens/s per GPU;
- decode, at ISL = 100, 100 + s, ... below `max_context - 500` with
  s = (max_context - 500) // 6, OSL fixed at 500, and up to 6 batch sizes per
  ISL up to what the KV cache holds: ITL (ms) and output tokens/s per GPU,
  indexed by KV usage x = (ISL + OSL/2) * batch / max_kv_tokens and context
  length y = ISL + OSL/2.

`max_context` is the model's max_position_embeddings (2 x ISL when unknown).
Array names, units and dtypes are those Dynamo's PrefillInterpolator and
DecodeInterpolator load from `selected_{prefill,decode}_interpolation/raw_data.npz`,
or from `prefill_raw_data.json` / `decode_raw_data.json` in the profile-data
ConfigMap.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from dgdr_kernel.dgd.backends import PROFILE_DATA_MOUNT
from dgdr_kernel.errors import PerfModelError
from dgdr_kernel.selection import EngineLayout, Pick

if TYPE_CHECKING:
    from dgdr_kernel.dgd.inputs import RenderInputs
    from dgdr_kernel.request import ResolvedRequest

__all__ = [
    "PlannerCurves",
    "build_planner_config",
    "build_planner_curves",
    "decode_grid_isl",
    "decode_batch_sizes",
    "prefill_grid_isl",
    "sweep_max_context_length",
    "write_planner_curves",
]

logger = logging.getLogger(__name__)

PREFILL_GRANULARITY = 16
DECODE_GRANULARITY = 6
DECODE_OSL = 500
MIN_ISL = 100
CONTEXT_MARGIN_TOKENS = 512  # prefill stays this far below the context window
PREFILL_NPZ = "selected_prefill_interpolation/raw_data.npz"
DECODE_NPZ = "selected_decode_interpolation/raw_data.npz"


@dataclass(frozen=True)
class PlannerCurves:
    """Prefill and decode curves of the picked engines, in the planner's layout."""

    prefill_isl: np.ndarray  # int64 tokens
    prefill_ttft: np.ndarray  # float64 ms
    prefill_thpt_per_gpu: np.ndarray  # float64 prefill tokens/s per GPU
    x_kv_usage: np.ndarray  # float64, 0..1 share of the KV cache in use
    y_context_length: np.ndarray  # float64 tokens, ISL + OSL/2
    z_itl: np.ndarray  # float64 ms
    z_thpt_per_gpu: np.ndarray  # float64 output tokens/s per GPU
    max_kv_tokens: int  # KV-cache capacity of one decode worker, all DP ranks

    def prefill_arrays(self) -> dict[str, np.ndarray]:
        return {
            "prefill_isl": self.prefill_isl,
            "prefill_ttft": self.prefill_ttft,
            "prefill_thpt_per_gpu": self.prefill_thpt_per_gpu,
        }

    def decode_arrays(self) -> dict[str, np.ndarray]:
        return {
            "x_kv_usage": self.x_kv_usage,
            "y_context_length": self.y_context_length,
            "z_itl": self.z_itl,
            "z_thpt_per_gpu": self.z_thpt_per_gpu,
            "max_kv_tokens": np.array([self.max_kv_tokens], dtype=np.int64),
        }

    def configmap_data(self) -> dict[str, str]:
        """Return the profile-data ConfigMap keys: the same arrays as JSON lists."""
        prefill = {name: array.tolist() for name, array in self.prefill_arrays().items()}
        decode = {name: array.tolist() for name, array in self.decode_arrays().items() if name != "max_kv_tokens"}
        decode["max_kv_tokens"] = int(self.max_kv_tokens)  # the planner reads a plain int here
        return {"prefill_raw_data.json": json.dumps(prefill), "decode_raw_data.json": json.dumps(decode)}


def sweep_max_context_length(max_position_embeddings: int | None, isl: int) -> int:
    """Return the context length the curves cover: the model's window, else 2 x ISL."""
    if max_position_embeddings:
        return int(max_position_embeddings)
    return 2 * isl if isl > 0 else 8192


def prefill_grid_isl(max_context: int, granularity: int = PREFILL_GRANULARITY) -> np.ndarray:
    """Return the prefill ISL grid: 100 up to max_context - 512, in `granularity` steps."""
    upper = max_context - CONTEXT_MARGIN_TOKENS
    if upper <= MIN_ISL:
        raise PerfModelError(
            f"the model context of {max_context} tokens leaves no room for prefill curves "
            f"(need more than {MIN_ISL + CONTEXT_MARGIN_TOKENS}); planner curves cannot be built"
        )
    step = max(1, (upper - MIN_ISL) // granularity)
    return np.arange(MIN_ISL, upper, step, dtype=np.int64)


def decode_grid_isl(max_context: int, granularity: int = DECODE_GRANULARITY) -> np.ndarray:
    """Return the decode ISL grid: 100 up to max_context - OSL, in `granularity` steps."""
    upper = max_context - DECODE_OSL
    if upper <= MIN_ISL:
        raise PerfModelError(f"the model context of {max_context} tokens is too short for decode curves at OSL {DECODE_OSL}")
    step = max(1, upper // granularity)
    return np.arange(MIN_ISL, upper, step, dtype=np.int64)


def decode_batch_sizes(dp: int, max_concurrency: int, points: int = DECODE_GRANULARITY) -> list[int]:
    """Return up to `points` batch sizes from dp to `max_concurrency`, multiples of dp.

    Spacing in units of dp keeps every DP rank equally loaded and never exceeds
    `max_concurrency` (the upstream spacing overshoots by a factor dp).
    """
    per_rank = max_concurrency // dp
    if per_rank < 1:
        return []
    if per_rank < points:
        return [dp * k for k in range(1, per_rank + 1)]
    step = (per_rank - 1) / (points - 1)
    return sorted({dp * (1 + int(i * step)) for i in range(points)})


def _perf_layout(engine: EngineLayout, size: int):
    from dgdr_kernel.perf import Layout

    full = lambda value: np.full(size, value, dtype=np.int64)  # noqa: E731
    return Layout(tp=full(engine.tp), pp=full(engine.pp), dp=full(engine.dp), moe_tp=full(engine.moe_tp), moe_ep=full(engine.moe_ep))


def build_planner_curves(request: "ResolvedRequest", pick: Pick, *, perf_model=None) -> PlannerCurves:
    """Price the picked prefill and decode engines on the planner's grids.

    An agg pick uses its single engine for both curves. `perf_model` defaults
    to `PerfModel(arch, gpu, pick.backend)`.
    """
    if perf_model is None:
        from dgdr_kernel.perf import PerfModel

        perf_model = PerfModel(request.arch, request.gpu, pick.backend)
    prefill_engine = pick.prefill or pick.agg
    decode_engine = pick.decode or pick.agg
    max_context = sweep_max_context_length(getattr(request.arch, "max_position_embeddings", None), request.isl)

    prefill_isl = prefill_grid_isl(max_context)
    prefill = perf_model.disagg_prefill(_perf_layout(prefill_engine, len(prefill_isl)), prefill_isl)
    prefill_ttft = np.asarray(prefill.ttft_ms, dtype=np.float64)
    prefill_thpt = np.asarray(prefill.requests_per_s, dtype=np.float64) * prefill_isl / prefill_engine.gpus_per_worker
    keep = np.isfinite(prefill_ttft) & np.isfinite(prefill_thpt) & (prefill_ttft > 0)
    if keep.sum() < 4:
        raise PerfModelError(f"the prefill engine {prefill_engine.parallel} could be priced at only {int(keep.sum())} ISL points; the planner needs at least 4 for its cubic interpolation")

    max_kv_tokens = int(np.asarray(perf_model.memory(_perf_layout(decode_engine, 1)).kv_capacity_tokens)[0])
    isl_points, batch_points = [], []
    for isl in decode_grid_isl(max_context):
        max_concurrency = max_kv_tokens // (int(isl) + DECODE_OSL)
        if max_concurrency <= 0:
            break
        for batch in decode_batch_sizes(decode_engine.dp, max_concurrency):
            isl_points.append(int(isl))
            batch_points.append(batch)
    if not isl_points:
        raise PerfModelError(f"the decode engine {decode_engine.parallel} has room for {max_kv_tokens} KV tokens, fewer than one request of {MIN_ISL + DECODE_OSL} tokens needs; planner curves cannot be built")

    isl_array = np.asarray(isl_points, dtype=np.float64)
    batch_array = np.asarray(batch_points, dtype=np.float64)
    decode = perf_model.disagg_decode(_perf_layout(decode_engine, len(isl_array)), isl_array, DECODE_OSL, batch_array)
    context = isl_array + DECODE_OSL / 2
    x_kv_usage = context * np.asarray(decode.batch, dtype=np.float64) / max_kv_tokens
    z_itl = np.asarray(decode.itl_ms, dtype=np.float64)
    z_thpt = np.asarray(decode.tokens_per_s_per_gpu, dtype=np.float64)
    ok = np.isfinite(z_itl) & np.isfinite(z_thpt)

    curves = PlannerCurves(
        prefill_isl=prefill_isl[keep],
        prefill_ttft=prefill_ttft[keep],
        prefill_thpt_per_gpu=prefill_thpt[keep],
        x_kv_usage=x_kv_usage[ok],
        y_context_length=context[ok],
        z_itl=z_itl[ok],
        z_thpt_per_gpu=z_thpt[ok],
        max_kv_tokens=max_kv_tokens,
    )
    logger.info("planner curves: %d prefill points, %d decode points, max_kv_tokens=%d", len(curves.prefill_isl), len(curves.z_itl), max_kv_tokens)
    return curves


def write_planner_curves(curves: PlannerCurves, out_dir: str | Path) -> list[Path]:
    """Write the two raw_data.npz files under `out_dir` and return their paths."""
    paths = []
    for relative, arrays in ((PREFILL_NPZ, curves.prefill_arrays()), (DECODE_NPZ, curves.decode_arrays())):
        path = Path(out_dir) / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, **arrays)
        paths.append(path)
    return paths


def build_planner_config(inputs: "RenderInputs", pick: Pick) -> tuple[dict, list[str]]:
    """Return planner_config.json for the pick, and warnings about values we changed.

    `features.planner` is copied, and the engine GPU counts come from the pick.
    The curves directory is the profile-data mount, and `backend` and `mode`
    match the generated DGD. The DGDR's effective TTFT and ITL targets
    (defaults included), which the pick was sized for, become the planner's
    targets unless `features.planner` sets its own.
    """
    # NOTE: upstream also embeds aic_interpolation / aic_perf_model so the planner
    # can re-run AIConfigurator; without AIC here the planner reads our curve files.
    config = dict(inputs.planner or {})
    warnings = []
    prefill_engine = pick.prefill or pick.agg
    decode_engine = pick.decode or pick.agg
    config["prefill_engine_num_gpu"] = prefill_engine.gpus_per_worker
    config["decode_engine_num_gpu"] = decode_engine.gpus_per_worker
    config["profile_results_dir"] = PROFILE_DATA_MOUNT

    for key, value in (("backend", "mocker" if inputs.mocker else pick.backend), ("mode", pick.mode)):
        if key in inputs.planner_fields_set and config.get(key) != value:
            warnings.append(f"features.planner.{key} is {config.get(key)!r} but the generated DGD is {value!r}; the planner config uses {value!r}")
        config[key] = value

    warnings += _carry_sla_targets(inputs, config)
    return config, warnings


def _carry_sla_targets(inputs: "RenderInputs", config: dict) -> list[str]:
    """Set the planner's `ttft`/`itl` (ms) in `config` to the DGDR SLA; return warnings."""
    if inputs.sla_e2e_latency_ms is not None:
        # An end-to-end target has no unique TTFT/ITL split, so none is invented.
        kept = ", ".join(f"{key} {_planner_target_ms(config, key):g} ms" for key in ("ttft", "itl"))
        source = "from features.planner" if {"ttft", "itl"} & inputs.planner_fields_set else "its defaults"
        return [
            f"sla.e2eLatency is {inputs.sla_e2e_latency_ms:g} ms, which the planner cannot target; "
            f"planner_config.json carries no SLA from the DGDR, so the planner keeps {kept} ({source}); "
            "set features.planner.ttft and features.planner.itl to choose its targets"
        ]

    warnings = []
    for key, sla_ms in (("ttft", inputs.sla_ttft_ms), ("itl", inputs.sla_itl_ms)):
        if sla_ms is None:
            continue
        if key not in inputs.planner_fields_set:
            config[key] = sla_ms
            continue
        planner_ms = _planner_target_ms(config, key)
        if planner_ms != sla_ms:
            warnings.append(
                f"features.planner.{key} is {planner_ms:g} ms but the deployment was sized for sla.{key} {sla_ms:g} ms; "
                f"the planner targets {planner_ms:g} ms, so it may scale away from the sized configuration"
            )
    return warnings


def _planner_target_ms(config: dict, key: str) -> float:
    from dgdr_kernel.plannerconfig import PlannerConfig

    value = config.get(key)
    return float(value if value is not None else PlannerConfig.model_fields[key].default)
