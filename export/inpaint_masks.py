"""The hole masks the inpainting model is trained on, of every kind users make: thin and thick strokes,
blobs, large boxes, silhouettes (about half of them large). The benchmark scores with the same kinds,
and with unseen masks drawn by a generator of its own that nothing here imports."""
from __future__ import annotations

import math
import random

import numpy as np
from PIL import Image, ImageDraw

MASK_KINDS = ("strokes", "blobs", "box", "object")
# training draws thick strokes too, and about half of all masks large (box, object, thick)
TRAINING_KINDS = ("strokes", "blobs", "thick", "box", "object")
TRAINING_WEIGHTS = (0.25, 0.25, 0.15, 0.15, 0.2)


def _polyline(rng: random.Random, s: int, segments: tuple[int, int], lo: float, hi: float) -> list[tuple[float, float]]:
    """A random start, then a random number (in `segments`) of segments of random direction and
    length lo..hi x s."""
    pts = [(rng.uniform(0, s), rng.uniform(0, s))]
    for _ in range(rng.randint(*segments)):
        a = rng.uniform(0, 2 * math.pi)
        r = rng.uniform(lo, hi) * s
        pts.append((pts[-1][0] + r * math.cos(a), pts[-1][1] + r * math.sin(a)))
    return pts


def random_mask(size: int, rng: random.Random, kind: str | None = None) -> np.ndarray:
    """A hole mask (True = hole) like the ones users draw: strokes ~3%, blobs ~10%, box ~25%, object ~17%."""
    kind = kind or rng.choices(TRAINING_KINDS, TRAINING_WEIGHTS)[0]
    img = Image.new("L", (size, size), 0)
    d = ImageDraw.Draw(img)
    s = size
    if kind == "thick":  # LaMa's thick brush: a few wide strokes, 10-30% of the picture
        for _ in range(rng.randint(2, 4)):
            pts = _polyline(rng, s, (1, 4), 0.1, 0.3)
            width = int(rng.uniform(0.08, 0.16) * s)
            d.line(pts, fill=255, width=width, joint="curve")
            for x, y in pts:  # round ends
                d.ellipse([x - width / 2, y - width / 2, x + width / 2, y + width / 2], fill=255)
    elif kind == "strokes":
        for _ in range(rng.randint(1, 4)):
            pts = _polyline(rng, s, (2, 6), 0.05, 0.25)
            d.line(pts, fill=255, width=max(2, int(rng.uniform(0.01, 0.035) * s)), joint="curve")
    elif kind == "blobs":
        for _ in range(rng.randint(1, 4)):
            cx, cy, r = rng.uniform(0.15, 0.85) * s, rng.uniform(0.15, 0.85) * s, rng.uniform(0.05, 0.14) * s
            d.ellipse([cx - r, cy - r * rng.uniform(0.6, 1.4), cx + r, cy + r * rng.uniform(0.6, 1.4)], fill=255)
    elif kind == "box":
        w, h = rng.uniform(0.35, 0.65) * s, rng.uniform(0.35, 0.65) * s
        x, y = rng.uniform(0, s - w), rng.uniform(0, s - h)
        d.rectangle([x, y, x + w, y + h], fill=255)
    else:  # object silhouette: a body and limbs
        cx, cy = rng.uniform(0.3, 0.7) * s, rng.uniform(0.3, 0.7) * s
        d.ellipse([cx - 0.12 * s, cy - 0.2 * s, cx + 0.12 * s, cy + 0.2 * s], fill=255)
        d.ellipse([cx - 0.07 * s, cy - 0.32 * s, cx + 0.07 * s, cy - 0.18 * s], fill=255)
        for _ in range(rng.randint(2, 4)):
            a = rng.uniform(0, 2 * math.pi)
            d.line([(cx, cy), (cx + 0.25 * s * math.cos(a), cy + 0.25 * s * math.sin(a))], fill=255,
                   width=int(0.05 * s))
    return np.asarray(img) > 127
