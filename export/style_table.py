"""The style table: the 26 imported styles plus styles trained here, one row of (gamma, beta) per
norm layer and style. Trained rows live as small files (NAME.npz + NAME.json): shipped ones in
export/styles/, a user's in ~/.local/share/sfumato/styles/. Building the table exports one ONNX
model named "styles" (core/models for shipped rows; the user models folder when the user has rows
of their own, which then takes precedence)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from sfumato import atomic

from . import importers, source
from .cin_export import export_cin
from .nets.cin_style import CinStyleNet, CondInstanceNorm
from .style_names import STYLE_NAMES

TABLE = "styles"
SHIPPED_STYLES = Path(__file__).resolve().parent / "styles"


def user_styles_dir() -> Path:
    from sfumato.runtime.manifest import user_dir
    return user_dir() / "styles"


def base_net() -> tuple[CinStyleNet, list[dict]]:
    net = importers.import_cin_style(source.load_original("multistyle26"))
    styles = [{"index": i, "name": STYLE_NAMES[i], "source": "Magenta/TensorFlow (Apache-2.0)"}
              for i in range(net.n_styles)]
    return net, styles


def norm_layers(net: CinStyleNet) -> dict[str, CondInstanceNorm]:
    return {name: m for name, m in net.named_modules() if isinstance(m, CondInstanceNorm)}


def read_rows(folder: Path) -> list[tuple[dict, dict]]:
    """[(metadata, {layer: (gamma, beta)})] for every trained style in folder, by name."""
    found = []
    for meta_path in sorted(folder.glob("*.json")) if folder.exists() else []:
        meta = json.loads(meta_path.read_text())
        if meta.get("full"):  # a fully fine-tuned style is a model of its own, not a row of the table
            continue
        with np.load(meta_path.with_suffix(".npz")) as z:
            rows = {k[:-6]: (z[k], z[k[:-6] + ".beta"]) for k in z.files if k.endswith(".gamma")}
        found.append((meta, rows))
    return found


def assemble(folders: list[Path]) -> tuple[CinStyleNet, list[dict]]:
    """The base net with the rows of every folder appended, and its style list."""
    net, styles = base_net()
    trained = [item for folder in folders for item in read_rows(folder)]
    if trained:
        net.add_style_rows(len(trained))
        layers = norm_layers(net)
        for i, (meta, rows) in enumerate(trained):
            index = len(styles)
            for name, layer in layers.items():
                gamma, beta = rows[name]
                layer.gamma.data[index] = torch.from_numpy(gamma)
                layer.beta.data[index] = torch.from_numpy(beta)
            styles.append({"index": index, "name": meta["name"], "source": meta.get("source", ""),
                           "training": meta.get("training", {})})
    return net, styles


def save_row(net: CinStyleNet, index: int, folder: Path, meta: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for name, layer in norm_layers(net).items():
        arrays[f"{name}.gamma"] = layer.gamma.data[index].numpy()
        arrays[f"{name}.beta"] = layer.beta.data[index].numpy()
    base = folder / meta["name"]
    with atomic.replacing(base.with_suffix(".npz")) as tmp, open(tmp, "wb") as f:
        np.savez(f, **arrays)
    atomic.write_json(base.with_suffix(".json"), meta)
    return base.with_suffix(".npz")


def build_table(models_dir: Path, folders: list[Path]) -> dict:
    net, styles = assemble(folders)
    return export_cin(net, TABLE, styles, models_dir)


def existing_names() -> set[str]:
    names = set(STYLE_NAMES)
    for folder in (SHIPPED_STYLES, user_styles_dir()):
        names |= {json.loads(p.read_text())["name"] for p in folder.glob("*.json")} if folder.exists() else set()
    return names


def export_single_style(net: CinStyleNet, row: int, models_dir: Path, meta: dict) -> dict:
    """A fully fine-tuned style (its own convolutions) as a one-style model named style-NAME."""
    single = CinStyleNet(n_styles=1)
    state = {k: (v[row:row + 1] if k.endswith((".gamma", ".beta")) else v) for k, v in net.state_dict().items()}
    single.load_state_dict(state)
    return export_cin(single.eval(), f"style-{meta['name']}",
                      [{"index": 0, "name": meta["name"], "source": meta["source"], "training": meta["training"]}],
                      models_dir)
