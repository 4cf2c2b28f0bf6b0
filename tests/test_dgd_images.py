"""Images derived from spec.image: last path component swapped, registry and tag kept."""

import pytest

from dgdr_kernel.dgd.images import derive_image
from dgdr_kernel.errors import RenderError


@pytest.mark.parametrize(
    ("spec_image", "component", "expected"),
    [
        # The documented example: dynamo-planner:1.4.0 -> vllm-runtime:1.4.0.
        ("nvcr.io/nvidia/ai-dynamo/dynamo-planner:1.4.0", "vllm", "nvcr.io/nvidia/ai-dynamo/vllm-runtime:1.4.0"),
        ("nvcr.io/nvidia/ai-dynamo/dynamo-planner:1.4.0", "sglang", "nvcr.io/nvidia/ai-dynamo/sglang-runtime:1.4.0"),
        ("nvcr.io/nvidia/ai-dynamo/dynamo-planner:1.4.0", "trtllm", "nvcr.io/nvidia/ai-dynamo/tensorrtllm-runtime:1.4.0"),
        # A runtime image as spec.image still yields the planner image, not a runtime one.
        ("nvcr.io/nvidia/ai-dynamo/vllm-runtime:1.1.0", "planner", "nvcr.io/nvidia/ai-dynamo/dynamo-planner:1.1.0"),
        ("registry.local:5000/team/dynamo-planner:dev", "vllm", "registry.local:5000/team/vllm-runtime:dev"),
        ("registry.local:5000/dynamo-planner", "sglang", "registry.local:5000/sglang-runtime"),
        ("nvcr.io/x/dynamo-planner:1.4.0@sha256:abc123", "trtllm", "nvcr.io/x/tensorrtllm-runtime:1.4.0@sha256:abc123"),
        ("dynamo-planner:1.4.0", "vllm", "vllm-runtime:1.4.0"),
    ],
)
def test_derive_image_swaps_last_component(spec_image, component, expected):
    assert derive_image(spec_image, component) == expected


def test_derive_image_mocker_uses_spec_image():
    assert derive_image("nvcr.io/x/dynamo-planner:1.4.0", "mocker") == "nvcr.io/x/dynamo-planner:1.4.0"


def test_derive_image_unknown_component_raises():
    with pytest.raises(RenderError, match="no runtime image is known for 'llamacpp'"):
        derive_image("nvcr.io/x/dynamo-planner:1.4.0", "llamacpp")


def test_derive_image_without_name_raises():
    with pytest.raises(RenderError, match="has no image name"):
        derive_image("nvcr.io/x/", "vllm")


def test_renderer_default_image_is_the_dgdr_default():
    # The renderer's fallback for an unset spec.image was dynamo-planner:1.3.1
    # while a loaded DGDR defaults to 1.6.0: one default image, one version.
    from dgdr_kernel.dgd import images
    from dgdr_kernel.spec import load_dgdr

    assert images.DEFAULT_IMAGE == load_dgdr({"model": "Qwen/Qwen3-8B"}).spec.image
