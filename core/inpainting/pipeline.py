"""Fill the masked part of an image with plausible content (remove an object, heal a scratch).

For each connected region of the mask: crop around it with context proportional to its size
(shifted inward at the image borders; the other holes in the crop are unknown, not context), fill it
(the model shrinks a large region to its working size and scales the fill back: models.py), match
the fill's colour to the surroundings, and paste back only inside the grown hole with a feathered
edge. Grow (how much larger a hole the model fills) and feather (how soft the paste-back
edge is) are separate settings. Pixels outside the grown mask come back bit for bit; alpha is kept.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

from ..errors import SfumatoError
from ..options import InpaintOptions, check_inpaint_options
from ..pixels import from_float, split_channels, to_float
from ..runtime.job import Job
from . import exemplar, models
from .regions import disk, grow_hole, padded_box, region_boxes

class NothingToFill(SfumatoError):
    pass


def inpaint(image: np.ndarray, mask: np.ndarray, options: InpaintOptions | None = None,
            job: Job | None = None, sample_from: np.ndarray | None = None) -> np.ndarray:
    """Fill where `mask` (H x W float 0..1, white = fill, grey = partial) is set. Returns an array of
    the image's shape and dtype; outside the grown mask the input's bits are returned unchanged.
    `sample_from` (H x W, > 0 = yes): where a large hole's texture may be copied from (Content-Aware
    Fill's sampling area); each region's crop is widened to take it in. Thin holes ignore it."""
    options = options or InpaintOptions()
    job = job or Job()
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
    if sample_from is not None:
        if sample_from.shape != (h, w):
            raise SfumatoError(f"the 'sample from' mask is {sample_from.shape[1]}x{sample_from.shape[0]} "
                               f"but the image is {w}x{h}")
        sample_from = (sample_from > 0) & ~grown
        if not sample_from.any():
            raise SfumatoError("the 'sample from' area has no pixels outside the hole: nothing to copy texture from")
    large = max(exemplar.LARGE_HOLE, exemplar.LARGE_SHARE * min(h, w))  # px of thickness that gets texture
    model = models.load(options.model, options.device, job)
    out = image.copy()
    out_rows = out if out.ndim == 3 else out[:, :, None]
    grey = image.ndim == 2 or image.shape[2] in (1, 2)
    boxes = region_boxes(grown, options.context, options.min_margin)
    for i, (ys, xs, region) in enumerate(boxes):
        if sample_from is not None:
            ys, xs, region = _take_in(ys, xs, region, sample_from)
        crop = to_float(colour[ys, xs])
        unknown = grown[ys, xs]  # every hole in the crop, not just this region: holes are not context
        filled = _fill_region(model, crop, unknown, region, options, None if sample_from is None else sample_from[ys, xs],
                              large)
        # mask work and paste-back only around this region (the crop is ~3x larger each way): enough
        # margin that erosion, blur and dilation see everything they would on the whole crop
        wy, wx = padded_box(region, 2 * options.feather + options.grow + 5)
        crop, filled, region, unknown = crop[wy, wx], filled[wy, wx], region[wy, wx], unknown[wy, wx]
        filled = _match_colour(filled, crop, region, unknown)
        a = _paste_weight(region, mask[ys, xs][wy, wx], options)
        result = crop + a * (filled - crop)
        if grey:
            result = result.mean(axis=2, keepdims=True)
        stored = from_float(result, image.dtype)
        rows = out_rows[ys, xs][wy, wx]  # a view: writing to it writes `out`
        np.copyto(rows[..., :stored.shape[2]], stored, where=a > 0)  # (6x a boolean-index assignment)
        job.progress((i + 1) / len(boxes))
    return out


def _take_in(ys: slice, xs: slice, region: np.ndarray, area: np.ndarray) -> tuple[slice, slice, np.ndarray]:
    """The crop widened to the bounding box of itself and `area`, the region's window moved with it."""
    ay, ax = padded_box(area, 0)
    y0, y1 = min(ys.start, ay.start), max(ys.stop, ay.stop)
    x0, x1 = min(xs.start, ax.start), max(xs.stop, ax.stop)
    window = np.zeros((y1 - y0, x1 - x0), bool)
    window[ys.start - y0:ys.stop - y0, xs.start - x0:xs.stop - x0] = region
    return slice(y0, y1), slice(x0, x1), window


def _fill_region(model, crop: np.ndarray, unknown: np.ndarray, region: np.ndarray, options: InpaintOptions,
                 allowed: np.ndarray | None = None, large: float = exemplar.LARGE_HOLE) -> np.ndarray:
    """The crop filled by the model (at the region's working scale, models.InpaintModel.__call__),
    then given texture (--detail) and kept grey where the surroundings are grey."""
    filled = model(crop, unknown, region)
    if options.detail:  # texture from the photo itself, for a large hole (a thin one is returned as it is)
        textured = exemplar.complete(filled, crop, unknown, allowed=allowed, large=large)
        filled = textured if options.detail == 1 else filled + options.detail * (textured - filled)
    r, g, b = crop.reshape(-1, 3)[np.flatnonzero(~unknown)[::7]].T  # every 7th known pixel, gathered once
    spread = max(np.abs(r - g).max(initial=0.0), np.abs(g - b).max(initial=0.0), np.abs(r - b).max(initial=0.0))
    if spread < 2 / 255:  # grey surroundings (channels within 2/255 everywhere): no invented colour
        filled = np.repeat(filled.mean(axis=2, keepdims=True), 3, axis=2)
    return filled


def _paste_weight(region: np.ndarray, user: np.ndarray, options: InpaintOptions) -> np.ndarray:
    """H x W x 1 weight of the fill when pasting back: the user's mask value inside the hole (grey =
    partial), carried over the grown band with a feathered fall-off (an eroded, blurred copy of the
    grown hole), 0 outside the region."""
    ramp = region.astype(np.float32)
    if options.feather:
        ramp = ndimage.gaussian_filter(ndimage.binary_erosion(region, disk(options.feather)).astype(np.float32),
                                       options.feather / 2)
    reach = ndimage.grey_dilation(user, footprint=disk(options.grow)) if options.grow else user
    a = np.maximum(ramp * reach, user)
    return np.where(region, np.clip(a, 0.0, 1.0), 0.0)[..., None]


def _match_colour(filled: np.ndarray, crop: np.ndarray, region: np.ndarray, unknown: np.ndarray) -> np.ndarray:
    """Shift the fill so its colour along the hole's outer edge matches the known pixels there."""
    ring = ndimage.binary_dilation(region, disk(3)) & ~unknown
    if ring.sum() < 8:
        return filled
    delta = crop[ring].mean(axis=0) - filled[ring].mean(axis=0)
    return np.clip(filled + delta, 0.0, 1.0)
