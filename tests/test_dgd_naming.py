"""DGD names: DNS-1123 names from any text and the 45-character Grove limit."""

import pytest

from dgdr_kernel.dgd import naming
from dgdr_kernel.errors import RenderError


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Qwen/Qwen3-32B", "qwen-qwen3-32b"),
        ("meta-llama/Llama-3.1-8B-Instruct", "meta-llama-llama-3-1-8b-instruct"),
        ("--weird__Name..v2--", "weird-name-v2"),
        ("日本語", "dgdr"),
        ("a" * 80, "a" * 63),
    ],
)
def test_to_dns1123_label_cases(text, expected):
    label = naming.to_dns1123_label(text)
    assert label == expected
    assert naming.is_dns1123_label(label)


def test_default_dgd_name_appends_dgd():
    assert naming.default_dgd_name("qwen3-32b") == "qwen3-32b-dgd"


def test_default_dgd_name_of_long_name_is_valid():
    name = naming.default_dgd_name("x" * 70)
    assert len(name) == 63
    assert name.endswith("-dgd")


def test_configmap_name_is_stable_and_valid():
    first = naming.configmap_name("planner-config", "dynamo", "a-dgd")
    assert first == naming.configmap_name("planner-config", "dynamo", "a-dgd")
    assert first != naming.configmap_name("planner-config", "dynamo", "b-dgd")
    assert len(first) == len("planner-config-") + 4
    assert naming.is_dns1123_subdomain(first)


def test_check_name_lengths_accepts_exactly_45():
    naming.check_name_lengths("d" * 39, {"decode": {}}, dgd_name_from_override=False)


def test_check_name_lengths_names_each_offending_service():
    # 38 characters: Frontend (8) makes 46 and fails; prefill (7) makes 45 and fits.
    services = {"Frontend": {}, "prefill": {}, "decode": {}}
    with pytest.raises(RenderError) as caught:
        naming.check_name_lengths("a" * 34 + "-dgd", services, dgd_name_from_override=False)
    message = str(caught.value)
    assert "'Frontend'" in message
    assert "'prefill'" not in message
    assert "'decode'" not in message
    # 45 - len("frontend") - len("-dgd") = 33
    assert "at most 33 characters" in message


def test_check_name_lengths_counts_leader_suffix_for_multinode():
    multinode = {"decode": {"multinode": {"nodeCount": 2}}}
    naming.check_name_lengths("m" * 35, multinode, dgd_name_from_override=True)  # 35 + 6 + 4 = 45
    with pytest.raises(RenderError, match="decode-ldr"):
        naming.check_name_lengths("m" * 36, multinode, dgd_name_from_override=True)


def test_check_name_lengths_override_message_names_override_field():
    with pytest.raises(RenderError, match=r"overrides\.dgd\.metadata\.name to at most 38"):
        naming.check_name_lengths("o" * 40, {"prefill": {}}, dgd_name_from_override=True)
