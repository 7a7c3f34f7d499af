"""Texture detail for a fill: patch-based transfer of fine detail, guided by the model's fill.

A small network trained on a CPU fills holes with the right colours and shapes but little fine
texture (blurry in large holes). This stage adds it back without touching the fill's broad content:
1. match: every block of the hole, seen through a blur, is matched (k-d tree on PCA-reduced
   patches) to the most similar blurred patch of the known surroundings;
2. copy: the high-frequency part (image minus its blur) of the matched patch is copied into the
   block, so whole coherent pieces of real texture land where similar content was predicted; each
   pixel blends the copies of the blocks around it, so block edges do not show;
3. scale: only the detail energy the fill is missing is added (measured against the known
   pixels around the hole), so a fill that is already sharp is left nearly as it is.
All arrays follow the core convention (float32 RGB 0..1, H x W x 3); `unknown` is True in holes.
"""
from __future__ import annotations

import numpy as np
from PIL import Image
from scipy import ndimage
from scipy.spatial import cKDTree

from .pixels import resize

MATCH_SIDE = 192   # matching runs at most at this size (the copy is at full resolution)
PATCH = 5          # patch side at matching scale
BLOCK = 4          # hole block side at matching scale that shares one match
NEARBY = 2.0       # weight of position in the match, relative to the patches' typical spread
CANDIDATES = 6     # nearest source patches considered per block
REUSE = 0.5        # penalty per earlier use of the same source spot (avoids one patch tiled over and over)


def _low_pass(x: np.ndarray, sigma: float) -> tuple[np.ndarray, int]:
    """Gaussian blur of an H x W x C array, returned k times smaller (k = 1 for a narrow blur). A wide
    blur (the split sits at ~2 px of the model's working scale: sigma 10+ px on a 12 MP photo) runs
    on k x k block averages, by what is left of sigma: the block average (variance (k^2 - 1) / 12)
    and the bilinear step back up (~k^2 / 6) count towards sigma^2."""
    k = int(sigma / 2)
    if k < 2:
        return ndimage.gaussian_filter(x, (sigma, sigma, 0)), 1
    small = np.stack([np.asarray(Image.fromarray(np.ascontiguousarray(x[..., i]), "F").reduce(k))
                      for i in range(x.shape[2])], axis=2)
    rest = np.sqrt(sigma * sigma - (k * k - 1) / 12 - k * k / 6) / k
    return ndimage.gaussian_filter(small, (rest, rest, 0)), k


def _blur(x: np.ndarray, sigma: float) -> np.ndarray:
    low, k = _low_pass(x, sigma)
    if k == 1:
        return low
    return resize(low, (low.shape[1] * k, low.shape[0] * k), smooth=False)[:x.shape[0], :x.shape[1]]


def _patches(img: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    r = PATCH // 2
    pad = np.pad(img, ((r, r), (r, r), (0, 0)), mode="edge")
    dy, dx = np.mgrid[0:PATCH, 0:PATCH]
    return pad[ys[:, None] + dy.ravel(), xs[:, None] + dx.ravel()].reshape(len(ys), -1)


def add_detail(filled: np.ndarray, crop: np.ndarray, unknown: np.ndarray, amount: float = 1.0,
               sigma: float = 2.0, seed: int = 0) -> np.ndarray:
    """`filled` with high-frequency texture copied in from the known part of `crop` inside `unknown`.
    amount: the share (0..1) of the missing detail energy to add; sigma: the blur (full-resolution
    px) that splits broad content from detail."""
    h, w = unknown.shape
    known = ~unknown
    if amount <= 0 or known.sum() < 64 or not unknown.any():
        return filled
    s = min(1.0, MATCH_SIDE / max(h, w))
    mh, mw = max(PATCH, round(h * s)), max(PATCH, round(w * s))
    zoom = (mh / h, mw / w)
    guide_full = np.where(unknown[..., None], filled, crop)  # what the image looks like with the fill in
    low, _ = _low_pass(guide_full, sigma)  # matching needs the blurred guide only at its own small size
    guide = ndimage.zoom(low, (mh / low.shape[0], mw / low.shape[1], 1), order=1)
    small_unknown = ndimage.zoom(unknown.astype(np.float32), zoom, order=1) > 0.01
    # a source patch must lie wholly in the known part (its full-resolution footprint too)
    source_ok = ~ndimage.binary_dilation(small_unknown, iterations=PATCH // 2 + 1)
    source_ok[:PATCH // 2] = source_ok[-(PATCH // 2):] = False
    source_ok[:, :PATCH // 2] = source_ok[:, -(PATCH // 2):] = False
    sy, sx = np.nonzero(source_ok)
    if len(sy) < 16:
        return filled
    if len(sy) > 40000:  # plenty: a random subset keeps the tree small
        keep = np.random.default_rng(seed).choice(len(sy), 40000, replace=False)
        sy, sx = sy[keep], sx[keep]
    # one query per hole block, at the block's centre
    by, bx = np.nonzero(small_unknown)
    cells = np.unique(np.stack([by // BLOCK, bx // BLOCK], 1), axis=0)
    qy = np.minimum(cells[:, 0] * BLOCK + BLOCK // 2, mh - 1)
    qx = np.minimum(cells[:, 1] * BLOCK + BLOCK // 2, mw - 1)
    src_f, q_f = _patches(guide, sy, sx), _patches(guide, qy, qx)
    mean = src_f.mean(axis=0)
    sample = src_f[:: max(1, len(src_f) // 4000)] - mean
    _, vectors = np.linalg.eigh(sample.T @ sample)
    basis = vectors[:, -12:]  # PCA: 75 -> 12 dimensions keeps the tree fast and the match on structure
    # where it is counts too: texture for the sky is taken from nearby sky, not from grass of the same grey
    spread = float(np.sqrt(((src_f - mean) @ basis).var(axis=0).sum()))
    place = lambda y, x: np.stack([y, x], 1) * (NEARBY * spread / max(mh, mw))  # noqa: E731
    src_feat = np.hstack([(src_f - mean) @ basis, place(sy, sx)])
    q_feat = np.hstack([(q_f - mean) @ basis, place(qy, qx)])
    _, candidates = cKDTree(src_feat).query(q_feat, k=min(CANDIDATES, len(sy)))
    candidates = candidates.reshape(len(qy), -1)
    match_y, match_x = _coherent(cells, qy, qx, sy, sx, candidates, src_feat, q_feat, (mh, mw))
    # offset of each block, in full-resolution px. Each hole pixel blends the copies that the 4 nearest
    # block centres' offsets give it (bilinear weights), so no seam shows where one block meets the next
    off_y = np.zeros((mh // BLOCK + 2, mw // BLOCK + 2), np.float32)
    off_x = np.zeros_like(off_y)
    matched = np.zeros(off_y.shape, bool)
    off_y[cells[:, 0], cells[:, 1]] = (match_y - qy) / zoom[0]
    off_x[cells[:, 0], cells[:, 1]] = (match_x - qx) / zoom[1]
    matched[cells[:, 0], cells[:, 1]] = True
    hy, hx = np.nonzero(unknown)
    uy = np.clip((hy + 0.5) * zoom[0] / BLOCK - 0.5, 0, off_y.shape[0] - 2)  # in block units, from centres
    ux = np.clip((hx + 0.5) * zoom[1] / BLOCK - 0.5, 0, off_y.shape[1] - 2)
    cy0, cx0 = uy.astype(int), ux.astype(int)
    fy, fx = (uy - cy0)[:, None], (ux - cx0)[:, None]
    high = crop - _blur(crop, sigma)
    total = np.zeros((len(hy), 3), np.float32)
    weight = np.zeros((len(hy), 1), np.float32)
    for dy, dx, wgt in ((0, 0, (1 - fy) * (1 - fx)), (0, 1, (1 - fy) * fx), (1, 0, fy * (1 - fx)), (1, 1, fy * fx)):
        cy, cx = cy0 + dy, cx0 + dx
        ty = np.clip(np.rint(hy + off_y[cy, cx]).astype(int), 0, h - 1)
        tx = np.clip(np.rint(hx + off_x[cy, cx]).astype(int), 0, w - 1)
        use = (matched[cy, cx] & known[ty, tx])[:, None] * wgt
        total += use * high[ty, tx]
        weight += use
    copied = np.zeros_like(filled)
    copied[hy, hx] = total / np.maximum(weight, 1e-6)
    # add only the detail energy the fill lacks, judged on the known band around the hole
    band = ndimage.binary_dilation(unknown, iterations=max(4, int(4 / s))) & known
    want = float(high[band].var()) if band.any() else 0.0
    have = float((filled - _blur(filled, sigma))[unknown].var())
    got = float(copied[unknown].var())
    if got <= 1e-10 or want <= have:
        return filled
    gain = min(1.5, np.sqrt(amount * (want - have) / got))
    out = filled.copy()
    out[unknown] = np.clip(filled[unknown] + gain * copied[unknown], 0.0, 1.0)
    return out


def _coherent(cells, qy, qx, sy, sx, candidates, src_feat, q_feat, shape, slack: float = 1.5):
    """Per block, the source to copy from. Preferred: the block above's or to the left's shift, when it
    lands on a source nearly as good as the best match (texture copied in contiguous pieces). Else the
    best of the nearest candidates, each penalised by how often its spot has been used already (so a
    smooth area is not covered by the same little patch tiled over and over)."""
    where = -np.ones(shape, np.int64)
    where[sy, sx] = np.arange(len(sy))
    uses: dict[tuple[int, int], int] = {}
    shift: dict[tuple[int, int], tuple[int, int]] = {}
    out_y, out_x = np.empty_like(qy), np.empty_like(qx)
    for i, (r, c) in enumerate(map(tuple, cells)):  # raster order: np.unique sorts rows, then columns
        y, x = int(qy[i]), int(qx[i])
        d = np.sum((q_feat[i] - src_feat[candidates[i]]) ** 2, axis=1)
        spots = [(int(sy[j]) // BLOCK, int(sx[j]) // BLOCK) for j in candidates[i]]
        k = int(np.argmin(d * (1.0 + REUSE * np.array([uses.get(p, 0) for p in spots]))))
        choice, limit = (int(sy[candidates[i, k]]) - y, int(sx[candidates[i, k]]) - x), slack * float(d.min()) + 1e-6
        for neighbour in ((r - 1, c), (r, c - 1)):
            if neighbour not in shift:
                continue
            dy, dx = shift[neighbour]
            ty, tx = y + dy, x + dx
            if 0 <= ty < shape[0] and 0 <= tx < shape[1] and where[ty, tx] >= 0:
                dn = float(np.sum((q_feat[i] - src_feat[where[ty, tx]]) ** 2))
                if dn <= limit:
                    choice, limit = (dy, dx), dn
        shift[(r, c)] = choice
        out_y[i], out_x[i] = y + choice[0], x + choice[1]
        spot = (int(out_y[i]) // BLOCK, int(out_x[i]) // BLOCK)
        uses[spot] = uses.get(spot, 0) + 1
    return out_y, out_x
