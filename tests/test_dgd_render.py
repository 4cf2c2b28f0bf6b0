"""Rendering features: planner, mocker, model cache, router, tolerations, labels."""

import json

from regen_golden import CURVES, DENSE_AGG, DENSE_DECODE, DENSE_PREFILL, PLANNER, _inputs, _pick

from dgdr_kernel.dgd import render_pick
from dgdr_kernel.selection import EngineLayout

DISAGG = _pick("vllm", prefill=DENSE_PREFILL, decode=DENSE_DECODE)
AGG = _pick("vllm", agg=DENSE_AGG)


def _envs(service):
    return {env["name"]: env["value"] for env in service.get("envs", [])}


def _render(pick=DISAGG, curves=None, **changes):
    return render_pick(_inputs("qwen3-32b", **changes), pick, curves=curves)


def test_labels_and_no_owner_reference():
    dgd = _render().dgd
    assert dgd["metadata"]["labels"] == {
        "dgdr.nvidia.com/name": "qwen3-32b",
        "dgdr.nvidia.com/namespace": "dynamo",
        "nvidia.com/managed-by": "dynamo-operator",
    }
    assert "ownerReferences" not in dgd["metadata"]


def test_service_names_and_types():
    services = _render().dgd["spec"]["services"]
    assert list(services) == ["Frontend", "prefill", "decode"]
    assert services["prefill"]["subComponentType"] == "prefill"
    assert services["decode"]["componentType"] == "worker"
    assert list(_render(AGG).dgd["spec"]["services"]) == ["Frontend", "worker"]


def test_replicas_and_gpu_limits_from_pick():
    services = _render().dgd["spec"]["services"]
    assert services["prefill"]["replicas"] == DENSE_PREFILL.workers
    assert services["prefill"]["resources"]["limits"]["gpu"] == "2"
    assert services["decode"]["resources"]["limits"]["gpu"] == "4"


def test_attention_dp_worker_spans_nodes_for_trtllm_not_vllm():
    # DEP8 on 4-GPU GB200 trays (hwdata/gb200.yaml: gpus_per_node 4). TensorRT-LLM
    # launches it as --tensor-parallel-size 8 --enable-attention-dp, one 8-rank
    # group, so the pod set needs two nodes; vLLM runs 8 independent DP engines.
    dep8 = EngineLayout(tp=1, dp=8, moe_ep=8, workers=2, max_batch_size=256, max_num_tokens=256)
    trtllm = _render(_pick("trtllm", agg=dep8), model="deepseek-ai/DeepSeek-R1", num_gpus_per_node=4)
    worker = trtllm.dgd["spec"]["services"]["worker"]
    assert worker["multinode"] == {"nodeCount": 2}
    assert worker["resources"]["limits"]["gpu"] == "4"
    assert not any("do not span nodes" in w for w in trtllm.warnings)

    vllm = _render(_pick("vllm", agg=dep8), model="deepseek-ai/DeepSeek-R1", num_gpus_per_node=4)
    assert "multinode" not in vllm.dgd["spec"]["services"]["worker"]
    assert any("do not span nodes" in w for w in vllm.warnings)


def test_planner_config_carries_picks_and_sla():
    rendered = _render(
        curves=CURVES,
        planner=PLANNER,
        planner_fields_set=frozenset({"optimization_target"}),
        sla_ttft_ms=300.0,
        sla_itl_ms=25.0,
    )
    planner_cm, profile_cm, dgd = rendered.documents
    config = json.loads(planner_cm["data"]["planner_config.json"])
    assert config["prefill_engine_num_gpu"] == 2
    assert config["decode_engine_num_gpu"] == 4
    assert (config["ttft"], config["itl"]) == (300.0, 25.0)
    assert config["profile_results_dir"] == "/workspace/profiling_results"

    planner = dgd["spec"]["services"]["Planner"]
    volumes = {v["name"]: v["configMap"]["name"] for v in planner["extraPodSpec"]["volumes"]}
    assert volumes == {"planner-config": planner_cm["metadata"]["name"], "planner-profile-data": profile_cm["metadata"]["name"]}
    mounts = {m["name"]: m["mountPath"] for m in planner["extraPodSpec"]["mainContainer"]["volumeMounts"]}
    assert mounts == {"planner-config": "/workspace/planner_config", "planner-profile-data": "/workspace/profiling_results"}


def test_planner_sla_not_copied_over_explicit_planner_values():
    rendered = _render(
        planner=PLANNER, planner_fields_set=frozenset({"ttft", "itl"}), sla_ttft_ms=300.0, sla_itl_ms=25.0,
    )  # fmt: skip
    config = json.loads(rendered.documents[0]["data"]["planner_config.json"])
    assert (config["ttft"], config["itl"]) == (500.0, 50.0)
    ttft_warning = [w for w in rendered.warnings if w.startswith("features.planner.ttft")]
    assert len(ttft_warning) == 1
    assert "features.planner.ttft is 500 ms" in ttft_warning[0]
    assert "sla.ttft 300 ms" in ttft_warning[0]
    assert any(w.startswith("features.planner.itl is 50 ms") and "sla.itl 25 ms" in w for w in rendered.warnings)


def test_planner_sla_matching_planner_values_no_warning():
    rendered = _render(
        planner=PLANNER, planner_fields_set=frozenset({"ttft", "itl"}), sla_ttft_ms=500.0, sla_itl_ms=50.0,
    )  # fmt: skip
    assert not any("features.planner.ttft" in w or "features.planner.itl" in w for w in rendered.warnings)


def test_planner_e2e_sla_carries_nothing_with_warning():
    rendered = _render(planner=PLANNER, planner_fields_set=frozenset({"optimization_target"}), sla_e2e_latency_ms=8000.0)
    config = json.loads(rendered.documents[0]["data"]["planner_config.json"])
    # The planner's own defaults (PlannerConfig: ttft 500 ms, itl 50 ms) stay; no split of 8000 ms is invented.
    assert (config["ttft"], config["itl"]) == (500.0, 50.0)
    e2e_warning = [w for w in rendered.warnings if "sla.e2eLatency" in w]
    assert len(e2e_warning) == 1
    assert "ttft 500 ms, itl 50 ms (its defaults)" in e2e_warning[0]


def test_planner_mode_follows_pick_with_warning():
    rendered = _render(AGG, planner=PLANNER, planner_fields_set=frozenset({"mode"}))
    config = json.loads(rendered.documents[0]["data"]["planner_config.json"])
    assert config["mode"] == "agg"
    assert any("features.planner.mode is 'disagg'" in w for w in rendered.warnings)


def test_planner_enables_scaling_adapters_and_benchmark_mode():
    services = _render(planner=PLANNER).dgd["spec"]["services"]
    for role in ("prefill", "decode"):
        assert services[role]["scalingAdapter"] == {"enabled": True}
        assert _envs(services[role])["DYN_BENCHMARK_MODE"] == role
    assert "scalingAdapter" not in services["Frontend"]


def test_agg_vllm_benchmark_mode_is_agg():
    services = _render(AGG, planner={**PLANNER, "mode": "agg"}).dgd["spec"]["services"]
    assert _envs(services["worker"])["DYN_BENCHMARK_MODE"] == "agg"


def test_advisory_planner_leaves_replicas_alone():
    services = _render(planner={**PLANNER, "advisory": True}).dgd["spec"]["services"]
    assert "scalingAdapter" not in services["prefill"]


def test_no_benchmark_mode_without_planner_or_for_sglang():
    assert "DYN_BENCHMARK_MODE" not in _envs(_render().dgd["spec"]["services"]["decode"])
    sglang = render_pick(_inputs("q", planner=PLANNER), _pick("sglang", prefill=DENSE_PREFILL, decode=DENSE_DECODE)).dgd
    assert "DYN_BENCHMARK_MODE" not in _envs(sglang["spec"]["services"]["decode"])


def test_mocker_workers_have_no_gpus_and_read_curves():
    rendered = _render(curves=CURVES, mocker=True)
    services = rendered.dgd["spec"]["services"]
    assert [d["kind"] for d in rendered.documents] == ["ConfigMap", "DynamoGraphDeployment"]
    assert "backendFramework" not in rendered.dgd["spec"]
    for role in ("prefill", "decode"):
        container = services[role]["extraPodSpec"]["mainContainer"]
        assert "resources" not in services[role]
        assert container["image"] == "nvcr.io/nvidia/ai-dynamo/dynamo-planner:1.3.1"
        assert container["command"] == ["python3", "-m", "dynamo.mocker"]
        assert "--planner-profile-data" in container["args"]
        assert container["volumeMounts"][0]["mountPath"] == "/workspace/profiling_results"


def test_missing_curves_warns_and_skips_profile_configmap():
    rendered = _render(mocker=True)
    assert [d["kind"] for d in rendered.documents] == ["DynamoGraphDeployment"]
    assert any("planner curves are not available" in w for w in rendered.warnings)
    args = rendered.dgd["spec"]["services"]["decode"]["extraPodSpec"]["mainContainer"]["args"]
    assert "--planner-profile-data" not in args


def test_kv_router_sets_frontend_env():
    frontend = _render(kv_router=True).dgd["spec"]["services"]["Frontend"]
    assert _envs(frontend)["DYN_ROUTER_MODE"] == "kv"


def test_user_router_mode_wins_over_kv_router():
    override = {"apiVersion": "nvidia.com/v1alpha1", "kind": "DynamoGraphDeployment",
                "spec": {"services": {"Frontend": {"extraPodSpec": {"mainContainer": {"args": ["--router-mode=random"]}}}}}}  # fmt: skip
    frontend = _render(kv_router=True, dgd_override=override).dgd["spec"]["services"]["Frontend"]
    assert "DYN_ROUTER_MODE" not in _envs(frontend)


def test_tolerations_and_runtime_version_on_every_service():
    toleration = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
    services = _render(planner=PLANNER, tolerations=(toleration, toleration), runtime_version_override="1.3.1").dgd["spec"]["services"]
    assert set(services) == {"Frontend", "prefill", "decode", "Planner"}
    for service in services.values():
        assert service["extraPodSpec"]["tolerations"] == [toleration]
        assert service["runtimeVersionOverride"] == "1.3.1"


def test_pvc_path_mounts_everywhere_and_patches_frontend():
    rendered = _render(pvc_name="model-cache", pvc_model_path="Qwen3-32B")
    spec = rendered.dgd["spec"]
    assert spec["pvcs"] == [{"name": "model-cache", "create": False}]
    for service in spec["services"].values():
        assert service["volumeMounts"] == [{"name": "model-cache", "mountPoint": "/opt/model-cache"}]
    frontend_args = spec["services"]["Frontend"]["extraPodSpec"]["mainContainer"]["args"]
    assert frontend_args == ["--model-name", "Qwen/Qwen3-32B", "--model-path", "/opt/model-cache/Qwen3-32B"]


def test_pvc_as_hf_cache_sets_hf_home():
    services = _render(pvc_name="model-cache").dgd["spec"]["services"]
    for service in services.values():
        assert _envs(service)["HF_HOME"] == "/opt/model-cache"
    assert "args" not in services["Frontend"]["extraPodSpec"]["mainContainer"]


def test_dp_beyond_one_node_warns():
    dep16 = EngineLayout(tp=1, dp=16, moe_ep=16, workers=1, max_batch_size=512)
    rendered = render_pick(_inputs("dsv3", model="deepseek-ai/DeepSeek-V3"), _pick("vllm", agg=dep16))
    assert rendered.dgd["spec"]["services"]["worker"]["resources"]["limits"]["gpu"] == "8"
    assert "multinode" not in rendered.dgd["spec"]["services"]["worker"]
    assert any("16 GPUs per worker" in w for w in rendered.warnings)


def test_long_dgdr_name_fails_before_anything_is_returned():
    import pytest

    from dgdr_kernel.errors import RenderError

    with pytest.raises(RenderError, match="at most 33 characters"):
        render_pick(_inputs("n" * 40), DISAGG)


def test_render_final_config_from_request_and_selection():
    from pathlib import Path

    from dgdr_kernel.dgd import render_final_config
    from dgdr_kernel.picking import pick
    from dgdr_kernel.request import resolve_request
    from dgdr_kernel.spec import load_dgdr
    from dgdr_kernel.sweep import run_sweep

    request = resolve_request(load_dgdr(Path(__file__).resolve().parents[1] / "examples" / "qwen3-32b-pvc-path.yaml"))
    selection = pick(request, run_sweep(request))
    dgd = render_final_config(request, selection).dgd
    worker = next(s for s in dgd["spec"]["services"].values() if s["componentType"] == "worker")
    args = worker["extraPodSpec"]["mainContainer"]["args"]
    assert args[args.index("--served-model-name") + 1] == request.dgdr.spec.model
    assert dgd["spec"]["pvcs"][0]["name"] == request.dgdr.spec.model_cache.pvc_name
