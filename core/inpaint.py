"""Fill the masked part of an image with plausible content (remove an object, heal a scratch).

For each connected region of the mask: crop around it with context proportional to its size
(shifted inward at the image borders; the other holes in the crop are unknown, not context), shrink to the model's working size when large, fill, scale
back, match the fill's colour to the surroundings, and paste back only inside the grown hole with a
feathered edge. Grow (how much larger a hole the model fills) and feather (how soft the paste-back
edge is) are separate settings. Pixels outside the grown mask come back bit for bit; alpha is kept.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

from . import inpaint_models
from . import exemplar
from .errors import SfumatoError
from .job import Job
from .options import DEFAULT_INPAINT_MODEL as DEFAULT_MODEL  # noqa: F401 - re-exported for the CLI and installer
from .options import InpaintOptions, check_inpaint_options
from .pixels import from_float, resize, split_channels, to_float

class NothingToFill(SfumatoError):
    pass


def _disk(radius: int) -> np.ndarray:
    y, x = np.mgrid[-radius:radius + 1, -radius:radius + 1]
    return x * x + y * y <= radius * radius


def _padded_box(mask: np.ndarray, pad: int) -> tuple[slice, slice]:
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
    ys, xs = _padded_box(hole, grow)
    labels, radius = grow_radii(hole[ys, xs], grow)
    part = hole[ys, xs].copy()
    for r in np.unique(radius[1:]):
        if r > 0:
            part |= ndimage.binary_dilation(radius[labels] == r, _disk(int(r)))
    grown = np.zeros_like(hole)
    grown[ys, xs] = part
    return grown


def region_boxes(grown: np.ndarray, context: float, min_margin: int) -> list[tuple[slice, slice, np.ndarray]]:
    """(rows, cols, region mask) per connected region, the crop enlarged by a margin proportional
    to the region's size and shifted inward where it would leave the image."""
    h, w = grown.shape
    box_y, box_x = _padded_box(grown, 0)
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


def working_scale(region: np.ndarray, work_size: int) -> float:
    """The scale at which a region's crop is filled (1 = full resolution)."""
    side = max(region.shape)
    by_size = min(1.0, work_size / side)
    if by_size == 1.0:
        return 1.0
    thickness = 2 * float(ndimage.distance_transform_edt(region).max())
    return max(by_size, min(1.0, MAX_CROP_SIDE / side, THIN / max(thickness, 1.0)))


MAX_REGIONS = 16  # more separate regions than this (dust, a noisy mask) are filled in groups of neighbours


def _region_labels(hole: np.ndarray, min_margin: int) -> np.ndarray:
    """Connected regions; where there are many, regions near each other share one label (one crop
    and one model run), so a mask of thousands of specks costs a few runs, not thousands."""
    labels, n = ndimage.label(hole)
    reach = max(1, min_margin // 2)
    while n > MAX_REGIONS and reach < max(hole.shape):
        groups, n = ndimage.label(ndimage.binary_dilation(hole, _disk(min(reach, 64)), iterations=max(1, reach // 64)))
        labels = np.where(hole, groups, 0)
        reach *= 2
    return labels


def inpaint(image: np.ndarray, mask: np.ndarray, options: InpaintOptions | None = None,
            job: Job | None = None) -> np.ndarray:
    """Fill where `mask` (H x W float 0..1, white = fill, grey = partial) is set. Returns an array of
    the image's shape and dtype; outside the grown mask the input's bits are returned unchanged."""
    options = options or InpaintOptions()
    check_inpaint_options(options)
    colour, _ = split_channels(image)  # alpha survives: `out` starts as a copy and only colour is written
    h, w = colour.shape[:2]
    if mask.shape != (h, w):
        raise SfumatoError(f"mask is {mask.shape[1]}x{mask.shape[0]} but the image is {w}x{h}")
    hole = mask > 0
    if not hole.any():
        raise NothingToFill("the mask is empty: nothing to fill (white marks what to fill)")
    grown = grow_hole(hole, options.grow)
    if grown.all():
        raise SfumatoError("the mask covers the whole image: leave some of the picture unmasked to fill from")
    model = inpaint_models.load(options.model, options.device, job)
    out = image.copy()
    out_rows = out if out.ndim == 3 else out[:, :, None]
    grey = image.ndim == 2 or image.shape[2] in (1, 2)
    boxes = region_boxes(grown, options.context, options.min_margin)
    for i, (ys, xs, region) in enumerate(boxes):
        crop = to_float(colour[ys, xs])
        unknown = grown[ys, xs]  # every hole in the crop, not just this region: holes are not context
        filled = _fill_region(model, crop, unknown, region, options)
        # mask work and paste-back only around this region (the crop is ~3x larger each way): enough
        # margin that erosion, blur and dilation see everything they would on the whole crop
        wy, wx = _padded_box(region, 2 * options.feather + options.grow + 5)
        crop, filled, region, unknown = crop[wy, wx], filled[wy, wx], region[wy, wx], unknown[wy, wx]
        filled = _match_colour(filled, crop, region, unknown)
        a = _paste_weight(region, mask[ys, xs][wy, wx], options)
        result = crop + a * (filled - crop)
        if grey:
            result = result.mean(axis=2, keepdims=True)
        stored = from_float(result, image.dtype)
        rows = out_rows[ys, xs][wy, wx]
        changed = a[..., 0] > 0
        rows[changed, :stored.shape[2]] = stored[changed]
        if job is not None:
            job.progress((i + 1) / len(boxes))
    return out


def _fill_region(model, crop: np.ndarray, unknown: np.ndarray, region: np.ndarray, options: InpaintOptions) -> np.ndarray:
    """The crop filled by the model at the region's working scale (the resolution
    strategy: thick regions at the model's working size, thin ones at full resolution), then given
    texture (--detail) and kept grey where the surroundings are grey."""
    ch, cw = region.shape
    f = working_scale(region, model.work_size)
    if f < 1.0:  # large region: fill at the model's working size, then scale back
        size = (max(16, round(cw * f)), max(16, round(ch * f)))
        small_hole = resize(unknown.astype(np.float32), size, smooth=False) > 0.01
        filled = resize(model.fill(resize(crop, size), small_hole), (cw, ch))
    else:
        filled = model.fill(crop, unknown)
    if options.detail:  # texture from the photo itself, on the network's layout
        filled = filled + options.detail * (exemplar.complete(filled, crop, unknown) - filled)
    if np.ptp(crop[~unknown][::7], axis=1).max(initial=0.0) < 2 / 255:  # grey surroundings: no invented colour
        filled = np.repeat(filled.mean(axis=2, keepdims=True), 3, axis=2)
    return filled


def _paste_weight(region: np.ndarray, user: np.ndarray, options: InpaintOptions) -> np.ndarray:
    """H x W x 1 weight of the fill when pasting back: the user's mask value inside the hole (grey =
    partial), carried over the grown band with a feathered fall-off (an eroded, blurred copy of the
    grown hole), 0 outside the region."""
    ramp = region.astype(np.float32)
    if options.feather:
        ramp = ndimage.gaussian_filter(ndimage.binary_erosion(region, _disk(options.feather)).astype(np.float32),
                                       options.feather / 2)
    reach = ndimage.grey_dilation(user, footprint=_disk(options.grow)) if options.grow else user
    a = np.maximum(ramp * reach, user)
    return np.where(region, np.clip(a, 0.0, 1.0), 0.0)[..., None]


def _match_colour(filled: np.ndarray, crop: np.ndarray, region: np.ndarray, unknown: np.ndarray) -> np.ndarray:
    """Shift the fill so its colour along the hole's outer edge matches the known pixels there."""
    ring = ndimage.binary_dilation(region, _disk(3)) & ~unknown
    if ring.sum() < 8:
        return filled
    delta = crop[ring].mean(axis=0) - filled[ring].mean(axis=0)
    return np.clip(filled + delta, 0.0, 1.0)
