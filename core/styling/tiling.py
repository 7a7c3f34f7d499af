"""Any-size stylization in bounded memory without seams.

Instance-norm networks normalise each feature map with its own mean and variance, so running tiles
independently gives each tile a different look. Instead ("thumbnail instance normalization"):
1. run the network once on a downscaled copy of the whole image and keep every norm layer's stats;
2. run overlapping tiles (each with extra context around it) using those global stats;
3. blend the overlaps with complementary linear ramps (weights sum to exactly 1).
Tiles are processed one row at a time; finished rows are handed to `emit` and forgotten, so memory
is a few tiles plus one strip of the output, whatever the image size.
"""
from __future__ import annotations

import math
from typing import Callable, Protocol

import numpy as np
from PIL import Image

from ..pixels import resize, to_float


class StatsNet(Protocol):
    def run(self, image: np.ndarray, stats: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """H x W x 3 image (float, or uint8/uint16 storage) -> (stylized H x W x 3 float, norm stats)."""


def spans(length: int, tile: int, overlap: int) -> list[tuple[int, int]]:
    """[start, end) of each tile along one axis; starts are multiples of (tile - overlap)."""
    if length <= tile:
        return [(0, length)]
    step = tile - overlap
    n = max(1, math.ceil((length - overlap) / step))
    return [(i * step, min(i * step + tile, length)) for i in range(n)]


def ramp(start: int, end: int, overlap: int, first: bool, last: bool) -> np.ndarray:
    """1-D blend weights of one tile: rising over its first `overlap` px, falling over its last."""
    w = np.ones(end - start, np.float32)
    x = np.arange(overlap, dtype=np.float32) + 0.5
    if not first:
        w[:overlap] = x / overlap
    if not last:
        w[-overlap:] = x[::-1] / overlap
    return w


def downscaled(source: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize straight from storage (uint8 through PIL keeps memory low for huge images)."""
    if source.dtype == np.uint8:
        return to_float(np.asarray(Image.fromarray(np.ascontiguousarray(source)).resize(size, Image.LANCZOS)))
    return resize(to_float(source), size)


class SharedStats:
    """Normalisation statistics shared by the frames of a clip: a slow moving average of each frame's
    own, so the look does not jump with every frame's content (per-frame statistics flicker)."""

    def __init__(self, smoothing: float = 0.1):
        self.smoothing = smoothing
        self.value: np.ndarray | None = None

    def observe(self, own: np.ndarray) -> None:
        s = self.smoothing
        self.value = own.copy() if self.value is None else (1.0 - s) * self.value + s * own


def stylize_tiled(net: StatsNet, source: np.ndarray, emit: Callable[[int, int, np.ndarray], None], *,
                  scale: float = 1.0, tile: int = 1024, overlap: int = 64, margin: int = 64,
                  stats_side: int = 1024, single_pass_pixels: int = 2048 * 2048,
                  shared: SharedStats | None = None, region: tuple[int, int, int, int] | None = None,
                  downscale: Callable[[np.ndarray, tuple[int, int]], np.ndarray] = downscaled) -> None:
    """Stylize `source` (H x W x 3, any storage dtype). The network runs at the image size / `scale`.
    `emit(y0, y1, rows)` receives finished output rows (float32, image resolution) top to bottom.
    `shared`: statistics carried over from earlier frames (they are used, then updated).
    `region` (x0, y0, x1, y1): only the tiles that reach it are run and only rows that cross it are
    emitted, with the whole image's statistics, so its pixels are exactly the whole run's (a preview);
    the other pixels of an emitted row are not meaningful. `downscale` makes the statistics pass's input."""
    h, w = source.shape[:2]
    net_w, net_h = max(1, round(w / scale)), max(1, round(h / scale))
    if scale == 1.0 and h * w <= single_pass_pixels:
        out, own = net.run(source, None if shared is None else shared.value)  # the adapter converts pixels and layout
        if shared is not None:
            shared.observe(own)
        emit(0, h, out)
        return

    f = min(1.0, stats_side / max(net_w, net_h))
    _, stats = net.run(downscale(source, (max(32, round(net_w * f)), max(32, round(net_h * f)))))
    if shared is not None:
        shared.observe(stats)
        stats = shared.value

    # tile geometry in image pixels (multiples of 4 keep the nets' stride-4 grid aligned at scale 1)
    def img_px(n: int) -> int:
        return max(4, int(round(n * scale / 4)) * 4)

    t, ov, m = img_px(tile), img_px(overlap), img_px(margin)
    rows, cols = spans(h, t, ov), spans(w, t, ov)
    wx = [ramp(x0, x1, ov, i == 0, i == len(cols) - 1) for i, (x0, x1) in enumerate(cols)]
    carry = None
    for r, (y0, y1) in enumerate(rows):
        acc = np.zeros((y1 - y0, w, 3), np.float32)
        if carry is not None:
            acc[:carry.shape[0]] = carry
        wy = ramp(y0, y1, ov, r == 0, r == len(rows) - 1)
        done = (rows[r + 1][0] - y0) if r + 1 < len(rows) else (y1 - y0)
        if region is not None and (y1 <= region[1] or y0 >= region[3]):  # no tile of this row reaches it
            carry = None if r + 1 == len(rows) else np.zeros((y1 - y0 - done, w, 3), np.float32)
            continue
        for c, (x0, x1) in enumerate(cols):
            if region is not None and (x1 <= region[0] or x0 >= region[2]):
                continue
            cy0, cy1, cx0, cx1 = max(0, y0 - m), min(h, y1 + m), max(0, x0 - m), min(w, x1 + m)
            crop = to_float(source[cy0:cy1, cx0:cx1])
            if scale != 1.0:
                crop = resize(crop, (max(8, round((cx1 - cx0) / scale)), max(8, round((cy1 - cy0) / scale))))
            out, _ = net.run(crop, stats)
            out = resize(out, (cx1 - cx0, cy1 - cy0))
            acc[:, x0:x1] += out[y0 - cy0:y1 - cy0, x0 - cx0:x1 - cx0] * (wy[:, None, None] * wx[c][None, :, None])
        if region is None or (y0 < region[3] and y0 + done > region[1]):
            emit(y0, y0 + done, acc[:done])
        carry = acc[done:].copy() if r + 1 < len(rows) else None
