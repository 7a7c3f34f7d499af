"""CPU vs CUDA timings of what users run: stylize at 1024^2, 2048^2, 4096^2 and a 12 MP inpaint (one 5%
region, defaults), warm medians, with the CUDA output's difference from the CPU's.

    python bench/gpu_times.py [--runs 5] [--devices cpu cuda]

A device that cannot run is reported, not fatal (bench/gpu_check.sh runs this on a GPU machine).
fp16 graphs are not built yet: the fp32 graphs are what `--device cuda` runs today.
"""
from __future__ import annotations

import argparse
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
    print(f"{'case':28s} " + " ".join(f"{d + ' fp32':>12s}" for d in args.devices) + "   mean |cuda - cpu|")
    for name, fn in cases:
        cells, outs = [], {}
        for device in args.devices:
            try:
                t, outs[device] = warm_median(lambda: fn(device), args.runs)
                cells.append(f"{t * 1000:10.0f}ms")
            except SfumatoError as exc:
                cells.append(f"{'n/a':>12s}")
                print(f"  ({device}: {exc})")
        diff = ""
        if "cpu" in outs and "cuda" in outs:
            diff = f"{np.abs(outs['cpu'].astype(float) - outs['cuda'].astype(float)).mean():.3f}/255"
        print(f"{name:28s} " + " ".join(cells) + f"   {diff}")


if __name__ == "__main__":
    main()
