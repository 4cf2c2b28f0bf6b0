"""Exceptions raised by dgdr_kernel.

Hierarchy::

    DgdrError                  base of every error this package raises on purpose
    ├── SpecError              the DGDR is invalid; carries every problem found
    ├── HardwareError          hardware cannot be resolved (unknown SKU, no GPUs found)
    ├── ModelArchError         no config.json for the model, or one we cannot parse
    ├── PerfModelError         the performance model cannot price a configuration
    ├── RenderError            the DGD cannot be rendered or fails its own checks
    │   └── OverrideError      overrides.dgd cannot be merged
    ├── BundleError            the output folder cannot be written
    └── ReportError            a report cannot be produced (missing kernel or
                               extra, or the notebook run failed)

The command line turns a DgdrError into exit code 1 and prints its message;
anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "BundleError",
    "DgdrError",
    "HardwareError",
    "ModelArchError",
    "OverrideError",
    "PerfModelError",
    "RenderError",
    "ReportError",
    "SpecError",
    "SpecProblem",
]


class DgdrError(Exception):
    """Base class of every error raised on purpose by dgdr_kernel."""


@dataclass(frozen=True)
class SpecProblem:
    """One validation problem: where it is, what was found, and how to fix it."""

    path: str
    message: str
    value: object = None
    fix: str | None = None

    def __str__(self) -> str:
        text = f"{self.path}: {self.message}"
        if self.value is not None:
            text += f" (got {self.value!r})"
        if self.fix:
            text += f"; {self.fix}"
        return text


class SpecError(DgdrError):
    """Raised when a DGDR is invalid; `problems` lists every problem found."""

    def __init__(self, problems: list[SpecProblem], source: str | None = None, *, headline: str | None = None):
        self.problems = list(problems)
        self.source = source
        # A file that cannot be read is not an invalid DGDR, so the reader may pass its own headline.
        self.headline = headline
        where = f" in {source}" if source else ""
        lines = [f"{headline or f'invalid DGDR{where}'}: {len(self.problems)} problem(s)"]
        lines += [f"  - {problem}" for problem in self.problems]
        super().__init__("\n".join(lines))


class HardwareError(DgdrError):
    """Raised when the GPU SKU, count or node size cannot be resolved."""


class ModelArchError(DgdrError):
    """Raised when a model's architecture cannot be found or parsed."""


class PerfModelError(DgdrError):
    """Raised when the performance model cannot price a configuration."""


class RenderError(DgdrError):
    """Raised when a DynamoGraphDeployment cannot be rendered or is invalid."""


class OverrideError(RenderError):
    """Raised when overrides.dgd cannot be merged into the generated DGD."""


class BundleError(DgdrError):
    """Raised when the output bundle cannot be written."""


class ReportError(DgdrError):
    """Raised when a report cannot be produced: missing kernel or extra, or a failed notebook run."""
