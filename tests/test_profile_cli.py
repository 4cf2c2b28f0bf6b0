"""`dgdr profile` end to end: every example yields a complete, valid bundle; failures leave only a status."""

from pathlib import Path

import numpy as np
import pytest
import yaml

import dgdr_kernel.cli as cli
from dgdr_kernel.dgd import schema, v1beta1

EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "examples").glob("*.yaml"))

BASE_DGDR = """
apiVersion: nvidia.com/v1beta1
kind: DynamoGraphDeploymentRequest
metadata:
  name: {name}
  namespace: dynamo
spec:
  model: Qwen/Qwen3-32B
  backend: vllm
  hardware:
    gpuSku: h200_sxm
    totalGpus: 8
    numGpusPerNode: 8
"""


@pytest.fixture
def dgdr(monkeypatch):
    # Only the profile subcommand: the dispatcher imports every subcommand module.
    monkeypatch.setattr(cli, "SUBCOMMAND_MODULES", ("profile",))
    return lambda *argv: cli.main(["profile", *map(str, argv)])


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "dgdr.yaml"
    path.write_text(text)
    return path


def _status(out: Path) -> dict:
    return yaml.safe_load((out / "profiler_status.yaml").read_text())


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_produces_complete_bundle(example, tmp_path, dgdr, capsys):
    out = tmp_path / "bundle"
    assert dgdr(example, "-o", out, "--no-progress") == 0
    assert "rank" in capsys.readouterr().out

    status = _status(out)
    assert status["status"] == "success"
    for relative in status["outputs"].values():
        assert (out / relative).is_file(), relative
    for name in ("final_config.yaml", "dgdr_status.yaml", "candidates.csv", "pareto.csv"):
        assert (out / name).is_file()

    documents = list(yaml.safe_load_all((out / "final_config.yaml").read_text()))
    dgd = documents[-1]
    assert dgd["kind"] == "DynamoGraphDeployment"
    schema.validate_dgd(dgd)
    for config_map in documents[:-1]:
        assert config_map["kind"] == "ConfigMap"
        schema.validate_configmap(config_map)

    source = yaml.safe_load(example.read_text())
    dgdr_status = yaml.safe_load((out / "dgdr_status.yaml").read_text())
    auto_apply = source["spec"].get("autoApply", True)
    assert dgdr_status["phase"] == ("Deploying" if auto_apply else "Ready")
    assert dgdr_status["profilingResults"]["selectedConfig"] == dgd
    assert dgd["metadata"]["labels"]["dgdr.nvidia.com/name"] == source["metadata"]["name"]

    if "selected_decode_interpolation/raw_data.npz" in status["outputs"].values():
        with np.load(out / "selected_decode_interpolation/raw_data.npz") as decode:
            assert decode["max_kv_tokens"][0] > 0


def test_v1beta1_output(tmp_path, dgdr):
    out = tmp_path / "bundle"
    assert dgdr(EXAMPLES[0], "-o", out, "--dgd-api-version", "nvidia.com/v1beta1", "--no-progress") == 0
    dgd = list(yaml.safe_load_all((out / "final_config.yaml").read_text()))[-1]
    assert dgd["apiVersion"] == "nvidia.com/v1beta1"
    schema.validate_dgd(v1beta1.from_v1beta1(dgd))


def test_top_limits_rows(tmp_path, dgdr, capsys):
    assert dgdr(_write(tmp_path, BASE_DGDR.format(name="q")), "--top", "2", "--no-progress") == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.strip()[:1].isdigit() and "  " in line]
    assert [row.split()[0] for row in rows] == ["1", "2"]


def test_unknown_api_version_is_usage_error(tmp_path, dgdr):
    assert dgdr(_write(tmp_path, BASE_DGDR.format(name="q")), "--dgd-api-version", "nvidia.com/v2") == 2


def test_bad_override_fails_with_status_only(tmp_path, dgdr, capsys):
    text = BASE_DGDR.format(name="q") + """  overrides:
    dgd:
      apiVersion: nvidia.com/v1alpha1
      kind: DynamoGraphDeployment
      spec:
        services:
          decode:
            replicas: two
"""
    out = tmp_path / "bundle"
    assert dgdr(_write(tmp_path, text), "-o", out, "--no-progress") == 1
    assert "replicas" in capsys.readouterr().err
    assert [p.name for p in out.iterdir()] == ["profiler_status.yaml"]
    status = _status(out)
    assert status["status"] == "failed"
    assert "replicas" in status["error"]


def test_long_name_fails_with_status_only(tmp_path, dgdr, capsys):
    name = "qwen3-32b-disaggregated-serving-for-team-x"  # 42 characters
    out = tmp_path / "bundle"
    assert dgdr(_write(tmp_path, BASE_DGDR.format(name=name)), "-o", out, "--no-progress") == 1
    err = capsys.readouterr().err
    assert "'Frontend'" in err
    assert "at most 33 characters" in err
    assert [p.name for p in out.iterdir()] == ["profiler_status.yaml"]
    status = _status(out)
    assert status["status"] == "failed"
    assert status["phase"] == "GeneratingDGD"


def test_invalid_spec_still_writes_status(tmp_path, dgdr):
    out = tmp_path / "bundle"
    assert dgdr(_write(tmp_path, "spec:\n  backend: vllm\n"), "-o", out, "--no-progress") == 1
    status = _status(out)
    assert status["status"] == "failed"
    assert status["phase"] == "Initializing"
    assert "model" in status["error"]


def test_failure_leaves_earlier_bundle_untouched(tmp_path, dgdr):
    out = tmp_path / "bundle"
    assert dgdr(_write(tmp_path, BASE_DGDR.format(name="q")), "-o", out, "--no-progress") == 0
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}

    assert dgdr(_write(tmp_path, "spec:\n  backend: vllm\n"), "-o", out, "--force", "--no-progress") == 1
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before


def test_existing_bundle_needs_force(tmp_path, dgdr, capsys):
    spec = _write(tmp_path, BASE_DGDR.format(name="q"))
    out = tmp_path / "bundle"
    assert dgdr(spec, "-o", out, "--no-progress") == 0
    assert dgdr(spec, "-o", out, "--no-progress") == 1
    assert "--force" in capsys.readouterr().err
    assert dgdr(spec, "-o", out, "--force", "--no-progress") == 0


def test_force_keeps_user_files(tmp_path, dgdr, monkeypatch):
    spec = _write(tmp_path, BASE_DGDR.format(name="q"))
    mine = tmp_path / "mine"
    (mine / "sub").mkdir(parents=True)
    (mine / "notes.txt").write_text("important")
    assert dgdr(spec, "-o", mine, "--force", "--no-progress") == 0
    assert (mine / "notes.txt").read_text() == "important"
    assert (mine / "sub").is_dir()
    assert _status(mine)["status"] == "success"

    monkeypatch.chdir(mine)
    assert dgdr(spec, "-o", ".", "--force", "--no-progress") == 0
    assert (mine / "notes.txt").read_text() == "important"
    assert [p.name for p in tmp_path.iterdir() if ".old-" in p.name or ".tmp-" in p.name] == []


def test_force_help_names_replaced_files(dgdr, capsys):
    assert dgdr("--help") == 0
    help_text = " ".join(capsys.readouterr().out.split())
    assert "keep every other file" in help_text
    assert "final_config.yaml" in help_text


def test_profile_reports_phases_in_order():
    from dgdr_kernel.pipeline import profile
    from dgdr_kernel.spec import load_dgdr

    seen = []
    profile(load_dgdr(BASE_DGDR.format(name="q")), progress=lambda phase, message: seen.append(phase))
    # The DGDR profilingPhase values, in the order the operator relays them.
    assert seen == ["Initializing", "SweepingPrefill", "SweepingDecode", "SelectingConfig", "BuildingCurves", "GeneratingDGD", "Done"]


def test_progress_bar_and_log_lines(caplog, capsys):
    import logging

    from dgdr_kernel.pipeline import make_progress

    bar = make_progress("bar")
    for phase in ("Initializing", "SweepingPrefill", "Done"):
        bar(phase, "step")
    assert "3/7" in capsys.readouterr().err  # Done closes the bar after the phases seen

    with caplog.at_level(logging.INFO, logger="dgdr_kernel.pipeline"):
        make_progress("log")("SelectingConfig", "picking in default mode")
    assert "[SelectingConfig] picking in default mode" in caplog.text


def test_bare_spec_gets_dns1123_names(tmp_path, dgdr):
    out = tmp_path / "bundle"
    assert dgdr(_write(tmp_path, "model: Qwen/Qwen3-32B\nbackend: vllm\nhardware:\n  gpuSku: h200_sxm\n  totalGpus: 8\n  numGpusPerNode: 8\n"), "-o", out, "--no-progress") == 0
    from dgdr_kernel.dgd.naming import is_dns1123_subdomain

    for document in yaml.safe_load_all((out / "final_config.yaml").read_text()):
        assert is_dns1123_subdomain(document["metadata"]["name"])


def test_result_lists_each_warning_once():
    from dgdr_kernel.pipeline import profile
    from dgdr_kernel.spec import load_dgdr

    # gb200_sxm is the deprecated alias of gb200: one DGDR warning, which the
    # result listed twice (once from the DGDR, once from the resolved request).
    loaded = load_dgdr(BASE_DGDR.format(name="q").replace("h200_sxm", "gb200_sxm").replace("numGpusPerNode: 8", "numGpusPerNode: 4"))
    assert len(loaded.warnings) == 1
    result = profile(loaded, progress=lambda phase, message: None)
    assert len(result.warnings) == len(set(result.warnings))
    assert loaded.warnings[0] in result.warnings


def test_planner_targets_the_sized_sla(tmp_path, dgdr):
    import json

    out = tmp_path / "bundle"
    example = EXAMPLES[0].parent / "qwen3-32b-mocker-planner.yaml"
    assert dgdr(example, "-o", out, "--no-progress") == 0
    documents = list(yaml.safe_load_all((out / "final_config.yaml").read_text()))
    planner_cm = next(d for d in documents if d["kind"] == "ConfigMap" and "planner_config.json" in d.get("data", {}))
    config = json.loads(planner_cm["data"]["planner_config.json"])
    # The example leaves sla unset: the DGDR defaults (TTFT 2000 ms, ITL 30 ms,
    # SlaSpec in dgdr_kernel/spec_models.py) sized the picks, so the planner targets them too.
    assert (config["ttft"], config["itl"]) == (2000.0, 30.0)


def test_missed_sla_exits_zero_and_says_so(tmp_path, dgdr, capsys):
    # An unmet SLA is a warning, not an error: the closest pick is still written.
    spec = _write(tmp_path, BASE_DGDR.format(name="q") + "  sla:\n    ttft: 100\n    itl: 5\n")
    assert dgdr(spec, "--no-progress") == 0
    lines = capsys.readouterr().out.splitlines()
    sla_lines = [line for line in lines if line.startswith("SLA NOT MET")]
    assert len(sla_lines) == 1
    assert "ITL target of at least" in sla_lines[0]


def test_calibration_caveat_printed_once(tmp_path, dgdr, capsys):
    # hwdata/calibrated/b200_sxm.yaml fits vllm on MiniMax-M2.5 (MoE) only, so dense Qwen3-32B gets the defaults.
    spec = _write(
        tmp_path,
        "model: Qwen/Qwen3-32B\nbackend: vllm\nhardware: {gpuSku: b200_sxm, totalGpus: 8, numGpusPerNode: 8}\n",
    )

    assert dgdr(spec, "--no-progress") == 0

    captured = capsys.readouterr()
    caveat = "fitted on MoE models only (MiniMaxAI/MiniMax-M2.5)"
    assert captured.out.count(caveat) == 1
    # Standard output is captured, not a terminal, so the caveat also reaches standard error.
    assert captured.err.count(caveat) == 1


# Provenance per backend of Qwen3-32B on H200, from hwdata/calibrated/h200_sxm.yaml.
# The trtllm fit includes dense Llama models and the vllm fit Llama-3.1-70B, so
# both are calibrated. The sglang fit used DeepSeek-R1 (MoE) only, so the dense
# model gets the defaults ('modelled').
H200_PROVENANCE = {"trtllm": "calibrated", "vllm": "calibrated", "sglang": "modelled"}


def _table_rows(out: str) -> list[str]:
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("rank "))
    rows = []
    for line in lines[start + 2 :]:
        if not line.strip():
            break
        rows.append(line)
    return [lines[start], lines[start + 1], *rows]


def _warnings_block(out: str) -> list[str]:
    lines = out.splitlines()
    start = lines.index("warnings:")
    block = []
    for line in lines[start + 1 :]:
        if not line.startswith("  - "):
            break
        block.append(line[4:])
    return block


def test_table_shows_provenance_per_row(tmp_path, dgdr, capsys):
    out = tmp_path / "bundle"
    example = EXAMPLES[0].parent / "qwen3-32b-h200.yaml"
    assert dgdr(example, "--top", "20", "-o", out, "--no-progress") == 0
    header, rule, *rows = _table_rows(capsys.readouterr().out)

    assert header.split()[-1] == "provenance"
    assert len(rows) == 20
    backends_seen = set()
    for row in rows:
        cells = row.split()
        backend = cells[2]
        backends_seen.add(backend)
        assert cells[-1] == H200_PROVENANCE[backend], row
    assert backends_seen == {"trtllm", "vllm", "sglang"}

    # The table and candidates.csv agree on every backend's provenance.
    import pandas as pd

    candidates = pd.read_csv(out / "candidates.csv")
    by_backend = candidates.groupby("backend")["provenance"].unique().to_dict()
    assert {backend: list(values) for backend, values in by_backend.items()} == {
        backend: [provenance] for backend, provenance in H200_PROVENANCE.items()
    }

    # Readable in a 110-column terminal.
    assert max(len(line) for line in (header, rule, *rows)) <= 110


def test_auto_backend_prints_caveat_per_backend(tmp_path, dgdr, capsys):
    # hwdata/calibrated/b200_sxm.yaml fits trtllm and sglang on DeepSeek-R1 and
    # vllm on MiniMax-M2.5, all MoE, so every backend is 'modelled' for dense Qwen3-32B.
    spec = _write(tmp_path, BASE_DGDR.format(name="q").replace("backend: vllm", "backend: auto").replace("h200_sxm", "b200_sxm"))
    assert dgdr(spec, "--top", "20", "--no-progress") == 0
    out = capsys.readouterr().out
    _, _, *rows = _table_rows(out)
    block = _warnings_block(out)

    shown = {row.split()[2] for row in rows}
    assert shown == {"trtllm", "vllm", "sglang"}
    for backend in shown:
        caveats = [line for line in block if f"b200_sxm/{backend} parameters" in line]
        assert len(caveats) == 1, backend
        assert "fitted on MoE models only" in caveats[0]
        assert "provenance 'modelled'" in caveats[0]
    assert all(row.split()[-1] == "modelled" for row in rows)


def test_caveats_cover_pareto_backends():
    from dgdr_kernel.pipeline import profile
    from dgdr_kernel.spec import load_dgdr

    # With top_n=1 the table shows the trtllm pick only, but the Pareto front
    # also contains sglang rows, 'modelled' on H200 for a dense model (H200_PROVENANCE).
    document = BASE_DGDR.format(name="q").replace("backend: vllm", "backend: auto")
    result = profile(load_dgdr(document), progress=lambda phase, message: None, top_n=1)

    assert [pick.backend for pick in result.selection.top] == ["trtllm"]
    assert "sglang" in set(result.pareto["backend"])
    sglang = [warning for warning in result.warnings if "h200_sxm/sglang parameters" in warning]
    assert len(sglang) == 1
    assert "fitted on MoE models only (deepseek-ai/DeepSeek-R1)" in sglang[0]
    # Calibrated backends get no caveat.
    assert not any("h200_sxm/trtllm" in warning for warning in result.warnings)


def test_stdout_lists_every_warning(tmp_path, dgdr, capsys):
    from dgdr_kernel.pipeline import profile
    from dgdr_kernel.spec import load_dgdr

    # A bare spec (default warnings from the DGDR) on B200 (calibration caveats).
    text = "model: Qwen/Qwen3-32B\nhardware: {gpuSku: b200_sxm, totalGpus: 8, numGpusPerNode: 8}\n"
    spec = _write(tmp_path, text)
    expected = profile(load_dgdr(text), progress=lambda phase, message: None).warnings
    assert any("b200_sxm/" in warning for warning in expected)

    assert dgdr(spec, "--no-progress") == 0
    block = _warnings_block(capsys.readouterr().out)
    assert block == list(dict.fromkeys(block))
    assert set(block) == set(expected)


@pytest.mark.parametrize(
    ("load", "title_part"),
    [("requestRate: 10", "picking mode load_match, target 10 requests/s"),
     ("concurrency: 64", "picking mode load_match, target 64 concurrent requests")],
)  # fmt: skip
def test_load_match_title_states_target(tmp_path, dgdr, capsys, load, title_part):
    spec = _write(tmp_path, BASE_DGDR.format(name="q") + f"  workload:\n    {load}\n")
    assert dgdr(spec, "--no-progress") == 0
    title = capsys.readouterr().out.splitlines()[0]
    assert title_part in title


def test_default_mode_title_has_no_target(tmp_path, dgdr, capsys):
    assert dgdr(_write(tmp_path, BASE_DGDR.format(name="q")), "--no-progress") == 0
    title = capsys.readouterr().out.splitlines()[0]
    assert "picking mode default, backend vllm; SLA" in title
    assert "target" not in title


def test_auto_backend_title_names_pick(dgdr, capsys):
    # qwen3-32b-h200.yaml leaves backend at auto; trtllm wins there (see test_caveats_cover_pareto_backends).
    assert dgdr(EXAMPLES[0].parent / "qwen3-32b-h200.yaml", "--no-progress") == 0
    title = capsys.readouterr().out.splitlines()[0]
    assert "picking mode default, backend auto (picked trtllm); SLA" in title


def test_redirected_run_puts_every_warning_on_stderr(dgdr, capsys):
    # mixtral-thorough.yaml: the searchStrategy thorough warning comes from the request,
    # the a100_sxm/vllm caveat from the calibration; both must reach standard error once.
    assert dgdr(EXAMPLES[0].parent / "mixtral-thorough.yaml", "--no-progress") == 0
    captured = capsys.readouterr()
    block = _warnings_block(captured.out)
    stderr_warnings = [line.removeprefix("warning: ") for line in captured.err.splitlines() if line.startswith("warning: ")]

    assert any(warning.startswith("searchStrategy thorough") for warning in block)
    assert stderr_warnings == block


def test_osl_one_ignores_itl_target(tmp_path, dgdr, capsys):
    # The DGDR types workload.osl as int32 with no minimum, so osl 1 is valid; one output token has no ITL.
    spec = _write(tmp_path, BASE_DGDR.format(name="q") + "  workload:\n    isl: 4000\n    osl: 1\n  sla:\n    itl: 5\n")
    assert dgdr(spec, "--no-progress") == 0
    out = capsys.readouterr().out
    header, _, *rows = _table_rows(out)

    assert "misses ITL" not in out
    assert "ITL not applicable at OSL 1" in out.splitlines()[0]
    assert any("workload.osl is 1" in warning and "sla.itl: 5 ms" in warning for warning in _warnings_block(out))
    for row in rows:
        assert row.split()[-6] == "n/a", row


def test_table_shows_decode_batch(dgdr, capsys):
    # llama31-8b-l40s.yaml: one L40S, and the pick runs a single request at a time.
    assert dgdr(EXAMPLES[0].parent / "llama31-8b-l40s.yaml", "--no-progress") == 0
    header, _, first, *_ = _table_rows(capsys.readouterr().out)
    assert "D batch" in header
    assert first.split()[1:5] == ["agg", "vllm", "1x", "tp1"]
    assert first.split()[8] == "1.0"


def test_decode_batch_divides_by_decode_workers():
    from dgdr_kernel.selection import EngineLayout, Pick
    from dgdr_kernel.summary import _decode_batch

    # 240 requests in flight over 2 decode workers; the 4 prefill workers hold none of them.
    pick_ = Pick(
        mode="disagg", backend="vllm", agg=None, prefill=EngineLayout(tp=1, workers=4),
        decode=EngineLayout(tp=2, workers=2), total_gpus=8, ttft_ms=500.0, itl_ms=29.0,
        request_latency_ms=29471.0, tokens_per_s_per_user=34.5, tokens_per_s_per_gpu=900.0,
        requests_per_s=8.0, concurrency=240.0, meets_sla=True, provenance="calibrated",
    )  # fmt: skip
    assert _decode_batch(pick_) == "120"


@pytest.mark.parametrize("force", [False, True])
def test_bad_spec_over_bundle_prints_error_once(tmp_path, dgdr, capsys, force):
    out = tmp_path / "bundle"
    assert dgdr(_write(tmp_path, BASE_DGDR.format(name="q")), "-o", out, "--no-progress") == 0
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    capsys.readouterr()

    bad = _write(tmp_path, BASE_DGDR.format(name="q") + "  workload:\n    isl: -5\n")
    assert dgdr(bad, "-o", out, *(["--force"] if force else []), "--no-progress") == 1
    err = capsys.readouterr().err
    error_lines = [line for line in err.splitlines() if line.startswith("error:")]

    assert len(error_lines) == 1
    assert "workload.isl" in err
    assert err.count("workload.isl") == 1
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before
