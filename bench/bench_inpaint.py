"""Inpainting quality and speed benchmark.

Quality: on the dev photos (../shared/data/photos; never Kodak), with generated masks of each kind
users make (thin strokes ~3%, blobs ~10%, a box 25%, an object silhouette ~17%; fixed seeds), score
only the hole: PSNR, SSIM, and the gradient-energy ratio (hole vs ground truth; blurry fills score
low). Methods in the same run: Sfumato's model through the full fill pipeline, its harmonic prior
alone, OpenCV (Telea, Navier-Stokes) and G'MIC (inpaint_pde, inpaint_matchpatch) when installed.
Speed: a 12-megapixel photo with one 5% region, through the pipeline (target <= 2 s on this CPU).

    python bench/bench_inpaint.py [--photos DIR] [--per-kind 3] [--skip-gmic] [--out grid.png]
"""
from __future__ import annotations

import argparse
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.inpaint import InpaintOptions, inpaint  # noqa: E402
from core.inpaint_models import harmonic_fill  # noqa: E402
from export.train_inpaint import MASK_KINDS, random_mask  # noqa: E402

SIZE = 384  # photos are scored at this long side


def psnr(a, b):
    mse = float(np.mean((a - b) ** 2))
    return 99.0 if mse == 0 else 10 * np.log10(1.0 / mse)


def ssim_map(a, b):
    """Gaussian-window SSIM (Wang et al. 2004) on luminance, per pixel."""
    a, b = a @ [0.299, 0.587, 0.114], b @ [0.299, 0.587, 0.114]
    g = lambda x: ndimage.gaussian_filter(x, 1.5)  # noqa: E731
    mu_a, mu_b = g(a), g(b)
    va, vb, cov = g(a * a) - mu_a ** 2, g(b * b) - mu_b ** 2, g(a * b) - mu_a * mu_b
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    return ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (va + vb + c2))


def grad_energy(x, hole):
    y = x @ [0.299, 0.587, 0.114]
    gy, gx = np.gradient(y)
    return float(np.sqrt(gx ** 2 + gy ** 2)[hole].mean())


def score(result, truth, hole):
    return (psnr(result[hole], truth[hole]), float(ssim_map(result, truth)[hole].mean()),
            grad_energy(result, hole) / max(grad_energy(truth, hole), 1e-8))


# --- methods: each takes (uint8 H x W x 3, bool hole) and returns float 0..1 ----------------------

def ours(img, hole):
    # the default settings, except grow/feather: they exist for real selections that leave a halo of
    # the removed object, and these holes are exact
    return inpaint(img, hole.astype(np.float32), InpaintOptions(grow=0, feather=0)).astype(np.float32) / 255


def ours_detail(amount):
    def run(img, hole):
        options = InpaintOptions(grow=0, feather=0, detail=amount)
        return inpaint(img, hole.astype(np.float32), options).astype(np.float32) / 255
    return run


def prior(img, hole):
    return harmonic_fill(img.astype(np.float32) / 255, ~hole)


def opencv(flag):
    import cv2

    def run(img, hole):
        bgr = cv2.inpaint(np.ascontiguousarray(img[..., ::-1]), hole.astype(np.uint8) * 255, 5, flag)
        return bgr[..., ::-1].astype(np.float32) / 255
    return run


def gmic(command):
    def run(img, hole):
        with tempfile.TemporaryDirectory() as tmp:
            Image.fromarray(img).save(f"{tmp}/i.png")
            Image.fromarray((hole * 255).astype(np.uint8)).save(f"{tmp}/m.png")
            subprocess.run(["gmic", f"{tmp}/i.png", f"{tmp}/m.png", f"{command}[0]", "[1]", "-o[0]", f"{tmp}/o.png"],
                           check=True, capture_output=True, timeout=300)
            return np.asarray(Image.open(f"{tmp}/o.png").convert("RGB"), np.float32) / 255
    return run


def methods(skip_gmic: bool, detail: list[float]):
    found = {"sfumato": ours, **{f"sfumato --detail {a:g}": ours_detail(a) for a in detail}, "harmonic prior": prior}
    try:
        import cv2
        found["opencv telea"] = opencv(cv2.INPAINT_TELEA)
        found["opencv ns"] = opencv(cv2.INPAINT_NS)
    except ImportError:
        print("(opencv-python-headless not installed: OpenCV methods skipped)")
    if not skip_gmic and shutil.which("gmic"):
        found["gmic pde"] = gmic("inpaint_pde")
        found["gmic matchpatch"] = gmic("inpaint_matchpatch")
    elif not skip_gmic:
        print("(gmic not installed: `apt-get install gmic` to compare with G'MIC)")
    return found


def load_photos(folder: Path) -> list[tuple[str, np.ndarray]]:
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".png", ".jpg") and "kodak" not in p.name.lower())
    photos = []
    for p in files:
        img = Image.open(p).convert("RGB")
        img.thumbnail((SIZE, SIZE), Image.LANCZOS)
        photos.append((p.stem, np.asarray(img.crop((0, 0, img.width // 16 * 16, img.height // 16 * 16)))))
    return photos


def trained_on() -> set[str]:
    """Stems of the photos the shipped model saw in training (they must not count as held-out): today's
    training photos, and the bundled ones its first 8,920 steps were trained on."""
    from export.train_inpaint import DATA
    earlier = ROOT / "export" / "data" / "photos"
    return {p.stem for folder in (DATA, earlier) if folder.exists() for p in folder.iterdir()}


def speed_12mp(runs: int = 3) -> float:
    img = np.asarray(Image.open(ROOT / "core" / "samples" / "coffee.jpg").resize((4240, 2832), Image.BICUBIC))
    hole = np.zeros(img.shape[:2], np.float32)
    side = int(np.sqrt(0.05 * hole.size))
    hole[1000:1000 + side, 1500:1500 + side] = 1.0
    inpaint(img, hole)  # warm-up: session creation
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        inpaint(img, hole)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def print_paired_gains(table, names) -> None:
    """Medians move by tenths of a dB with the photo set; the mean of per-mask differences (same
    photo, same hole) and its standard error say more about whether one method beats another."""
    classical = [n for n in names if not n.startswith("sfumato") and n != "harmonic prior"]
    ours_variants = [n for n in names if n.startswith("sfumato")]
    if not classical:
        return
    for kind in MASK_KINDS:
        best = max(classical, key=lambda n: np.median(np.array(table[kind][n])[:, 0]))
        ref = np.array(table[kind][best])[:, 0]
        cells = []
        for n in ours_variants:
            d = np.array(table[kind][n])[:, 0] - ref
            cells.append(f"{n} {d.mean():+.2f} ± {d.std(ddof=1) / np.sqrt(len(d)):.2f} dB")
        print(f"  {kind}: paired PSNR gain over {best} (mean ± s.e. over {len(ref)} masks): " + ", ".join(cells))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--photos", type=Path, default=ROOT.parent / "shared" / "data" / "photos")
    ap.add_argument("--per-kind", type=int, default=2, help="masks per photo and kind")
    ap.add_argument("--skip-gmic", action="store_true")
    ap.add_argument("--detail", type=float, nargs="*", default=[0.0],
                    help="detail amounts to score beside the default (0 = the network's fill alone)")
    ap.add_argument("--out", type=Path, help="picture grid (input with hole, each method)")
    args = ap.parse_args()
    photos = load_photos(args.photos)
    seen = trained_on()
    found = methods(args.skip_gmic, args.detail)
    rng = random.Random(1234)
    results = {k: {m: [] for m in found} for k in MASK_KINDS}
    held_out = {k: {m: [] for m in found} for k in MASK_KINDS}
    timing = {m: [] for m in found}
    grid = []
    for i, (stem, img) in enumerate(photos):
        truth = img.astype(np.float32) / 255
        for kind in MASK_KINDS:
            for _ in range(args.per_kind):
                side = max(img.shape[:2])
                hole = np.asarray(Image.fromarray(random_mask(side, rng, kind)).crop((0, 0, img.shape[1], img.shape[0])))
                if hole.mean() < 0.005:
                    continue
                row = [np.where(hole[..., None], 1.0, truth)]
                for name, fill in found.items():
                    t0 = time.perf_counter()
                    out = fill(img, hole)
                    timing[name].append(time.perf_counter() - t0)
                    results[kind][name].append(score(out, truth, hole))
                    if stem not in seen:
                        held_out[kind][name].append(results[kind][name][-1])
                    row.append(out)
                if kind == "object" and len(grid) < 4:
                    grid.append(row)
    names = list(found)
    n_held = sum(stem not in seen for stem, _ in photos)
    for title, table in ((f"all {len(photos)} photos", results), (f"{n_held} photos the model never saw", held_out)):
        if not any(table[k][names[0]] for k in MASK_KINDS):
            continue
        print(f"{title}, at {SIZE} px, {args.per_kind} masks per kind; medians over the hole: PSNR dB / SSIM / gradient ratio")
        print(f"{'mask':8s} " + " ".join(f"{n:>24s}" for n in names))
        for kind in MASK_KINDS:
            cells = []
            for n in names:
                s = np.array(table[kind][n])
                cells.append(f"{np.median(s[:, 0]):6.2f} / {np.median(s[:, 1]):.3f} / {np.median(s[:, 2]):.2f}")
            print(f"{kind:8s} " + " ".join(f"{c:>24s}" for c in cells))
        print_paired_gains(table, names)
    print("median seconds per fill: " + ", ".join(f"{n} {statistics.median(t):.3f}" for n, t in timing.items()))
    print(f"12 MP photo, one 5% region, full pipeline: {speed_12mp():.2f} s (median of 3)")
    if args.out and grid:
        h, w = grid[0][0].shape[:2]
        sheet = Image.new("RGB", (w * (len(names) + 1), (h + 16) * len(grid) + 16), "white")
        d = ImageDraw.Draw(sheet)
        for c, label in enumerate(["input"] + names):
            d.text((c * w + 4, 2), label, fill="black")
        for r, row in enumerate(grid):
            for c, img in enumerate(row):
                tile = Image.fromarray((np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)).resize((w, h))
                sheet.paste(tile, (c * w, 16 + r * (h + 16)))
        sheet.save(args.out)
        print(f"grid -> {args.out}")


if __name__ == "__main__":
    main()
