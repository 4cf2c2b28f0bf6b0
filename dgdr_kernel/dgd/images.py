"""Container images of the generated services, derived from `spec.image`.

`spec.image` names the profiling image (by default `.../dynamo-planner:<tag>`).
The engine and planner images share its registry, repository path and tag;
only the last path component is swapped for the runtime of the backend.
"""

from __future__ import annotations

from dgdr_kernel.errors import RenderError
from dgdr_kernel.spec_models import DEFAULT_IMAGE  # the image the DGDR defaults to

__all__ = ["DEFAULT_IMAGE", "IMAGE_NAMES", "derive_image"]

# Last path component of each runtime image published under nvcr.io/nvidia/ai-dynamo.
IMAGE_NAMES = {
    "vllm": "vllm-runtime",
    "sglang": "sglang-runtime",
    "trtllm": "tensorrtllm-runtime",
    "planner": "dynamo-planner",
}


def derive_image(spec_image: str, component: str) -> str:
    """Return the image of `component` (a backend, `planner` or `mocker`).

    The mocker runs in `spec.image` itself. Registry (with its port), tag and
    digest are kept: `host:5000/ai-dynamo/dynamo-planner:1.4.0@sha256:ab` becomes
    `host:5000/ai-dynamo/vllm-runtime:1.4.0@sha256:ab` for vllm.
    """
    if component == "mocker":
        return spec_image
    if component not in IMAGE_NAMES:
        raise RenderError(f"no runtime image is known for {component!r}; expected one of {sorted(IMAGE_NAMES)} or 'mocker'")

    reference, at, digest = spec_image.partition("@")
    slash = reference.rfind("/")
    head, last = reference[: slash + 1], reference[slash + 1 :]
    name, colon, tag = last.partition(":")
    if not name:
        raise RenderError(f"spec.image {spec_image!r} has no image name; expected e.g. {DEFAULT_IMAGE}")
    return f"{head}{IMAGE_NAMES[component]}{colon}{tag}{at}{digest}"
