"""Reading and writing image files: the file edge of the pixel convention. Every failure becomes a
SfumatoError naming the file and the problem; writes go to a temporary name and are renamed."""
from __future__ import annotations

import contextlib
import functools
import io
import logging
import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from . import png
from .atomic import replacing
from .errors import SfumatoError

# Pillow logs decoder complaints (a damaged TIFF's tags...) at ERROR, which Python prints to stderr when
# no handler is set: the one `error:` line says what counts
logging.getLogger("PIL").addHandler(logging.NullHandler())
logging.getLogger("tifffile").addHandler(logging.NullHandler())  # the same for tifffile's complaints

MIN_SIDE = 32
MAX_PIXELS = 16384 * 16384  # 268 MP; larger headers are refused as decompression bombs
Image.MAX_IMAGE_PIXELS = MAX_PIXELS
# A large image in a file this many times smaller than its pixel count is a header with next to no
# data behind it: decoding it would take minutes to produce nothing (a flat PNG is ~1000:1)
BOMB_MIN_PIXELS = 32_000_000
BOMB_RATIO = 100_000


def read_image(path: str | os.PathLike, what: str = "image", meta: dict | None = None) -> np.ndarray:
    """File -> H x W x C array in the file's own precision (uint8, uint16 or float32 in 0..1), C in 1..4.
    `meta`, when given, receives what the output should carry: "icc_profile" and "exif" (bytes,
    orientation set to normal: the pixels are turned already)."""
    path = Path(path)
    if not path.exists():
        raise SfumatoError(f"{what} not found: {path}")
    return _decode(path, path.stat().st_size, f"{what} {path}", meta)


def decode_image(data: bytes, what: str = "image") -> np.ndarray:
    """An encoded image file's bytes (a server's request body) -> array, with read_image's checks."""
    return _decode(io.BytesIO(data), len(data), what)


@contextlib.contextmanager
def _decoding(label: str, redo: str):
    """One error line for whatever reading a file raises: a decoder's own warnings (odd EXIF, TIFF
    tags) are silenced, a decompression bomb, a lack of memory or a damaged file each named, with
    `redo` as the way out."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # decoder chatter: the error line says what counts
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            yield
    except SfumatoError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise SfumatoError(f"{label} declares a size over the {MAX_PIXELS // 1_000_000} MP limit "
                           "(a decompression bomb?); downscale it first") from None
    except MemoryError:
        raise SfumatoError(f"{label} is too large to decode in the memory available") from None
    except Exception as exc:  # noqa: BLE001 - a damaged file can break a decoder in any way (TypeError, IndexError...)
        reason = "is truncated" if "truncated" in str(exc) else f"is not a readable image ({exc})"
        raise SfumatoError(f"{label} {reason}; {redo}") from None


def _decode(source, nbytes: int, label: str, meta: dict | None = None) -> np.ndarray:
    with _decoding(label, "re-export it as PNG or JPEG"):
        if _head(source, 4) in TIFF_MAGIC:
            _quiet_libtiff()
        precise = _decode_tiff_precise(source, nbytes, label, meta)  # float / 16-bit colour TIFF
        if precise is not None:
            return check_pixels(precise, label)
        with Image.open(source) as img:
            w, h = img.size
            if w * h > MAX_PIXELS:
                raise SfumatoError(f"{label} is {w}x{h}, over the {MAX_PIXELS // 1_000_000} MP limit; "
                                   "downscale it first")
            if w * h > BOMB_MIN_PIXELS and w * h > BOMB_RATIO * nbytes:
                raise SfumatoError(f"{label} declares {w}x{h} pixels in {nbytes} bytes "
                                   "(a decompression bomb?); re-export it as PNG or JPEG")
            _refuse_frames(img, label)
            if img.format == "PNG" and _png_colour16(source):  # Pillow would cut these to 8 bits
                arr = orient(_decode_png16(source), img.getexif().get(ORIENTATION, 1))
                if meta is not None:
                    meta.update(_metadata(img))
                return check_pixels(arr, label)
            img.load()
            if meta is not None:  # after the decode: reading a PNG's EXIF loads it, and would hide its errors
                meta.update(_metadata(img))
            ImageOps.exif_transpose(img, in_place=True)
            arr = _to_array(img)
    return check_pixels(arr, label)


def check_pixels(arr: np.ndarray, label: str) -> np.ndarray:
    """The one check of an image's pixels at every door (files here; GIMP's buffers and a server's
    requests in service/worker.py): the size, then for float pixels the values. A NaN or infinite
    value would turn the whole result into NaN, so it is refused, counted; finite values outside
    0..1 (a float image's highlights, 1e30) are clipped to 0..1, the range every result is written in."""
    check_size(arr.shape[1], arr.shape[0], label)
    if arr.dtype.kind != "f":
        return arr
    band = max(1, (1 << 22) // max(1, arr[0].size))  # rows at a time: no full-size temporary
    bad, outside = 0, False
    for y in range(0, arr.shape[0], band):
        part = arr[y:y + band]
        finite = np.isfinite(part)
        bad += part.size - int(np.count_nonzero(finite))
        outside = outside or bool(((part < 0) | (part > 1))[finite].any())
    if bad:
        raise SfumatoError(f"{label} has {bad} pixel value{'s' if bad > 1 else ''} that {'are' if bad > 1 else 'is'} "
                           "not a number (NaN or infinity); replace them with real values (0..1) and try again")
    if outside or arr.dtype != np.float32:
        arr = np.clip(arr, 0.0, 1.0).astype(np.float32, copy=False)
    return arr


def _frames(img: Image.Image) -> int:
    """The pictures in a file: an animation's frames, a TIFF's full-size pages; a phone's MPO (a photo
    and its preview) and a TIFF's smaller pages (thumbnails) count as one picture."""
    frames = getattr(img, "n_frames", 1)
    if frames <= 1 or img.format == "MPO":
        return 1
    if img.format == "TIFF":
        size, pages = img.size, 0
        for i in range(frames):
            img.seek(i)
            pages += img.size == size
        img.seek(0)
        return pages
    return frames


def _refuse_frames(img: Image.Image, label: str) -> None:
    """An animation or a multi-page file would come out as its first frame alone: refused, not cut
    (read_frames reads them all, for the commands that handle them)."""
    frames = _frames(img)
    if frames > 1:
        kind = "pages" if img.format == "TIFF" else "frames"
        raise SfumatoError(f"{label} has {frames} {kind} (an animation or a multi-page file), and this would keep "
                           f"only the first; export the {kind} as separate images and run them as a folder")


def frames_in(path: str | os.PathLike) -> int:
    """How many pictures the file holds (1 for anything unreadable: read_image then says why)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path) as img:
                return _frames(img)
    except Exception:  # noqa: BLE001
        return 1


ANIMATED = {"GIF": ".gif", "WEBP": ".webp", "PNG": ".png (APNG)", "TIFF": ".tif"}  # formats that hold frames


def read_frames(path: str | os.PathLike, what: str = "image", meta: dict | None = None) -> tuple[list, dict]:
    """An animation or multi-page file -> (its frames, each H x W x C uint8 composed as shown, and
    {"duration": [ms per frame], "loop": n}). RGB where no frame has transparency, else RGBA."""
    path = Path(path)
    label = f"{what} {path}"
    if not path.exists():
        raise SfumatoError(f"{what} not found: {path}")
    frames, durations = [], []
    with _decoding(label, "re-export it"):
        with Image.open(path) as img:
            w, h = img.size
            n = _frames(img)
            if w * h * n > MAX_PIXELS:
                raise SfumatoError(f"{label} holds {n} frames of {w}x{h}, over the "
                                   f"{MAX_PIXELS // 1_000_000} MP limit in all; shorten or downscale it first")
            check_size(w, h, label)
            info = {"loop": img.info.get("loop", 0), "format": img.format}
            for i in range(getattr(img, "n_frames", 1)):
                img.seek(i)
                if img.size != (w, h):
                    continue  # a TIFF's thumbnail page
                if img.mode.startswith(("I", "F")):
                    raise SfumatoError(f"{label} is a multi-page file of 16-bit or float pages; export the "
                                       "pages as separate images and run them as a folder")
                frames.append(np.asarray(img.convert("RGBA")))
                durations.append(int(img.info.get("duration", 100) or 100))
            if meta is not None:  # after every frame decoded (see _decode)
                img.seek(0)
                meta.update(_metadata(img))
    if all((f[:, :, 3] == 255).all() for f in frames):
        frames = [np.ascontiguousarray(f[:, :, :3]) for f in frames]
    info["duration"] = durations
    return frames, info


def check_frames_output(path: str | os.PathLike, count: int, source: str | os.PathLike) -> None:
    """Refuses, before any work, an output format that cannot hold `count` frames."""
    path = Path(path)
    fmt = _format_for(path.suffix.lower())
    if fmt not in ANIMATED:
        raise SfumatoError(f"{source} has {count} frames, and {path.name} can hold only one; write a "
                           f"{', '.join(ANIMATED.values())} to keep them all (or export the frames as separate images)")


def write_frames(path: str | os.PathLike, frames: list, info: dict, meta: dict | None = None) -> Path:
    """Frames (H x W x 3/4 uint8) -> an animation or multi-page file with the source's timing, through
    a temporary name as write_image does."""
    path = Path(path)
    check_frames_output(path, len(frames), "the input")
    fmt = _format_for(path.suffix.lower())
    if path.is_dir():
        raise SfumatoError(f"output {path} is a folder; give a file name, e.g. {path / 'out.gif'}")
    if not path.parent.is_dir():
        raise SfumatoError(f"output folder {path.parent} does not exist")
    images = [Image.fromarray(np.ascontiguousarray(f)) for f in frames]
    meta = _fitting_meta(meta or {}, frames[0])
    options = {"save_all": True, "append_images": images[1:]}
    if fmt != "TIFF":
        options.update(duration=info.get("duration", [100] * len(images)), loop=info.get("loop", 0))
    if fmt == "GIF" and images[0].mode == "RGBA":
        options["disposal"] = 2  # each frame drawn on a cleared canvas: the frames are whole pictures
    if fmt == "WEBP":
        options["quality"] = 95
    if "icc_profile" in meta and fmt != "GIF":
        options["icc_profile"] = meta["icc_profile"]
    return _save_atomically(path, lambda f: images[0].save(f, format=fmt, **options))


# a TIFF's descriptive tags: who made the picture, with what, when (its other tags describe the file)
TIFF_DESCRIPTIVE = (0x010E, 0x010F, 0x0110, 0x0112, 0x0131, 0x0132, 0x013B, 0x8298)


def _metadata(img: Image.Image) -> dict:
    """The colour profile and EXIF an output of `img` carries (EXIF orientation set to normal)."""
    meta = {}
    if img.info.get("icc_profile"):
        meta["icc_profile"] = img.info["icc_profile"]
    if img.format in ("JPEG", "MPO", "PNG", "WEBP", "TIFF"):
        try:
            exif = Image.Exif()  # a copy: the image's own still turns the pixels
            if img.format == "TIFF":  # its first IFD is the file's layout too: only the camera's tags
                own = img.getexif()
                for tag in TIFF_DESCRIPTIVE:
                    if tag in own:
                        exif[tag] = own[tag]
                for ifd in (0x8769, 0x8825):  # the EXIF and GPS sub-IFDs
                    if own.get_ifd(ifd):
                        exif.get_ifd(ifd).update(own.get_ifd(ifd))
            else:
                exif.load(img.getexif().tobytes())
            if len(exif) or exif.get_ifd(0x8769):
                if ORIENTATION in exif:
                    exif[ORIENTATION] = 1
                meta["exif"] = exif.tobytes()
        except Exception:  # noqa: BLE001 - damaged EXIF: the picture goes on without it
            pass
    return meta


TIFF_MAGIC = (b"II*\x00", b"MM\x00*")


@functools.cache
def _quiet_libtiff() -> None:
    """libtiff prints its warnings and errors on a damaged TIFF straight to stderr, before and beside
    the one `error:` line (Pillow raises the error anyway): its handlers are switched off, in the
    libtiff Pillow loaded (Linux: found in this process's memory map)."""
    try:
        import ctypes

        from PIL import _imaging  # noqa: F401 - loads libtiff
        with open("/proc/self/maps") as maps:
            paths = {line.split()[-1] for line in maps if os.path.basename(line.split()[-1]).startswith("libtiff")}
        for path in paths:
            lib = ctypes.CDLL(path)
            lib.TIFFSetWarningHandler.restype = lib.TIFFSetErrorHandler.restype = ctypes.c_void_p
            lib.TIFFSetWarningHandler.argtypes = lib.TIFFSetErrorHandler.argtypes = [ctypes.c_void_p]
            lib.TIFFSetWarningHandler(None)
            lib.TIFFSetErrorHandler(None)
    except Exception:  # noqa: BLE001 - another platform, another build: the messages stay, nothing breaks
        pass


# --- float and 16-bit colour TIFFs: Pillow reads the first as nothing and cuts the second to 8 bits ---

def _pillow_keeps(source) -> bool:
    """Whether Pillow reads this TIFF at its full precision (8-bit, or one channel), told from its
    tags alone: most TIFFs never need tifffile's import (~0.15 s)."""
    def first(value, default):
        return (value[0] if value else default) if isinstance(value, tuple) else (value or default)
    try:
        with Image.open(source) as probe:
            tags = probe.tag_v2
            bits, fmt = first(tags.get(258), 8), first(tags.get(339), 1)
            return tags.get(277, 1) < 2 or (bits <= 8 and fmt != 3)
    except Exception:  # noqa: BLE001 - Pillow cannot even open it (float colour): tifffile's
        return False
    finally:
        if isinstance(source, io.BytesIO):
            source.seek(0)


def _decode_tiff_precise(source, nbytes: int, label: str, meta: dict | None) -> np.ndarray | None:
    """The pixels of a TIFF that Pillow cannot read at full precision (float with several channels,
    16-bit colour), via tifffile; None for every other file (Pillow reads it, as before)."""
    if _head(source, 4) not in TIFF_MAGIC or _pillow_keeps(source):
        return None
    try:
        import tifffile
    except ImportError:
        raise SfumatoError("reading float and 16-bit colour TIFFs needs tifffile (pip install tifffile)") from None
    if isinstance(source, io.BytesIO):
        source.seek(0)
    try:
        tif = tifffile.TiffFile(source)
    except Exception:  # noqa: BLE001 - not a TIFF tifffile can parse: Pillow says why
        return None
    with tif:
        page = tif.pages.first
        spp, bits, fmt = page.samplesperpixel, page.bitspersample, page.sampleformat
        if page.photometric not in (1, 2) or spp < 2 or not (fmt == 3 or (fmt == 1 and bits == 16)):
            return None  # one channel, 8 bits, palette, CMYK, YCbCr...: Pillow's, as before
        w, h = page.imagewidth, page.imagelength
        if w * h > MAX_PIXELS:
            raise SfumatoError(f"{label} is {w}x{h}, over the {MAX_PIXELS // 1_000_000} MP limit; downscale it first")
        full = [p for p in tif.pages if p.shape == page.shape]
        if len(full) > 1:
            raise SfumatoError(f"{label} has {len(full)} pages (a multi-page file), and Sfumato would keep only "
                               "the first; export the pages as separate images and run them as a folder")
        try:
            arr = page.asarray()
        except Exception as exc:  # noqa: BLE001 - e.g. LZW without imagecodecs
            if "imagecodecs" in str(exc):
                raise SfumatoError(f"{label} is a {'float' if fmt == 3 else '16-bit colour'} TIFF whose compression "
                                   "needs imagecodecs to read at full precision (pip install imagecodecs); or "
                                   "save it uncompressed or with ZIP compression") from None
            raise
        if arr.ndim == 3 and page.planarconfig == 2 and arr.shape[0] == spp:
            arr = np.moveaxis(arr, 0, 2)
        arr = arr.reshape(h, w, spp)[:, :, :4]
        if fmt == 3:
            arr = arr.astype(np.float32, copy=False)
        else:
            arr = arr.astype(np.uint16, copy=False)
        orientation = page.tags.valueof(274, 1)  # the TIFF's own Orientation tag
        if meta is not None and page.iccprofile:
            meta["icc_profile"] = bytes(page.iccprofile)
        return orient(np.ascontiguousarray(arr), orientation)


# --- 16-bit colour PNGs: Pillow reads them as 8-bit RGB(A); libspng (pyspng) keeps every bit --------

ORIENTATION = 0x0112  # the EXIF tag
_PNG_CHANNELS = {2: [0, 1, 2], 4: [0, 3], 6: [0, 1, 2, 3]}  # colour type -> the channels of an RGBA16 decode


def _head(source, n: int) -> bytes:
    if isinstance(source, io.BytesIO):
        return bytes(source.getbuffer()[:n])
    with open(source, "rb") as f:
        return f.read(n)


def _png_colour16(source) -> bool:
    head = _head(source, 26)  # signature, then IHDR: width, height, bit depth (byte 24), colour type (25)
    return len(head) == 26 and head[24] == 16 and head[25] in _PNG_CHANNELS


def _decode_png16(source) -> np.ndarray:
    try:
        import pyspng
    except ImportError:
        raise SfumatoError("reading 16-bit colour PNGs needs pyspng (pip install pyspng); without it they "
                           "would lose their low 8 bits") from None
    data = source.getvalue() if isinstance(source, io.BytesIO) else Path(source).read_bytes()
    colour = data[25]
    rgba = pyspng.c.spng_decode_image_bytes(data, pyspng.c.SPNG_FMT_RGBA16)
    has_trns = b"tRNS" in data[:data.find(b"IDAT")]  # one transparent colour: RGB becomes RGBA
    return np.ascontiguousarray(rgba if colour == 2 and has_trns else rgba[:, :, _PNG_CHANNELS[colour]])


def orient(arr: np.ndarray, orientation: int) -> np.ndarray:
    """Pixels as the camera meant them: EXIF orientation 1-8, as Pillow's exif_transpose does."""
    turns = {2: lambda a: a[:, ::-1], 3: lambda a: a[::-1, ::-1], 4: lambda a: a[::-1],
             5: lambda a: a.swapaxes(0, 1), 6: lambda a: np.rot90(a, -1), 7: lambda a: a[::-1, ::-1].swapaxes(0, 1),
             8: lambda a: np.rot90(a, 1)}
    return np.ascontiguousarray(turns[orientation](arr)) if orientation in turns else arr


def check_size(w: int, h: int, what: str) -> None:
    if min(w, h) < MIN_SIDE:
        raise SfumatoError(f"{what} is {w}x{h}; both sides need at least {MIN_SIDE} px")
    if w * h > MAX_PIXELS:
        raise SfumatoError(f"{what} is {w}x{h}, over the {MAX_PIXELS // 1_000_000} MP limit; downscale it first")


def _to_array(img: Image.Image) -> np.ndarray:
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        a = np.asarray(img)
        return (a.astype(np.uint16) if img.mode != "I" else np.clip(a, 0, 65535).astype(np.uint16))[:, :, None]
    if img.mode == "F":  # float pixels, 0..1, kept as they are (check_pixels checks their values)
        return np.array(img, np.float32)[:, :, None]
    if img.mode in ("1", "L", "P", "PA", "LA", "RGB", "RGBA", "CMYK", "YCbCr", "LAB", "HSV"):
        if img.mode == "P":
            img = img.convert("RGBA" if "transparency" in img.info else "RGB")
        elif img.mode == "1":
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


def read_mask(path: str | os.PathLike, size: tuple[int, int]) -> np.ndarray:
    """Greyscale mask file -> float32 H x W in [0, 1] (white = 1). size = (width, height) it must have."""
    arr = read_image(path, "mask")
    if (arr.shape[1], arr.shape[0]) != tuple(size):
        raise SfumatoError(f"mask {path} is {arr.shape[1]}x{arr.shape[0]} but the image is {size[0]}x{size[1]}; "
                           "they must be the same size")
    return mask_from_array(arr)


def mask_from_array(arr: np.ndarray) -> np.ndarray:
    """A mask image's pixels (H x W x C, storage dtype) -> float32 H x W in [0, 1]: grey, or RGB averaged."""
    from .pixels import to_float
    return to_float(arr[:, :, 0] if arr.shape[2] < 3 else arr[:, :, :3].mean(axis=2).astype(arr.dtype))


# PNG is written by png.py (lossless, deflated on every core: faster than Pillow's fastest setting
# for a slightly larger file); the other formats by Pillow
SAVE_OPTIONS = {"JPEG": {"quality": 95}, "MPO": {"quality": 95}, "WEBP": {"quality": 95}}


KEEPS_EVERYTHING = ".png or .tif"  # 8/16-bit, grey/colour, with or without alpha


def _fit_to_format(img: Image.Image, fmt: str, name: str) -> Image.Image:
    """The image in a mode the format can hold: alpha is dropped for formats without it (as JPEG
    always was), 16-bit pixels are refused rather than cut to 8 bits. Decided by saving a 2 x 2
    probe, so it follows whatever the installed Pillow can write."""
    if fmt not in Image.SAVE:
        raise SfumatoError(f"{name}: Pillow cannot write {fmt} files; use .png, .tif, .jpg or .webp")
    if fmt in ("ICO", "ICNS"):  # icon files hold fixed icon sizes, not the picture's
        raise SfumatoError(f"{name}: {fmt} files cannot keep the picture's size; use .png, .tif, .jpg or .webp")

    def writable(candidate: Image.Image) -> bool:
        try:
            candidate.resize((2, 2)).save(io.BytesIO(), format=fmt)
            return True
        except Exception:  # noqa: BLE001 - any refusal of the encoder means "not this mode"
            return False

    if writable(img):
        return img
    if img.mode.startswith("I"):
        raise SfumatoError(f"{name}: {fmt} cannot hold 16-bit pixels; use {KEEPS_EVERYTHING} to keep them")
    if img.mode == "F":
        raise SfumatoError(f"{name}: {fmt} cannot hold float pixels; write a .tif to keep them (-o NAME.tif, or --format tif)")
    for mode in ({"RGBA": ["RGB"], "LA": ["L", "RGB"], "L": ["RGB"]}.get(img.mode, [])):
        if writable(img.convert(mode)):
            return img.convert(mode)
    raise SfumatoError(f"{name}: {fmt} cannot hold a {img.mode} image; use {KEEPS_EVERYTHING}")


def _as_pil(arr: np.ndarray, fmt: str, name: str) -> Image.Image:
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    try:
        img = Image.fromarray(arr)
    except TypeError:
        raise SfumatoError(f"{name}: cannot store a {arr.dtype} array of shape {arr.shape} as an image") from None
    return _fit_to_format(img, fmt, name)


def encode_png(arr: np.ndarray) -> bytes:
    """Array -> PNG file bytes (a server's response body), as write_image would write them."""
    return png.encode(_png_ready(arr, "result"))


def _png_ready(arr: np.ndarray, name: str) -> np.ndarray:
    try:
        png.check(arr)
    except SfumatoError as exc:
        raise SfumatoError(f"{name}: {exc}") from None
    return arr


# Output formats told apart without Pillow's full plugin registry: Image.registered_extensions() imports
# every plugin Pillow has the first time in a process, which costs more than writing a 1024 px PNG
FAST_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG"}


def _format_for(suffix: str) -> str | None:
    fmt = FAST_FORMATS.get(suffix)
    if fmt == "JPEG":
        Image.preinit()  # the few common plugins, JPEG's among them (PNG is written by png.py)
    return fmt or Image.registered_extensions().get(suffix)


def check_output_holds(path: str | os.PathLike, arr: np.ndarray) -> None:
    """Float pixels only into a TIFF: cut to 8 or 16 bits they would not be what they were. Called
    again before the work, so a run that cannot be written stops before it starts."""
    fmt = _format_for(Path(path).suffix.lower())
    if arr.dtype.kind == "f" and fmt is not None and fmt != "TIFF":
        raise SfumatoError(f"{Path(path).name}: {fmt} cannot hold float pixels; write a .tif to keep them "
                           "(-o NAME.tif, or --format tif)")


def write_image(path: str | os.PathLike, arr: np.ndarray, meta: dict | None = None) -> Path:
    """H x W x {1,2,3,4} uint8, uint16 or float32 array -> file, via a temporary name in the same folder.
    `meta` (read_image's): the colour profile and EXIF, written where the format holds them. Every
    failure, before or during the write, is one SfumatoError; the temporary file is removed and an
    existing file at `path` is left as it was."""
    path = Path(path)
    if len(os.fsencode(path.name)) > 255:
        raise SfumatoError(f"output name {path.name[:40]}... is too long ({len(os.fsencode(path.name))} bytes, over "
                           "the 255 a file name may have); give a shorter -o name or --suffix")
    fmt = _format_for(path.suffix.lower())
    if path.is_dir():
        raise SfumatoError(f"output {path} is a folder; give a file name, e.g. {path / 'out.png'}")
    if fmt is None:
        raise SfumatoError(f"cannot tell the image format from {path.name!r}; use .png, .jpg, .tif or .webp")
    if not path.parent.exists():
        raise SfumatoError(f"output folder {path.parent} does not exist")
    if not path.parent.is_dir():
        raise SfumatoError(f"cannot write {path}: {path.parent} is a file, not a folder")
    check_output_holds(path, arr)
    meta = _fitting_meta(meta or {}, arr)
    if fmt == "PNG":
        arr = _png_ready(arr, path.name)
        chunks = _png_chunks(meta)
        save = lambda f: png.write(f, arr, chunks)  # noqa: E731
    elif fmt == "TIFF" and _needs_tifffile(arr):
        save = lambda f: _write_tifffile(f, arr, meta)  # noqa: E731
    else:
        img = _as_pil(arr, fmt, path.name)
        extra = {k: v for k, v in meta.items() if fmt in _HOLDS.get(k, ())}

        def save(f):
            try:
                img.save(f, format=fmt, **SAVE_OPTIONS.get(fmt, {}), **extra)
            except Exception:  # noqa: BLE001 - EXIF the encoder will not take: the picture, with its profile
                if "exif" not in extra:
                    raise
                f.seek(0)
                f.truncate()
                img.save(f, format=fmt, **SAVE_OPTIONS.get(fmt, {}),
                         **{k: v for k, v in extra.items() if k != "exif"})
    return _save_atomically(path, save)


def _save_atomically(path: Path, save) -> Path:
    """save(f) into a temporary file beside `path`, then renamed over it (core/atomic.py): every
    failure is one SfumatoError, the temporary file is gone and a file already at `path` is as it was."""
    started = False
    try:
        with replacing(path) as tmp:
            started = True
            with open(tmp, "w+b") as f:  # w+: Pillow's multi-page TIFF writer reads back what it wrote
                save(f)
    except SfumatoError:
        raise
    except Exception as exc:
        detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc) or type(exc).__name__
        if not started:  # not even the temporary file could be made
            raise SfumatoError(f"cannot write in {path.parent}: {detail}") from None
        raise SfumatoError(f"could not write {path} ({detail}); nothing was written") from None
    return path


# which metadata each Pillow writer takes (PNG is png.py's, float and 16-bit colour TIFF tifffile's)
_HOLDS = {"icc_profile": ("JPEG", "MPO", "WEBP", "TIFF"), "exif": ("JPEG", "MPO", "WEBP", "TIFF")}


def _fitting_meta(meta: dict, arr: np.ndarray) -> dict:
    """The metadata that fits the output: a profile only where its colour space is the pixels' (an
    RGB profile on a grey result, or a CMYK one on the RGB a CMYK file is read as, would be false)."""
    out = {}
    icc = meta.get("icc_profile")
    channels = 1 if arr.ndim == 2 else arr.shape[2]
    if icc and len(icc) >= 20 and icc[16:20] == (b"GRAY" if channels <= 2 else b"RGB "):
        out["icc_profile"] = icc
    if meta.get("exif"):
        out["exif"] = meta["exif"]
    return out


def _png_chunks(meta: dict) -> list[tuple[bytes, bytes]]:
    import zlib
    chunks = []
    if meta.get("icc_profile"):
        chunks.append((b"iCCP", b"icc\x00\x00" + zlib.compress(meta["icc_profile"])))
    exif = meta.get("exif")
    if exif:
        chunks.append((b"eXIf", exif[6:] if exif.startswith(b"Exif\x00\x00") else exif))
    return chunks


def _needs_tifffile(arr: np.ndarray) -> bool:
    """Float with several channels and 16-bit colour: what Pillow cannot write."""
    channels = 1 if arr.ndim == 2 else arr.shape[2]
    return channels > 1 and (arr.dtype.kind == "f" or arr.dtype == np.uint16)


def _write_tifffile(f, arr: np.ndarray, meta: dict) -> None:
    import tifffile
    channels = arr.shape[2]
    extra = {"extrasamples": ("unassalpha",)} if channels in (2, 4) else {}
    buf = io.BytesIO()  # tifffile wants a named file; an fdopen'ed one is named by its number
    tifffile.imwrite(buf, arr, photometric="rgb" if channels >= 3 else "minisblack", compression="zlib",
                     planarconfig="contig", iccprofile=meta.get("icc_profile"), **extra)
    f.write(buf.getbuffer())
