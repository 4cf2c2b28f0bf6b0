"""Find a model's `config.json` and parse it; nothing is ever downloaded.

Lookup order for a model id:

1. a local path: a directory holding config.json, or a config.json file;
2. each directory of `search_paths`, as `<org>--<name>/`, `<org>/<name>/` or `<name>/`;
3. the configs shipped in `dgdr_kernel.modelconfigs` (ids match case-insensitively);
4. the local HuggingFace hub cache (`HF_HUB_CACHE`, else `HF_HOME/hub`, else
   `~/.cache/huggingface/hub`), snapshot of `refs/main` or else the newest one.
"""

from __future__ import annotations

import functools
import importlib.resources
import json
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from dgdr_kernel.errors import ModelArchError
from dgdr_kernel.modelarch.arch import ModelArch
from dgdr_kernel.modelarch.parse import parse_config, read_config_file

__all__ = ["ConfigLocation", "hf_hub_cache_dir", "list_shipped_models", "locate_config", "resolve_model"]

logger = logging.getLogger(__name__)

_SHIPPED_PACKAGE = "dgdr_kernel.modelconfigs"


@dataclass(frozen=True)
class ConfigLocation:
    """Location of a model's config.json.

    `origin` is one of "local path", "search path", "shipped" or "huggingface cache".
    `path` is the file, which for shipped configs is inside the installed package.
    """

    model_id: str
    origin: str
    path: str


def resolve_model(model_id: str, *, search_paths: Iterable[str | Path] | None = None) -> ModelArch:
    """Find the config.json of `model_id` and parse it into a `ModelArch`.

    Raises `ModelArchError` when no config is found (the message lists the
    shipped models and how to point at a local config) or when it cannot be
    parsed. Parsed results are cached per file and modification time.
    """
    location = locate_config(model_id, search_paths=search_paths)
    path = Path(location.path)
    if location.origin == "shipped":
        return _parse_shipped(location.model_id)
    stat = path.stat()
    return _parse_file(str(path), stat.st_mtime_ns, stat.st_size, location.model_id)


def locate_config(model_id: str, *, search_paths: Iterable[str | Path] | None = None) -> ConfigLocation:
    """Return where the config.json of `model_id` is, following the lookup order of this module."""
    if not model_id or not str(model_id).strip():
        raise ModelArchError("model id is empty; set spec.model to a HuggingFace id or a local directory")
    model_id = str(model_id).strip()

    local = _find_local_path(model_id)
    if local is not None:
        return ConfigLocation(model_id, "local path", str(local))

    for directory in search_paths or ():
        found = _find_in_search_path(Path(directory), model_id)
        if found is not None:
            return ConfigLocation(model_id, "search path", str(found))

    shipped_id = _match_shipped(model_id)
    if shipped_id is not None:
        return ConfigLocation(shipped_id, "shipped", str(_shipped_config(shipped_id)))

    cached = _find_in_hf_cache(model_id)
    if cached is not None:
        return ConfigLocation(model_id, "huggingface cache", str(cached))

    raise ModelArchError(_not_found_message(model_id, search_paths))


@functools.lru_cache(maxsize=1)
def list_shipped_models() -> tuple[str, ...]:
    """Return the ids (`org/name`) of the configs shipped with the package, sorted case-insensitively."""
    root = importlib.resources.files(_SHIPPED_PACKAGE)
    ids = [
        entry.name.replace("--", "/", 1)
        for entry in root.iterdir()
        if entry.is_dir() and "--" in entry.name and entry.joinpath("config.json").is_file()
    ]
    return tuple(sorted(ids, key=str.lower))


def hf_hub_cache_dir() -> Path:
    """Return the HuggingFace hub cache directory the way huggingface_hub chooses it."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    return Path.home() / ".cache" / "huggingface" / "hub"


def _find_local_path(model_id: str) -> Path | None:
    path = Path(model_id).expanduser()
    if path.is_file():
        return path
    if path.is_dir():
        config = path / "config.json"
        if not config.is_file():
            raise ModelArchError(
                f"model directory {path} has no config.json; point spec.model at the folder "
                "that holds the checkpoint's config.json"
            )
        return config
    return None


def _find_in_search_path(directory: Path, model_id: str) -> Path | None:
    candidates = [directory / model_id.replace("/", "--"), directory / model_id, directory / model_id.split("/")[-1]]
    for candidate in candidates:
        if (candidate / "config.json").is_file():
            return candidate / "config.json"
    return None


def _match_shipped(model_id: str) -> str | None:
    """Return the shipped id equal to `model_id` ignoring case, or the only one with that name after the org."""
    wanted = model_id.lower()
    shipped = list_shipped_models()
    for candidate in shipped:
        if candidate.lower() == wanted:
            return candidate
    if "/" not in wanted:
        by_name = [candidate for candidate in shipped if candidate.lower().split("/", 1)[1] == wanted]
        if len(by_name) == 1:
            return by_name[0]
    return None


def _shipped_config(shipped_id: str):
    return importlib.resources.files(_SHIPPED_PACKAGE).joinpath(shipped_id.replace("/", "--"), "config.json")


@functools.lru_cache(maxsize=None)
def _parse_shipped(shipped_id: str) -> ModelArch:
    resource = _shipped_config(shipped_id)
    config = json.loads(resource.read_text(encoding="utf-8"))
    return parse_config(config, model_id=shipped_id, source=f"shipped config {shipped_id}")


@functools.lru_cache(maxsize=256)
def _parse_file(path: str, mtime_ns: int, size: int, model_id: str) -> ModelArch:
    # mtime and size are part of the cache key so an edited config is parsed again
    logger.debug("parsing %s for %s", path, model_id)
    return parse_config(read_config_file(path), model_id=model_id, source=path)


def _find_in_hf_cache(model_id: str) -> Path | None:
    """Return the cached config.json of a hub id, or None."""
    if "/" not in model_id:
        return None
    cache = hf_hub_cache_dir()
    if not cache.is_dir():
        return None

    wanted = "models--" + model_id.replace("/", "--")
    repo_dir = cache / wanted
    if not repo_dir.is_dir():
        # hub ids are case-insensitive, folder names on disk keep the case they were downloaded with
        matches = [entry for entry in cache.iterdir() if entry.name.lower() == wanted.lower()]
        if not matches:
            return None
        repo_dir = matches[0]

    ref = repo_dir / "refs" / "main"
    if ref.is_file():
        config = repo_dir / "snapshots" / ref.read_text(encoding="utf-8").strip() / "config.json"
        if config.is_file():
            return config

    snapshots = [path for path in (repo_dir / "snapshots").glob("*/config.json") if path.is_file()]
    if not snapshots:
        return None
    return max(snapshots, key=lambda path: path.stat().st_mtime)


def _not_found_message(model_id: str, search_paths: Iterable[str | Path] | None) -> str:
    searched = [
        "a local directory or file of that name",
        *(f"search path {directory}" for directory in search_paths or ()),
        "the configs shipped with dgdr-workbench",
        f"the HuggingFace cache at {hf_hub_cache_dir()}",
    ]
    return (
        f"model {model_id!r} not found; looked in: {'; '.join(searched)}.\n"
        f"Shipped models: {', '.join(list_shipped_models())}.\n"
        "To use another model, set spec.model to a directory that holds its config.json, "
        "or put the model in the local HuggingFace cache (for example "
        f"`huggingface-cli download {model_id if '/' in model_id else 'ORG/NAME'} config.json`)."
    )
