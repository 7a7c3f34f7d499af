"""The holes of a mask as regions: how much each grows, the crop around it, the scale it is filled at."""
from __future__ import annotations

import numpy as np
from scipy import ndimage



def disk(radius: int) -> np.ndarray:
    y, x = np.mgrid[-radius:radius + 1, -radius:radius + 1]
    return x * x + y * y <= radius * radius


def padded_box(mask: np.ndarray, pad: int) -> tuple[slice, slice]:
    """(rows, cols) of the bounding box of a non-empty mask, enlarged by `pad` and clipped to it."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    return (slice(max(0, rows[0] - pad), min(mask.shape[0], rows[-1] + pad + 1)),
            slice(max(0, cols[0] - pad), min(mask.shape[1], cols[-1] + pad + 1)))


# A region grows by at most this share of its thickness (the widest disk that fits in it): a 10 px
# scratch keeps the known pixels right beside it, which are most of what it is filled from
GROW_PER_THICKNESS = 1 / 16


def grow_radii(hole: np.ndarray, grow: int) -> tuple[np.ndarray, np.ndarray]:
    """Connected regions of the hole (labels) and the grow radius of each (index 0 = background)."""
    labels, n = ndimage.label(hole)
    if not grow or not n:
        return labels, np.zeros(n + 1, int)
    inside = ndimage.distance_transform_edt(hole)
    thickness = 2 * np.asarray(ndimage.maximum(inside, labels, np.arange(1, n + 1)))
    return labels, np.concatenate([[0], np.minimum(grow, (thickness * GROW_PER_THICKNESS).astype(int))])


def grow_hole(hole: np.ndarray, grow: int) -> np.ndarray:
    """The hole, each region enlarged by up to `grow` px in proportion to its thickness, computed only
    around the hole (cheap on 12 MP photos)."""
    ys, xs = padded_box(hole, grow)
    labels, radius = grow_radii(hole[ys, xs], grow)
    part = hole[ys, xs].copy()
    for r in np.unique(radius[1:]):
        if r > 0:
            part |= ndimage.binary_dilation(radius[labels] == r, disk(int(r)))
    grown = np.zeros_like(hole)
    grown[ys, xs] = part
    return grown


def region_boxes(grown: np.ndarray, context: float, min_margin: int) -> list[tuple[slice, slice, np.ndarray]]:
    """(rows, cols, region mask) per connected region, the crop enlarged by a margin proportional
    to the region's size and shifted inward where it would leave the image."""
    h, w = grown.shape
    box_y, box_x = padded_box(grown, 0)
    oy, ox = box_y.start, box_x.start
    labels = _region_labels(grown[box_y, box_x], min_margin)  # only where the hole is
    boxes = []
    for index, (ys, xs) in enumerate(ndimage.find_objects(labels), start=1):
        rh, rw = ys.stop - ys.start, xs.stop - xs.start
        margin = max(min_margin, int(context * max(rh, rw) / 2))
        ch, cw = min(h, rh + 2 * margin), min(w, rw + 2 * margin)
        y0 = min(max(0, oy + ys.start - margin), h - ch)
        x0 = min(max(0, ox + xs.start - margin), w - cw)
        window = np.zeros((ch, cw), bool)  # this region's pixels inside its crop
        ly0, lx0 = y0 - oy, x0 - ox
        sy0, sx0 = max(0, ly0), max(0, lx0)
        sy1, sx1 = min(labels.shape[0], ly0 + ch), min(labels.shape[1], lx0 + cw)
        window[sy0 - ly0:sy1 - ly0, sx0 - lx0:sx1 - lx0] = labels[sy0:sy1, sx0:sx1] == index
        boxes.append((slice(y0, y0 + ch), slice(x0, x0 + cw), window))
    return boxes


# A thin region (a scratch, specks) is filled at full resolution even when its crop is large: its fill
# comes from the pixels right beside it, which shrinking would blur. Thick ones shrink to the working
# size, where their holes are nearer the size the network was trained on.
THIN = 128            # px of thickness up to which a region is not shrunk for its size
MAX_CROP_SIDE = 1536  # px: the largest crop the network runs on (its time and memory grow with the area)
# A crop up to this side is filled as it is, whatever its holes: on the held-out photos
# (bench/bench_inpaint.py) that beat shrinking it to the working size on the large holes, scratches and
# blobs unchanged (docs/decisions.md). Larger crops still shrink to the working size.
FULL_SIZE_CROP = 768


def working_scale(region: np.ndarray, work_size: int) -> float:
    """The scale at which a region's crop is filled (1 = full resolution)."""
    side = max(region.shape)
    by_size = 1.0 if side <= max(work_size, FULL_SIZE_CROP) else work_size / side
    if by_size == 1.0:
        return 1.0
    # the distance transform inside the region's box and a ring of 1 px: the same distances (the
    # nearest outside pixel is never farther than the ring), at a ninth of a crop's area
    thickness = 2 * float(ndimage.distance_transform_edt(region[padded_box(region, 1)]).max())
    return max(by_size, min(1.0, MAX_CROP_SIDE / side, THIN / max(thickness, 1.0)))


MAX_REGIONS = 16  # more separate regions than this (dust, a noisy mask) are filled in groups of neighbours


def _region_labels(hole: np.ndarray, min_margin: int) -> np.ndarray:
    """Connected regions; where there are many, regions near each other share one label (one crop
    and one model run), so a mask of thousands of specks costs a few runs, not thousands."""
    labels, n = ndimage.label(hole)
    reach = max(1, min_margin // 2)
    while n > MAX_REGIONS and reach < max(hole.shape):
        groups, n = ndimage.label(ndimage.binary_dilation(hole, disk(min(reach, 64)), iterations=max(1, reach // 64)))
        labels = np.where(hole, groups, 0)
        reach *= 2
    return labels
