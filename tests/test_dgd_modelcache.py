"""The three model-cache cases and the never-prefix-twice rule."""

from dgdr_kernel.dgd.modelcache import resolve_model_source


def test_no_pvc_downloads_from_huggingface():
    source = resolve_model_source("Qwen/Qwen3-32B")
    assert source.model_path == "Qwen/Qwen3-32B"
    assert source.served_model_name == "Qwen/Qwen3-32B"
    assert source.pvc_name is None
    assert source.hf_home is None


def test_pvc_without_path_is_hf_cache():
    source = resolve_model_source("Qwen/Qwen3-32B", pvc_name="cache")
    assert source.model_path == "Qwen/Qwen3-32B"
    assert source.mount_path == "/opt/model-cache"
    assert source.hf_home == "/opt/model-cache"
    assert not source.is_local_path


def test_pvc_with_path_serves_spec_model():
    # Clients address the model by spec.model, so the PVC path must not become the served name.
    source = resolve_model_source("Qwen/Qwen3-32B", pvc_name="cache", pvc_model_path="Qwen3-32B")
    assert source.model_path == "/opt/model-cache/Qwen3-32B"
    assert source.served_model_name == "Qwen/Qwen3-32B"
    assert source.hf_home is None


def test_slashes_are_normalised():
    source = resolve_model_source("m", pvc_name="c", pvc_model_path="/hub/m/", pvc_mount_path="/models/")
    assert source.model_path == "/models/hub/m"


def test_absolute_path_under_mount_is_not_prefixed_twice():
    source = resolve_model_source("m", pvc_name="c", pvc_model_path="/opt/model-cache/deepseek-r1")
    assert source.model_path == "/opt/model-cache/deepseek-r1"


def test_mount_prefix_of_another_folder_is_still_joined():
    # /opt/model-cache-2 is not under /opt/model-cache, so it is a path inside the PVC.
    source = resolve_model_source("m", pvc_name="c", pvc_model_path="/opt/model-cache-2/x")
    assert source.model_path == "/opt/model-cache/opt/model-cache-2/x"


def test_blank_path_means_hf_cache():
    source = resolve_model_source("m", pvc_name="c", pvc_model_path="/")
    assert source.model_path == "m"
    assert source.hf_home == "/opt/model-cache"
