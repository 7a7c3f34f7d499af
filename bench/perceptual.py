"""A perceptual distance for inpainting benches, LPIPS-style (Zhang et al. 2018), judged by a network
the inpainting model never trains with.

The judge is the ImageNet MobileNetV2 inside the shipped Magenta style predictor
(core/models/arbitrary_predict.onnx); the inpainting losses use EfficientNet-Lite0, so a model cannot
learn to please this judge. At five depths (1/2 .. 1/16 resolution), features are unit-normalised
over channels, their squared differences summed over channels and averaged over the hole (the mask
shrunk to that depth, a cell counting by the share of hole it covers); the five averages are then
averaged. 0 = identical; larger = further apart. No per-layer learned weights (LPIPS's "lin" layer
was fitted to human judgements we do not have), so the absolute values are not LPIPS's.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

MODEL = Path(__file__).resolve().parent.parent / "core" / "models" / "arbitrary_predict.onnx"
LAYERS = ("/features/features.0/Clip_output_0", "/features/features.3/Add_output_0",
          "/features/features.6/Add_output_0", "/features/features.10/Add_output_0",
          "/features/features.13/Add_output_0")


class PerceptualJudge:
    def __init__(self, threads: int = 0):
        model = onnx.load(str(MODEL))
        dims = model.graph.input[0].type.tensor_type.shape.dim  # [1, 256, 256, 3] -> any height and width
        dims[1].dim_param, dims[2].dim_param = "h", "w"
        del model.graph.output[:]
        for name in LAYERS:
            model.graph.output.append(onnx.helper.make_empty_tensor_value_info(name))
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
        self.input = self.session.get_inputs()[0].name

    def features(self, image: np.ndarray) -> list[np.ndarray]:
        """image: H x W x 3 float 0..1; returns per layer C x h x w, unit length over channels."""
        out = self.session.run(None, {self.input: np.ascontiguousarray(image[None], np.float32)})
        return [f[0] / (np.sqrt((f[0] ** 2).sum(axis=0, keepdims=True)) + 1e-10) for f in out]

    def distance(self, result: np.ndarray, truth: np.ndarray, hole: np.ndarray,
                 truth_features: list[np.ndarray] | None = None) -> float:
        """Mean over layers of the hole-averaged squared distance of normalised features."""
        fa = self.features(result)
        fb = truth_features if truth_features is not None else self.features(truth)
        total = 0.0
        for a, b in zip(fa, fb):
            h, w = a.shape[1:]
            weight = _shrink(hole, h, w)
            d = ((a - b) ** 2).sum(axis=0)
            total += float((d * weight).sum() / max(weight.sum(), 1e-8))
        return total / len(fa)


def _shrink(hole: np.ndarray, h: int, w: int) -> np.ndarray:
    """Share of each of h x w cells (a layer's grid over the image) covered by the hole."""
    ys = np.minimum((np.arange(hole.shape[0]) * h) // hole.shape[0], h - 1)
    xs = np.minimum((np.arange(hole.shape[1]) * w) // hole.shape[1], w - 1)
    cover = np.zeros((h, w))
    count = np.zeros((h, w))
    np.add.at(cover, (ys[:, None], xs[None, :]), hole.astype(np.float64))
    np.add.at(count, (ys[:, None], xs[None, :]), 1.0)
    return cover / np.maximum(count, 1)
