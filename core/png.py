"""A fast lossless PNG writer: every "Up"-filtered row band deflated on its own thread.

Why not Pillow's: it filters and deflates on one thread, 0.63 s for a 12 MP photo even at zlib
level 1, more than the inpainting itself. Here the rows are filtered with numpy (the "Up" filter,
each row minus the one above, is one vectorised subtraction), and bands of rows are deflated in
parallel (zlib lets go of the GIL) into one stream, each band but the last ending on a full flush
so the pieces join (as pigz does); their Adler-32 sums are combined. 12 MP in 0.25 s on two cores,
the file within ~5% of Pillow's size. 8- and 16-bit grey, grey + alpha, RGB and RGBA (Pillow
cannot write 16-bit colour at all).
"""
from __future__ import annotations

import io
import struct
import zlib
from typing import BinaryIO

import numpy as np

from .errors import SfumatoError
from .threads import pool

BAND_BYTES = 1 << 20     # ~1 MB of rows per band: enough to deflate well, many bands to share out
COLOUR_TYPE = {1: 0, 2: 4, 3: 2, 4: 6}  # channels -> grey, grey + alpha, RGB, RGBA


def encode(arr: np.ndarray, chunks=()) -> bytes:
    """H x W or H x W x {1,2,3,4}, uint8 or uint16 -> the bytes of a PNG file."""
    f = io.BytesIO()
    write(f, arr, chunks)
    return f.getvalue()


def write(f: BinaryIO, arr: np.ndarray, chunks=()) -> None:
    """Write `arr` to an open binary file as PNG, band by band (each band's deflated rows are one
    IDAT chunk: the chunks together are one zlib stream, so memory holds bands, not the file).
    `chunks`: (type, data) pairs written before the pixels (a colour profile's iCCP, eXIf)."""
    check(arr)
    h, w = arr.shape[:2]
    channels = 1 if arr.ndim == 2 else arr.shape[2]
    depth = 16 if arr.dtype == np.uint16 else 8
    rows = np.ascontiguousarray(arr, ">u2" if depth == 16 else np.uint8).reshape(h, -1).view(np.uint8)
    per_band = max(1, BAND_BYTES // max(1, rows.shape[1]))
    bands = [(y, min(h, y + per_band)) for y in range(0, h, per_band)]
    f.write(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, COLOUR_TYPE[channels],
                                                                 0, 0, 0)))
    for kind, data in chunks:
        f.write(_chunk(kind, data))
    adler, header = 1, b"\x78\x01"  # the zlib stream's header: deflate, fastest level
    for body, band_adler, length in pool().map(lambda b: _deflate_band(rows, *b, last=b[1] == h), bands):
        f.write(_chunk(b"IDAT", header + body))
        adler, header = adler32_combine(adler, band_adler, length), b""
    f.write(_chunk(b"IDAT", struct.pack(">I", adler)) + _chunk(b"IEND", b""))


def check(arr: np.ndarray) -> None:
    if arr.dtype not in (np.uint8, np.uint16) or arr.ndim not in (2, 3) or \
            (arr.ndim == 3 and arr.shape[2] not in COLOUR_TYPE):
        raise SfumatoError(f"cannot store a {arr.dtype} array of shape {arr.shape} as a PNG image")


def _deflate_band(rows: np.ndarray, y0: int, y1: int, last: bool) -> tuple[bytes, int, int]:
    """Rows y0..y1 with their filter byte, Up-filtered (the row above y0 is read, not written), deflated."""
    band = rows[y0:y1]
    out = np.empty((y1 - y0, rows.shape[1] + 1), np.uint8)
    out[:, 0] = 2  # filter type Up
    out[:, 1:] = band
    out[1:, 1:] -= band[:-1]  # uint8 arithmetic wraps modulo 256, as the filter is defined
    if y0 > 0:
        out[0, 1:] -= rows[y0 - 1]
    data = out.reshape(-1)
    z = zlib.compressobj(1, zlib.DEFLATED, -15, 9, zlib.Z_RLE)  # raw deflate: one zlib header for all bands
    body = z.compress(data) + z.flush(zlib.Z_FINISH if last else zlib.Z_FULL_FLUSH)
    return body, zlib.adler32(data), data.size


def adler32_combine(a: int, b: int, length_b: int) -> int:
    """The Adler-32 of two buffers one after the other, from each one's (zlib's adler32_combine)."""
    base = 65521
    rem = length_b % base
    s1 = (a & 0xFFFF) + (b & 0xFFFF) + base - 1
    s2 = (rem * (a & 0xFFFF)) % base + ((a >> 16) & 0xFFFF) + ((b >> 16) & 0xFFFF) + base - rem
    return (s1 % base) | ((s2 % base) << 16)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
