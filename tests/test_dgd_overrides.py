"""overrides.dgd merge: worker args append, other lists and scalars replace, unknown services skipped."""

import copy

import pytest

from regen_golden import DENSE_AGG, DENSE_DECODE, DENSE_PREFILL, _inputs, _pick

from dgdr_kernel.dgd import render_pick
from dgdr_kernel.dgd.overrides import apply_dgd_override
from dgdr_kernel.errors import OverrideError, RenderError

DISAGG = _pick("vllm", prefill=DENSE_PREFILL, decode=DENSE_DECODE)
AGG = _pick("vllm", agg=DENSE_AGG)


def _generated(pick=DISAGG, **changes):
    return render_pick(_inputs("qwen3-32b", **changes), pick).dgd


def _override(services=None, **top):
    body = {"apiVersion": "nvidia.com/v1alpha1", "kind": "DynamoGraphDeployment", "spec": {"services": services or {}}}
    body.update(top)
    return body


def test_worker_args_are_appended():
    dgd = _generated()
    before = list(dgd["spec"]["services"]["decode"]["extraPodSpec"]["mainContainer"]["args"])
    merged, _ = apply_dgd_override(dgd, _override({"decode": {"extraPodSpec": {"mainContainer": {"args": ["--enforce-eager"]}}}}))
    assert merged["spec"]["services"]["decode"]["extraPodSpec"]["mainContainer"]["args"] == before + ["--enforce-eager"]


def _decode_args(dgd):
    return dgd["spec"]["services"]["decode"]["extraPodSpec"]["mainContainer"]["args"]


def test_appended_flag_replaces_generated_one():
    dgd = _generated()
    sized = _decode_args(dgd)[_decode_args(dgd).index("--max-num-seqs") + 1]
    assert sized != "256"  # the override below must contradict the sized batch
    override = _override({"decode": {"extraPodSpec": {"mainContainer": {"args": ["--enable-prefix-caching", "--max-num-seqs", "256"]}}}})
    merged, warnings = apply_dgd_override(dgd, override)
    args = _decode_args(merged)
    assert args.count("--max-num-seqs") == 1
    assert args[-2:] == ["--max-num-seqs", "256"]
    assert "--enable-prefix-caching" in args
    flag_warnings = [w for w in warnings if w.startswith("overrides.dgd sets --max-num-seqs")]
    assert len(flag_warnings) == 1
    budget_warnings = [w for w in warnings if "token budget is raised" in w]
    assert len(budget_warnings) == 1
    assert "'decode'" in flag_warnings[0]
    assert f"predictions assume {sized}" in flag_warnings[0]
    assert "256" in flag_warnings[0]


def test_raised_batch_raises_vllm_token_budget():
    # The generated vLLM decode worker has --max-num-seqs 128 and --max-num-batched-tokens 128
    # (decode token budget = batch); vLLM refuses max_num_batched_tokens < max_num_seqs.
    dgd = _generated()
    override = _override({"decode": {"extraPodSpec": {"mainContainer": {"args": ["--max-num-seqs", "256"]}}}})

    merged, warnings = apply_dgd_override(dgd, override)

    args = _decode_args(merged)
    assert args[args.index("--max-num-batched-tokens") + 1] == "256"
    assert args.count("--max-num-batched-tokens") == 1
    assert any("token budget is raised to 256" in warning for warning in warnings)


def test_override_budget_below_batch_is_error():
    dgd = _generated()
    args = ["--max-num-seqs", "256", "--max-num-batched-tokens", "64"]
    override = _override({"decode": {"extraPodSpec": {"mainContainer": {"args": args}}}})

    with pytest.raises(OverrideError, match="set --max-num-batched-tokens to at least 256"):
        apply_dgd_override(dgd, override)


def test_appended_flag_with_equals_form():
    dgd = _generated()
    tp = _decode_args(dgd)[_decode_args(dgd).index("--tensor-parallel-size") + 1]
    merged, warnings = apply_dgd_override(dgd, _override({"decode": {"extraPodSpec": {"mainContainer": {"args": ["--tensor-parallel-size=8"]}}}}))
    args = _decode_args(merged)
    assert "--tensor-parallel-size" not in args
    assert args[-1] == "--tensor-parallel-size=8"
    assert any(f"--tensor-parallel-size 8 on service 'decode'" in w and f"predictions assume {tp}" in w for w in warnings)


def test_repeated_flag_with_same_value_is_silent():
    dgd = _generated()
    sized = _decode_args(dgd)[_decode_args(dgd).index("--max-num-seqs") + 1]
    merged, warnings = apply_dgd_override(dgd, _override({"decode": {"extraPodSpec": {"mainContainer": {"args": ["--max-num-seqs", sized]}}}}))
    assert _decode_args(merged).count("--max-num-seqs") == 1
    assert not any("--max-num-seqs" in w for w in warnings)


def test_override_warnings_logged_below_warning(caplog):
    import logging

    with caplog.at_level(logging.DEBUG, logger="dgdr_kernel.dgd.overrides"):
        _, warnings = apply_dgd_override(_generated(), _override({"VllmPrefillWorker": {"replicas": 7}}))
    assert warnings
    # The CLI prints the returned warnings; a WARNING log record would print each a second time.
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_frontend_args_replace():
    merged, _ = apply_dgd_override(_generated(), _override({"Frontend": {"extraPodSpec": {"mainContainer": {"args": ["--http-port", "9000"]}}}}))
    assert merged["spec"]["services"]["Frontend"]["extraPodSpec"]["mainContainer"]["args"] == ["--http-port", "9000"]


def test_other_lists_and_scalars_replace():
    dgd = _generated(tolerations=({"key": "a", "operator": "Exists"},))
    override = _override({"prefill": {"replicas": 5, "extraPodSpec": {"tolerations": [{"key": "b", "operator": "Exists"}]}}})
    merged, _ = apply_dgd_override(dgd, override)
    prefill = merged["spec"]["services"]["prefill"]
    assert prefill["replicas"] == 5
    assert prefill["extraPodSpec"]["tolerations"] == [{"key": "b", "operator": "Exists"}]
    assert prefill["resources"] == {"limits": {"gpu": "2"}}  # untouched keys stay


def test_unknown_service_skipped_with_warning():
    dgd = _generated()
    merged, warnings = apply_dgd_override(dgd, _override({"EncodeWorker": {"replicas": 1}}))
    assert "EncodeWorker" not in merged["spec"]["services"]
    assert any("EncodeWorker" in w and "skipped" in w for w in warnings)


def test_legacy_names_map_to_new_names():
    merged, warnings = apply_dgd_override(_generated(), _override({"VllmPrefillWorker": {"replicas": 7}}))
    assert merged["spec"]["services"]["prefill"]["replicas"] == 7
    assert any("VllmPrefillWorker" in w and "'prefill'" in w for w in warnings)


def test_legacy_decode_name_targets_agg_worker():
    merged, _ = apply_dgd_override(_generated(AGG), _override({"VllmDecodeWorker": {"replicas": 3}}))
    assert merged["spec"]["services"]["worker"]["replicas"] == 3


def test_metadata_name_labels_kept_rest_dropped():
    override = _override(metadata={"name": "my-dgd", "labels": {"team": "x"}, "namespace": "other", "uid": "1"})
    merged, warnings = apply_dgd_override(_generated(), override)
    assert merged["metadata"]["name"] == "my-dgd"
    assert merged["metadata"]["namespace"] == "dynamo"
    assert merged["metadata"]["labels"]["team"] == "x"
    assert merged["metadata"]["labels"]["nvidia.com/managed-by"] == "dynamo-operator"
    assert any("namespace" in w and "uid" in w for w in warnings)


def test_override_does_not_mutate_inputs():
    dgd = _generated()
    override = _override({"decode": {"extraPodSpec": {"mainContainer": {"args": ["--x"]}}}})
    dgd_copy, override_copy = copy.deepcopy(dgd), copy.deepcopy(override)
    apply_dgd_override(dgd, override)
    assert dgd == dgd_copy
    assert override == override_copy


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"apiVersion": "nvidia.com/v1alpha1", "spec": {}}, "overrides.dgd.kind is missing"),
        ({"apiVersion": "nvidia.com/v1", "kind": "DynamoGraphDeployment"}, "apiVersion is 'nvidia.com/v1'"),
        ({"apiVersion": "nvidia.com/v1alpha1", "kind": "Deployment"}, "kind is 'Deployment'"),
        (_override({"decode": {"replicas": None}}), r"overrides.dgd.spec.services.decode.replicas is null"),
        (_override(status={"state": "successful"}), "overrides.dgd.status is not allowed"),
        (_override(extra=1), "unknown top-level fields \\['extra'\\]"),
        (_override({"decode": ["not", "a", "mapping"]}), "services.decode must be a mapping"),
    ],
)
def test_bad_override_raises(override, message):
    with pytest.raises(OverrideError, match=message):
        apply_dgd_override(_generated(), override)


def test_override_without_version_is_v1alpha1_with_warning():
    merged, warnings = apply_dgd_override(_generated(), {"spec": {"services": {"decode": {"replicas": 2}}}})
    assert merged["spec"]["services"]["decode"]["replicas"] == 2
    assert any("neither apiVersion nor kind" in w for w in warnings)


def test_v1beta1_override_merges_env_by_name():
    dgd = _generated(AGG)
    override = {
        "apiVersion": "nvidia.com/v1beta1",
        "kind": "DynamoGraphDeployment",
        "spec": {"components": [
            {"name": "worker", "podTemplate": {"spec": {"containers": [{"name": "main", "args": ["--only-this"], "env": [{"name": "A", "value": "1"}]}]}}},
            {"name": "ghost", "replicas": 2},
        ]},
    }  # fmt: skip
    merged, warnings = apply_dgd_override(dgd, override)
    worker = merged["spec"]["services"]["worker"]
    assert worker["extraPodSpec"]["mainContainer"]["args"] == ["--only-this"]  # v1beta1 args are atomic
    assert {"name": "A", "value": "1"} in worker["envs"]
    assert worker["envFromSecret"] == "hf-token-secret"
    assert any("ghost" in w for w in warnings)


def test_bad_value_fails_validation_after_merge():
    # Overrides are merged after generation and the result is checked again.
    override = _override({"decode": {"replicas": "two", "resources": {"limits": {"gpu": 4}}}})
    with pytest.raises(RenderError) as caught:
        render_pick(_inputs("qwen3-32b", dgd_override=override), DISAGG)
    message = str(caught.value)
    assert "spec.services.decode.replicas" in message
    assert "spec.services.decode.resources.limits.gpu" in message
    assert "(got 'two')" in message  # the offending value, not only the field


def test_bad_pod_field_in_override_is_reported():
    override = _override({"decode": {"extraPodSpec": {"mainContainer": {"envv": []}, "tolerations": [{"operator": 5}]}}})
    with pytest.raises(RenderError) as caught:
        render_pick(_inputs("qwen3-32b", dgd_override=override), DISAGG)
    message = str(caught.value)
    assert "mainContainer.envv" in message
    assert "tolerations.0.operator" in message


def test_invalid_override_name_raises():
    with pytest.raises(OverrideError, match="is not a valid Kubernetes name"):
        render_pick(_inputs("qwen3-32b", dgd_override=_override(metadata={"name": "My_DGD"})), DISAGG)


@pytest.mark.parametrize(
    ("top", "field"),
    [
        ({"spec": "oops"}, "overrides.dgd.spec"),
        ({"metadata": "oops"}, "overrides.dgd.metadata"),
        ({"metadata": {"labels": ["team-a"]}}, "overrides.dgd.metadata.labels"),
        ({"apiVersion": "nvidia.com/v1beta1", "spec": {"components": {"decode": {"replicas": 2}}}}, "overrides.dgd.spec.components"),
        ({"apiVersion": "nvidia.com/v1beta1", "spec": {"components": ["decode", {"name": "nope"}]}}, "overrides.dgd.spec.components"),
    ],
)
def test_malformed_override_is_an_override_error(top, field):
    # Each of these raised a bare ValueError, AttributeError or TypeError from
    # inside the merge before the shape check; now the message names the field.
    body = {"apiVersion": "nvidia.com/v1alpha1", "kind": "DynamoGraphDeployment", **top}
    with pytest.raises(OverrideError, match=field.replace(".", r"\.")):
        render_pick(_inputs("qwen3-32b", dgd_override=body), AGG)
