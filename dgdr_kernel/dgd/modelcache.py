"""Model source of the workers: HuggingFace, a PVC as HF cache, or a path in a PVC.

The three cases of `spec.modelCache`:

1. no `pvcName`: workers download `spec.model` from HuggingFace;
2. `pvcName` only: the PVC is mounted as the HuggingFace cache in every
   service and workers keep the HuggingFace id;
3. `pvcName` and `pvcModelPath`: the PVC is mounted, workers load
   `<pvcMountPath>/<pvcModelPath>` and still serve it as `spec.model`.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

__all__ = ["DEFAULT_PVC_MOUNT_PATH", "ModelSource", "resolve_model_source"]

DEFAULT_PVC_MOUNT_PATH = "/opt/model-cache"


@dataclass(frozen=True)
class ModelSource:
    """Location of the model weights for every service."""

    served_model_name: str  # always spec.model: clients address the model by it
    model_path: str  # what engines load: the HF id or a local directory
    pvc_name: str | None = None
    mount_path: str | None = None

    @property
    def is_local_path(self) -> bool:
        return self.model_path != self.served_model_name

    @property
    def hf_home(self) -> str | None:
        """HF_HOME for case 2 (PVC as the HuggingFace cache), else None."""
        if self.pvc_name and not self.is_local_path:
            return self.mount_path
        return None


def resolve_model_source(
    model: str,
    *,
    pvc_name: str | None = None,
    pvc_model_path: str | None = None,
    pvc_mount_path: str | None = None,
) -> ModelSource:
    """Resolve the model path and mounts for the three model-cache cases.

    An absolute `pvc_model_path` already under the mount path is used as it is,
    so a path is never prefixed twice.
    NOTE: upstream also checks that the directory exists inside the profiler
    pod; working offline we cannot, so a wrong path fails at worker start.
    """
    if not pvc_name:
        return ModelSource(served_model_name=model, model_path=model)

    mount_path = (pvc_mount_path or DEFAULT_PVC_MOUNT_PATH).rstrip("/") or "/"
    if not pvc_model_path or not pvc_model_path.strip("/"):
        return ModelSource(served_model_name=model, model_path=model, pvc_name=pvc_name, mount_path=mount_path)

    if posixpath.isabs(pvc_model_path):
        normalized = posixpath.normpath(pvc_model_path)
        if normalized == mount_path or normalized.startswith(mount_path.rstrip("/") + "/"):
            return ModelSource(model, normalized, pvc_name, mount_path)

    local_path = posixpath.join(mount_path, pvc_model_path.strip("/"))
    return ModelSource(served_model_name=model, model_path=local_path, pvc_name=pvc_name, mount_path=mount_path)
