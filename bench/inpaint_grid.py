"""The README's picture of large-hole removals: the hole, then each method's fill, one row per hole, from
the fills `bench/bench_inpaint.py --save-fills DIR` kept (held-out photos, full size, unseen masks).

    python bench/inpaint_grid.py --fills DIR/unseen-full --methods sfumato patchmatch gmic_pde \
        --out docs/images/inpaint-large.jpg

The holes are redrawn exactly as the bench drew them (same photos, same seeded masks). Rows are not picked
by hand: `--rows` holes of each kind, evenly spaced over the photos in name order.
"""
from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

import bench_inpaint as bench  # noqa: E402
from eval_masks import KINDS  # noqa: E402

LABELS = {"sfumato": "Sfumato (defaults)", "sfumato_detail-0": "Sfumato, network fill only", "patchmatch":
          "PatchMatch (patch 3)", "patchmatch_15": "PatchMatch (patch 15)", "gmic_pde": "G'MIC inpaint_pde",
          "opencv_telea": "OpenCV Telea", "opencv_ns": "OpenCV NS"}


def holes(folder: Path, family: str = "unseen", size: str = "full") -> dict[str, np.ndarray]:
    """KIND-PHOTO -> the greyed-out input, drawn with the bench's own seed and order."""
    rng = random.Random(f"{family}-{size}")
    given = {}
    for stem, img in bench.load_photos(folder, size, 0):
        for kind in KINDS:
            hole = bench.draw_mask(family, kind, *img.shape[:2], rng)
            given[f"{kind}-{stem}"] = np.where(hole[..., None], np.uint8(bench.GREY), img)
    return given


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--fills", type=Path, required=True, help="DIR/unseen-full as the bench wrote it")
    ap.add_argument("--photos", type=Path, default=None, help="default: the held-out photos")
    ap.add_argument("--methods", nargs="+", default=["sfumato", "patchmatch", "gmic_pde"])
    ap.add_argument("--kinds", nargs="+", default=["box", "object"])
    ap.add_argument("--rows", type=int, default=3, help="holes of each kind")
    ap.add_argument("--tile", type=int, default=480, help="px width of each picture in the grid")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    given = holes(args.photos or bench.default_photos())
    rows = []
    for kind in args.kinds:
        names = sorted(p.stem for p in (args.fills / args.methods[0]).glob(f"{kind}-*.png"))
        step = len(names) / args.rows
        rows += [names[int(i * step + step / 2)] for i in range(min(args.rows, len(names)))]
    labels = ["hole (grey)"] + [LABELS.get(m, m) for m in args.methods]
    tile = args.tile
    heights = [round(tile * given[n].shape[0] / given[n].shape[1]) for n in rows]
    sheet = Image.new("RGB", (tile * len(labels) + 4 * (len(labels) - 1), 20 + sum(heights) + 4 * len(rows)), "white")
    draw = ImageDraw.Draw(sheet)
    for c, label in enumerate(labels):
        draw.text((c * (tile + 4) + 4, 4), label, fill="black")
    y = 20
    for name, h in zip(rows, heights):
        pictures = [Image.fromarray(given[name])] + [Image.open(args.fills / m / f"{name}.png") for m in args.methods]
        for c, pic in enumerate(pictures):
            sheet.paste(pic.convert("RGB").resize((tile, h), Image.LANCZOS), (c * (tile + 4), y))
        y += h + 4
    args.out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(args.out, quality=88)
    print(f"{len(rows)} rows ({', '.join(rows)}) -> {args.out}")


if __name__ == "__main__":
    main()
