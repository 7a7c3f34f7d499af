"""The one pixel convention inside the core, and the conversions at its edges.

Inside the core an image is a numpy float32 array H x W x 3, RGB, values in [0, 1]; alpha and masks are
float32 H x W in [0, 1] (mask: 1 = apply the effect / fill, 0 = keep). Files (uint8/uint16), GIMP
buffers and each model's tensor layout are converted to and from this at the edges. Large images may
be *stored* as uint8/uint16 and converted strip by strip (to_float / from_float) to bound memory.
"""
from __future__ import annotations

import numpy as np
from PIL import Image

from .errors import SfumatoError
from .threads import pool

_SCALE = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}


def _stored_scale(dtype) -> float | None:
    """The value of full intensity in a storage dtype; None for floats (already 0..1)."""
    scale = _SCALE.get(np.dtype(dtype))
    if scale is None and np.dtype(dtype).kind != "f":
        raise SfumatoError(f"unsupported pixel type {dtype}; use uint8, uint16 or float arrays")
    return scale


def to_float(a: np.ndarray) -> np.ndarray:
    """uint8 / uint16 / float array -> float32 in [0, 1] (a view-free copy only when needed)."""
    scale = _stored_scale(a.dtype)
    if scale is not None:  # one pass (a cast then a multiply would be two, and a temporary)
        out = np.empty(a.shape, np.float32)
        np.multiply(a, np.float32(1.0 / scale), out=out, casting="unsafe")
        return out
    return a.astype(np.float32, copy=False)


def to_planar(a: np.ndarray) -> np.ndarray:
    """H x W x C image (uint8 / uint16 / float) -> a model input [1, C, H, W] float32 in [0, 1].
    One pass: scaling and the layout change together (separately they cost 3x as long)."""
    scale = _stored_scale(a.dtype)
    out = np.empty((1, a.shape[2], a.shape[0], a.shape[1]), np.float32)
    np.multiply(a.transpose(2, 0, 1), np.float32(1.0 / (scale or 1.0)), out=out[0], casting="unsafe")
    return out


def from_float(a: np.ndarray, dtype) -> np.ndarray:
    """float [0, 1] -> dtype (rounded and clipped for integer types)."""
    dtype = np.dtype(dtype)
    scale = _SCALE.get(dtype)
    if scale is None:
        return np.clip(a, 0.0, 1.0).astype(dtype, copy=False)
    t = a * np.float32(scale)  # one temporary, rounded and clipped in place
    t += 0.5
    return np.clip(t, 0, scale, out=t).astype(dtype)


def split_channels(a: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """H x W (grey), H x W x 1/2/3/4 -> (H x W x 3 colour in a's dtype, H x W alpha or None)."""
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3 or a.shape[2] not in (1, 2, 3, 4):
        raise SfumatoError(f"expected an H x W or H x W x 1..4 image array, got shape {a.shape}")
    c = a.shape[2]
    colour = a[:, :, :3] if c >= 3 else np.repeat(a[:, :, :1], 3, axis=2)
    alpha = a[:, :, c - 1] if c in (2, 4) else None
    return colour, alpha


def resize(a: np.ndarray, size: tuple[int, int], smooth: bool = True,
           box: tuple[float, float, float, float] | None = None) -> np.ndarray:
    """Resize a float32 H x W or H x W x C array to (width, height). Lanczos when shrinking or
    `smooth`, which keeps strokes crisp; channels are resized separately in PIL's float mode.
    `box` (x0, y0, x1, y1 in `a`'s pixels): only that part of `a` is scaled to `size`, the same
    pixels as that part of a whole resize (within 2e-5) for the cost of the part."""
    w, h = size
    if a.shape[1] == w and a.shape[0] == h and box is None:
        return a
    method = Image.LANCZOS if smooth else Image.BILINEAR
    if a.ndim == 2:
        return np.asarray(Image.fromarray(a.astype(np.float32), "F").resize((w, h), method, box=box))

    def channel(i: int) -> np.ndarray:
        return np.asarray(Image.fromarray(np.ascontiguousarray(a[:, :, i], np.float32), "F")
                          .resize((w, h), method, box=box))
    if a.shape[0] * a.shape[1] < 1 << 16:  # small: a thread costs more than it saves
        return np.stack([channel(i) for i in range(a.shape[2])], axis=2)
    return np.stack(list(pool().map(channel, range(a.shape[2]))), axis=2)  # Pillow resamples without the GIL


# BT.601 full-range YCbCr, as JPEG and PIL use it
_RGB2YCC = np.array([[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]], np.float32)
_YCC2RGB = np.linalg.inv(_RGB2YCC).astype(np.float32)


def keep_colours(stylized: np.ndarray, original: np.ndarray) -> np.ndarray:
    """Luminance of `stylized`, chroma of `original` (both H x W x 3 float)."""
    y = stylized @ _RGB2YCC[0]
    ycc = original @ _RGB2YCC.T
    ycc[:, :, 0] = y
    return np.clip(ycc @ _YCC2RGB.T, 0.0, 1.0)
