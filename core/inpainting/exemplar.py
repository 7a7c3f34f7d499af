"""Texture for a large fill, taken from the photo itself: multi-scale PatchMatch with voting
(Wexler, Shechtman & Irani 2007, the method behind Resynthesizer and Content-Aware Fill), started
from the network's fill so that the layout comes from the network and the texture from the photo.

Coarse to fine: every patch that overlaps the hole is matched (PatchMatch: jump propagation and
random search, all patches at once) to a patch lying wholly in the known part; each hole pixel is
then the weighted vote of the matched patches covering it, and the estimate is matched again. The
matches are carried up a level, where the vote over the finer photo makes the texture sharp.
Patches are compared on a few principal components of their pixels (fast) plus how far their mean
strays from the network's fill at that place (the term that keeps the network's layout).
All arrays follow the core convention (float32 RGB 0..1, H x W x 3); `unknown` is True in holes.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

from ..pixels import resize
from .regions import padded_box  # distances inside the holes' box and a 1 px ring: the same, cheaper

PATCH = 7
R = PATCH // 2
COARSEST = 64       # px, long side of the first level (its layout comes from the network's fill)
SEARCH_SIDE = 256   # levels up to this long side search; finer ones only carry the matches up and vote
FINEST = 1024       # px: above this the estimate is scaled up (a 12 MP photo's crop costs no more)
DIMS = 24           # principal components a patch is compared on
GUIDE = 8.0         # weight of the patch mean's distance from the network's fill (per pixel, as SSD)
ITERATIONS = 3      # match-and-vote rounds per searching level


def complete(filled: np.ndarray, crop: np.ndarray, unknown: np.ndarray, seed: int = 0) -> np.ndarray:
    """`filled` with its hole pixels re-synthesised from patches of the known part of `crop` (the
    same for the same inputs and seed)."""
    h, w = unknown.shape
    # a hole narrower than two patches has no inside to give texture to: its neighbours already fill it
    if not unknown.any() or 2 * ndimage.distance_transform_edt(unknown[padded_box(unknown, 1)]).max() < 2 * PATCH:
        return filled
    rng = np.random.default_rng(seed)
    layout = np.where(unknown[..., None], filled, crop).astype(np.float32)
    est = below = None
    for size in _levels(h, w):
        searching = max(size) <= SEARCH_SIDE
        level = _Level(layout, unknown, size, searching)
        if not level.sources or not level.targets:
            return filled
        if below is None:
            est, nnf, d = level.image, level.nearest(), None
        else:
            nnf, d = level.carry(*below)
            if searching:
                est = np.where(level.hole[..., None], resize(est, size[::-1]), level.image)
        for _ in range(ITERATIONS if searching else 0):
            level.set_estimate(est)
            nnf, d = level.search(nnf, rng)
            est = level.vote(nnf, d)
        if not searching:  # the matches carried up, voted over the finer photo: sharper texture
            est = level.vote(nnf, d)
        below = (nnf, d, (level.ty, level.tx), size)
    if est.shape[:2] != (h, w):
        est = resize(est, (w, h))
    return np.where(unknown[..., None], np.clip(est, 0.0, 1.0), filled).astype(np.float32)


def _levels(h: int, w: int) -> list[tuple[int, int]]:
    side = max(h, w)
    top = min(1.0, FINEST / side)
    sizes = [(max(PATCH * 2, round(h * top)), max(PATCH * 2, round(w * top)))]
    while max(sizes[-1]) > COARSEST * 1.5:
        sh, sw = sizes[-1]
        sizes.append((max(PATCH * 2, sh // 2), max(PATCH * 2, sw // 2)))
    return sizes[::-1]


class _Level:
    """One pyramid level: the photo with the network's layout in the hole, padded by R so every
    target patch can be read; sources are patches wholly inside the image and the known part."""

    def __init__(self, layout: np.ndarray, unknown: np.ndarray, size: tuple[int, int], searching: bool):
        lh, lw = size
        self.size = size
        small = resize(layout, (lw, lh)) if layout.shape[:2] != size else layout
        hole = resize(unknown.astype(np.float32), (lw, lh), smooth=False) > 0.01 if unknown.shape != size else unknown
        self.hole = hole
        self.image = small
        self.pad = np.pad(small, ((R, R), (R, R), (0, 0)), mode="edge")
        ok = ~ndimage.binary_dilation(hole, np.ones((PATCH, PATCH), bool))
        ok[:R], ok[lh - R:], ok[:, :R], ok[:, lw - R:] = False, False, False, False
        sy, sx = np.nonzero(ok)
        self.sources = len(sy)
        # the nearest valid source of every place: where a carried-up match lands on an invalid one
        _, (self.near_y, self.near_x) = ndimage.distance_transform_edt(~ok, return_indices=True)
        self.source_id = -np.ones((lh, lw), np.int64)
        self.source_id[sy, sx] = np.arange(len(sy))
        ty, tx = np.nonzero(ndimage.binary_dilation(hole, np.ones((PATCH, PATCH), bool)))
        self.ty, self.tx = ty, tx
        self.targets = len(ty)
        dy, dx = np.mgrid[0:PATCH, 0:PATCH]
        self.dy, self.dx = dy.ravel(), dx.ravel()
        if not searching or not self.sources or not self.targets:
            return  # a level that only votes needs no patch features
        src = self._patches(self.pad, sy, sx)
        step = max(1, len(src) // 5000)
        self.mean = src[::step].mean(axis=0)
        centred = src[::step] - self.mean
        _, vectors = np.linalg.eigh(centred.T @ centred)
        self.basis = vectors[:, -DIMS:].astype(np.float32)
        self.src_feat = (src - self.mean) @ self.basis
        box = ndimage.uniform_filter(small, (PATCH, PATCH, 1), mode="nearest")
        self.src_mean = box[sy, sx]
        self.target_guide = box[ty, tx]

    def _patches(self, padded: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
        """Rows of PATCH x PATCH x 3 values, patches centred at (ys, xs) of the unpadded image."""
        return padded[ys[:, None] + self.dy, xs[:, None] + self.dx].reshape(len(ys), -1)

    def set_estimate(self, est: np.ndarray) -> None:
        padded = np.pad(est, ((R, R), (R, R), (0, 0)), mode="edge")
        self.target_feat = (self._patches(padded, self.ty, self.tx) - self.mean) @ self.basis

    def _distance(self, cy: np.ndarray, cx: np.ndarray) -> np.ndarray:
        """Per target, how far the source patch centred at (cy, cx) is from it (inf: not a source)."""
        lh, lw = self.size
        inside = (cy >= 0) & (cy < lh) & (cx >= 0) & (cx < lw)
        j = np.where(inside, self.source_id[np.clip(cy, 0, lh - 1), np.clip(cx, 0, lw - 1)], -1)
        d = np.full(len(cy), np.inf, np.float32)
        ok = j >= 0
        jj = j[ok]
        d[ok] = (((self.target_feat[ok] - self.src_feat[jj]) ** 2).sum(1)
                 + GUIDE * PATCH * PATCH * ((self.target_guide[ok] - self.src_mean[jj]) ** 2).sum(1))
        return d

    def nearest(self) -> tuple[np.ndarray, np.ndarray]:
        """First level: each target starts at the nearest source (the search moves it)."""
        return self.near_y[self.ty, self.tx], self.near_x[self.ty, self.tx]

    def carry(self, nnf, d, targets, size):
        """Matches of the level below, scaled up to this one (each target takes its parent's match,
        shifted by where it sits in the parent), moved to the nearest valid source; with the
        parent's distance, for the vote's weights."""
        (py, px), (pty, ptx), (ph, pw) = nnf, targets, size
        lh, lw = self.size
        parent = -np.ones((ph, pw), np.int64)
        parent[pty, ptx] = np.arange(len(pty))
        fy, fx = lh / ph, lw / pw
        qy = np.clip((self.ty / fy).astype(int), 0, ph - 1)
        qx = np.clip((self.tx / fx).astype(int), 0, pw - 1)
        k = parent[qy, qx]
        has = k >= 0
        k = np.maximum(k, 0)
        cy = np.where(has, np.rint(py[k] * fy + (self.ty - qy * fy)), self.ty).astype(np.int64)
        cx = np.where(has, np.rint(px[k] * fx + (self.tx - qx * fx)), self.tx).astype(np.int64)
        cy, cx = np.clip(cy, 0, lh - 1), np.clip(cx, 0, lw - 1)
        finite = np.isfinite(d)
        typical = float(np.median(d[finite])) if finite.any() else 1.0
        return (self.near_y[cy, cx], self.near_x[cy, cx]), np.where(has & np.isfinite(d[k]), d[k], typical)

    def search(self, nnf, rng: np.random.Generator):
        """One PatchMatch round over all targets at once: propagation by jumps, then random search."""
        lh, lw = self.size
        ny, nx = (a.astype(np.int64) for a in nnf)
        d = self._distance(ny, nx)
        target_id = -np.ones((lh, lw), np.int64)
        target_id[self.ty, self.tx] = np.arange(self.targets)
        for jump in (8, 4, 2, 1):  # a neighbour's match, shifted back, may fit better
            for oy, ox in ((0, jump), (0, -jump), (jump, 0), (-jump, 0)):
                y2, x2 = self.ty + oy, self.tx + ox
                inside = (y2 >= 0) & (y2 < lh) & (x2 >= 0) & (x2 < lw)
                k = np.where(inside, target_id[np.clip(y2, 0, lh - 1), np.clip(x2, 0, lw - 1)], -1)
                has = k >= 0
                cy = np.where(has, ny[np.maximum(k, 0)] - oy, -1)
                cx = np.where(has, nx[np.maximum(k, 0)] - ox, -1)
                ny, nx, d = _keep_better(ny, nx, d, cy, cx, self._distance(cy, cx))
        radius = max(lh, lw) / 2
        while radius >= 1:  # around the current match, in shrinking windows
            cy = ny + np.rint(rng.uniform(-radius, radius, self.targets)).astype(np.int64)
            cx = nx + np.rint(rng.uniform(-radius, radius, self.targets)).astype(np.int64)
            ny, nx, d = _keep_better(ny, nx, d, cy, cx, self._distance(cy, cx))
            radius /= 2
        return (ny, nx), d

    def vote(self, nnf, d) -> np.ndarray:
        """Each hole pixel: the mean of what the matched patches covering it put there, weighted by
        how well each patch matched (a poor match votes little)."""
        ny, nx = nnf
        lh, lw = self.size
        finite = np.isfinite(d)
        typical = float(np.median(d[finite])) if finite.any() else 1.0
        weight = np.where(finite, np.exp(-np.where(finite, d, 0) / (2 * max(typical, 1e-8))), 0.0).astype(np.float64)
        hp, wp = lh + 2 * R, lw + 2 * R
        total = np.zeros((hp * wp, 3))
        count = np.zeros(hp * wp)
        for oy, ox in zip(self.dy, self.dx):
            q = (self.ty + oy) * wp + (self.tx + ox)
            values = self.pad[ny + oy, nx + ox].astype(np.float64)
            count += np.bincount(q, weight, hp * wp)
            for c in range(3):
                total[:, c] += np.bincount(q, weight * values[:, c], hp * wp)
        est = self.image.copy()
        got = (count > 0).reshape(hp, wp)[R:R + lh, R:R + lw] & self.hole
        voted = (total / np.maximum(count, 1e-12)[:, None]).reshape(hp, wp, 3)[R:R + lh, R:R + lw]
        est[got] = voted[got]
        return est.astype(np.float32)


def _keep_better(ny, nx, d, cy, cx, dc):
    better = dc < d
    return np.where(better, cy, ny), np.where(better, cx, nx), np.where(better, dc, d)
