"""Throughput of a folder of photos: one `sfumato stylize` call per file (what a shell loop does)
against one batch call (`sfumato stylize DIR -o OUT`, models loaded once), `--jobs 2` and (with the
ray extra) `--ray --jobs 2`, the same files and style, whole commands timed (Ray's start included);
and the outputs compared bit for bit.

    python bench/bench_batch.py [--n 200] [--side 1024]

Photos: crops of the dev photos (shared/data/photos) and the bundled sample, resized to `--side`.
"""
from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from installed import compile_sfumato

ROOT = Path(__file__).resolve().parent.parent
SFUMATO = str(Path(sys.executable).with_name("sfumato"))


def make_photos(folder: Path, n: int, side: int) -> None:
    sources = sorted((ROOT.parent / "shared" / "data" / "photos").glob("*.jpg")) + [ROOT / "core" / "samples" / "coffee.jpg"]
    sources = [p for p in sources if "kodak" not in p.name.lower()]
    rng = np.random.default_rng(0)
    for i in range(n):
        img = Image.open(sources[i % len(sources)]).convert("RGB")
        w, h = img.size
        cw, ch = int(w * rng.uniform(0.6, 1.0)), int(h * rng.uniform(0.6, 1.0))
        x, y = rng.integers(0, w - cw + 1), rng.integers(0, h - ch + 1)
        crop = img.crop((x, y, x + cw, y + ch))
        f = side / max(crop.size)
        crop.resize((max(32, round(crop.width * f)), max(32, round(crop.height * f))), Image.LANCZOS).save(
            folder / f"p{i:04d}.jpg", quality=92)


def timed(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--side", type=int, default=1024)
    ap.add_argument("--style", default="7")
    args = ap.parse_args()
    compile_sfumato()  # as an install has it (bench/installed.py)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        src = tmp / "in"
        src.mkdir()
        make_photos(src, args.n, args.side)
        files = sorted(src.iterdir())
        timed([SFUMATO, "stylize", str(files[0]), "--style", args.style, "-o", str(tmp / "warm.png")])  # caches warm
        (tmp / "each").mkdir()
        t0 = time.perf_counter()
        for f in files:
            subprocess.run([SFUMATO, "stylize", str(f), "--style", args.style, "-o", str(tmp / "each" / f"{f.stem}.png")],
                           check=True, capture_output=True)
        each = time.perf_counter() - t0
        batch = timed([SFUMATO, "stylize", str(src), "--style", args.style, "-o", str(tmp / "batch")])
        jobs = timed([SFUMATO, "stylize", str(src), "--style", args.style, "-o", str(tmp / "jobs"), "--jobs", "2"])
        runs = [("one call per file", each), ("one batch call", batch), ("batch --jobs 2", jobs)]
        dirs = ["batch", "jobs"]
        if importlib.util.find_spec("ray") is not None:  # Ray Data, a local Ray started by the command (counted)
            runs.append(("--ray --jobs 2", timed([SFUMATO, "stylize", str(src), "--style", args.style, "-o",
                                                  str(tmp / "ray"), "--ray", "--jobs", "2"])))
            dirs.append("ray")
        same = all(np.array_equal(np.asarray(Image.open(tmp / d / f"{f.stem}.png")),
                                  np.asarray(Image.open(tmp / "each" / f"{f.stem}.png")))
                   for d in dirs for f in files)
        print(f"{args.n} photos, {args.side} px long side, style {args.style}, whole commands:")
        for name, t in runs:
            print(f"  {name:18s} {t:7.1f} s  {args.n / t:5.2f} images/s  {each / t:4.2f}x one call per file")
        print(f"  outputs bit-identical across all: {same}")


if __name__ == "__main__":
    main()
