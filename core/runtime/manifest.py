"""The model manifest: which models exist (shipped in sfumato/models, added by the user in
$SFUMATO_HOME/models), their task, convention, licence and sha256; the one reader and the one
atomic writer (the export path writes through it too); sha256 checks before first use."""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from .. import atomic
from ..errors import SfumatoError

SHIPPED_DIR = Path(__file__).resolve().parent.parent / "models"


def user_dir() -> Path:
    home = os.environ.get("SFUMATO_HOME")
    return Path(home) if home else Path.home() / ".local" / "share" / "sfumato"


@dataclass(frozen=True)
class ModelInfo:
    name: str
    path: Path
    entry: dict = field(hash=False, compare=False)

    @property
    def task(self) -> str:
        return self.entry["task"]

    @property
    def kind(self) -> str:
        return self.entry.get("kind", "")


MANIFEST = "manifest.json"


def read_manifest(folder: Path) -> dict:
    """{name: entry} of a models folder's manifest (the shipped one, the user's): the one reader."""
    path = Path(folder) / MANIFEST
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text())["models"]
    except (ValueError, KeyError) as exc:
        raise SfumatoError(f"model manifest {path} is damaged ({exc}); reinstall or rebuild the models") from None


def write_manifest_entry(folder: Path, name: str, entry: dict) -> dict:
    """Add or replace one model's entry, its file's sha256 and size filled in here: the one writer
    (the user's `models add` and the export path's builds), atomic, entries in name order."""
    folder = Path(folder)
    file = folder / entry["file"]
    entry = {**entry, "sha256": sha256_file(file), "bytes": file.stat().st_size}
    models = {**read_manifest(folder), name: entry}
    atomic.write_json(folder / MANIFEST, {"models": dict(sorted(models.items()))})
    return entry


def all_models() -> dict[str, ModelInfo]:
    """Shipped models first; a user model of the same name takes precedence (e.g. a retrained style table).
    Precision variants (NAME.fp16) are not models of their own: `variant` finds them."""
    found = {}
    for folder in (SHIPPED_DIR, user_dir() / "models"):
        for name, entry in read_manifest(folder).items():
            if "variant_of" not in entry:
                found[name] = ModelInfo(name, folder / entry["file"], entry)
    return found


def variant(model: ModelInfo, precision: str) -> ModelInfo | None:
    """The `precision` variant of a model (export/fp16.py builds them), from the model's own folder
    and made from exactly its file (same sha256), or None: a user's retrained style table never runs
    with the shipped table's variant."""
    folder = model.path.parent
    entry = read_manifest(folder).get(f"{model.name}.{precision}")
    if entry is None or entry.get("of_sha256") != model.entry.get("sha256"):
        return None
    return ModelInfo(f"{model.name}.{precision}", folder / entry["file"], entry)


def get_model(name: str) -> ModelInfo:
    models = all_models()
    if name not in models:
        known = ", ".join(sorted(models)) or "none"
        raise SfumatoError(f"unknown model {name!r} (installed: {known}); see `sfumato models`")
    return models[name]


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


_verified: set[tuple[str, float]] = set()


def verify(model: ModelInfo) -> None:
    """Refuse a missing file or one whose sha256 differs from the manifest (checked once per file version)."""
    if not model.path.exists():
        raise SfumatoError(f"model file missing: {model.path}; reinstall Sfumato or rebuild it with "
                           f"`{model.entry.get('built_by', 'python -m sfumato.export build styles')}`")
    key = (str(model.path), model.path.stat().st_mtime)
    if key in _verified:
        return
    got = sha256_file(model.path)
    if got != model.entry["sha256"]:
        raise SfumatoError(f"model file {model.path} is damaged or was replaced (sha256 {got[:12]}…, manifest says "
                           f"{model.entry['sha256'][:12]}…); reinstall Sfumato or rebuild the model")
    _verified.add(key)


def forget_verified() -> None:
    _verified.clear()
