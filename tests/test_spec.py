"""Tests of the DGDR loader: input forms, defaults, rules and error reporting."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from dgdr_kernel.errors import SpecError
from dgdr_kernel.plannerconfig import PlannerConfig
from dgdr_kernel.spec import (
    DNS1123_LABEL,
    derive_name_from_model,
    load_dgdr,
    to_document,
)
from dgdr_kernel.spec_models import (
    DEFAULT_IMAGE,
    GPU_SKUS,
    DgdrSpec,
    HardwareSpec,
    catalogued_gpu_skus,
    suggest_gpu_sku,
)

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "dgdr"

HARDWARE = {"gpuSku": "h200_sxm", "totalGpus": 8, "numGpusPerNode": 8}


def problem_paths(exc: SpecError) -> list[str]:
    return [problem.path for problem in exc.problems]


def load_invalid(source) -> SpecError:
    with pytest.raises(SpecError) as info:
        load_dgdr(source)
    return info.value


# --------------------------------------------------------------------------- input forms


def test_whole_cr_and_bare_spec_give_same_spec():
    whole = load_dgdr(EXAMPLES / "qwen3-32b-h200.yaml")
    bare = load_dgdr(yaml.safe_load((EXAMPLES / "qwen3-32b-h200.yaml").read_text())["spec"])

    assert whole.spec == bare.spec
    assert whole.metadata.name == "qwen3-32b"
    assert whole.metadata.namespace == "dynamo"
    assert "metadata.name" not in whole.defaults_applied
    assert "metadata.name" in bare.defaults_applied


def test_yaml_and_json_text_give_same_spec():
    document = {"apiVersion": "nvidia.com/v1beta1", "kind": "DynamoGraphDeploymentRequest",
                "metadata": {"name": "same"}, "spec": {"model": "Qwen/Qwen3-8B", "hardware": HARDWARE}}

    from_yaml = load_dgdr(yaml.safe_dump(document))
    from_json = load_dgdr(json.dumps(document, indent=2))

    assert from_yaml.spec == from_json.spec
    assert from_yaml.metadata == from_json.metadata


def test_null_ttft_itl_without_e2e_are_reported_as_defaults():
    # Without e2eLatency, null ttft/itl fall back to 2000 and 30 ms (the upstream
    # profiler's defaults); the user must see that those values were assumed.
    loaded = load_dgdr({"model": "Qwen/Qwen3-8B", "sla": {"ttft": None, "itl": None}})
    assert (loaded.spec.sla.ttft, loaded.spec.sla.itl) == (2000.0, 30.0)
    assert {"sla.ttft", "sla.itl"} <= set(loaded.defaults_applied)


def test_flow_style_yaml_is_accepted():
    # `{...}` on one line is flow-style YAML; it was sent to the JSON parser only
    # and rejected with "Expecting property name enclosed in double quotes".
    loaded = load_dgdr("{model: Qwen/Qwen3-8B, workload: {isl: 1000}}\n")
    assert loaded.spec.model == "Qwen/Qwen3-8B"
    assert loaded.spec.workload.isl == 1000


def test_json_duplicate_key_rejected_like_yaml():
    # json.loads keeps the last of two equal keys silently; YAML input already
    # rejects them, so JSON input must too.
    with pytest.raises(SpecError, match="duplicate key 'model'"):
        load_dgdr('{"model": "Qwen/Qwen3-8B", "model": "Qwen/Qwen3-32B"}\n')


def test_broken_json_reports_the_json_error():
    with pytest.raises(SpecError, match="invalid JSON at line 1"):
        load_dgdr('{"model": "Qwen/Qwen3-8B" "backend": "vllm"}\n')


def test_json_file_whole_cr_keeps_labels():
    loaded = load_dgdr(str(FIXTURES / "valid-whole-cr.json"))

    assert loaded.metadata.labels == {"team": "inference"}
    assert loaded.source.endswith("valid-whole-cr.json")
    assert loaded.spec.sla.e2e_latency == 20000.0


def test_stdin_source(monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("model: Qwen/Qwen3-0.6B\nworkload: {isl: 128}\n"))

    loaded = load_dgdr("-")

    assert loaded.source == "<stdin>"
    assert loaded.spec.workload.isl == 128
    assert loaded.metadata.name == "qwen3-0-6b"


def test_missing_file_is_spec_error():
    error = load_invalid(str(FIXTURES / "does-not-exist.yaml"))

    assert "file not found" in str(error)


def test_non_mapping_document_rejected():
    error = load_invalid("- model: Qwen/Qwen3-8B\n- model: Qwen/Qwen3-32B\n")

    assert "must be a mapping" in str(error)


# --------------------------------------------------------------------------- defaults


def test_minimal_spec_records_every_default():
    loaded = load_dgdr({"model": "Qwen/Qwen3-8B"})

    assert loaded.defaults_applied == [
        "metadata.name",
        "backend",
        "image",
        "searchStrategy",
        "autoApply",
        "workload.isl",
        "workload.osl",
        "sla.ttft",
        "sla.itl",
        "features.mocker.enabled",
        "features.kvRouter.enabled",
        "overrides.trustRemoteCode",
    ]
    spec = loaded.spec
    assert (spec.workload.isl, spec.workload.osl) == (4000, 1000)
    assert (spec.sla.ttft, spec.sla.itl) == (2000.0, 30.0)
    assert spec.backend == "auto"
    assert spec.search_strategy == "rapid"
    assert spec.auto_apply is True
    assert spec.image == DEFAULT_IMAGE
    assert spec.overrides.trust_remote_code is False


def test_explicit_values_not_marked_default():
    loaded = load_dgdr({"model": "Qwen/Qwen3-8B", "backend": "vllm", "workload": {"isl": 4000}})

    assert "backend" not in loaded.defaults_applied
    assert "workload.isl" not in loaded.defaults_applied
    assert "workload.osl" in loaded.defaults_applied


def test_e2e_latency_leaves_ttft_itl_unset():
    loaded = load_dgdr({"model": "Qwen/Qwen3-8B", "sla": {"e2eLatency": 9000}})

    assert loaded.spec.sla.ttft is None
    assert loaded.spec.sla.itl is None
    assert "sla.ttft" not in loaded.defaults_applied
    assert "sla.itl" not in loaded.defaults_applied


def test_model_cache_mount_path_default():
    loaded = load_dgdr({"model": "Qwen/Qwen3-8B", "modelCache": {"pvcName": "cache"}})

    assert loaded.spec.model_cache.pvc_mount_path == "/opt/model-cache"
    assert "modelCache.pvcMountPath" in loaded.defaults_applied


def test_no_model_cache_means_none():
    loaded = load_dgdr({"model": "Qwen/Qwen3-8B"})

    assert loaded.spec.model_cache is None


@pytest.mark.parametrize(
    ("model_id", "expected"),
    [
        ("Qwen/Qwen3-32B", "qwen3-32b"),
        ("meta-llama/Llama-3.1-8B-Instruct", "llama-3-1-8b-instruc"),
        ("deepseek-ai/DeepSeek-V3", "deepseek-v3"),
        ("/models/My_Model/", "my-model"),
        ("___", "dgdr"),
    ],
)
def test_derived_name(model_id, expected):
    name = derive_name_from_model(model_id)

    assert name == expected
    assert DNS1123_LABEL.match(name)
    assert len(name) <= 20


def test_to_document_roundtrip():
    loaded = load_dgdr(EXAMPLES / "llama33-70b-overrides.yaml")

    reloaded = load_dgdr(to_document(loaded))

    assert reloaded.spec == loaded.spec
    assert reloaded.metadata == loaded.metadata


# --------------------------------------------------------------------------- field checks


def test_snake_case_rejected_in_files_with_camel_suggestion():
    error = load_invalid({"model": "Qwen/Qwen3-8B", "hardware": {"gpu_sku": "h100_sxm"}})

    assert problem_paths(error) == ["hardware.gpu_sku"]
    assert error.problems[0].fix == "did you mean 'gpuSku'?"


def test_python_construction_accepts_snake_case():
    spec = DgdrSpec(model="Qwen/Qwen3-8B", hardware=HardwareSpec(gpu_sku="h100_sxm", total_gpus=8))

    assert spec.hardware.gpu_sku == "h100_sxm"
    assert spec.hardware.total_gpus == 8


def test_bool_is_not_an_integer():
    error = load_invalid({"model": "m", "hardware": {"totalGpus": True}})

    assert problem_paths(error) == ["hardware.totalGpus"]
    assert error.problems[0].message == "must be an integer"


def test_infinite_rate_rejected():
    error = load_invalid({"model": "m", "workload": {"requestRate": math.inf}})

    assert problem_paths(error) == ["workload.requestRate"]


def test_empty_model_rejected():
    error = load_invalid({"model": ""})

    assert problem_paths(error) == ["model"]
    assert error.problems[0].message == "must not be empty"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("H100-SXM5-80GB", "h100_sxm"),
        ("H200", "h200_sxm"),
        ("h100-pcie", "h100_pcie"),
        ("GB200_SXM", "gb200"),
        ("NVIDIA L40S", "l40s"),
    ],
)
def test_gpu_sku_suggestion(text, expected):
    assert suggest_gpu_sku(text) == expected


def test_gpu_sku_error_carries_suggestion():
    error = load_invalid({"model": "m", "hardware": {"gpuSku": "H100-SXM5-80GB"}})

    assert problem_paths(error) == ["hardware.gpuSku"]
    assert error.problems[0].value == "H100-SXM5-80GB"
    assert error.problems[0].fix == "use 'h100_sxm'"


def test_gpu_sku_error_lists_catalogued_skus_first():
    error = load_invalid({"model": "m", "hardware": {"gpuSku": "h300"}})

    fix = error.problems[0].fix
    listed, _, remark = fix.partition(" (")
    assert listed.startswith("use one of: ")
    assert set(listed.removeprefix("use one of: ").split(", ")) == set(catalogued_gpu_skus())
    # gb10 and vr_nvl72 are in the DGDR enum without a file under hwdata/.
    assert "gb10" not in listed.split(", ")
    assert "vr_nvl72" not in listed
    assert remark.startswith("vr_nvl72 and gb10 are also valid in a DGDR")
    assert "dgdr profile cannot plan for them" in remark


def test_gpu_sku_suggestion_without_catalog_marked():
    error = load_invalid({"model": "m", "hardware": {"gpuSku": "gb-10"}})

    fix = error.problems[0].fix
    assert fix.startswith("use 'gb10', which is valid in a DGDR but has no GPU catalog entry")
    assert "to profile, use one of: " in fix
    assert "h200_sxm" in fix


def test_catalogued_gpu_skus_match_hwdata():
    assert set(catalogued_gpu_skus()) == set(GPU_SKUS) - {"gb10", "vr_nvl72"}


def test_gb10_is_valid_dgdr():
    loaded = load_dgdr({"model": "m", "hardware": {"gpuSku": "gb10"}})

    assert loaded.spec.hardware.gpu_sku == "gb10"


def test_gb200_sxm_alias_normalised_with_warning():
    loaded = load_dgdr(FIXTURES / "valid-gb200-sxm-alias.yaml")

    assert loaded.spec.hardware.gpu_sku == "gb200"
    assert any("deprecated alias" in note for note in loaded.warnings)


@pytest.mark.parametrize("version", ["0.0.0", "1.6.0", "9999.10.0"])
def test_runtime_version_accepted(version):
    loaded = load_dgdr({"model": "m", "runtimeVersionOverride": version})

    assert loaded.spec.runtime_version_override == version


@pytest.mark.parametrize("version", ["1.6", "v1.6.0", "01.6.0", "1.6.0-rc1", "10000.0.0"])
def test_runtime_version_rejected(version):
    error = load_invalid({"model": "m", "runtimeVersionOverride": version})

    assert problem_paths(error) == ["runtimeVersionOverride"]


# --------------------------------------------------------------------------- document shape


def test_unknown_top_level_key_suggests_spec():
    error = load_invalid(
        {"apiVersion": "nvidia.com/v1beta1", "kind": "DynamoGraphDeploymentRequest",
         "metadata": {"name": "x"}, "specs": {"model": "m"}}
    )

    paths = problem_paths(error)
    assert "specs" in paths
    assert "spec" in paths  # spec itself is then missing
    specs_problem = next(problem for problem in error.problems if problem.path == "specs")
    assert specs_problem.fix == "did you mean 'spec'?"


def test_status_ignored_with_warning():
    loaded = load_dgdr(
        {"apiVersion": "nvidia.com/v1beta1", "kind": "DynamoGraphDeploymentRequest",
         "metadata": {"name": "x"}, "spec": {"model": "m"}, "status": {"phase": "Ready"}}
    )

    assert any(note.startswith("status:") for note in loaded.warnings)


def test_long_name_warns_about_service_names():
    loaded = load_dgdr(
        {"apiVersion": "nvidia.com/v1beta1", "kind": "DynamoGraphDeploymentRequest",
         "metadata": {"name": "a-name-of-thirty-characters-xx"}, "spec": {"model": "m"}}
    )

    assert any("45 characters" in note for note in loaded.warnings)


def test_numeric_label_value_rejected():
    error = load_invalid(
        {"apiVersion": "nvidia.com/v1beta1", "kind": "DynamoGraphDeploymentRequest",
         "metadata": {"name": "x", "labels": {"tier": 1}}, "spec": {"model": "m"}}
    )

    assert problem_paths(error) == ["metadata.labels"]


# --------------------------------------------------------------------------- cross-field rules


def test_rate_and_concurrency_problem_fields():
    error = load_invalid({"model": "m", "workload": {"requestRate": 2.5, "concurrency": 4}})

    problem = error.problems[0]
    assert problem.path == "workload"
    assert problem.value == {"requestRate": 2.5, "concurrency": 4}
    assert "set only one" in problem.fix


def test_e2e_with_explicit_itl_names_itl_only():
    error = load_invalid({"model": "m", "sla": {"itl": 20, "e2eLatency": 8000}})

    assert problem_paths(error) == ["sla"]
    assert "remove sla.itl" in error.problems[0].fix
    assert "sla.ttft" not in error.problems[0].fix


def test_thorough_with_default_backend_rejected():
    error = load_invalid({"model": "m", "searchStrategy": "thorough"})

    assert problem_paths(error) == ["backend"]


def test_thorough_with_named_backend_accepted():
    loaded = load_dgdr({"model": "m", "searchStrategy": "thorough", "backend": "sglang"})

    assert loaded.spec.search_strategy == "thorough"


def test_mocker_with_planner_default_sweep_accepted():
    loaded = load_dgdr({"model": "m", "features": {"mocker": {"enabled": True}, "planner": {}}})

    assert loaded.spec.features.mocker.enabled is True
    assert loaded.spec.features.planner.pre_deployment_sweeping_mode == "rapid"


def test_null_planner_warns():
    loaded = load_dgdr({"model": "m", "features": {"planner": None}})

    assert loaded.spec.features.planner is None
    assert any("features.planner: null" in note for note in loaded.warnings)


def test_dgd_override_without_version_warns():
    loaded = load_dgdr(FIXTURES / "valid-dgd-override-unversioned.yaml")

    assert any(note.startswith("overrides.dgd:") for note in loaded.warnings)


def test_dgd_override_wrong_kind_rejected():
    error = load_invalid(
        {"model": "m", "overrides": {"dgd": {"apiVersion": "nvidia.com/v1beta1", "kind": "Deployment"}}}
    )

    assert problem_paths(error) == ["overrides.dgd.kind"]


def test_several_mistakes_all_reported():
    error = load_invalid(FIXTURES / "invalid-several-mistakes.yaml")

    assert sorted(problem_paths(error)) == sorted(
        ["metadata.name", "workload.isl", "hardware.gpuSku", "workload", "backend"]
    )


def test_type_error_and_rule_reported_together():
    error = load_invalid(
        {"model": "m", "workload": {"isl": "long", "requestRate": 1, "concurrency": 2}, "hardware": {"rdma": "yes"}}
    )

    assert sorted(problem_paths(error)) == ["hardware.rdma", "workload", "workload.isl"]


# --------------------------------------------------------------------------- planner config


def test_planner_default_target_forces_load_scaling():
    loaded = load_dgdr({"model": "m", "features": {"planner": {"enable_throughput_scaling": True}}})

    planner = loaded.spec.features.planner
    assert planner.enable_throughput_scaling is False
    assert planner.enable_load_scaling is True
    assert any("turns load scaling on" in note for note in loaded.warnings)


def test_planner_sla_target_keeps_throughput_scaling():
    loaded = load_dgdr(EXAMPLES / "gpt-oss-120b-planner.yaml")

    planner = loaded.spec.features.planner
    assert planner.optimization_target == "sla"
    assert planner.enable_throughput_scaling is True
    assert planner.enable_load_scaling is False
    assert planner.scaling_enabled()
    assert loaded.warnings == []


def test_planner_interval_rule_mapped_to_field():
    error = load_invalid(
        {
            "model": "m",
            "features": {
                "planner": {
                    "optimization_target": "sla",
                    "enable_load_scaling": True,
                    "load_adjustment_interval": 300,
                }
            },
        }
    )

    assert problem_paths(error) == ["features.planner.load_adjustment_interval"]
    assert "180" in error.problems[0].message


def test_planner_global_needs_namespace():
    error = load_invalid({"model": "m", "features": {"planner": {"environment": "global-planner"}}})

    assert problem_paths(error) == ["features.planner.global_planner_namespace"]


def test_planner_no_scaling_mode_rejected():
    error = load_invalid(
        {"model": "m", "features": {"planner": {"optimization_target": "sla", "enable_throughput_scaling": False}}}
    )

    assert problem_paths(error) == ["features.planner.enable_throughput_scaling"]


def test_planner_config_alone_raises():
    with pytest.raises(ValidationError, match="pre_deployment_sweeping_mode"):
        PlannerConfig.model_validate({"optimization_target": "sla", "pre_deployment_sweeping_mode": "none"})


def test_planner_config_defaults():
    # Defaults of the upstream planner (ai-dynamo/dynamo planner/config/defaults.py).
    config = PlannerConfig()

    assert config.pre_deployment_sweeping_mode == "rapid"
    assert config.throughput_adjustment_interval == 180
    assert config.max_gpu_budget == 8
    assert (config.ttft, config.itl) == (500.0, 50.0)
    assert config.fpm_sample_bucket_size == 16
    assert config.load_scaling_down_sensitivity == 80


def test_missing_file_headline_says_unreadable():
    error = load_invalid(str(FIXTURES / "does-not-exist.yaml"))

    assert str(error).startswith("cannot read DGDR file ")
    assert error.problems[0].fix == "check the path"


@pytest.mark.parametrize(
    ("backend", "fix"),
    [
        ("tensorrt-llm", "use 'trtllm'"),
        ("TRT-LLM", "use 'trtllm'"),
        ("VLLM", "use 'vllm' (values are lowercase)"),
        ("sglng", "did you mean 'sglang'?"),
    ],
)
def test_backend_spelling_suggests_value(backend, fix):
    error = load_invalid({"model": "Qwen/Qwen3-8B", "backend": backend})

    assert error.problems[0].path == "backend"
    assert error.problems[0].fix == fix


def test_integer_with_unit_gets_fix():
    error = load_invalid({"model": "Qwen/Qwen3-8B", "workload": {"isl": "4k"}})

    assert error.problems[0].path == "workload.isl"
    assert error.problems[0].message == "must be an integer"
    assert error.problems[0].fix == "write a whole number without units, e.g. 4000"


# Each number fix shows the field's own example. The GPU fields get a GPU
# count and the SLA fields the profiler's default targets (TTFT 2000 ms, ITL
# 30 ms). vramMb gets the 81559 MiB that nvidia-smi reports for an H100 80GB
# (dgdr_kernel/hardware/catalog.py module docstring).
@pytest.mark.parametrize(
    ("section", "field", "value", "fix"),
    [
        ("hardware", "totalGpus", "eight", "write a whole number without units, e.g. 8"),
        ("hardware", "numGpusPerNode", "eight", "write a whole number without units, e.g. 8"),
        ("workload", "osl", "1k", "write a whole number without units, e.g. 1000"),
        ("sla", "ttft", "2s", "write a plain number without units, e.g. 2000"),
        ("sla", "itl", "30ms", "write a plain number without units, e.g. 30"),
        ("hardware", "vramMb", "80GB", "write a plain number without units, e.g. 81559"),
    ],
)
def test_number_fix_example_fits_field(section, field, value, fix):
    error = load_invalid({"model": "Qwen/Qwen3-8B", section: {field: value}})

    assert problem_paths(error) == [f"{section}.{field}"]
    assert error.problems[0].fix == fix


def test_number_fix_without_example_omits_it():
    # PlannerConfig fields declare no examples, so the fix names no number.
    error = load_invalid({"model": "Qwen/Qwen3-8B", "features": {"planner": {"max_gpu_budget": "all"}}})

    assert problem_paths(error) == ["features.planner.max_gpu_budget"]
    assert error.problems[0].fix == "write a whole number without units"


def test_osl_one_accepted_with_itl_warning():
    # The DGDR types workload.osl as int32 with no minimum, so 1 is valid; one output token has no ITL.
    loaded = load_dgdr("model: Qwen/Qwen3-32B\nworkload: {isl: 4000, osl: 1}\n")

    assert loaded.spec.workload.osl == 1
    notes = [note for note in loaded.warnings if note.startswith("workload.osl is 1")]
    assert len(notes) == 1
    assert "sla.itl: 30 ms, the default" in notes[0]
    assert "ignored" in notes[0]


def test_osl_one_with_e2e_has_no_itl_warning():
    # In e2eLatency mode there is no ITL target to ignore.
    loaded = load_dgdr("model: Qwen/Qwen3-32B\nworkload: {osl: 1}\nsla: {e2eLatency: 900}\n")
    assert not any("workload.osl" in note for note in loaded.warnings)


def test_osl_two_has_no_itl_warning():
    loaded = load_dgdr("model: Qwen/Qwen3-32B\nworkload: {osl: 2}\n")
    assert not any("workload.osl" in note for note in loaded.warnings)
