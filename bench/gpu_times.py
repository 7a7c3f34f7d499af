"""CPU vs CUDA timings of what users run: stylize at 1024^2, 2048^2, 4096^2 and a 12 MP inpaint (one 5%
region, defaults), warm medians, with the CUDA output's difference from the CPU's.

    python bench/gpu_times.py [--runs 5] [--devices cpu cuda]

A device that cannot run is reported, not fatal (bench/gpu_check.sh runs this on a GPU machine).
CUDA runs twice: the fp32 graphs (the default) and their fp16 variants (SFUMATO_PRECISION=fp16,
export/fp16.py); the differences printed are CUDA fp32 vs CPU and fp16 vs CUDA fp32, mean /255.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sfumato.runtime import sessions  # noqa: E402
from sfumato.errors import SfumatoError  # noqa: E402
from sfumato.inpainting.pipeline import InpaintOptions, inpaint  # noqa: E402
from sfumato.styling.pipeline import StylizeOptions, stylize  # noqa: E402


def photo(w: int, h: int) -> np.ndarray:
    return np.asarray(Image.open(ROOT / "core" / "samples" / "coffee.jpg").convert("RGB").resize((w, h), Image.BICUBIC))


def warm_median(fn, runs: int) -> tuple[float, np.ndarray]:
    out = fn()  # session creation, arena growth, CUDA kernel selection
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--devices", nargs="+", default=["cpu", "cuda"])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1024, 2048, 4096])
    args = ap.parse_args()
    works, why = sessions.cuda_status()
    print(f"CUDA: {'yes' if works else 'no'} - {why}")
    cases = [(f"stylize {s}x{s}", lambda d, img=photo(s, s): stylize(img, StylizeOptions(style="7", device=d)))
             for s in args.sizes]
    big = photo(4240, 2832)
    hole = np.zeros(big.shape[:2], np.float32)
    side = int(np.sqrt(0.05 * hole.size))
    hole[1000:1000 + side, 1500:1500 + side] = 1.0
    cases.append(("inpaint 12 MP, 5% region", lambda d: inpaint(big, hole, InpaintOptions(device=d))))
    runs = [(d, p) for d in args.devices for p in (("fp32", "fp16") if d == "cuda" else ("fp32",))]
    print(f"{'case':28s} " + " ".join(f"{d + ' ' + p:>12s}" for d, p in runs) + "   |cuda - cpu|  |fp16 - fp32|")
    told = set()
    for name, fn in cases:
        cells, outs = [], {}
        for device, precision in runs:
            os.environ["SFUMATO_PRECISION"] = precision  # read at each session's start; sessions are cached per file
            try:
                t, outs[device, precision] = warm_median(lambda: fn(device), args.runs)
                cells.append(f"{t * 1000:10.0f}ms")
            except SfumatoError as exc:
                cells.append(f"{'n/a':>12s}")
                if (device, precision) not in told:  # why, once per column
                    told.add((device, precision))
                    print(f"  ({device} {precision}: {exc})")
        os.environ.pop("SFUMATO_PRECISION", None)

        def diff(a, b):
            if a in outs and b in outs:
                return f"{np.abs(outs[a].astype(float) - outs[b].astype(float)).mean():.3f}/255"
            return "-"
        print(f"{name:28s} " + " ".join(cells) +
              f"   {diff(('cuda', 'fp32'), ('cpu', 'fp32')):>11s}  {diff(('cuda', 'fp16'), ('cuda', 'fp32')):>12s}")


if __name__ == "__main__":
    main()
