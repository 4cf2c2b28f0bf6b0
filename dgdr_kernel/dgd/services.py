"""The services of a v1alpha1 DGD: Frontend, engine or mocker workers, Planner.

Service names are the newest upstream ones: `Frontend`, `worker` (aggregated),
`prefill` and `decode` (disaggregated) and `Planner`. They are short because
Grove pod names must fit in 45 characters with the DGD name. The older
backend-specific names (`VllmDecodeWorker`, `TRTLLMPrefillWorker`, ...) are
still accepted in `overrides.dgd` (see `dgd.overrides`).
"""

from __future__ import annotations

import math

from dgdr_kernel.dgd.backends import (
    PROFILE_DATA_MOUNT,
    Role,
    build_engine_command,
    build_mocker_command,
    max_sequence_tokens,
)
from dgdr_kernel.dgd.images import derive_image
from dgdr_kernel.dgd.inputs import RenderInputs
from dgdr_kernel.selection import EngineLayout

__all__ = [
    "FRONTEND",
    "HF_TOKEN_SECRET",
    "PLANNER",
    "PLANNER_CONFIG_MOUNT",
    "WORKER_NAMES",
    "build_frontend",
    "build_mocker_worker",
    "build_planner",
    "build_worker",
    "mount_configmap",
]

FRONTEND = "Frontend"
PLANNER = "Planner"
WORKER_NAMES: dict[str, str] = {"agg": "worker", "prefill": "prefill", "decode": "decode"}
HF_TOKEN_SECRET = "hf-token-secret"
PLANNER_CONFIG_MOUNT = "/workspace/planner_config"
PLANNER_CONFIG_FILE = "planner_config.json"


def _pvc_mounts(inputs: RenderInputs) -> list[dict]:
    source = inputs.model_source
    if not source.pvc_name:
        return []
    return [{"name": source.pvc_name, "mountPoint": source.mount_path}]


def _model_cache_envs(inputs: RenderInputs) -> list[dict]:
    # A PVC without a model path is the HuggingFace cache: point HF_HOME at it
    # so engines find (and keep) downloaded weights there.
    hf_home = inputs.model_source.hf_home
    return [{"name": "HF_HOME", "value": hf_home}] if hf_home else []


def build_frontend(inputs: RenderInputs, *, backend: str) -> dict:
    """Build the Frontend: the OpenAI-compatible HTTP server and router."""
    source = inputs.model_source
    image = derive_image(inputs.image, "mocker" if inputs.mocker else backend)
    container: dict = {"image": image, "command": ["python3", "-m", "dynamo.frontend"]}
    if source.is_local_path:
        container["args"] = ["--model-name", source.served_model_name, "--model-path", source.model_path]

    service: dict = {"componentType": "frontend", "replicas": 1}
    envs = _model_cache_envs(inputs)
    if inputs.kv_router:
        envs.append({"name": "DYN_ROUTER_MODE", "value": "kv"})
    if envs:
        service["envs"] = envs
    if mounts := _pvc_mounts(inputs):
        service["volumeMounts"] = mounts
    service["extraPodSpec"] = {"mainContainer": container}
    return service


def gpu_limit(layout: EngineLayout, num_gpus_per_node: int) -> int:
    """GPUs one pod requests: the worker's GPUs, at most one node's worth."""
    return min(layout.gpus_per_worker, num_gpus_per_node)


# Backends whose attention data-parallel ranks live inside one tensor-parallel
# group: the engine is launched with --tp / --tensor-parallel-size = tp x dp.
DP_IN_TP_GROUP_BACKENDS = ("sglang", "trtllm")


def node_count(layout: EngineLayout, num_gpus_per_node: int, backend: str) -> int:
    """Nodes one engine instance spans: its launch world size over the node size.

    vLLM data-parallel shards are independent engines and never add nodes, so
    its world is TP x PP. SGLang and TensorRT-LLM run attention DP inside the
    TP group (the rendered TP size is tp x dp), so every rank counts.
    """
    world = layout.tp * layout.pp
    if backend in DP_IN_TP_GROUP_BACKENDS:
        world *= layout.dp
    return math.ceil(world / num_gpus_per_node)


def build_worker(inputs: RenderInputs, *, backend: str, role: Role, layout: EngineLayout) -> dict:
    """Build one engine worker service (agg `worker`, `prefill` or `decode`)."""
    engine = build_engine_command(
        backend,
        role,
        layout,
        inputs.model_source,
        max_seq_tokens=max_sequence_tokens(inputs.isl, inputs.osl, inputs.max_context_tokens),
        trust_remote_code=inputs.trust_remote_code,
    )
    service: dict = {"envFromSecret": HF_TOKEN_SECRET, "componentType": "worker"}
    if role != "agg":
        service["subComponentType"] = role
    service["replicas"] = layout.workers
    service["resources"] = {"limits": {"gpu": str(gpu_limit(layout, inputs.num_gpus_per_node))}}
    nodes = node_count(layout, inputs.num_gpus_per_node, backend)
    if nodes > 1:
        service["multinode"] = {"nodeCount": nodes}

    envs = _model_cache_envs(inputs) + engine.env
    if backend == "vllm" and inputs.planner is not None:
        # vLLM workers benchmark themselves at start-up and serve the result on
        # their get_perf_metrics endpoint, the planner's first source of curves.
        envs.append({"name": "DYN_BENCHMARK_MODE", "value": role})
    if envs:
        service["envs"] = envs
    if mounts := _pvc_mounts(inputs):
        service["volumeMounts"] = mounts
    service["extraPodSpec"] = {
        "mainContainer": {
            "image": derive_image(inputs.image, backend),
            "workingDir": engine.working_dir,
            "command": engine.command,
            "args": engine.args,
        }
    }
    return service


def build_mocker_worker(inputs: RenderInputs, *, role: Role, layout: EngineLayout, profile_data: bool) -> dict:
    """Build a simulated worker: `dynamo.mocker` on CPU, no GPU requested.

    NOTE: upstream ships a disaggregated mocker template only; an agg pick here
    gets one aggregated mocker service (`worker`) without --disaggregation-mode.
    """
    engine = build_mocker_command(role, inputs.model_source, profile_data_dir=PROFILE_DATA_MOUNT if profile_data else None)
    service: dict = {"envFromSecret": HF_TOKEN_SECRET, "componentType": "worker"}
    if role != "agg":
        service["subComponentType"] = role
    service["replicas"] = layout.workers
    if envs := _model_cache_envs(inputs):
        service["envs"] = envs
    if mounts := _pvc_mounts(inputs):
        service["volumeMounts"] = mounts
    service["extraPodSpec"] = {
        "mainContainer": {
            "image": derive_image(inputs.image, "mocker"),
            "workingDir": engine.working_dir,
            "command": engine.command,
            "args": engine.args,
        }
    }
    return service


def build_planner(inputs: RenderInputs, *, planner_configmap: str) -> dict:
    """Build the Planner service, reading planner_config.json from its ConfigMap."""
    service: dict = {"componentType": "planner", "replicas": 1, "extraPodSpec": {"mainContainer": {
        "image": derive_image(inputs.image, "planner"),
        "workingDir": "/workspace/components/src/dynamo/planner",
        "command": ["python3", "-m", "dynamo.planner"],
        "args": ["--config", f"{PLANNER_CONFIG_MOUNT}/{PLANNER_CONFIG_FILE}"],
    }}}  # fmt: skip
    mount_configmap(service, volume_name="planner-config", configmap=planner_configmap, mount_path=PLANNER_CONFIG_MOUNT)
    return service


def mount_configmap(service: dict, *, volume_name: str, configmap: str, mount_path: str) -> None:
    """Mount a ConfigMap read-only into a service's main container."""
    pod = service.setdefault("extraPodSpec", {})
    pod.setdefault("volumes", []).append({"name": volume_name, "configMap": {"name": configmap}})
    container = pod.setdefault("mainContainer", {})
    container.setdefault("volumeMounts", []).append({"name": volume_name, "mountPath": mount_path, "readOnly": True})
