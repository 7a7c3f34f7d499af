"""The inpainting model's training data: photos from `python -m sfumato.export prepare inpaint-data`
(never the Kodak set, kept for independent evaluation) and surface textures, as random multi-scale crops
with a random hole each and the hole's harmonic prior fill (what the shipped model is given)."""
from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from sfumato.inpainting.priors import harmonic_fill

from . import source
from .inpaint_masks import random_mask

DATA = source.CACHE / "inpaint-photos"
HOLDOUT = source.CACHE / "inpaint-holdout"  # never trained on


def list_photos(folders: list[Path]) -> list[Path]:
    files = sorted(p for f in folders for p in f.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    files = [p for p in files if "kodak" not in str(p).lower()]  # reserved for independent evaluation
    if not files:
        raise SystemExit(f"no photos in {folders}; run `python -m sfumato.export prepare inpaint-data`")
    return files


class Batches:
    """Random multi-scale crops, flipped half the time; a share of them from surface textures
    (files under a `textures` folder), the rest from photographs. Kept as uint8 to hold thousands."""

    def __init__(self, files: list[Path], size: int, rng: random.Random, texture_share: float = 0.3):
        load = lambda p: np.asarray(Image.open(p).convert("RGB"))  # noqa: E731
        images = [(p, load(p)) for p in files]
        # an image smaller than one crop would have to be enlarged, i.e. blurred: left out at this size
        big = [(p, a) for p, a in images if min(a.shape[:2]) >= size]
        if len(big) < len(images):
            print(f"{len(images) - len(big)} images smaller than {size} px left out (crops are never enlarged)")
        if not big:
            raise SystemExit(f"no training image is at least {size} px on its short side; use a smaller --size")
        self.textures = [a for p, a in big if "textures" in p.parts]
        self.photos = [a for p, a in big if "textures" not in p.parts]
        self.texture_share = texture_share if self.textures and self.photos else float(not self.photos)
        self.size, self.rng = size, rng

    def crop(self) -> np.ndarray:
        pool = self.textures if self.rng.random() < self.texture_share else self.photos
        p = pool[self.rng.randrange(len(pool))]
        h, w = p.shape[:2]
        side = int(min(h, w) * self.rng.uniform(0.25, 1.0))
        side = max(side, self.size)  # never upscale: a blurred crop teaches blur
        y, x = self.rng.randrange(h - side + 1), self.rng.randrange(w - side + 1)
        c = np.asarray(Image.fromarray(p[y:y + side, x:x + side]).resize(
            (self.size, self.size), Image.BILINEAR), np.float32) / 255.0
        return c[:, ::-1].copy() if self.rng.random() < 0.5 else c

    def next(self, n: int):
        truths, priors, masks = [], [], []
        for _ in range(n):
            t = self.crop()
            m = random_mask(self.size, self.rng)
            truths.append(t)
            priors.append(harmonic_fill(t, ~m))
            masks.append(m)
        to = lambda a: torch.from_numpy(np.stack(a)).permute(0, 3, 1, 2).contiguous()  # noqa: E731
        return to(truths), to(priors), torch.from_numpy(np.stack(masks)[:, None].astype(np.float32))
