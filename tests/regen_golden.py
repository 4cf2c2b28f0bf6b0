"""Golden cases of the DGD renderer, and the command that rewrites their expected files.

Each case renders the final config (ConfigMaps, then the DGD) from hand-built
`RenderInputs` and `Pick` objects, so the expected files do not move when the
performance model is recalibrated. After a deliberate change to the renderer,
regenerate every expected file, review the diff, and commit it:

    .venv/bin/python tests/regen_golden.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from dgdr_kernel.bundle import dump_yaml
from dgdr_kernel.dgd import RenderInputs, render_pick
from dgdr_kernel.planner import PlannerCurves
from dgdr_kernel.selection import EngineLayout, Pick

GOLDEN_DIR = Path(__file__).parent / "golden" / "dgd"
IMAGE = "nvcr.io/nvidia/ai-dynamo/dynamo-planner:1.3.1"


def _pick(backend: str, *, agg=None, prefill=None, decode=None) -> Pick:
    mode = "agg" if agg is not None else "disagg"
    gpus = sum(w.gpus_per_worker * w.workers for w in (agg, prefill, decode) if w is not None)
    return Pick(
        mode=mode, backend=backend, agg=agg, prefill=prefill, decode=decode, total_gpus=gpus,
        ttft_ms=250.0, itl_ms=20.0, request_latency_ms=20230.0, tokens_per_s_per_user=50.0,
        tokens_per_s_per_gpu=900.0, requests_per_s=4.0, concurrency=64.0, meets_sla=True, provenance="modelled",
    )  # fmt: skip


def _inputs(name: str, model: str = "Qwen/Qwen3-32B", **changes) -> RenderInputs:
    base = dict(dgdr_name=name, namespace="dynamo", model=model, image=IMAGE, num_gpus_per_node=8, isl=4000, osl=1000, max_context_tokens=40960)
    base.update(changes)
    return RenderInputs(**base)


# A small, fixed set of curves: the goldens check where the arrays go, not their values.
CURVES = PlannerCurves(
    prefill_isl=np.array([100, 2000, 4000, 8000], dtype=np.int64),
    prefill_ttft=np.array([10.0, 90.0, 190.0, 420.0]),
    prefill_thpt_per_gpu=np.array([2500.0, 5500.0, 5300.0, 4800.0]),
    x_kv_usage=np.array([0.1, 0.5, 0.1, 0.5]),
    y_context_length=np.array([350.0, 350.0, 6350.0, 6350.0]),
    z_itl=np.array([8.0, 12.0, 10.0, 18.0]),
    z_thpt_per_gpu=np.array([400.0, 1500.0, 300.0, 1100.0]),
    max_kv_tokens=200000,
)

DENSE_AGG = EngineLayout(tp=2, workers=4, max_batch_size=256, max_num_tokens=5756)
DENSE_PREFILL = EngineLayout(tp=2, workers=2, max_batch_size=1, max_num_tokens=5500)
DENSE_DECODE = EngineLayout(tp=4, workers=1, max_batch_size=128, max_num_tokens=128)
MOE_DEP = EngineLayout(tp=1, dp=8, moe_ep=8, workers=1, max_batch_size=512, max_num_tokens=512)
MOE_TEP = EngineLayout(tp=4, moe_ep=4, workers=2, max_batch_size=1, max_num_tokens=8192)
MULTINODE_DECODE = EngineLayout(tp=16, moe_ep=16, workers=1, max_batch_size=256, max_num_tokens=256)

PLANNER = {"pre_deployment_sweeping_mode": "rapid", "optimization_target": "sla", "enable_throughput_scaling": True, "enable_load_scaling": False, "mode": "disagg", "backend": "vllm", "ttft": 500.0, "itl": 50.0}

OVERRIDE_V1ALPHA1 = {
    "apiVersion": "nvidia.com/v1alpha1",
    "kind": "DynamoGraphDeployment",
    "metadata": {"name": "qwen32b", "labels": {"team": "inference"}, "namespace": "ignored"},
    "spec": {
        "services": {
            "VllmDecodeWorker": {"extraPodSpec": {"mainContainer": {"args": ["--enable-prefix-caching"]}}},
            "Frontend": {"replicas": 2, "extraPodSpec": {"mainContainer": {"args": ["--router-mode", "round-robin"]}}},
            "prefill": {"envs": [{"name": "VLLM_LOGGING_LEVEL", "value": "DEBUG"}]},
            "EncodeWorker": {"replicas": 1},
        }
    },
}
OVERRIDE_V1BETA1 = {
    "apiVersion": "nvidia.com/v1beta1",
    "kind": "DynamoGraphDeployment",
    "spec": {
        "components": [
            {"name": "decode", "replicas": 3, "podTemplate": {"spec": {"containers": [{"name": "main", "env": [{"name": "NCCL_DEBUG", "value": "INFO"}]}]}}},
        ]
    },
}

# case name -> (inputs, pick, curves, DGD apiVersion)
CASES = {
    "vllm-agg": (_inputs("qwen3-32b"), _pick("vllm", agg=DENSE_AGG), None, "nvidia.com/v1alpha1"),
    "vllm-disagg": (_inputs("qwen3-32b"), _pick("vllm", prefill=DENSE_PREFILL, decode=DENSE_DECODE), None, "nvidia.com/v1alpha1"),
    "sglang-agg-dep": (_inputs("dsv3", model="deepseek-ai/DeepSeek-V3", max_context_tokens=163840), _pick("sglang", agg=MOE_DEP), None, "nvidia.com/v1alpha1"),
    "sglang-disagg": (_inputs("qwen3-32b"), _pick("sglang", prefill=DENSE_PREFILL, decode=DENSE_DECODE), None, "nvidia.com/v1alpha1"),
    "trtllm-agg": (_inputs("qwen3-32b"), _pick("trtllm", agg=DENSE_AGG), None, "nvidia.com/v1alpha1"),
    "trtllm-disagg-multinode": (
        _inputs("dsr1", model="deepseek-ai/DeepSeek-R1", max_context_tokens=163840),
        _pick("trtllm", prefill=MOE_TEP, decode=MULTINODE_DECODE),
        None,
        "nvidia.com/v1alpha1",
    ),
    "cache-hf-home": (_inputs("qwen3-32b", pvc_name="model-cache"), _pick("vllm", agg=DENSE_AGG), None, "nvidia.com/v1alpha1"),
    "cache-pvc-path": (
        _inputs("qwen3-32b", pvc_name="model-cache", pvc_model_path="hub/Qwen3-32B/", pvc_mount_path="/models/"),
        _pick("sglang", prefill=DENSE_PREFILL, decode=DENSE_DECODE),
        None,
        "nvidia.com/v1alpha1",
    ),
    "features-kv-router-tolerations": (
        _inputs(
            "qwen3-32b", kv_router=True, trust_remote_code=True, runtime_version_override="1.3.1",
            tolerations=({"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},),
        ),  # fmt: skip
        _pick("vllm", agg=DENSE_AGG),
        None,
        "nvidia.com/v1alpha1",
    ),
    "planner-vllm-disagg": (
        _inputs("qwen3-32b", planner=PLANNER, planner_fields_set=frozenset({"pre_deployment_sweeping_mode", "optimization_target"}), sla_ttft_ms=300.0, sla_itl_ms=25.0),
        _pick("vllm", prefill=DENSE_PREFILL, decode=DENSE_DECODE),
        CURVES,
        "nvidia.com/v1alpha1",
    ),
    "mocker-agg": (_inputs("qwen3-8b", model="Qwen/Qwen3-8B", mocker=True), _pick("vllm", agg=EngineLayout(tp=1, workers=8, max_batch_size=256)), CURVES, "nvidia.com/v1alpha1"),
    "mocker-planner-disagg": (
        _inputs("qwen3-32b", mocker=True, planner={**PLANNER, "backend": "mocker"}, planner_fields_set=frozenset({"backend"})),
        _pick("vllm", prefill=DENSE_PREFILL, decode=DENSE_DECODE),
        CURVES,
        "nvidia.com/v1alpha1",
    ),
    "overrides-v1alpha1": (
        _inputs("qwen3-32b", kv_router=True, dgd_override=OVERRIDE_V1ALPHA1),
        _pick("vllm", prefill=DENSE_PREFILL, decode=DENSE_DECODE),
        None,
        "nvidia.com/v1alpha1",
    ),
    "overrides-v1beta1": (
        _inputs("qwen3-32b", dgd_override=OVERRIDE_V1BETA1),
        _pick("vllm", prefill=DENSE_PREFILL, decode=DENSE_DECODE),
        None,
        "nvidia.com/v1alpha1",
    ),
    "v1beta1-trtllm-disagg": (_inputs("qwen3-32b"), _pick("trtllm", prefill=DENSE_PREFILL, decode=DENSE_DECODE), None, "nvidia.com/v1beta1"),
}


def render_case(name: str) -> str:
    """Return the final_config.yaml text of one case."""
    inputs, pick, curves, api_version = CASES[name]
    rendered = render_pick(inputs, pick, curves=curves, api_version=api_version)
    return dump_yaml(rendered.documents, all_documents=True)


def golden_path(name: str) -> Path:
    return GOLDEN_DIR / f"{name}.yaml"


def main() -> int:
    GOLDEN_DIR.mkdir(parents=True, exist_ok=True)
    for name in CASES:
        golden_path(name).write_text(render_case(name))
        print(f"wrote {golden_path(name)}")
    stale = sorted(set(p.stem for p in GOLDEN_DIR.glob("*.yaml")) - set(CASES))
    for name in stale:
        print(f"warning: {golden_path(name)} has no case; delete it if the case was removed", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
