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
    kind = rng.choice(["odd", "odd", "damaged", "bomb", "animated", "mask", "empty-file", "text"])
    src = folder / "in"
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
        frames = [_photo(rng, 64, 48).convert("P") for _ in range(3)]
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
        assert out.exists(), f"{args}: exit 0 but no output"
        src = Path(args[1])
        if out.suffix in (".pdf", ".eps"):  # written, but not a format Pillow reads back
            assert out.stat().st_size > 0
        else:
            got = Image.open(out)
            assert got.size == Image.open(src).size, f"{args}: output {got.size} vs input"
        out.unlink()
        return "ok"
    lines = [line for line in err.strip().splitlines() if line]
    assert rc == 2, f"{args}: exit {rc}: {err}"
    assert len(lines) == 1 and lines[0].startswith("error: "), f"{args}: {err!r}"
    assert not out.exists() or out.is_dir(), f"{args}: failed but wrote {out}"
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
