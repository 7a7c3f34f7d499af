"""Hole masks for evaluation that the inpainting model never trains on.

Training draws its masks from sfumato.export.inpaint_masks.random_mask; nothing under export/ imports this
module, so a model cannot be tuned to these shapes. Four kinds, the ones GIMP users make, each drawn
at the photo's own size and then grown by 4 px per 768 px of long side, the way a lasso overshoots:
- strokes: thin scratches (~3%): smooth random curves 0.5-1.2% of the long side wide (LaMa's "thin");
- blobs: irregular blotches (~10%): thresholded smooth noise, not ellipses;
- box: one rectangle of ~25% of the picture, aspect 1:2 to 2:1;
- object: the outline of a real object (~15%): the alpha channel of a photographic cut-out from
  Tux Paint's stamp collection (animals, vehicles, people, food...; Debian `tuxpaint-stamps-default`),
  inner holes filled as a lasso would, scaled and placed at random.
"""
from __future__ import annotations

import math
import random
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage

KINDS = ("strokes", "blobs", "box", "object")
STAMPS_PACKAGE = "tuxpaint-stamps-default"
OVERSHOOT = 4  # px at a 768 px long side


def _disk(r: int) -> np.ndarray:
    y, x = np.mgrid[-r:r + 1, -r:r + 1]
    return x * x + y * y <= r * r


def _strokes(h: int, w: int, rng: random.Random) -> np.ndarray:
    img = Image.new("L", (w, h), 0)
    d = ImageDraw.Draw(img)
    long = max(h, w)
    while np.asarray(img).mean() / 255 < rng.uniform(0.008, 0.014):  # ~3% once grown
        x, y = rng.uniform(0, w), rng.uniform(0, h)
        heading = rng.uniform(0, 2 * math.pi)
        pts = [(x, y)]
        for _ in range(rng.randint(8, 30)):  # a smooth random walk: the heading drifts a little each step
            heading += rng.gauss(0, 0.35)
            step = long * rng.uniform(0.01, 0.03)
            x, y = x + step * math.cos(heading), y + step * math.sin(heading)
            pts.append((x, y))
        d.line(pts, fill=255, width=max(2, round(long * rng.uniform(0.005, 0.012))), joint="curve")
    return np.asarray(img) > 127


def _blobs(h: int, w: int, rng: random.Random) -> np.ndarray:
    g = np.random.default_rng(rng.getrandbits(32))
    cells = (max(4, h // 48), max(4, w // 48))
    field = ndimage.zoom(g.standard_normal(cells), (h / cells[0] + 1e-3, w / cells[1] + 1e-3), order=3)
    field = ndimage.gaussian_filter(field[:h, :w], max(h, w) / 96)
    share = rng.uniform(0.05, 0.09)  # ~10% once grown
    return field > np.quantile(field, 1 - share)


def _box(h: int, w: int, rng: random.Random) -> np.ndarray:
    area = rng.uniform(0.22, 0.28) * h * w
    aspect = math.exp(rng.uniform(math.log(0.5), math.log(2.0)))
    bw = min(w - 2, int(math.sqrt(area * aspect)))
    bh = min(h - 2, int(area / bw))
    x, y = rng.randrange(1, w - bw), rng.randrange(1, h - bh)
    m = np.zeros((h, w), bool)
    m[y:y + bh, x:x + bw] = True
    return m


@lru_cache(maxsize=1)
def silhouettes() -> tuple[np.ndarray, ...]:
    """Filled outlines of the photographic stamps (cartoons left out), one connected object each."""
    from sfumato.export.prepare_data import fetch  # downloads and unpacks the package once (Debian archive)
    root = fetch([STAMPS_PACKAGE]) / STAMPS_PACKAGE / "usr" / "share" / "tuxpaint" / "stamps"
    out = []
    for p in sorted(root.rglob("*.png")):
        if "cartoon" in p.parts or "symbols" in p.parts or p.stem.endswith("_back"):  # letters are no objects
            continue
        img = Image.open(p)
        if "A" not in img.getbands():
            continue
        a = ndimage.binary_fill_holes(np.asarray(img.getchannel("A")) > 127)
        if min(a.shape) < 48 or not 0.25 < a.mean() < 0.9:
            continue
        labels, n = ndimage.label(a)
        if n == 0 or np.bincount(labels.ravel())[1:].max() < 0.97 * a.sum():
            continue
        rows, cols = np.flatnonzero(a.any(1)), np.flatnonzero(a.any(0))
        out.append(a[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1])
    if not out:
        raise SystemExit(f"no usable silhouettes in {root}")
    return tuple(out)


def _object(h: int, w: int, rng: random.Random) -> np.ndarray:
    shapes = silhouettes()
    s = shapes[rng.randrange(len(shapes))]
    if rng.random() < 0.5:
        s = s[:, ::-1]
    target = rng.uniform(0.12, 0.18) * h * w
    f = math.sqrt(target / s.sum())
    f = min(f, 0.95 * h / s.shape[0], 0.95 * w / s.shape[1])
    sh, sw = max(2, round(s.shape[0] * f)), max(2, round(s.shape[1] * f))
    small = np.asarray(Image.fromarray(s.astype(np.uint8) * 255).resize((sw, sh), Image.BILINEAR)) > 127
    y, x = rng.randrange(0, h - sh + 1), rng.randrange(0, w - sw + 1)
    m = np.zeros((h, w), bool)
    m[y:y + sh, x:x + sw] = small
    return m


def unseen_mask(h: int, w: int, rng: random.Random, kind: str) -> np.ndarray:
    """A mask (True = hole) of the given kind at h x w, grown by the lasso's overshoot."""
    m = {"strokes": _strokes, "blobs": _blobs, "box": _box, "object": _object}[kind](h, w, rng)
    r = max(1, round(OVERSHOOT * max(h, w) / 768))
    return ndimage.binary_dilation(m, _disk(r))
