"""A realism judge for large fills: how far crops centred on the filled holes lie, as a distribution, from
crops of unedited photos (Kernel Inception Distance, Binkowski et al. 2018, with another network).

PSNR, SSIM and a full-reference perceptual distance all reward the blur on a large hole (the mean of every
plausible fill is their best guess); this judge has no reference for the hole. It asks only whether the
filled crops look like the photo crops, so a smooth smear and a pasted texture are told apart.

Features: the ImageNet MobileNetV2 inside the shipped style predictor (bench/perceptual.py's network; the
inpainting losses use EfficientNet-Lite0, so a fill is never trained to please it), channel means and
standard deviations at three depths (1/8, 1/16, 1/16 deeper), on square crops resized to CROP px. KID: the unbiased
squared MMD with the cubic polynomial kernel; 0 = the same distribution, lower is better (an unbiased
estimate: near 0 it can come out slightly negative). The unedited photos' own crops at the holes are scored
too, as the floor of what the sample size can tell apart. Crops of the
unedited photos are drawn at random places and the same scales, so a judge cannot prefer one photo.
"""
from __future__ import annotations

import numpy as np
from PIL import Image

from perceptual import PerceptualJudge

CROP = 128
DEPTHS = (2, 3, 4)  # indices into perceptual.LAYERS: 1/8 and twice 1/16 resolution


class RealismJudge:
    def __init__(self, judge: PerceptualJudge | None = None):
        self.judge = judge or PerceptualJudge()
        self.fake: dict[str, list[np.ndarray]] = {}
        self.real: list[np.ndarray] = []

    def describe(self, crop: np.ndarray) -> np.ndarray:
        img = Image.fromarray((np.clip(crop, 0, 1) * 255 + 0.5).astype(np.uint8)).resize((CROP, CROP), Image.BICUBIC)
        out = self.judge.session.run(None, {self.judge.input: np.asarray(img, np.float32)[None] / 255})
        parts = []
        for i in DEPTHS:
            f = out[i][0].reshape(out[i].shape[1], -1)
            parts += [f.mean(axis=1), f.std(axis=1)]
        return np.concatenate(parts)

    def add_fill(self, method: str, kind: str, out: np.ndarray, hole: np.ndarray) -> None:
        """Crops centred on the hole, their side the hole's larger extent (at least a quarter of the short
        side), shifted inside the picture: one at the centre and four moved by a quarter side (more
        samples for a steadier estimate; each still mostly fill)."""
        cy, cx, side = _hole_square(hole)
        q = side // 4
        for dy, dx in ((0, 0), (-q, -q), (-q, q), (q, -q), (q, q)):
            self.fake.setdefault(f"{kind}|{method}", []).append(self.describe(_crop(out, cy + dy, cx + dx, side)))

    def add_real(self, truth: np.ndarray, hole: np.ndarray, rng: np.random.Generator, n: int = 2) -> None:
        """`n` crops of the unedited photo at the hole's crop size, at random places."""
        _, _, side = _hole_square(hole)
        h, w = hole.shape
        for _ in range(n):
            cy, cx = rng.integers(side // 2, max(side // 2 + 1, h - side // 2)), rng.integers(side // 2, max(side // 2 + 1, w - side // 2))
            self.real.append(self.describe(_crop(truth, cy, cx, side)))

    def distance(self, method: str, kind: str) -> float:
        fake = self.fake.get(f"{kind}|{method}", [])
        if len(fake) < 2 or len(self.real) < 2:
            return float("nan")
        return kid(np.array(fake), np.array(self.real))


def _hole_square(hole: np.ndarray) -> tuple[int, int, int]:
    rows, cols = np.flatnonzero(hole.any(axis=1)), np.flatnonzero(hole.any(axis=0))
    side = max(rows[-1] - rows[0], cols[-1] - cols[0], min(hole.shape) // 4)
    side = min(side, min(hole.shape))
    return (rows[0] + rows[-1]) // 2, (cols[0] + cols[-1]) // 2, int(side)


def _crop(img: np.ndarray, cy: int, cx: int, side: int) -> np.ndarray:
    h, w = img.shape[:2]
    y0 = int(np.clip(cy - side // 2, 0, h - side))
    x0 = int(np.clip(cx - side // 2, 0, w - side))
    return img[y0:y0 + side, x0:x0 + side]


def kid(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD^2 with k(a, b) = (a.b / d + 1)^3 (KID's kernel), each feature divided by its mean size
    over the real set so that no channel outweighs the rest and a.b / d stays near 1."""
    scale = np.abs(y).mean(axis=0) + 1e-6
    x, y = x / scale, y / scale
    d = x.shape[1]
    k = lambda a, b: (a @ b.T / d + 1.0) ** 3  # noqa: E731
    kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
    m, n = len(x), len(y)
    return float((kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
                 - 2 * kxy.mean())
