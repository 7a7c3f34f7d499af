"""Seeded generators of bad and odd inputs for the CLI and the worker protocol (tests/test_fuzz.py runs
a few hundred; `python -m tests.fuzz_inputs --n 5000` the long run, with counts)."""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import random
import struct
import sys
import tempfile
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

SAMPLE = Path(__file__).resolve().parent.parent / "core" / "samples" / "coffee.jpg"
OUTPUT_SUFFIXES = [".png", ".jpg", ".tif", ".webp", ".bmp", ".tga", ".gif", ".pcx", ".ppm", ".psd", ".xpm", ".eps",
                   ".pdf", ".ico", ".xyz", ""]


def _photo(rng: random.Random, w: int, h: int) -> Image.Image:
    img = Image.open(SAMPLE).convert("RGB")
    x, y = rng.randrange(0, 600 - 64), rng.randrange(0, 400 - 48)
    return img.crop((x, y, x + 64, y + 48)).resize((w, h))


def _pan(rng: random.Random, n: int, w: int = 64, h: int = 48) -> list:
    """An animation's frames as they come: one scene, the camera moving a few pixels a frame. (Unrelated
    pictures as frames share no statistics: a dark one among bright ones is stylized dark, by design.)"""
    img = Image.open(SAMPLE).convert("RGB")
    x, y = rng.randrange(0, 600 - 64 - 4 * n), rng.randrange(0, 400 - 48)
    step = rng.randint(1, 4)
    return [img.crop((x + i * step, y, x + i * step + 64, y + 48)).resize((w, h)) for i in range(n)]


def _odd_image(rng: random.Random) -> tuple[Image.Image, str]:
    """An image in one of the modes and shapes users' files come in."""
    w, h = rng.choice([(64, 48), (33, 400), (400, 33), (1, 1), (31, 64), (48, 48), (2000, 40)])
    base = _photo(rng, w, h)
    mode = rng.choice(["RGB", "RGBA", "L", "LA", "P", "P-transparent", "I;16", "I", "F", "CMYK", "1", "F-nan"])
    if mode == "F-nan":
        a = np.asarray(base.convert("L"), np.float32)
        a.flat[rng.randrange(a.size)] = rng.choice([np.nan, np.inf, -np.inf])
        return Image.fromarray(a, "F"), ".tif"
    if mode == "I;16":
        return Image.fromarray((np.asarray(base.convert("L"), np.uint16) * 257)), ".png"
    if mode == "P-transparent":
        img = base.convert("P")
        img.info["transparency"] = 0
        return img, ".png"
    img = base.convert(mode)
    ext = {"CMYK": ".jpg", "I": ".tif", "F": ".tif"}.get(mode, rng.choice([".png", ".tif", ".webp"]))
    if ext == ".webp" and mode not in ("RGB", "RGBA"):
        ext = ".png"
    return img, ext


def _damage(data: bytes, rng: random.Random) -> bytes:
    kind = rng.choice(["truncate", "flip", "flips", "zero-tail", "header-only"])
    b = bytearray(data)
    if kind == "truncate":
        return bytes(b[:rng.randrange(1, len(b))])
    if kind in ("flip", "flips"):
        for _ in range(1 if kind == "flip" else rng.randint(2, 40)):
            i = rng.randrange(len(b))
            b[i] ^= 1 << rng.randrange(8)
        return bytes(b)
    if kind == "zero-tail":
        cut = rng.randrange(len(b) // 2, len(b))
        return bytes(b[:cut]) + bytes(len(b) - cut)
    return bytes(b[:rng.randint(8, 64)])


def _bomb(rng: random.Random) -> tuple[bytes, str]:
    w, h = rng.choice([(16000, 16000), (16384, 16385), (100000, 100000), (65535, 1)])
    kind = rng.choice(["pgm", "png", "bmp"])
    if kind == "pgm":
        return f"P5\n{w} {h}\n255\n".encode(), ".pgm"
    if kind == "bmp":
        return b"BM" + struct.pack("<IHHI", 0, 0, 0, 54) + struct.pack("<IiiHHIIiiII", 40, w, h, 1, 24, 0, 0, 0, 0, 0, 0), ".bmp"
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    chunk = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))  # noqa: E731
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""), ".png"


def cli_case(rng: random.Random, folder: Path) -> list[str]:
    """Files in `folder` and the argument list of one CLI call."""
    kind = rng.choice(["odd", "odd", "damaged", "bomb", "animated", "mask", "empty-file", "text",
                       "meets-input", "float", "profile", "frames", "deep-tiff"])
    src = folder / "in"
    if kind in ("meets-input", "float", "profile", "frames", "deep-tiff"):
        return _issue33_case(kind, rng, folder)
    if kind == "odd":
        img, ext = _odd_image(rng)
        src = src.with_suffix(ext)
        img.save(src)
    elif kind == "damaged":
        img, ext = _photo(rng, 64, 48), rng.choice([".png", ".jpg", ".webp", ".tif"])
        buf = io.BytesIO()
        img.save(buf, format={".jpg": "JPEG", ".png": "PNG", ".webp": "WEBP", ".tif": "TIFF"}[ext])
        src = src.with_suffix(ext)
        src.write_bytes(_damage(buf.getvalue(), rng))
    elif kind == "bomb":
        data, ext = _bomb(rng)
        src = src.with_suffix(ext)
        src.write_bytes(data)
    elif kind == "animated":
        frames = [f.convert("P") for f in _pan(rng, 3)]
        src = src.with_suffix(".gif")
        frames[0].save(src, save_all=True, append_images=frames[1:], duration=50)
    elif kind == "empty-file":
        src = src.with_suffix(".png")
        src.write_bytes(b"")
    elif kind == "text":
        src = src.with_suffix(".jpg")
        src.write_text("definitely not a picture")
    else:
        _photo(rng, 64, 48).save(src.with_suffix(".png"))
        src = src.with_suffix(".png")
    out = str(folder / ("out" + rng.choice(OUTPUT_SUFFIXES)))
    if rng.random() < 0.5 or kind == "mask":
        mask = folder / "mask.png"
        mw, mh = (64, 48) if rng.random() < 0.8 else (rng.randint(1, 80), rng.randint(1, 80))
        m = np.zeros((mh, mw), np.uint8)
        choice = rng.choice(["box", "empty", "full", "noise", "grey"])
        if choice == "box":
            m[mh // 4:mh // 2, mw // 4:mw // 2] = 255
        elif choice == "full":
            m[:] = 255
        elif choice == "noise":
            m = (np.random.default_rng(rng.getrandbits(32)).random((mh, mw)) < 0.3).astype(np.uint8) * 255
        elif choice == "grey":
            m[:] = 128
        Image.fromarray(m).save(mask)
        return ["inpaint", str(src), "--mask", str(mask), "-o", out]
    return ["stylize", str(src), "--style", rng.choice(["crimson", "7", "starry-blue:0.5,3:0.5", "nope", "99"]),
            "-o", out] + rng.choice([[], ["--strength", "0.5"], ["--preserve-colors"], ["--scale", "2"]])


# --- the families of issue 33: outputs meeting inputs, float/NaN, profiles, frames, 16-bit TIFF ---------

def _icc_rgb() -> bytes:
    from PIL import ImageCms
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def _issue33_case(kind: str, rng: random.Random, folder: Path) -> list[str]:
    import tifffile
    style = ["--style", rng.choice(["crimson", "7", "starry-blue:0.5,3:0.5"])]
    if kind == "meets-input":  # -o an input, its mask, or the inputs' own folder (with or without a suffix)
        a, b = folder / "a.png", folder / "b.jpg"
        _photo(rng, 64, 48).save(a)
        _photo(rng, 64, 48).save(b, quality=90)
        choice = rng.choice(["same", "other-input", "folder", "folder-empty-suffix", "mask", "folder-suffix"])
        if choice == "mask":
            Image.fromarray(np.full((48, 64), 255, np.uint8)).save(folder / "m.png")
            return ["inpaint", str(a), "--mask", str(folder / "m.png"), "-o", str(folder / "m.png")]
        if choice == "same":
            return ["stylize", str(a), *style, "-o", str(a)]
        if choice == "other-input":
            return ["stylize", str(a), str(b), *style, "-o", str(folder)] + ["--format", "jpg", "--suffix="]
        extra = {"folder": [], "folder-empty-suffix": ["--suffix="], "folder-suffix": ["--suffix=-x"]}[choice]
        return ["stylize", str(rng.choice([a, b])), *style, "-o", str(folder), *extra]
    out_ext = rng.choice([".tif", ".tif", ".png", ".jpg", ".webp"])
    if kind == "float":
        shape = rng.choice([(48, 64), (48, 64, 3), (48, 64, 4)])
        f = np.asarray(_photo(rng, 64, 48).convert("RGBA"), np.float32)[:, :, :3].mean(axis=2) / 255 \
            if len(shape) == 2 else np.asarray(_photo(rng, 64, 48).convert("RGBA"), np.float32)[:, :, :shape[2]] / 255
        if rng.random() < 0.4:
            f = f.copy()
            f.flat[rng.randrange(f.size)] = rng.choice([np.nan, np.inf, -np.inf, 1e30, -1e30, 3.0])
        src = folder / "in.tif"
        tifffile.imwrite(src, f.astype(np.float32), photometric="minisblack" if f.ndim == 2 else "rgb",
                         **({"extrasamples": ("unassalpha",)} if f.ndim == 3 and f.shape[2] == 4 else {}))
    elif kind == "deep-tiff":
        u = (np.asarray(_photo(rng, 64, 48), np.uint16) * 257 + rng.randrange(257)).astype(np.uint16)
        src = folder / "in.tif"
        tifffile.imwrite(src, u, photometric="rgb", compression=rng.choice([None, "zlib"]))
        out_ext = rng.choice([".tif", ".png"])
    elif kind == "profile":
        src = folder / ("in" + rng.choice([".jpg", ".png", ".tif", ".webp"]))
        exif = Image.Exif()
        exif[0x0112] = rng.randint(1, 8)
        _photo(rng, 64, 48).save(src, icc_profile=_icc_rgb(), exif=exif.tobytes())
    else:  # frames: animated GIF, APNG, animated WebP, multi-page TIFF
        src = folder / ("in" + rng.choice([".gif", ".png", ".webp", ".tif"]))
        frames = _pan(rng, rng.randint(2, 4))
        frames[0].save(src, save_all=True, append_images=frames[1:], duration=60)
    out = str(folder / ("out" + out_ext))
    if rng.random() < 0.3:
        Image.fromarray(np.full((48, 64), 255, np.uint8)).save(folder / "mask.png")
        return ["inpaint", str(src), "--mask", str(folder / "mask.png"), "-o", out]
    return ["stylize", str(src), *style, "-o", out]


def _frames_in(path: Path) -> int:
    from sfumato.imageio import frames_in
    return frames_in(path)


def check_animation_result(args: list[str], src: Path, out: Path) -> None:
    """An animation in, an animation out: every frame, the same size and timing, none black."""
    from sfumato.imageio import read_frames
    frames_in_, info_in = read_frames(src)
    frames_out, info_out = read_frames(out)
    if len(frames_out) != len(frames_in_):  # GIF and APNG writers merge identical neighbours, adding their times
        assert out.suffix in (".gif", ".png") and sum(info_out["duration"]) == sum(info_in["duration"]), \
            f"{args}: {len(frames_in_)} frames in, {len(frames_out)} out"
    assert frames_out[0].shape[:2] == frames_in_[0].shape[:2], f"{args}: frame size changed"
    if out.suffix != ".tif" and src.suffix != ".tif" and len(frames_out) == len(frames_in_):
        assert info_out["duration"] == info_in["duration"], f"{args}: timing {info_in} -> {info_out}"
    assert all(f.max() > 0 for f in frames_out), f"{args}: a black frame"


def _read_any(path: Path) -> np.ndarray:
    from sfumato.imageio import read_image
    return read_image(path)


def check_issue33_result(args: list[str], src: Path, out: Path) -> None:
    """What an exit 0 must also hold: no NaN or black image from a valid photo, no dropped profile,
    no dropped frame, a float or 16-bit input kept at its precision where the output holds it."""
    if src.suffix != ".tif":
        n_frames = getattr(Image.open(src), "n_frames", 1)
    else:
        import tifffile
        with tifffile.TiffFile(src) as t:
            n_frames = len(t.pages)
    assert n_frames == 1, f"{args}: {n_frames} frames in, one out"
    got = _read_any(out)
    assert np.isfinite(got).all() if got.dtype.kind == "f" else True, f"{args}: NaN in the result"
    assert got.max() > 0, f"{args}: an all-black result"
    if src.suffix == ".tif":
        import tifffile
        stored = tifffile.imread(src)
        if stored.dtype.kind == "f" and out.suffix == ".tif":
            assert got.dtype == np.float32, f"{args}: float input, {got.dtype} output"
        if stored.dtype == np.uint16 and out.suffix in (".tif", ".png"):
            assert got.dtype == np.uint16, f"{args}: 16-bit input, {got.dtype} output"
    if src.suffix == ".tif":
        import tifffile
        with tifffile.TiffFile(src) as t:
            profile = t.pages.first.iccprofile
        with tifffile.TiffFile(out) if out.suffix == ".tif" else contextlib.nullcontext() as t:
            kept = t.pages.first.iccprofile if t is not None else Image.open(out).info.get("icc_profile")
    else:
        profile, kept = Image.open(src).info.get("icc_profile"), Image.open(out).info.get("icc_profile")
    if profile and out.suffix in (".png", ".jpg", ".tif", ".webp"):
        assert kept == profile, f"{args}: the colour profile was dropped"


def run_cli_case(args: list[str]) -> tuple[int, str]:
    """Run the CLI in this process; returns (exit code, stderr). An exception escaping main() is a bug."""
    from sfumato.cli import main
    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        try:
            rc = main(args)
        except SystemExit as exc:  # argparse
            rc = exc.code if isinstance(exc.code, int) else 2
    return rc, err.getvalue()


def check_cli_case(args: list[str], folder: Path) -> str:
    """'ok' or 'refused' when the contract holds; raises AssertionError naming what broke."""
    inputs_before = {p: p.read_bytes() for p in folder.iterdir()}
    rc, err = run_cli_case(args)
    out = Path(args[args.index("-o") + 1])
    leftovers = [p.name for p in folder.iterdir() if p.suffix == ".part" or p.name.startswith(".sfumato-")]
    assert not leftovers, f"{args}: temporary files left: {leftovers}"
    for p, data in inputs_before.items():
        assert p.read_bytes() == data, f"{args}: input {p.name} changed"
    assert "Traceback" not in err, f"{args}: {err}"
    if rc == 0:
        src = Path(args[1])
        outputs = [out] if not out.is_dir() else [p for p in folder.iterdir() if p not in inputs_before]
        assert outputs and all(p.exists() for p in outputs), f"{args}: exit 0 but no output"
        for o in outputs:
            if o.suffix in (".pdf", ".eps"):  # written, but not a format Pillow reads back
                assert o.stat().st_size > 0
            elif _frames_in(src) > 1:
                check_animation_result(args, src, o)
            else:
                got, want = _read_any(o).shape[:2], _read_any(src).shape[:2]
                assert got == want, f"{args}: output {got} vs input {want}"
                check_issue33_result(args, src, o)
            o.unlink()
        return "ok"
    lines = [line for line in err.strip().splitlines() if line]
    assert rc == 2, f"{args}: exit {rc}: {err}"
    assert len(lines) == 1 and lines[0].startswith("error: "), f"{args}: {err!r}"
    assert out.is_dir() or not out.exists() or out in inputs_before, f"{args}: failed but wrote {out}"
    return "refused"


def run_cli_fuzz(n: int, seed: int) -> dict:
    counts = {"ok": 0, "refused": 0}
    rng = random.Random(seed)
    for _ in range(n):
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            args = cli_case(rng, folder)
            counts[check_cli_case(args, folder)] += 1
    return counts


def bad_frames(rng: random.Random) -> bytes:
    """One malformed or odd message for the worker."""
    kind = rng.choice(["json", "not-object", "bad-buffers", "short", "long", "unknown-op", "huge-len", "garbage",
                       "bad-options", "layout"])
    if kind == "huge-len":
        return struct.pack(">I", rng.choice([1 << 21, 1 << 31, 2 ** 32 - 1]))
    if kind == "garbage":
        return bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 200)))
    header: object = {"op": "stylize", "layout": ["image"], "options": {"style": "crimson"},
                      "image": {"width": 8, "height": 8, "channels": 3, "dtype": "u8"}}
    payload = bytes(8 * 8 * 3)
    if kind == "json":
        raw = b'{"op": "stylize", "layout": [' + b"[" * rng.randint(1, 50000)
        return struct.pack(">I", len(raw)) + raw
    if kind == "not-object":
        header = rng.choice([[1, 2], "text", 3, None, True])
    elif kind == "bad-buffers":
        header["buffers"] = rng.choice([["x"], -1, [-5], [2 ** 40], {"a": 1}, [1.5]])
    elif kind == "short":
        payload = payload[:rng.randrange(len(payload))]
    elif kind == "long":
        payload += bytes(rng.randint(1, 100))
    elif kind == "unknown-op":
        header["op"] = rng.choice(["frobnicate", ["stylize"], 7, None, {"x": 1}])
    elif kind == "bad-options":
        header["options"] = rng.choice([{"style": "crimson", "strength": "abc"}, {"style": 5}, [], "x",
                                        {"style": "crimson", "scale": -3}, {"style": None}])
    else:
        header["layout"] = rng.choice([["image", "mask"], "image", [1], []])
    raw = json.dumps(header if not isinstance(header, dict) or "buffers" in header
                     else {**header, "buffers": [len(payload)]}).encode()
    return struct.pack(">I", len(raw)) + raw + payload


def main() -> int:
    ap = argparse.ArgumentParser(description="long fuzz run of the CLI contract")
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    counts = run_cli_fuzz(args.n, args.seed)
    print(f"{args.n} CLI cases, seed {args.seed}: {counts['ok']} correct results, {counts['refused']} refused "
          "with one error line; no traceback, hang, partial file or changed input")
    return 0


if __name__ == "__main__":
    sys.exit(main())
