"""Score saved large-hole fills against the unedited photos, without running any method again.

    python bench/score_fills.py DIR/sfumato DIR/patchmatch DIR/gmic_pde ... [--markdown FILE]

Each folder holds one method's fills as `bench/bench_inpaint.py --save-fills DIR` writes them
(KIND-PHOTO.png, box and object holes on the held-out photos at full size). The holes are drawn again with
the bench's own seed and order, so every folder is scored on exactly the holes it was made for, and a new
method's fills (made by the same drawing) can be scored beside fills made earlier. Per kind: medians of
hole PSNR / SSIM / gradient ratio, and the realism distance (KID x 1000, bench/realism.py; lower is better).
"""
from __future__ import annotations

import argparse
import random
import statistics
from pathlib import Path

import numpy as np
from PIL import Image

import bench_inpaint as b
from realism import RealismJudge
from scores import grad_ratio, psnr, ssim


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("folders", type=Path, nargs="+")
    ap.add_argument("--markdown", type=Path, help="write the table here")
    args = ap.parse_args()
    names = [f.name for f in args.folders]
    realism = RealismJudge()
    rows = {(k, n): [] for k in b.LARGE for n in names}
    rng = random.Random("unseen-full")  # bench_inpaint.py's masks for `--sizes full --families unseen`
    for stem, img in b.load_photos(b.default_photos(), "full", 0):
        truth = img.astype(np.float32) / 255
        for kind in b.KINDS:
            hole = b.draw_mask("unseen", kind, *img.shape[:2], rng)  # drawn for every kind, as the bench does
            if kind not in b.LARGE or hole.mean() < 0.002 or hole.all():
                continue
            for folder, name in zip(args.folders, names):
                path = folder / f"{kind}-{stem}.png"
                if not path.exists():
                    continue
                out = np.asarray(Image.open(path).convert("RGB"), np.float32) / 255
                rows[kind, name].append((psnr(out[hole], truth[hole]), ssim(out, truth, hole),
                                         grad_ratio(out, truth, hole)))
                realism.add_fill(name, kind, out, hole)
            realism.add_real(truth, hole, np.random.default_rng(len(realism.real)), n=4)
            realism.add_fill("unedited photo", kind, truth, hole)
    lines = ["| method | " + " | ".join(f"{k}: PSNR / SSIM / grad / KID×1000 (n)" for k in b.LARGE) + " |",
             "|---|" + "---|" * len(b.LARGE)]
    for name in names + ["unedited photo"]:
        cells = []
        for kind in b.LARGE:
            r = rows.get((kind, name), [])
            kid = 1000 * realism.distance(name, kind)
            if not r:
                cells.append(f"— / — / — / {kid:.0f}")
                continue
            p, s, g = (statistics.median(x[i] for x in r) for i in range(3))
            cells.append(f"{p:.2f} / {s:.3f} / {g:.2f} / {kid:.0f} ({len(r)})")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    table = "\n".join(lines)
    print(table)
    if args.markdown:
        args.markdown.write_text(table + "\n")


if __name__ == "__main__":
    main()
