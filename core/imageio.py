"""Reading and writing image files: the file edge of the pixel convention. Every failure becomes a
SfumatoError naming the file and the problem; writes go to a temporary name and are renamed."""
from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from .errors import SfumatoError

MIN_SIDE = 32
MAX_PIXELS = 16384 * 16384  # 268 MP; larger headers are refused as decompression bombs
Image.MAX_IMAGE_PIXELS = MAX_PIXELS


def read_image(path: str | os.PathLike, what: str = "image") -> np.ndarray:
    """File -> H x W x C array in the file's own precision (uint8 or uint16), C in 1..4."""
    path = Path(path)
    if not path.exists():
        raise SfumatoError(f"{what} not found: {path}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                w, h = img.size
                if w * h > MAX_PIXELS:
                    raise SfumatoError(f"{what} {path} is {w}x{h}, over the {MAX_PIXELS // 1_000_000} MP limit; "
                                       "downscale it first")
                img.load()
                ImageOps.exif_transpose(img, in_place=True)
                arr = _to_array(img)
    except SfumatoError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise SfumatoError(f"{what} {path} declares a size over the {MAX_PIXELS // 1_000_000} MP limit "
                           "(a decompression bomb?); downscale it first") from None
    except (OSError, ValueError, SyntaxError) as exc:
        reason = "is truncated" if "truncated" in str(exc) else f"is not a readable image ({exc})"
        raise SfumatoError(f"{what} {path} {reason}; re-export it as PNG or JPEG") from None
    check_size(arr.shape[1], arr.shape[0], f"{what} {path}")
    return arr


def check_size(w: int, h: int, what: str) -> None:
    if min(w, h) < MIN_SIDE:
        raise SfumatoError(f"{what} is {w}x{h}; both sides need at least {MIN_SIDE} px")
    if w * h > MAX_PIXELS:
        raise SfumatoError(f"{what} is {w}x{h}, over the {MAX_PIXELS // 1_000_000} MP limit; downscale it first")


def _to_array(img: Image.Image) -> np.ndarray:
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        a = np.asarray(img)
        return (a.astype(np.uint16) if img.mode != "I" else np.clip(a, 0, 65535).astype(np.uint16))[:, :, None]
    if img.mode in ("1", "L", "P", "PA", "LA", "RGB", "RGBA", "CMYK", "YCbCr", "LAB", "HSV", "F"):
        if img.mode == "P":
            img = img.convert("RGBA" if "transparency" in img.info else "RGB")
        elif img.mode in ("1", "F"):
            img = img.convert("L")
        elif img.mode == "PA":
            img = img.convert("RGBA")
        elif img.mode not in ("L", "LA", "RGB", "RGBA"):
            img = img.convert("RGB")
        return _copy_in_bands(img)
    return _copy_in_bands(img.convert("RGBA"))


def _copy_in_bands(img: Image.Image, band: int = 512) -> np.ndarray:
    """PIL image -> numpy, a band of rows at a time: np.asarray(img) would hold two extra full
    copies (PIL's bytes and the array) at once, which matters for 8K+ images."""
    w, h = img.size
    channels = len(img.getbands())
    out = np.empty((h, w, channels), np.uint8)
    for y in range(0, h, band):
        part = np.asarray(img.crop((0, y, w, min(h, y + band))))
        out[y:y + part.shape[0]] = part.reshape(part.shape[0], w, channels)
    return out


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def read_mask(path: str | os.PathLike, size: tuple[int, int]) -> np.ndarray:
    """Greyscale mask file -> float32 H x W in [0, 1] (white = 1). size = (width, height) it must have."""
    arr = read_image(path, "mask")
    if (arr.shape[1], arr.shape[0]) != tuple(size):
        raise SfumatoError(f"mask {path} is {arr.shape[1]}x{arr.shape[0]} but the image is {size[0]}x{size[1]}; "
                           "they must be the same size")
    from .pixels import to_float
    grey = to_float(arr[:, :, 0] if arr.shape[2] < 3 else arr[:, :, :3].mean(axis=2).astype(arr.dtype))
    return grey


def write_image(path: str | os.PathLike, arr: np.ndarray) -> Path:
    """H x W x {1,3,4} uint8 (or uint16 grey) array -> file, via a temporary name in the same folder."""
    path = Path(path)
    fmt = Image.registered_extensions().get(path.suffix.lower())
    if fmt is None:
        raise SfumatoError(f"cannot tell the image format from {path.name!r}; use .png, .jpg, .tif or .webp")
    if not path.parent.exists():
        raise SfumatoError(f"output folder {path.parent} does not exist")
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    img = Image.fromarray(arr)
    if fmt == "JPEG" and img.mode == "RGBA":
        img = img.convert("RGB")  # JPEG has no alpha
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            img.save(f, format=fmt, **({"quality": 95} if fmt in ("JPEG", "WEBP") else {}))
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; a saved picture gets the usual permissions
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path
