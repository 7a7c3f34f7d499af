"""The GIMP path with a warm worker, on a 4-megapixel layer (2048x2048): the whole PDB call from
`proc.run` to the new layer, minus the model's time, and its parts (reading the layer from GEGL,
moving pixels to the worker and back, writing the new layer), as fractions of the worker's
stylization time. Runs the real GIMP 3 (tests/gimp/harness.py).

    python bench/bench_gimp.py [--runs 3]
"""
from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.gimp import harness  # noqa: E402

LINE = re.compile(r"\[sfumato\] \S+ (\d+)x(\d+): read ([\d.]+)s, worker ([\d.]+)s \(model ([\d.]+)s\), write ([\d.]+)s")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--side", type=int, default=2048)
    args = ap.parse_args()
    why = harness.available()
    if why:
        raise SystemExit(f"real GIMP unavailable: {why}")
    print("default install (a plug-in process per call):")
    measure(args.runs, args.side)


def measure(runs: int, side: int) -> None:
    with tempfile.TemporaryDirectory(dir="/tmp") as tmp:
        out = Path(tmp) / "out"  # bound into GIMP's chroot by the harness
        out.mkdir()
        photo = out / "photo.png"
        Image.open(ROOT / "core" / "samples" / "coffee.jpg").resize((side, side), Image.BICUBIC).save(photo)
        cases = [{"id": f"run{i}", "proc": "sfumato-stylize", "image": str(photo), "args": {"style": "starry-blue"}}
                 for i in range(runs + 1)]
        harness.stop_worker()
        harness.install_plugin()
        try:
            records, log = harness.run_cases(cases, out)
        finally:
            harness.install_plugin()
            harness.stop_worker()
    rows = [tuple(float(v) for v in m.groups()[2:]) for m in LINE.finditer(log)]
    if len(rows) != runs + 1:
        raise SystemExit(f"expected {runs + 1} timing lines, got {len(rows)}:\n{log[-3000:]}")
    first = rows[0][0] + rows[0][1] + rows[0][3]
    print(f"{side}x{side} layer, warm worker, median of {runs} (the first call, which starts the "
          f"worker and loads the model, is left out: {first:.2f}s)")
    read, worker, model, write = (statistics.median(r[i] for r in rows[1:]) for i in range(4))
    transfer = worker - model
    overhead = read + transfer + write
    print(f"  read layer+selection {read * 1000:7.1f} ms")
    print(f"  to worker and back   {transfer * 1000:7.1f} ms")
    print(f"  write new layer      {write * 1000:7.1f} ms")
    print(f"  worker job (model)   {model * 1000:7.1f} ms")
    print(f"  plug-in overhead = {overhead * 1000:.1f} ms = {overhead / model:.1%} of the model's time")
    # what the user waits for: the PDB call from start to the new layer in the image (driver.py times
    # proc.run), of which the model is one part; the rest is GIMP, the plug-in and the transfer
    end_to_end = statistics.median(r["seconds"] for r in records[1:])
    rest = end_to_end - model
    print(f"  end to end (PDB call to new layer) {end_to_end * 1000:.0f} ms; minus the model: {rest * 1000:.0f} ms "
          f"= {rest / model:.1%} of the model's time (target <= 10%)")


if __name__ == "__main__":
    main()
