"""Classical fills the networks start from (and that work without one): push-pull and harmonic."""
from __future__ import annotations


import numpy as np
from scipy import sparse
from scipy.sparse.linalg import splu  # imported with the model (the CLI loads it while reading the photo)

from ..pixels import resize


def push_pull_fill(image: np.ndarray, known: np.ndarray) -> np.ndarray:
    """A smooth fill of the unknown pixels from the known ones (normalised-convolution pyramid):
    average down with the known pixels as weights, then fill each level's gaps from the coarser
    one on the way up. A cheap smooth fill, used where no exact one is needed."""
    w = known.astype(np.float32)
    levels = [(image * w[..., None], w)]
    while min(levels[-1][1].shape) > 1:
        v, w = levels[-1]
        h2, w2 = (v.shape[0] + 1) // 2 * 2, (v.shape[1] + 1) // 2 * 2
        v = np.pad(v, ((0, h2 - v.shape[0]), (0, w2 - v.shape[1]), (0, 0)), mode="edge")
        w = np.pad(w, ((0, h2 - w.shape[0]), (0, w2 - w.shape[1])), mode="edge")
        v = v.reshape(h2 // 2, 2, w2 // 2, 2, 3).sum(axis=(1, 3))
        w = w.reshape(h2 // 2, 2, w2 // 2, 2).sum(axis=(1, 3))
        levels.append((v, w))
    v, w = levels[-1]
    filled = v / np.maximum(w, 1e-8)[..., None]
    for v, w in reversed(levels[:-1]):
        up = resize(filled, (v.shape[1], v.shape[0]), smooth=False)
        mean = v / np.maximum(w, 1e-8)[..., None]
        a = np.clip(w, 0.0, 1.0)[..., None]  # fully known -> own value; empty -> coarser level
        filled = a * mean + (1.0 - a) * up
    return np.where(known[..., None], image, filled).astype(np.float32)


def harmonic_fill(image: np.ndarray, known: np.ndarray) -> np.ndarray:
    """The smoothest fill of the unknown pixels: each one the average of its 4 neighbours (Laplace's
    equation, the known pixels as the boundary), solved exactly with one sparse factorisation for
    the three channels. It carries edges and gradients into the hole, where a pyramid fill leaves
    blocks; measured on the held-out photos it scores higher than G'MIC's inpaint_pde."""
    unknown = ~known
    n = int(unknown.sum())
    if n == 0 or n == unknown.size:  # nothing to fill, or no boundary to fill from
        return push_pull_fill(image, known)
    h, w = known.shape
    index = np.full((h + 2, w + 2), -1, np.int64)  # a border of -1: no neighbour outside the image
    index[1:-1, 1:-1][unknown] = np.arange(n)
    known_padded = np.zeros((h + 2, w + 2), bool)
    known_padded[1:-1, 1:-1] = known
    values = np.zeros((h + 2, w + 2, 3), np.float64)
    values[1:-1, 1:-1] = image
    ys, xs = np.nonzero(unknown)
    ys, xs = ys + 1, xs + 1
    degree = np.zeros(n)
    rhs = np.zeros((n, 3))
    rows, cols = [np.arange(n)], [np.arange(n)]
    for dy, dx in ((0, 1), (0, -1), (1, 0), (-1, 0)):
        ny, nx = ys + dy, xs + dx
        neighbour = index[ny, nx]
        also_unknown, boundary = neighbour >= 0, known_padded[ny, nx]
        degree += also_unknown | boundary
        rows.append(np.flatnonzero(also_unknown))
        cols.append(neighbour[also_unknown])
        rhs += values[ny, nx] * boundary[:, None]
    weights = np.concatenate([degree] + [-np.ones(len(r)) for r in rows[1:]])
    laplacian = sparse.csc_matrix((weights, (np.concatenate(rows), np.concatenate(cols))), shape=(n, n))
    out = image.copy()
    out[unknown] = np.clip(splu(laplacian).solve(rhs), 0.0, 1.0)
    return out.astype(np.float32)
