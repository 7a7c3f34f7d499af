"""Texture for a large fill, taken from the photo itself: PatchMatch hole filling (Barnes et al. 2009,
the family of Resynthesizer and Content-Aware Fill) through the `pypatchmatch` library.

Why a library and not the network: a large hole filled by the network alone is the average of every
plausible fill, a smooth blur that never reads as a photograph. Why this library and not our own numpy
re-synthesis (multi-scale PatchMatch with voting, guided by the network's fill): in a blind A/B on
held-out photos the judges preferred pypatchmatch's fills over ours in 41 of 41 decided box and object
holes (docs/decisions.md). PatchMatch copies real texture from around the hole; the crop it sees is
the region's crop (pipeline.py: context proportional to the hole), which is also where it samples from.

All arrays follow the core convention (float32 RGB 0..1, H x W x 3); `unknown` is True in holes. The
library works on 8-bit RGB: a 16-bit or float photo gets its hole's texture at 8-bit steps (outside the
hole every bit is kept by the pipeline).
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

from ..pixels import resize
from .regions import padded_box

# Only holes at least this thick (the widest disk inside) get texture: thinner ones (scratches, blobs)
# keep the network's fill, which beats patches there on every measure and by eye. LARGE_HOLE px, and
# LARGE_SHARE of the photo's short side (pipeline.inpaint): the bench's blobs stay below 0.17 of it (99th
# percentile), its boxes start at 0.43 and object outlines near 0.22.
LARGE_HOLE = 96
LARGE_SHARE = 0.18
# Patch radius: the library's examples use 3; at its default 15 one fill takes minutes on a CPU.
PATCH_RADIUS = 3
# PatchMatch's time grows with the hole's pixels (and, less, the crop's): above HOLE_BUDGET hole pixels
# or a WORK_SIDE px long side the crop is shrunk for the search and the fill scaled back up (softer
# grain, in seconds rather than tens of seconds). A 25% box on a 768 x 512 photo stays at full size.
HOLE_BUDGET = 120_000
WORK_SIDE = 1280


def available() -> bool:
    """Whether the PatchMatch library loads here (a wheel for this platform and Python >= 3.11)."""
    return _patch_match() is not None


def _patch_match():
    try:
        from patchmatch import patch_match
    except ImportError:
        return None
    return patch_match if patch_match.patchmatch_available else None


def is_large(unknown: np.ndarray, large: float = LARGE_HOLE) -> bool:
    """Whether the hole is thick enough for texture: the widest disk inside is `large` px or more."""
    return bool(unknown.any()) and 2 * ndimage.distance_transform_edt(unknown[padded_box(unknown, 1)]).max() >= large


def complete(filled: np.ndarray, crop: np.ndarray, unknown: np.ndarray, seed: int = 0,
             allowed: np.ndarray | None = None, large: float = LARGE_HOLE) -> np.ndarray:
    """`filled` with its hole pixels replaced by PatchMatch's fill of `crop` (the same for the same
    inputs and seed); with `allowed` (bool, the crop's shape), texture is copied only from there (the
    user's "sample from" area). Holes thinner than `large` px, or a machine without the library,
    get `filled` back as it is."""
    patch_match = _patch_match()
    if patch_match is None or not is_large(unknown, large):
        return filled
    h, w = unknown.shape
    f = min(1.0, WORK_SIDE / max(h, w), float(np.sqrt(HOLE_BUDGET / unknown.sum())))
    size = (max(1, round(w * f)), max(1, round(h * f)))
    image = np.where(unknown[..., None], filled, crop)
    hole, area = unknown, allowed
    if f < 1:
        image = resize(image.astype(np.float32), size)
        hole = resize(unknown.astype(np.float32), size, smooth=False) > 0.01
        area = None if allowed is None else resize(allowed.astype(np.float32), size, smooth=False) > 0.5
    rgb = np.round(np.clip(image, 0.0, 1.0) * 255).astype(np.uint8)
    # pixels that are neither filled nor copied from: outside the "sample from" area
    barred = None if area is None else (~area & ~hole).astype(np.uint8)
    patch_match.set_random_seed(seed)
    out = patch_match.inpaint(np.ascontiguousarray(rgb), hole.astype(np.uint8), global_mask=barred,
                              patch_size=PATCH_RADIUS).astype(np.float32) / 255
    if f < 1:
        out = resize(out, (w, h))
    result = filled.astype(np.float32)
    result[unknown] = np.clip(out[unknown], 0.0, 1.0)
    return result
