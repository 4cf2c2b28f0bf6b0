"""The Dynamo planner's configuration (`PlannerConfig`), as read from `features.planner`.

The field names, defaults and rules follow the planner's own pydantic model in
ai-dynamo/dynamo (`components/src/dynamo/planner/config/planner_config.py` and
`defaults.py`, 2026 versions). The profiler copies `features.planner` into the
planner's `planner_config.json`, so a DGDR that our tool accepts must also be one
the planner accepts.

Unlike upstream, unknown fields are rejected: a misspelt flag such as
`enable_throughput_scailing` would otherwise be ignored and leave scaling off.

Rules (checked after the fields parse):

- `optimization_target` other than `sla` turns load scaling on and throughput
  scaling off, whatever the input sets. A bare `planner: {}` therefore has no
  throughput scaling and the profiler writes no planner curves.
- At least one scaling mode is on.
- Throughput scaling needs `pre_deployment_sweeping_mode` other than `none`.
- With both scaling modes on, `load_adjustment_interval` is shorter than
  `throughput_adjustment_interval`.
- `environment: global-planner` needs `global_planner_namespace`.
- `fpm_sample_bucket_size` is a perfect square; `report_interval_hours` is
  positive or null.
"""

from __future__ import annotations

import logging
import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from dgdr_kernel.errors import SpecProblem

__all__ = ["PlannerConfig", "find_planner_rule_problems"]

logger = logging.getLogger(__name__)

# Keys of the validation context through which the spec loader collects rule
# problems and warnings instead of stopping at the first one.
RULE_PROBLEMS_CONTEXT_KEY = "planner_rule_problems"
WARNINGS_CONTEXT_KEY = "planner_warnings"

SweepMode = Literal["rapid", "thorough", "none"]


class PlannerConfig(BaseModel):
    """Configuration of the Dynamo planner (SLA and load-based autoscaling)."""

    model_config = ConfigDict(extra="forbid")

    pre_deployment_sweeping_mode: SweepMode | None = Field(
        default="rapid",
        description="bootstrap data for the planner: rapid (simulated), thorough (measured), none",
    )
    environment: Literal["kubernetes", "virtual", "global-planner"] = "kubernetes"
    namespace: str | None = Field(default=None, description="Dynamo namespace; the planner reads DYN_NAMESPACE when unset")
    backend: Literal["vllm", "sglang", "trtllm", "mocker"] = "vllm"
    mode: Literal["disagg", "prefill", "decode", "agg"] = "disagg"
    optimization_target: Literal["throughput", "latency", "sla"] = Field(
        default="throughput",
        description="sla scales on TTFT/ITL targets; throughput and latency use static load thresholds",
    )
    log_dir: str | None = None
    throughput_adjustment_interval: int = Field(default=180, gt=0, description="seconds")
    max_gpu_budget: int = Field(default=8, gt=0, description="GPUs the planner may use")
    min_endpoint: int = Field(default=1, ge=0, description="minimum replicas of each worker role")
    prefill_engine_num_gpu: int | None = Field(default=None, gt=0, description="set by the profiler from the pick")
    decode_engine_num_gpu: int | None = Field(default=None, gt=0, description="set by the profiler from the pick")
    profile_results_dir: str = "profiling_results"
    aic_interpolation: dict[str, Any] | None = Field(default=None, description="set by the profiler in rapid mode")
    aic_perf_model: dict[str, Any] | None = Field(default=None, description="set by the profiler when optimization_target is sla")
    ttft: float = Field(default=500.0, gt=0, description="TTFT target in ms")
    itl: float = Field(default=50.0, gt=0, description="ITL target in ms")
    load_predictor: Literal["arima", "constant", "kalman", "prophet"] = "arima"
    load_predictor_log1p: bool = False
    load_predictor_warmup_trace: str | None = None
    prophet_window_size: int = Field(default=50, gt=0)
    kalman_q_level: float = 1.0
    kalman_q_trend: float = 0.1
    kalman_r: float = 10.0
    kalman_min_points: int = Field(default=5, gt=0)
    metric_pulling_prometheus_endpoint: str | None = None
    metric_reporting_prometheus_port: int = Field(default=0, ge=0, description="0 disables the planner's metrics port")
    throughput_metrics_source: Literal["frontend", "router"] = "frontend"
    model_name: str | None = None
    global_planner_namespace: str | None = None
    enable_throughput_scaling: bool = True
    enable_load_scaling: bool = False
    load_adjustment_interval: int = Field(default=5, gt=0, description="seconds")
    max_num_fpm_samples: int = Field(default=64, gt=0)
    fpm_sample_bucket_size: int = Field(default=16, gt=0, description="must be a perfect square")
    load_scaling_down_sensitivity: int = Field(default=80, ge=0, le=100)
    load_metric_samples: int = Field(default=10, gt=0)
    load_min_observations: int = Field(default=5, gt=0)
    advisory: bool = Field(default=False, description="log scaling decisions without applying them")
    report_interval_hours: float | None = Field(default=24.0, description="null disables periodic reports")
    report_output_dir: str = "./planner_reports"
    report_filename: str | None = None
    live_dashboard_port: int = Field(default=8080, ge=0, description="0 disables the live dashboard")

    @field_validator("report_interval_hours")
    @classmethod
    def _check_report_interval(cls, value: float | None) -> float | None:
        if value is not None and not (math.isfinite(value) and value > 0):
            raise PydanticCustomError(
                "planner_value",
                "must be a positive number of hours or null",
                {"fix": "set a positive value, or null to turn periodic reports off"},
            )
        return value

    @field_validator("fpm_sample_bucket_size")
    @classmethod
    def _check_bucket_size(cls, value: int) -> int:
        root = math.isqrt(value)
        if root * root != value:
            raise PydanticCustomError(
                "planner_value",
                "must be a perfect square",
                {"fix": f"use {root * root} or {(root + 1) ** 2}"},
            )
        return value

    @model_validator(mode="after")
    def _apply_rules(self, info: ValidationInfo) -> "PlannerConfig":
        context = info.context if isinstance(info.context, dict) else {}
        warnings = context.get(WARNINGS_CONTEXT_KEY)

        # The planner forces this pair for every target but sla. Warn whenever that
        # changes a value, defaults included: a bare `planner: {}` loses throughput scaling.
        if self.optimization_target != "sla":
            if self.enable_throughput_scaling or not self.enable_load_scaling:
                note = (
                    f"optimization_target {self.optimization_target!r} turns load scaling on and "
                    "throughput scaling off, so the planner gets no throughput curves; "
                    "set optimization_target: sla for SLA-driven throughput scaling"
                )
                if warnings is not None:
                    warnings.append(note)
                else:
                    logger.warning("PlannerConfig: %s", note)
            self.enable_load_scaling = True
            self.enable_throughput_scaling = False

        problems = find_planner_rule_problems(self)
        collected = context.get(RULE_PROBLEMS_CONTEXT_KEY)
        if collected is not None:
            collected.extend(problems)
        elif problems:
            raise ValueError("; ".join(f"{p.path}: {p.message}" for p in problems))
        return self

    def scaling_enabled(self) -> bool:
        """Return True when throughput or load scaling is on."""
        return self.enable_throughput_scaling or self.enable_load_scaling


def find_planner_rule_problems(config: PlannerConfig) -> list[SpecProblem]:
    """List every cross-field rule that `config` breaks (empty when it is valid).

    Each problem's path is relative to the planner config (`features.planner`).
    """
    problems: list[SpecProblem] = []

    if config.environment == "global-planner" and not config.global_planner_namespace:
        problems.append(
            SpecProblem(
                "global_planner_namespace",
                "is required when environment is global-planner",
                None,
                "set it to the namespace where the GlobalPlanner runs",
            )
        )

    if not config.enable_throughput_scaling and not config.enable_load_scaling:
        problems.append(
            SpecProblem(
                "enable_throughput_scaling",
                "at least one of enable_throughput_scaling and enable_load_scaling must be true",
                False,
                "set enable_throughput_scaling: true (with optimization_target: sla) or enable_load_scaling: true",
            )
        )

    if config.enable_throughput_scaling and config.pre_deployment_sweeping_mode in (None, "none"):
        problems.append(
            SpecProblem(
                "pre_deployment_sweeping_mode",
                "throughput scaling needs pre-deployment sweeping to profile the engines",
                config.pre_deployment_sweeping_mode,
                "set pre_deployment_sweeping_mode to rapid or thorough, or turn enable_throughput_scaling off",
            )
        )

    both_on = config.enable_throughput_scaling and config.enable_load_scaling
    if both_on and config.load_adjustment_interval >= config.throughput_adjustment_interval:
        problems.append(
            SpecProblem(
                "load_adjustment_interval",
                f"must be shorter than throughput_adjustment_interval ({config.throughput_adjustment_interval} s) "
                "when both scaling modes are on",
                config.load_adjustment_interval,
                "lower load_adjustment_interval or raise throughput_adjustment_interval",
            )
        )

    return problems
