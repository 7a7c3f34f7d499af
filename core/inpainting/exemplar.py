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
# Only holes at least this thick (the widest disk inside) get texture: thinner ones (scratches, blobs)
# keep the network's fill, which beats patches there on every measure and by eye. LARGE_HOLE px, and
# LARGE_SHARE of the photo's short side (pipeline.inpaint): the bench's blobs stay below 0.17 of it (99th
# percentile), its boxes start at 0.43 and object outlines near 0.22.
LARGE_HOLE = 96
LARGE_SHARE = 0.18
# px, long side of the first level. Small enough that the hole is a few patches across there, so the
# layout is decided by matching the surroundings; at 64 px it followed the network's fill, whose
# layout is a smear where the network is unsure (a grey fog across a fortress, a horse-shaped haze).
COARSEST = 32
SEARCH_SIDE = 256   # levels up to this long side search; finer ones only carry the matches up and vote
FINEST = 768        # px: the finest voted level; above it the texture is copied by the matches' offsets
# Weight of the patch mean's distance from the network's fill (per pixel, as SSD): a light pull toward
# its colours, not its layout (at 8 the fill followed the network's layout where that was wrong)
GUIDE = 0.5
ITERATIONS = 3      # match-and-vote rounds per searching level
# How much a poorer match counts less in the vote (its distance over the median's, times this): 1
# averaged many misaligned patches into a blur (gradient ratio ~0.6), 0.2 keeps the best ones' texture
VOTE_SHARP = 0.2


def complete(filled: np.ndarray, crop: np.ndarray, unknown: np.ndarray, seed: int = 0,
             allowed: np.ndarray | None = None, large: float = LARGE_HOLE) -> np.ndarray:
    """`filled` with its hole pixels re-synthesised from patches of the known part of `crop` (the
    same for the same inputs and seed); with `allowed` (bool, the crop's shape), only patches centred
    where it is True are copied (the user's "sample from" area). Holes thinner than `large` px are
    returned as filled."""
    h, w = unknown.shape
    if not unknown.any() or 2 * ndimage.distance_transform_edt(unknown[padded_box(unknown, 1)]).max() < large:
        return filled
    rng = np.random.default_rng(seed)
    layout = np.where(unknown[..., None], filled, crop).astype(np.float32)
    sizes = _levels(h, w)
    if sizes[-1] != (h, w):  # every level is shrunk from the finest one: shrinking a 12 MP crop six times costs ~0.8 s
        layout = resize(_box_shrink(layout, max(h, w) // max(sizes[-1])), sizes[-1][::-1])
        hole = resize(unknown.astype(np.float32), sizes[-1][::-1], smooth=False) > 0.01
        area = None if allowed is None else resize(allowed.astype(np.float32), sizes[-1][::-1], smooth=False) > 0.5
    else:
        hole, area = unknown, allowed
    est = below = None
    for size in sizes:
        searching = max(size) <= SEARCH_SIDE
        level = _Level(layout, hole, size, searching, area)
        if not level.targets or (not level.sources and below is not None):
            return filled
        if not level.sources:  # a small "sample from" area can vanish at the coarsest levels: start finer
            continue
        if below is None:
            est, nnf, d = level.image, level.nearest(), None
        else:
            nnf, d = level.carry(*below)
            if searching:  # the carried matches voted here: sharp, where the estimate scaled up is blurred
                est = level.vote(nnf, d)
        for _ in range(ITERATIONS if searching else 0):
            level.set_estimate(est)
            nnf, d = level.search(nnf, rng)
            est = level.vote(nnf, d)
        if not searching:  # the matches carried up, voted over the finer photo: sharper texture
            est = level.vote(nnf, d)
        below = (nnf, d, (level.ty, level.tx), size)
    if below is None:
        return filled
    ys, xs = padded_box(unknown, 0)  # written around the hole only: a 12 MP photo's crop is ~8 megapixels
    if est.shape[:2] != (h, w):  # scaled up, then sharp texture copied over it
        fy, fx = est.shape[0] / h, est.shape[1] / w
        est = resize(est, (xs.stop - xs.start, ys.stop - ys.start),
                     box=(xs.start * fx, ys.start * fy, xs.stop * fx, ys.stop * fy))
        est = _copy_by_offsets(crop, unknown, est, (ys.start, xs.start), level, nnf, allowed)
    else:
        est = est[ys, xs]
    out = filled.astype(np.float32)
    out[ys, xs] = np.where(unknown[ys, xs, None], np.clip(est, 0.0, 1.0), filled[ys, xs])
    return out


def _box_shrink(a: np.ndarray, k: int) -> np.ndarray:
    """Mean of k x k blocks (edge rows that do not fill a block dropped): the cheap first step of
    shrinking a large crop, before the exact resize to a level's size."""
    if k < 2:
        return a
    h, w = a.shape[0] // k * k, a.shape[1] // k * k
    return a[:h, :w].reshape(h // k, k, w // k, k, -1).mean(axis=(1, 3), dtype=np.float32)


def _basis() -> np.ndarray:
    """Orthonormal PATCH*PATCH*3 x 27 basis patches are compared on: the 2-D cosine transform's 15
    lowest frequencies of brightness and 6 of each of two colour differences (where a patch's
    energy lies, as JPEG relies on). Fixed: a principal-component basis per level cost an
    eigendecomposition each, slow on a busy 2-core machine, for no better matches."""
    k = np.arange(PATCH)
    dct = np.sqrt(2 / PATCH) * np.cos(np.pi * (k[None, :] + 0.5) * k[:, None] / PATCH)
    dct[0] /= np.sqrt(2)
    colours = ((np.array([1, 1, 1]) / np.sqrt(3), 4), (np.array([1, -1, 0]) / np.sqrt(2), 2),
               (np.array([1, 1, -2]) / np.sqrt(6), 2))
    columns = []
    for colour, top in colours:
        for u in range(top + 1):
            for v in range(top + 1 - u):
                columns.append((np.outer(dct[u], dct[v])[..., None] * colour).ravel())
    return np.array(columns, np.float32).T


BASIS = _basis()


def _copy_by_offsets(crop, unknown, est, origin, level, nnf, allowed=None) -> np.ndarray:
    """Full-resolution texture for a crop larger than the finest level: each hole pixel copies the
    pixel its level match points at, scaled up (one gather; a vote at full size would cost seconds
    on a 12 MP photo). Where that pixel is not known, the scaled-up estimate stays. `est` is the
    estimate over the hole's box, whose top left corner is `origin` in the crop."""
    ny, nx = nnf
    lh, lw = level.size
    h, w = unknown.shape
    fy, fx = lh / h, lw / w
    off_y = np.zeros((lh, lw), np.float32)
    off_x = np.zeros((lh, lw), np.float32)
    has = np.zeros((lh, lw), bool)
    off_y[level.ty, level.tx], off_x[level.ty, level.tx] = ny - level.ty, nx - level.tx
    has[level.ty, level.tx] = True
    oy, ox = origin
    ys, xs = np.nonzero(unknown[oy:oy + est.shape[0], ox:ox + est.shape[1]])
    ys, xs = ys + oy, xs + ox
    qy, qx = np.minimum((ys * fy).astype(np.int64), lh - 1), np.minimum((xs * fx).astype(np.int64), lw - 1)
    sy = np.rint(ys + off_y[qy, qx] / fy).astype(np.int64)
    sx = np.rint(xs + off_x[qy, qx] / fx).astype(np.int64)
    ok = has[qy, qx] & (sy >= 0) & (sy < h) & (sx >= 0) & (sx < w)
    ok[ok] &= ~unknown[sy[ok], sx[ok]] if allowed is None else ~unknown[sy[ok], sx[ok]] & allowed[sy[ok], sx[ok]]
    out = est.copy()
    out[ys[ok] - oy, xs[ok] - ox] = crop[sy[ok], sx[ok]]
    return out


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

    def __init__(self, layout: np.ndarray, unknown: np.ndarray, size: tuple[int, int], searching: bool,
                 allowed: np.ndarray | None = None):
        lh, lw = size
        self.size = size
        small = resize(layout, (lw, lh)) if layout.shape[:2] != size else layout
        hole = resize(unknown.astype(np.float32), (lw, lh), smooth=False) > 0.01 if unknown.shape != size else unknown
        self.hole = hole
        self.image = small
        self.pad = np.pad(small, ((R, R), (R, R), (0, 0)), mode="edge")
        ok = ~ndimage.binary_dilation(hole, np.ones((PATCH, PATCH), bool))
        ok[:R], ok[lh - R:], ok[:, :R], ok[:, lw - R:] = False, False, False, False
        if allowed is not None:
            ok &= resize(allowed.astype(np.float32), (lw, lh), smooth=False) > 0.5 if allowed.shape != size else allowed
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
        self.src_feat = src @ BASIS
        box = ndimage.uniform_filter(small, (PATCH, PATCH, 1), mode="nearest")
        self.src_mean = box[sy, sx]
        self.target_guide = box[ty, tx]

    def _patches(self, padded: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
        """Rows of PATCH x PATCH x 3 values, patches centred at (ys, xs) of the unpadded image."""
        return padded[ys[:, None] + self.dy, xs[:, None] + self.dx].reshape(len(ys), -1)

    def set_estimate(self, est: np.ndarray) -> None:
        padded = np.pad(est, ((R, R), (R, R), (0, 0)), mode="edge")
        self.target_feat = self._patches(padded, self.ty, self.tx) @ BASIS

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
        # floored: a pixel whose every patch matched poorly still gets their mean, not 0/0 (black)
        weight = np.where(finite, np.maximum(np.exp(-np.where(finite, d, 0) / (2 * VOTE_SHARP * max(typical, 1e-8))), 1e-6),
                          0.0).astype(np.float64)
        # sums over the targets' box only (padded coordinates): a fraction of the level on a large photo
        y0, x0 = int(self.ty.min()), int(self.tx.min())
        bh, bw = int(self.ty.max()) - y0 + PATCH, int(self.tx.max()) - x0 + PATCH
        total = np.zeros((3, bh * bw))
        count = np.zeros(bh * bw)
        base = (self.ty - y0) * bw + (self.tx - x0)
        for oy, ox in zip(self.dy, self.dx):
            q = base + (oy * bw + ox)
            values = self.pad[ny + oy, nx + ox]
            count += np.bincount(q, weight, bh * bw)
            for c in range(3):
                total[c] += np.bincount(q, weight * values[:, c], bh * bw)
        voted = np.zeros((lh + 2 * R, lw + 2 * R, 3))
        counted = np.zeros((lh + 2 * R, lw + 2 * R), bool)
        voted[y0:y0 + bh, x0:x0 + bw] = (total / np.maximum(count, 1e-12)).T.reshape(bh, bw, 3)
        counted[y0:y0 + bh, x0:x0 + bw] = (count > 0).reshape(bh, bw)
        est = self.image.copy()
        got = counted[R:R + lh, R:R + lw] & self.hole
        est[got] = voted[R:R + lh, R:R + lw][got]
        return est.astype(np.float32)


def _keep_better(ny, nx, d, cy, cx, dc):
    better = dc < d
    return np.where(better, cy, ny), np.where(better, cx, nx), np.where(better, dc, d)
