"""Tests of `dgdr validate` on the shipped examples and on valid and invalid fixtures."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from dgdr_kernel.cli import main
from dgdr_kernel.spec import load_dgdr

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "dgdr"

EXAMPLE_FILES = sorted(EXAMPLES.glob("*.yaml"))

# file -> (exit code, path of the problem or warning, fragment of its message).
# A None path means the file is valid and has no warning to check.
CASES = {
    "valid-bare-spec.yaml": (0, None, None),
    "valid-bare-spec.json": (0, None, None),
    "valid-whole-cr.json": (0, None, None),
    "valid-e2e-null-ttft-itl.yaml": (0, None, None),
    "valid-gb200-sxm-alias.yaml": (0, "hardware.gpuSku", "deprecated alias of 'gb200'"),
    "valid-dgd-override-unversioned.yaml": (0, "overrides.dgd", "treated as a nvidia.com/v1alpha1"),
    "valid-private-model.yaml": (0, "model", "context window not checked"),
    "invalid-unknown-field.yaml": (1, "hardware.gpuSKU", "did you mean 'gpuSku'?"),
    "invalid-isl-string.yaml": (1, "workload.isl", "must be an integer"),
    "invalid-osl-zero.yaml": (1, "workload.osl", "greater than 0"),
    "invalid-ttft-negative.yaml": (1, "sla.ttft", "greater than 0"),
    "invalid-request-rate-zero.yaml": (1, "workload.requestRate", "greater than 0"),
    "invalid-total-gpus-zero.yaml": (1, "hardware.totalGpus", "greater than 0"),
    "invalid-gpus-per-node-negative.yaml": (1, "hardware.numGpusPerNode", "greater than 0"),
    "invalid-vram-zero.yaml": (1, "hardware.vramMb", "greater than 0"),
    "invalid-rate-and-concurrency.yaml": (1, "workload", "mutually exclusive"),
    "invalid-e2e-with-ttft-itl.yaml": (1, "sla", "remove sla.ttft and sla.itl"),
    "invalid-thorough-auto.yaml": (1, "backend", "cannot be auto"),
    "invalid-mocker-planner-none.yaml": (1, "features.planner.pre_deployment_sweeping_mode", "mocker"),
    "invalid-name-not-dns1123.yaml": (1, "metadata.name", "use 'qwen3-32b'"),
    "invalid-name-too-long.yaml": (1, "metadata.name", "at most 63"),
    "invalid-gpu-sku-product-name.yaml": (1, "hardware.gpuSku", "use 'h100_sxm'"),
    "invalid-runtime-version.yaml": (1, "runtimeVersionOverride", "MAJOR.MINOR.PATCH"),
    "invalid-dgd-override-no-kind.yaml": (1, "overrides.dgd.kind", "is required"),
    "invalid-planner-unknown-field.yaml": (
        1,
        "features.planner.enable_throughput_scailing",
        "did you mean 'enable_throughput_scaling'?",
    ),
    "invalid-planner-sweep-none.yaml": (1, "features.planner.pre_deployment_sweeping_mode", "throughput scaling"),
    "invalid-planner-bucket-size.yaml": (1, "features.planner.fpm_sample_bucket_size", "use 9 or 16"),
    # Qwen3-32B: max_position_embeddings 40960 (shipped config.json, dgdr_kernel/modelconfigs/Qwen--Qwen3-32B).
    "invalid-isl-beyond-context.yaml": (1, "workload.isl", "40960"),
    "invalid-isl-osl-sum-beyond-context.yaml": (1, "workload.osl", "isl + osl = 42000"),
    "invalid-api-version.yaml": (1, "apiVersion", "nvidia.com/v1beta1"),
    "invalid-kind.yaml": (1, "kind", "DynamoGraphDeploymentRequest"),
    "invalid-missing-model.yaml": (1, "model", "is required"),
    "invalid-backend.yaml": (1, "backend", "'vllm'"),
    "invalid-trtllm-on-amd.yaml": (1, "backend", "runs on NVIDIA GPUs only"),
    "invalid-pvc-path-without-pvc.yaml": (1, "modelCache.pvcName", "pvcModelPath"),
    "invalid-job-tolerations-not-list.yaml": (1, "overrides.profilingJob.template.spec.tolerations", "expected a list"),
    "invalid-pvc-name-not-dns1123.yaml": (1, "modelCache.pvcName", "e.g. 'model-cache'"),
    "invalid-pvc-mount-path-relative.yaml": (1, "modelCache.pvcMountPath", "must be an absolute path"),
    "invalid-pvc-model-path-escapes.yaml": (1, "modelCache.pvcModelPath", "must not contain '..'"),
    "invalid-yaml-syntax.yaml": (1, "(document)", "invalid YAML at line 8"),
    "invalid-duplicate-key.yaml": (1, "(document)", "duplicate key 'backend'"),
    "invalid-two-documents.yaml": (1, "(document)", "found 2 YAML documents"),
}


def run_json(capsys, *files: str) -> tuple[int, dict]:
    code = main(["validate", "--output", "json", *files])
    return code, json.loads(capsys.readouterr().out)


def test_every_fixture_has_a_case():
    on_disk = {path.name for path in FIXTURES.iterdir()} - {"invalid-several-mistakes.yaml"}

    assert on_disk == set(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_validate_fixture(name, capsys):
    expected_code, path, fragment = CASES[name]

    code, report = run_json(capsys, str(FIXTURES / name))

    assert code == expected_code
    result = report["results"][0]
    assert result["valid"] is (expected_code == 0)
    if expected_code == 1:
        assert len(result["problems"]) == 1
        problem = result["problems"][0]
        assert problem["path"] == path
        assert fragment in f"{problem['message']}; {problem['fix']}"
    elif path is not None:
        assert any(note.startswith(f"{path}:") and fragment in note for note in result["warnings"])
    else:
        assert result["warnings"] == []


@pytest.mark.parametrize("example", EXAMPLE_FILES, ids=[path.name for path in EXAMPLE_FILES])
def test_validate_example(example, capsys):
    code = main(["validate", str(example)])
    captured = capsys.readouterr()

    assert code == 0, captured.err
    assert captured.err == ""
    printed = yaml.safe_load(captured.out)
    assert load_dgdr(printed).spec == load_dgdr(example).spec


def test_examples_cover_the_brief():
    specs = [load_dgdr(path).spec for path in EXAMPLE_FILES]

    assert {spec.backend for spec in specs} == {"auto", "vllm", "sglang", "trtllm"}
    assert any(spec.workload.request_rate for spec in specs)
    assert any(spec.workload.concurrency for spec in specs)
    assert any(spec.sla.e2e_latency for spec in specs)
    assert any(spec.features.planner is not None and spec.features.mocker.enabled for spec in specs)
    assert any(spec.features.planner is None and spec.features.mocker.enabled for spec in specs)
    assert any(spec.features.kv_router.enabled for spec in specs)
    assert any(spec.auto_apply is False for spec in specs)
    assert any(spec.overrides.trust_remote_code for spec in specs)
    caches = [spec.model_cache for spec in specs if spec.model_cache is not None]
    assert any(cache.pvc_model_path is None for cache in caches)
    assert any(cache.pvc_model_path is not None for cache in caches)
    for spec in specs:  # every example runs on a laptop without GPU discovery
        assert spec.hardware.gpu_sku is not None
        assert spec.hardware.total_gpus is not None
        assert spec.hardware.num_gpus_per_node is not None


def test_main_example_marks_defaults(capsys):
    code = main(["validate", str(EXAMPLES / "qwen3-32b-h200.yaml")])
    lines = capsys.readouterr().out.splitlines()

    assert code == 0
    assert "  searchStrategy: rapid  # default" in lines
    assert "    ttft: 2000.0  # default" in lines
    assert "    isl: 4000" in lines  # set in the file, so not marked
    assert "  model: Qwen/Qwen3-32B" in lines


def test_several_mistakes_all_reported(capsys):
    code, report = run_json(capsys, str(FIXTURES / "invalid-several-mistakes.yaml"))

    assert code == 1
    paths = sorted(problem["path"] for problem in report["results"][0]["problems"])
    assert paths == sorted(["metadata.name", "workload.isl", "hardware.gpuSku", "workload", "backend"])


def test_several_mistakes_text_output(capsys):
    code = main(["validate", str(FIXTURES / "invalid-several-mistakes.yaml")])
    captured = capsys.readouterr()

    assert code == 1
    assert captured.out == ""
    assert "5 problem(s)" in captured.err
    assert "hardware.gpuSku" in captured.err
    assert "use 'h200_sxm'" in captured.err


def test_mixed_files_exit_one(capsys):
    code, report = run_json(
        capsys, str(EXAMPLES / "qwen3-32b-h200.yaml"), str(FIXTURES / "invalid-thorough-auto.yaml")
    )

    assert code == 1
    assert report["valid"] is False
    assert [result["valid"] for result in report["results"]] == [True, False]


def test_json_output_lists_defaults(capsys):
    code, report = run_json(capsys, str(FIXTURES / "valid-bare-spec.yaml"))

    result = report["results"][0]
    assert code == 0
    assert result["dgdr"]["metadata"]["name"] == "qwen3-8b"
    assert "metadata.name" in result["defaults_applied"]
    assert "workload.isl" in result["defaults_applied"]


def test_missing_file_exit_one(capsys):
    code = main(["validate", str(FIXTURES / "no-such-file.yaml")])
    captured = capsys.readouterr()

    assert code == 1
    assert "file not found" in captured.err


def test_stdin_through_main(monkeypatch, capsys):
    text = (EXAMPLES / "llama31-8b-l40s.yaml").read_text()
    monkeypatch.setattr("sys.stdin", io.StringIO(text))

    code = main(["validate", "-"])
    captured = capsys.readouterr()

    assert code == 0
    assert captured.out.startswith("# <stdin>: valid")
    assert yaml.safe_load(captured.out)["metadata"]["name"] == "llama31-8b"


def test_stdin_twice_is_usage_error(capsys):
    code = main(["validate", "-", "-"])

    assert code == 2
    assert "only once" in capsys.readouterr().err


def test_no_file_is_usage_error(capsys):
    code = main(["validate"])

    assert code == 2


def test_unknown_output_format_is_usage_error(capsys):
    code = main(["validate", "--output", "xml", str(EXAMPLES / "qwen3-32b-h200.yaml")])

    assert code == 2


def test_help_describes_options(capsys):
    code = main(["validate", "--help"])
    text = " ".join(capsys.readouterr().out.split())  # undo argparse's line wrapping

    assert code == 0
    assert "--output" in text
    assert "'-' reads one DGDR from standard input" in text
    assert "# default" in text
    assert "exit code 0 when all files are valid" in text.lower()


def test_subprocess_reads_stdin():
    spec_json = json.dumps({"model": "Qwen/Qwen3-30B-A3B", "workload": {"isl": 50000}})

    completed = subprocess.run(
        [sys.executable, "-m", "dgdr_kernel", "validate", "-"],
        input=spec_json,
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )

    # Qwen3-30B-A3B: max_position_embeddings 40960 (shipped config.json, dgdr_kernel/modelconfigs/Qwen--Qwen3-30B-A3B).
    assert completed.returncode == 1
    assert "workload.isl" in completed.stderr
    assert "40960" in completed.stderr
    assert completed.stdout == ""


GB10_DGDR = """\
apiVersion: nvidia.com/v1beta1
kind: DynamoGraphDeploymentRequest
metadata:
  name: qwen3-32b-gb10
spec:
  model: Qwen/Qwen3-32B
  hardware: {gpuSku: gb10, totalGpus: 1, numGpusPerNode: 1}
"""


def test_validate_sku_without_catalog_warns(tmp_path, capsys):
    # gb10 is in the DGDR gpuSku enum but has no hwdata/gb10.yaml.
    path = tmp_path / "gb10.yaml"
    path.write_text(GB10_DGDR)

    code, report = run_json(capsys, str(path))

    assert code == 0
    result = report["results"][0]
    assert result["valid"] is True
    assert result["problems"] == []
    (warning,) = [note for note in result["warnings"] if note.startswith("hardware.gpuSku:")]
    assert "'gb10' has no GPU catalog entry" in warning
    assert "dgdr profile and dgdr report will fail" in warning
    assert "set hardware.gpuSku to a catalogued SKU" in warning
    assert "h200_sxm" in warning
    assert "hwdata/gb10.yaml" in warning


def test_validate_sku_without_catalog_yaml_output(tmp_path, capsys):
    path = tmp_path / "gb10.yaml"
    path.write_text(GB10_DGDR)

    code = main(["validate", str(path)])
    captured = capsys.readouterr()

    assert code == 0
    assert f"warning: {path}: hardware.gpuSku: 'gb10' has no GPU catalog entry" in captured.err
    assert "gpuSku: gb10" in captured.out


def test_profile_fails_where_validate_warns(tmp_path):
    # The warning is true only while profiling such a SKU fails; run the real CLI.
    path = tmp_path / "gb10.yaml"
    path.write_text(GB10_DGDR)

    completed = subprocess.run(
        [sys.executable, "-m", "dgdr_kernel", "profile", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )

    assert completed.returncode == 1
    assert "no catalog entry" in completed.stderr
