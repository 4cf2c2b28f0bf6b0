"""Golden tests: each case's final config equals its reviewed expected file.

Regenerate the expected files after a deliberate change with
`.venv/bin/python tests/regen_golden.py`, then review the diff.
"""

import pytest
import yaml

from regen_golden import CASES, golden_path, render_case

from dgdr_kernel.dgd import schema, v1beta1


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden_matches_expected_file(name):
    expected = golden_path(name)
    assert expected.exists(), f"{expected} is missing; run: .venv/bin/python tests/regen_golden.py"
    assert render_case(name) == expected.read_text()


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden_documents_are_valid(name):
    documents = list(yaml.safe_load_all(golden_path(name).read_text()))
    dgd = documents[-1]

    assert dgd["kind"] == "DynamoGraphDeployment"
    assert all(doc["kind"] == "ConfigMap" for doc in documents[:-1])
    if dgd["apiVersion"] == "nvidia.com/v1beta1":
        dgd = v1beta1.from_v1beta1(dgd)
    schema.validate_dgd(dgd)
    for config_map in documents[:-1]:
        schema.validate_configmap(config_map)


def test_golden_cases_cover_every_backend_and_mode():
    covered = {(pick.backend, pick.mode) for _, pick, _, _ in CASES.values()}
    for backend in ("vllm", "sglang", "trtllm"):
        for mode in ("agg", "disagg"):
            assert (backend, mode) in covered
