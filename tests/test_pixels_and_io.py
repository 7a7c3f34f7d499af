import json
import os
import struct
import zlib

import numpy as np
import pytest
from PIL import Image, ImageOps

from sfumato.errors import SfumatoError
from sfumato.imageio import read_image, read_mask, write_image
from sfumato.pixels import from_float, keep_colours, split_channels, to_float, to_planar
from tests.conftest import SAMPLES


def test_float_round_trip_is_exact_for_uint8_and_uint16():
    a8 = np.arange(256, dtype=np.uint8).reshape(16, 16)
    assert np.array_equal(from_float(to_float(a8), np.uint8), a8)
    a16 = np.linspace(0, 65535, 4096).astype(np.uint16).reshape(64, 64)
    assert np.array_equal(from_float(to_float(a16), np.uint16), a16)
    assert to_float(a8).dtype == np.float32 and to_float(a8).max() == 1.0


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32, np.float64])
def test_model_input_layout_equals_float_then_transpose(dtype):
    rng = np.random.default_rng(0)
    a = (rng.random((5, 7, 3)) * (np.iinfo(dtype).max if np.dtype(dtype).kind == "u" else 1)).astype(dtype)
    got = to_planar(a)
    assert got.dtype == np.float32 and got.shape == (1, 3, 5, 7) and got.flags.c_contiguous
    assert np.array_equal(got[0], to_float(a).transpose(2, 0, 1))
    with pytest.raises(SfumatoError, match="unsupported pixel type int32"):
        to_planar(a.astype(np.int32))


def test_split_channels_grey_rgb_alpha():
    grey = np.zeros((4, 5), np.uint8)
    colour, alpha = split_channels(grey)
    assert colour.shape == (4, 5, 3) and alpha is None
    rgba = np.zeros((4, 5, 4), np.uint8)
    rgba[..., 3] = 7
    colour, alpha = split_channels(rgba)
    assert colour.shape == (4, 5, 3) and (alpha == 7).all()
    with pytest.raises(SfumatoError, match="shape"):
        split_channels(np.zeros((4, 5, 6)))


def test_keep_colours_takes_luminance_from_stylized_and_chroma_from_original():
    rng = np.random.default_rng(0)
    original = rng.random((8, 8, 3), dtype=np.float32) * 0.5 + 0.25
    stylized = rng.random((8, 8, 3), dtype=np.float32) * 0.5 + 0.25
    out = keep_colours(stylized, original)
    y = lambda a: a @ np.array([0.299, 0.587, 0.114], np.float32)  # noqa: E731
    cb = lambda a: a @ np.array([-0.168736, -0.331264, 0.5], np.float32)  # noqa: E731
    assert np.allclose(y(out), y(stylized), atol=1e-5)
    assert np.allclose(cb(out), cb(original), atol=1e-5)


def test_read_errors_name_the_problem(tmp_path):
    with pytest.raises(SfumatoError, match="not found"):
        read_image(tmp_path / "nope.png")
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"this is not an image")
    with pytest.raises(SfumatoError, match="not a readable image"):
        read_image(junk)
    good = tmp_path / "good.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (200, 200, 3), dtype=np.uint8)).save(good)
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(good.read_bytes()[:2000])
    with pytest.raises(SfumatoError, match="truncated|not a readable"):
        read_image(truncated)
    tiny = tmp_path / "tiny.png"
    Image.new("RGB", (20, 100)).save(tiny)
    with pytest.raises(SfumatoError, match="at least 32"):
        read_image(tiny)


def _png_with_header_size(path, w, h):
    """A PNG whose header claims w x h (a decompression bomb header) with a tiny body."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 10))
                     + chunk(b"IEND", b""))


def test_decompression_bomb_header_is_refused(tmp_path):
    bomb = tmp_path / "bomb.png"
    _png_with_header_size(bomb, 100_000, 100_000)
    with pytest.raises(SfumatoError, match="limit"):
        read_image(bomb)


def test_mask_must_match_image_size(tmp_path):
    m = tmp_path / "m.png"
    Image.new("L", (64, 48), 255).save(m)
    assert read_mask(m, (64, 48)).shape == (48, 64)
    with pytest.raises(SfumatoError, match="same size"):
        read_mask(m, (65, 48))


def test_sixteen_bit_grey_is_read_at_full_precision(tmp_path):
    a = np.linspace(0, 65535, 64 * 64).astype(np.uint16).reshape(64, 64)
    p = tmp_path / "g16.png"
    Image.fromarray(a).save(p)
    got = read_image(p)
    assert got.dtype == np.uint16 and np.array_equal(got[:, :, 0], a)


def test_write_is_atomic_and_leaves_nothing_on_failure(tmp_path):
    out = tmp_path / "out.png"
    write_image(out, np.zeros((40, 40, 3), np.uint8))
    assert out.exists() and [p.name for p in tmp_path.iterdir()] == ["out.png"]
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask
    with pytest.raises(SfumatoError, match="cannot store a uint8 array of shape"):
        write_image(tmp_path / "bad.png", np.zeros((40, 40, 7), np.uint8))  # no such image mode
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]
    with pytest.raises(SfumatoError, match="format"):
        write_image(tmp_path / "out.xyz", np.zeros((40, 40, 3), np.uint8))


@pytest.mark.parametrize("name", ["out.png", "out.tif"])  # our PNG writer, and Pillow's for the rest
def test_an_encoder_failing_mid_write_leaves_no_file_and_the_old_output_untouched(tmp_path, monkeypatch, name):
    from sfumato import png
    out = tmp_path / name
    out.write_bytes(b"the user's earlier result")
    real_save, real_band = Image.Image.save, png._deflate_band

    def save_then_fail(self, fp, *args, **kwargs):
        if isinstance(fp, (str, os.PathLike)) or not hasattr(fp, "write") or fp.__class__.__name__ == "BytesIO":
            return real_save(self, fp, *args, **kwargs)  # the format probe
        fp.write(b"II* partial")
        fp.flush()
        raise OSError(28, "No space left on device")

    def band_then_fail(rows, y0, y1, last):
        if y0 > 0:  # the header and the first band are written by then
            raise OSError(28, "No space left on device")
        return real_band(rows, y0, y1, last)

    monkeypatch.setattr(Image.Image, "save", save_then_fail)
    monkeypatch.setattr(png, "_deflate_band", band_then_fail)
    monkeypatch.setattr(png, "BAND_BYTES", 1000)  # several bands for 40 x 40 x 3
    with pytest.raises(SfumatoError, match=rf"could not write .*{name} \(No space left on device\); nothing was written"):
        write_image(out, np.zeros((40, 40, 3), np.uint8))
    assert out.read_bytes() == b"the user's earlier result"
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]


@pytest.mark.parametrize("name,arr,match", [
    ("out.psd", np.zeros((40, 40, 3), np.uint8), "cannot write PSD files; use .png, .tif"),
    ("out.jpg", np.zeros((40, 40, 1), np.uint16), "JPEG cannot hold 16-bit pixels; use .png or .tif"),
    ("out.bmp", np.zeros((40, 40, 1), np.uint16), "BMP cannot hold 16-bit pixels"),
])
def test_formats_that_cannot_keep_the_pixels_are_refused_by_name(tmp_path, name, arr, match):
    with pytest.raises(SfumatoError, match=match):
        write_image(tmp_path / name, arr)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name,channels,mode", [("out.jpg", 2, "L"), ("out.jpg", 4, "RGB"), ("out.pcx", 4, "RGB")])
def test_alpha_is_dropped_only_where_the_format_has_none(tmp_path, name, channels, mode):
    arr = np.random.default_rng(0).integers(0, 255, (40, 40, channels), dtype=np.uint8)
    write_image(tmp_path / name, arr)
    assert Image.open(tmp_path / name).mode == mode


def test_output_paths_that_cannot_be_written_are_one_clear_error(tmp_path, monkeypatch):
    arr = np.zeros((40, 40, 3), np.uint8)
    (tmp_path / "folder").mkdir()
    (tmp_path / "file").write_text("x")
    with pytest.raises(SfumatoError, match="is a folder; give a file name"):
        write_image(tmp_path / "folder", arr)
    with pytest.raises(SfumatoError, match="file is a file, not a folder"):
        write_image(tmp_path / "file" / "out.png", arr)
    long_name = "a" * 251 + ".png"  # legal (255 bytes); a temporary name built from it would not be
    write_image(tmp_path / long_name, arr)
    assert (tmp_path / long_name).exists()
    import tempfile
    monkeypatch.setattr(tempfile, "mkstemp", lambda **kw: (_ for _ in ()).throw(PermissionError(13, "Permission denied")))
    with pytest.raises(SfumatoError, match="cannot write in .*Permission denied"):
        write_image(tmp_path / "ro.png", arr)


def test_a_header_that_declares_a_huge_image_with_no_data_is_refused_at_once(tmp_path):
    bomb = tmp_path / "bomb.pgm"
    bomb.write_bytes(b"P5\n16000 16000\n255\n")  # 19 bytes that would decode to 256 MP
    with pytest.raises(SfumatoError, match="declares 16000x16000 pixels in 19 bytes"):
        read_image(bomb)
    flat = tmp_path / "flat.png"  # a legitimately flat large image compresses ~1000:1, and is read
    Image.new("L", (6000, 6000), 255).save(flat)
    assert read_image(flat).shape == (6000, 6000, 1)


def test_an_atomic_write_that_fails_leaves_the_old_file_and_no_temporary(tmp_path):
    from sfumato import atomic
    target = tmp_path / "manifest.json"
    atomic.write_json(target, {"models": {"a": 1}})
    with pytest.raises(RuntimeError):
        with atomic.replacing(target) as tmp:
            tmp.write_text("half a fi")
            raise RuntimeError("disk full")
    assert json.loads(target.read_text()) == {"models": {"a": 1}}
    assert [p.name for p in tmp_path.iterdir()] == ["manifest.json"]
    atomic.write_text(target, "new", mode=0o600)
    assert target.read_text() == "new" and (target.stat().st_mode & 0o777) == 0o600


# --- the PNG writer (core/png.py) ----------------------------------------------------------------

def _decode_up_filtered_png(data: bytes) -> np.ndarray:
    """A reader for exactly what png.py writes (one filter type, Up), for what Pillow cannot read:
    16-bit colour. Chunks are checked by their CRCs, the stream by zlib's Adler-32."""
    import struct
    import zlib
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, []
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        assert struct.unpack(">I", data[pos + 8 + n:pos + 12 + n])[0] == zlib.crc32(kind + body)
        chunks.append((kind, body))
        pos += 12 + n
    w, h, depth, colour = struct.unpack(">IIBB", chunks[0][1][:10])
    channels = {0: 1, 4: 2, 2: 3, 6: 4}[colour]
    raw = np.frombuffer(zlib.decompress(b"".join(b for k, b in chunks if k == b"IDAT")), np.uint8)
    rows = raw.reshape(h, -1)
    assert (rows[:, 0] == 2).all()
    pixels = np.cumsum(rows[:, 1:], axis=0, dtype=np.uint8)  # undo Up: running sums down the columns, mod 256
    dtype = ">u2" if depth == 16 else np.uint8
    return pixels.view(dtype).reshape(h, w, channels).astype(np.uint16 if depth == 16 else np.uint8)


@pytest.mark.parametrize("shape,dtype", [((33, 45), np.uint8), ((33, 45, 2), np.uint8), ((33, 45, 3), np.uint8),
                                         ((33, 45, 4), np.uint8), ((33, 45, 1), np.uint16), ((33, 45, 3), np.uint16),
                                         ((33, 45, 4), np.uint16), ((40, 2000, 3), np.uint8)])
def test_png_writer_keeps_every_bit(tmp_path, monkeypatch, shape, dtype):
    from sfumato import png
    monkeypatch.setattr(png, "BAND_BYTES", 300)  # many bands: the pieces must join into one stream
    rng = np.random.default_rng(0)
    a = (rng.random(shape) * np.iinfo(dtype).max).round().astype(dtype)
    write_image(tmp_path / "a.png", a)
    data = (tmp_path / "a.png").read_bytes()
    assert np.array_equal(_decode_up_filtered_png(data), a.reshape(shape[0], shape[1], -1))
    if dtype == np.uint8 or a.ndim == 2 or a.shape[2] == 1:  # what Pillow reads at full precision
        back = read_image(tmp_path / "a.png")
        assert back.dtype == dtype and np.array_equal(back, a.reshape(back.shape))


def test_png_adler32_of_joined_bands_is_zlibs():
    import zlib

    from sfumato.png import adler32_combine
    rng = np.random.default_rng(1)
    parts = [rng.integers(0, 256, n, dtype=np.uint8).tobytes() for n in (0, 1, 65521, 70000, 3)]
    adler = 1
    for p in parts:
        adler = adler32_combine(adler, zlib.adler32(p), len(p))
    assert adler == zlib.adler32(b"".join(parts))


# --- 16-bit colour in and out (Pillow reads such PNGs as 8-bit and cannot write them) -----------------

def _with_orientation(data: bytes, orientation: int) -> bytes:
    """A PNG with an eXIf chunk (after IHDR) giving the EXIF orientation."""
    import struct
    import zlib
    exif = Image.Exif()
    exif[0x0112] = orientation
    body = exif.tobytes()[6:] if exif.tobytes().startswith(b"Exif") else exif.tobytes()
    chunk = struct.pack(">I", len(body)) + b"eXIf" + body + struct.pack(">I", zlib.crc32(b"eXIf" + body))
    return data[:33] + chunk + data[33:]


@pytest.mark.parametrize("channels", [2, 3, 4])
def test_16_bit_colour_pngs_keep_every_bit_through_read_and_write(tmp_path, channels):
    rng = np.random.default_rng(channels)
    a = rng.integers(0, 65536, (40, 50, channels), dtype=np.uint16)  # the low bits used everywhere
    write_image(tmp_path / "a.png", a)
    back = read_image(tmp_path / "a.png")
    assert back.dtype == np.uint16 and np.array_equal(back, a)


def test_16_bit_png_orientation_is_applied_like_pillows(tmp_path):
    from sfumato import png
    from sfumato.imageio import orient
    a8 = np.random.default_rng(0).integers(0, 256, (40, 56, 3), dtype=np.uint8)
    a16 = a8.astype(np.uint16) * 257 + 3
    for o in range(1, 9):
        (tmp_path / "8.png").write_bytes(_with_orientation(png.encode(a8), o))
        (tmp_path / "16.png").write_bytes(_with_orientation(png.encode(a16), o))
        with Image.open(tmp_path / "8.png") as im:
            assert im.getexif().get(0x0112) == o
            pillow = np.asarray(ImageOps.exif_transpose(im))
        assert np.array_equal(orient(a8, o), pillow), o
        assert np.array_equal(read_image(tmp_path / "16.png"), orient(a16, o)), o


def test_stylizing_a_16_bit_colour_png_keeps_16_bits(tmp_path):
    from tests.conftest import run_cli
    img = np.asarray(Image.open(SAMPLES / "coffee.jpg").convert("RGB").resize((96, 64)), np.uint16) * 257
    img = img + np.random.default_rng(0).integers(0, 200, img.shape, dtype=np.uint16)  # low bits in use
    write_image(tmp_path / "in.png", img)
    r = run_cli("stylize", tmp_path / "in.png", "--style", "crimson", "-o", tmp_path / "out.png")
    assert r.returncode == 0, r.stderr
    out = read_image(tmp_path / "out.png")
    assert out.dtype == np.uint16 and out.shape == img.shape
    assert (out % 257 != 0).mean() > 0.5  # not 8-bit values stretched to 16


def test_png_writer_works_in_a_forked_child_after_the_parent_wrote(tmp_path):
    """A forked process gets the parent's thread pool object but none of its threads: without a fresh
    pool the child's first PNG would wait forever (multiprocessing forks on Linux)."""
    import multiprocessing
    a = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    write_image(tmp_path / "parent.png", a)
    ctx = multiprocessing.get_context("fork")
    p = ctx.Process(target=write_image, args=(tmp_path / "child.png", a))
    p.start()
    p.join(60)
    assert p.exitcode == 0 and np.array_equal(read_image(tmp_path / "child.png"), a)


def test_writing_png_or_jpeg_does_not_load_every_pillow_plugin(tmp_path):
    """Pillow's full plugin registry costs 67 ms the first time in a process; PNG and JPEG outputs are
    told apart without it, and a format only the registry knows (TIFF) still finds it."""
    import subprocess
    import sys
    code = f"""
import sys
import numpy as np
from sfumato.imageio import read_image, write_image
arr = (np.arange(32 * 48 * 3) % 251).astype(np.uint8).reshape(32, 48, 3)
write_image(r"{tmp_path / 'a.png'}", arr)
write_image(r"{tmp_path / 'a.jpg'}", arr)
assert "PIL.TiffImagePlugin" not in sys.modules, "the whole registry was loaded"
write_image(r"{tmp_path / 'a.tif'}", arr)
assert (read_image(r"{tmp_path / 'a.tif'}") == arr).all() and (read_image(r"{tmp_path / 'a.png'}") == arr).all()
print("ok")
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr


# --- precision, values, colour profiles and frames (issue 33) -----------------------------------------

def _float_rgb(path, rng, bad=None):
    import tifffile
    f = rng.random((48, 64, 3)).astype(np.float32)
    if bad is not None:
        f[3, 4, 1] = bad
    tifffile.imwrite(path, f, photometric="rgb")
    return f


def test_a_float_tiff_is_read_and_written_as_float(tmp_path):
    import tifffile
    from sfumato.imageio import read_image, write_image
    rng = np.random.default_rng(1)
    grey = (rng.random((48, 64)) * 0.8 + 0.1).astype(np.float32)
    Image.fromarray(grey, "F").save(tmp_path / "grey.tif")
    a = read_image(tmp_path / "grey.tif")
    assert a.dtype == np.float32 and np.array_equal(a[:, :, 0], grey)  # not cut to 8-bit black
    write_image(tmp_path / "grey_out.tif", a)
    assert Image.open(tmp_path / "grey_out.tif").mode == "F"
    f = _float_rgb(tmp_path / "rgb.tif", rng)
    a = read_image(tmp_path / "rgb.tif")
    assert a.dtype == np.float32 and np.array_equal(a, f)
    write_image(tmp_path / "rgb_out.tif", a)
    assert np.array_equal(tifffile.imread(tmp_path / "rgb_out.tif"), f)
    for name in ("out.png", "out.jpg", "out.webp"):
        with pytest.raises(SfumatoError, match="cannot hold float pixels; write a .tif"):
            write_image(tmp_path / name, a)
        assert not (tmp_path / name).exists()


def test_a_16_bit_colour_tiff_is_read_at_16_bits(tmp_path):
    import tifffile
    from sfumato.imageio import read_image, write_image
    u = (np.random.default_rng(2).random((48, 64, 3)) * 65535).astype(np.uint16)
    tifffile.imwrite(tmp_path / "u16.tif", u, photometric="rgb", compression="zlib")
    a = read_image(tmp_path / "u16.tif")
    assert a.dtype == np.uint16 and np.array_equal(a, u)
    write_image(tmp_path / "out.tif", a)
    assert np.array_equal(tifffile.imread(tmp_path / "out.tif"), u)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_a_non_finite_pixel_is_refused_naming_how_many(tmp_path, bad):
    from sfumato.imageio import read_image
    _float_rgb(tmp_path / "bad.tif", np.random.default_rng(3), bad)
    with pytest.raises(SfumatoError, match="has 1 pixel value that is not a number"):
        read_image(tmp_path / "bad.tif")


def test_finite_values_outside_0_1_are_clipped_not_spread(tmp_path):
    from sfumato.imageio import read_image
    f = _float_rgb(tmp_path / "big.tif", np.random.default_rng(4), 1e30)
    a = read_image(tmp_path / "big.tif")
    assert a[3, 4, 1] == 1.0 and np.isfinite(a).all()
    f[3, 4, 1] = 1.0
    assert np.array_equal(a, f)


@pytest.mark.parametrize("ext", [".png", ".jpg", ".tif", ".webp", ".mpo"])
def test_the_colour_profile_and_exif_are_carried_with_orientation_normal(tmp_path, ext):
    from PIL import ImageCms
    from sfumato.imageio import read_image, write_image
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    exif = Image.Exif()
    exif[0x0112], exif[0x010F] = 6, "Canon"
    Image.open(SAMPLES / "coffee.jpg").save(tmp_path / "in.jpg", icc_profile=profile, exif=exif.tobytes())
    meta = {}
    a = read_image(tmp_path / "in.jpg", meta=meta)
    assert a.shape == (600, 400, 3)  # turned by its orientation
    write_image(tmp_path / f"out{ext}", a, meta)
    out = Image.open(tmp_path / f"out{ext}")
    assert out.info.get("icc_profile") == profile
    assert out.getexif().get(0x010F) == "Canon" and out.getexif().get(0x0112) == 1
    assert read_image(tmp_path / f"out{ext}").shape == (600, 400, 3)  # not turned twice


def test_a_profile_of_another_colour_space_is_not_put_on_the_result(tmp_path):
    from PIL import ImageCms
    from sfumato.imageio import write_image
    rgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    write_image(tmp_path / "grey.png", np.zeros((40, 40, 1), np.uint8), {"icc_profile": rgb})
    assert "icc_profile" not in Image.open(tmp_path / "grey.png").info


@pytest.mark.parametrize("ext", [".gif", ".png", ".webp", ".tif"])
def test_an_animation_or_multi_page_file_is_refused_not_cut_to_its_first_frame(tmp_path, ext):
    from sfumato.imageio import read_image
    rng = np.random.default_rng(5)
    frames = [Image.fromarray((rng.random((40, 40, 3)) * 255).astype(np.uint8)) for _ in range(3)]
    frames[0].save(tmp_path / f"a{ext}", save_all=True, append_images=frames[1:], duration=100)
    with pytest.raises(SfumatoError, match="has 3 (frames|pages).*export the"):
        read_image(tmp_path / f"a{ext}")
    frames[0].save(tmp_path / f"one{ext}")
    assert read_image(tmp_path / f"one{ext}").shape == (40, 40, 3)


def test_mpo_is_written_at_jpeg_quality(tmp_path, photo):
    from sfumato.imageio import read_image, write_image
    write_image(tmp_path / "a.mpo", photo)
    write_image(tmp_path / "a.jpg", photo)
    err = [np.abs(read_image(tmp_path / n).astype(float) - photo).mean() for n in ("a.mpo", "a.jpg")]
    assert abs(err[0] - err[1]) < 1e-9, err


def test_an_output_name_over_255_bytes_is_one_error(tmp_path, photo):
    from sfumato.imageio import write_image
    with pytest.raises(SfumatoError, match="too long .* over the 255"):
        write_image(tmp_path / ("x" * 300 + ".png"), photo)


def test_a_damaged_png_is_refused_whether_or_not_its_metadata_is_asked_for(tmp_path):
    """Reading a PNG's EXIF makes Pillow decode it; a decode that failed there must not leave a half
    image that the real read then takes as good (the CLI asks for the metadata, to carry it)."""
    import io
    import random
    rng = random.Random(3)
    good = io.BytesIO()
    Image.open(SAMPLES / "coffee.jpg").crop((0, 0, 64, 48)).save(good, format="PNG")
    agreed = 0
    for i in range(150):
        data = bytearray(good.getvalue())
        for _ in range(rng.randint(1, 6)):
            data[rng.randrange(40, len(data))] ^= 1 << rng.randrange(8)
        path = tmp_path / f"d{i}.png"
        path.write_bytes(bytes(data))
        outcomes = []
        for meta in (None, {}):
            try:
                outcomes.append(read_image(path, meta=meta))
            except SfumatoError as exc:
                outcomes.append(str(exc))
        plain, with_meta = outcomes
        assert type(plain) is type(with_meta) and (isinstance(plain, str) or np.array_equal(plain, with_meta)), i
        agreed += isinstance(plain, str)
    assert agreed > 20  # damage was found and refused both ways


@pytest.mark.parametrize("ext", [".jpg", ".png", ".tif"])
def test_a_tiffs_camera_tags_are_carried_not_its_layout(tmp_path, ext):
    from sfumato.imageio import read_image, write_image
    exif = Image.Exif()
    exif[0x010F], exif[0x0112] = "Canon", 6
    exif.get_ifd(0x8769)[0x9003] = "2024:01:01 10:00:00"
    Image.open(SAMPLES / "coffee.jpg").save(tmp_path / "in.tif", exif=exif.tobytes())
    meta = {}
    a = read_image(tmp_path / "in.tif", meta=meta)
    assert a.shape == (600, 400, 3)
    write_image(tmp_path / f"out{ext}", a, meta)
    got = Image.open(tmp_path / f"out{ext}").getexif()
    assert got.get(0x010F) == "Canon" and got.get(0x0112, 1) == 1  # normal (Pillow drops a TIFF's as it turns it)
    assert got.get_ifd(0x8769).get(0x9003) == "2024:01:01 10:00:00"
    assert read_image(tmp_path / f"out{ext}").shape == (600, 400, 3)
