"""Stylization: named built-in styles and blends (conditional instance norm network), any picture as
the style (Magenta arbitrary network), strength, colour preservation, texture scale, masks, alpha.

The adapter (adapter.py) converts between the core's pixel convention (H x W x 3 float32 RGB 0..1)
and the network's tensors; the tiling engine (tiling.py) makes any size work.
"""
from __future__ import annotations

import numpy as np

from ..errors import SfumatoError
from ..options import StylizeOptions, check_stylize_options  # StylizeOptions: importable from here too, as before
from ..pixels import from_float, keep_colours, split_channels, to_float
from ..runtime.job import Job
from .adapter import NormStatsAdapter
from .styles import parse_style, style_vector
from .tiling import SharedStats, downscaled, stylize_tiled


# --- the operation ------------------------------------------------------------------------------

def _network(options: "StylizeOptions", colour: np.ndarray, job: Job) -> tuple[NormStatsAdapter, float]:
    """The network for these options, and the strength still to apply in pixels (a style image's
    strength is applied in style space, between the photo's own style and the painting's)."""
    if options.style is not None:
        model, weights = parse_style(options.style)
        return NormStatsAdapter(model, options.device, {"style_weights": weights}, job), options.strength
    vec = style_vector(options.style_image, options.device, job)
    if options.strength < 1.0:
        vec = options.strength * vec + (1.0 - options.strength) * style_vector(colour, options.device, job)
    return NormStatsAdapter("arbitrary_transform", options.device, {"style": vec.astype(np.float32)}, job), 1.0


def stylize(image: np.ndarray, options: StylizeOptions, mask: np.ndarray | None = None,
            out: np.ndarray | None = None, job: Job | None = None, shared: SharedStats | None = None,
            region: tuple[int, int, int, int] | None = None) -> np.ndarray:
    """Stylize an H x W[x C] image array (uint8, uint16 or float; grey, RGB or with alpha).

    Returns an array of the same shape and dtype (written into `out` when given). Alpha is copied;
    where `mask` (H x W float 0..1) is 0 the input pixels are returned bit for bit, grey values blend.
    `job` receives progress and can cancel (by default one nobody watches). `shared`: the frames of a clip share their
    normalisation statistics through it (core/batch/video.py). `region` (x0, y0, x1, y1): only the
    pixels there are made, exactly as the whole run makes them (stylize_region); the rest of `out` is
    not meaningful.
    """
    check_stylize_options(options)
    job = job or Job()
    colour, alpha = split_channels(image)
    h, w = colour.shape[:2]
    if mask is not None and mask.shape != (h, w):
        raise SfumatoError(f"mask is {mask.shape[1]}x{mask.shape[0]} but the image is {w}x{h}")
    if mask is not None and not mask.any():
        raise SfumatoError("the mask is empty (all black): nothing to stylize")
    out = np.empty_like(image) if out is None else out
    net, pixel_strength = _network(options, colour, job)
    if region is not None:  # a preview: the network's answers are kept for the next setting change
        net = _Remembered(net, PREVIEW_MEMORY)

    grey = image.ndim == 2 or image.shape[2] in (1, 2)
    # a region's columns only (every step below is per pixel, so they come out the same)
    xs = slice(None) if region is None else slice(region[0], region[2])

    def emit(y0: int, y1: int, stylized: np.ndarray) -> None:
        stylized = stylized[:, xs]
        m = None if mask is None else mask[y0:y1, xs, None]
        # the input in float only where something needs it (a full-image pass costs ~2% at 2048 px)
        needs_original = options.preserve_colors or pixel_strength < 1.0 or m is not None
        original = to_float(colour[y0:y1, xs]) if needs_original else None
        result = keep_colours(stylized, original) if options.preserve_colors else stylized
        if pixel_strength < 1.0:
            result = original + pixel_strength * (result - original)
        if m is not None:
            result = original + m * (result - original)
        if grey:
            result = result.mean(axis=2, keepdims=True)
        stored = from_float(result, image.dtype)
        rows = out[y0:y1, xs] if out.ndim == 3 else out[y0:y1, xs, None]
        src = image[y0:y1, xs] if image.ndim == 3 else image[y0:y1, xs, None]
        nc = stored.shape[2]
        rows[:, :, :nc] = stored
        if m is not None:  # untouched pixels: the input's own bits, not a round trip through float
            keep = m[:, :, 0] <= 0.0
            rows[keep, :nc] = src[keep, :nc]
        if alpha is not None:
            rows[:, :, -1] = src[:, :, -1]
        job.progress(y1 / h)

    stylize_tiled(net, colour, emit, scale=options.scale, tile=options.tile, stats_side=options.stats_side,
                  shared=shared, region=region, downscale=downscaled if region is None else _remembered_downscale)
    return out


class NetMemory:
    """The network's answers (output and statistics) for the inputs it was given, most recent first,
    up to `limit` bytes: a preview whose setting change needs no new network run (strength, colours,
    the selection, the view moving over tiles already run) is only the blending."""

    def __init__(self, limit: int = 512 << 20):
        from collections import OrderedDict
        self.limit, self.used, self.items = limit, 0, OrderedDict()

    def get(self, key):
        if key in self.items:
            self.items.move_to_end(key)
            return self.items[key]
        return None

    def put(self, key, value) -> None:
        size = sum(a.nbytes for a in value)
        if size > self.limit:
            return
        for a in value:
            a.flags.writeable = False  # shared with later calls: nobody may change it
        self.items[key] = value
        self.used += size
        while self.used > self.limit:
            _, old = self.items.popitem(last=False)
            self.used -= sum(a.nbytes for a in old)


PREVIEW_MEMORY = NetMemory()


def _digest(*arrays) -> bytes:
    import hashlib
    h = hashlib.blake2b(digest_size=16)
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(f"{a.shape}{a.dtype}".encode())
        h.update(memoryview(a).cast("B"))
    return h.digest()


def _remembered_downscale(source: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """downscaled(), kept in PREVIEW_MEMORY for the same pixels: the statistics pass's input of a big
    layer takes far longer to make than to look up."""
    key = ("downscaled", size, _digest(source))
    found = PREVIEW_MEMORY.get(key)
    if found is None:
        found = (downscaled(source, size),)
        PREVIEW_MEMORY.put(key, found)
    return found[0]


class _Remembered:
    """A network whose answers come from `memory` when it was given the same pixels, statistics and
    conditioning (the style) before: exactly what it would compute again."""

    def __init__(self, net, memory: NetMemory):
        self.net, self.memory = net, memory
        names = sorted(net.conditioning)
        # sessions are kept for the process's life (runtime/sessions.py): the id names the model
        self.ident = (id(net.session), tuple(names),
                      _digest(*(np.asarray(net.conditioning[n]) for n in names)))

    def run(self, image: np.ndarray, stats: np.ndarray | None = None):
        key = (self.ident, stats is None, _digest(image) if stats is None else _digest(image, stats))
        found = self.memory.get(key)
        if found is None:
            found = self.net.run(image, stats)
            self.memory.put(key, found)
        return found


def stylize_region(image: np.ndarray, options: StylizeOptions, region: tuple[int, int, int, int],
                   mask: np.ndarray | None = None, job: Job | None = None) -> np.ndarray:
    """The pixels of `region` (x, y, width, height) of stylize(image, options, mask), and only the work
    they need: a preview that equals the final result there. Large images run the tiles that reach
    the region with the whole image's statistics; small ones run in one pass anyway."""
    h, w = image.shape[:2]
    x, y, rw, rh = (int(v) for v in region)
    if not (0 <= x < x + rw <= w and 0 <= y < y + rh <= h):
        raise SfumatoError(f"region {rw}x{rh}+{x}+{y} is not inside the {w}x{h} image")
    out = stylize(image, options, mask=mask, job=job, region=(x, y, x + rw, y + rh))
    return np.ascontiguousarray(out[y:y + rh, x:x + rw])


class _FrameJob:
    """One frame's share of a job over many frames: its progress maps into the whole."""

    def __init__(self, job: Job, done: int, total: int):
        self.job, self.done, self.total = job, done, total
        self.cancelled = False

    def progress(self, fraction: float) -> None:
        self.job.progress((self.done + fraction) / self.total)

    def run(self, session, feeds: dict):
        return self.job.run(session, feeds)


def clip_statistics(frames, options: StylizeOptions, job: Job | None = None, count: int | None = None) -> SharedStats:
    """One set of normalisation statistics for many frames: the mean of every frame's own (taken as
    stylize takes them: at up to `stats_side` px), held fixed so that every frame uses exactly these.
    `frames`: any iterable of images; `count` (when known) drives the progress, as its first fifth."""
    job = job or Job()
    total, n, net = None, 0, None
    for frame in frames:
        colour, _ = split_channels(frame)
        if net is None:
            net, _ = _network(options, colour, job)
        h, w = colour.shape[:2]
        net_w, net_h = max(1, round(w / options.scale)), max(1, round(h / options.scale))
        f = min(1.0, options.stats_side / max(net_w, net_h))
        _, own = net.run(downscaled(colour, (max(32, round(net_w * f)), max(32, round(net_h * f)))))
        total = own.astype(np.float64) if total is None else total + own
        n += 1
        if count:
            job.progress(0.2 * n / count)
    if not n:
        raise SfumatoError("no frames to stylize")
    shared = SharedStats(smoothing=0.0)  # held fixed
    shared.value = (total / n).astype(np.float32)
    return shared


def stylize_frames(frames: list[np.ndarray], options: StylizeOptions, job: Job | None = None) -> list[np.ndarray]:
    """Stylize the frames of an animation (GIMP's layers as frames) with one set of normalisation
    statistics (clip_statistics): the look cannot jump from frame to frame. Each frame keeps its own
    size, type and alpha. Costs one statistics pass per frame on top of the frames themselves."""
    check_stylize_options(options)
    if not frames:
        raise SfumatoError("no frames to stylize")
    job = job or Job()
    shared = clip_statistics(frames, options, job, len(frames))
    out = []
    for i, frame in enumerate(frames):
        step = _FrameJob(job, len(frames) * 0.25 + i, len(frames) * 1.25)
        out.append(stylize(frame, options, job=step, shared=shared))
    return out
