"""Inpainting quality and speed, scored on what users get: the CLI's and GIMP's default settings.

    python bench/bench_inpaint.py [--photos DIR] [--sizes 384 full] [--families unseen train]
                                  [--variant grow=0,detail=0 ...] [--candidate FILE.onnx] [--out grid.jpg]

Photos: the held-out photos (`python -m sfumato.export prepare inpaint-data` puts every 10th photo there; the
model never trains on them; never Kodak). Two mask families: `train`, drawn by the training generator
(export.inpaint_masks.random_mask), and `unseen`, drawn by bench/eval_masks.py, which no training code
imports (thin scratches, irregular blobs, a 25% box, real object outlines, grown by a lasso's
overshoot). Two resolutions: 384 px long side, and the photo's own size ("full", >= 768 px).
Holes are greyed out before any method sees them; only hole pixels are scored: PSNR, SSIM, the
gradient-energy ratio (1 = as sharp as the truth; blurry fills score low) and a perceptual distance
judged by a network the model is not trained with (bench/perceptual.py; lower is better).

"sfumato" is `sfumato inpaint IN --mask M -o OUT` with no options (InpaintOptions(), which the CLI,
worker and GIMP dialog share); every other setting is named beside its numbers. Methods in the same
run: the harmonic prior alone, OpenCV (Telea, Navier-Stokes; `pip install opencv-python-headless`)
and G'MIC (inpaint_pde, and inpaint_matchpatch with --matchpatch; `apt-get install gmic`).
Paired gains are means of per-mask differences (same photo, same hole) with their standard error.
Speed: a 12-megapixel photo with one 5% region, defaults: the inpaint() call and the whole command.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from sfumato.inpainting.pipeline import InpaintOptions, inpaint  # noqa: E402
from sfumato.inpainting.priors import harmonic_fill  # noqa: E402
from eval_masks import KINDS, unseen_mask  # noqa: E402
from perceptual import PerceptualJudge  # noqa: E402
from realism import RealismJudge  # noqa: E402
from scores import grad_ratio, psnr, ssim  # noqa: E402

SMALL = 384
FULL_MIN = 768
GREY = 128  # what a hole holds before any method sees it
METRICS = ("psnr", "ssim", "grad", "perc")
LARGE = ("box", "object")  # the kinds the realism judge and the saved fills (A/B sheets) are for
HIGHER_IS_BETTER = {"psnr": True, "ssim": True, "grad": None, "perc": False}  # grad: nearest 1 is best


# --- methods: each takes (uint8 H x W x 3 with the hole greyed out, bool hole) -> float 0..1 --------

def sfumato(options: InpaintOptions):
    def run(img, hole):
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


def patchmatch(patch_size: int):
    """PyPI `pypatchmatch` (the infill InvokeAI uses): PatchMatch hole filling, the family of Content-Aware
    Fill and Resynthesizer's Heal Selection."""
    from patchmatch import patch_match

    def run(img, hole):
        return patch_match.inpaint(np.ascontiguousarray(img), hole.astype(np.uint8) * 255,
                                   patch_size=patch_size).astype(np.float32) / 255
    return run


def gmic(command):
    def run(img, hole):  # its own process: run_cases overlaps it with the in-process fills
        with tempfile.TemporaryDirectory() as tmp:
            Image.fromarray(img).save(f"{tmp}/i.png")
            Image.fromarray((hole * 255).astype(np.uint8)).save(f"{tmp}/m.png")
            subprocess.run(["gmic", f"{tmp}/i.png", f"{tmp}/m.png", f"{command}[0]", "[1]", "-o[0]", f"{tmp}/o.png"],
                           check=True, capture_output=True, timeout=600)
            return np.asarray(Image.open(f"{tmp}/o.png").convert("RGB"), np.float32) / 255
    run.own_process = True
    return run


def parse_variant(text: str) -> InpaintOptions:
    """'grow=0,detail=0' -> the defaults with those fields changed."""
    fields = {}
    for item in text.split(","):
        key, _, value = item.partition("=")
        default = getattr(InpaintOptions(), key)
        fields[key] = type(default)(value)
    return replace(InpaintOptions(), **fields)


def register_models(files: dict[str, Path]) -> None:
    """Register ONNX files (same convention as the shipped model) under the given names in a
    throwaway user folder, so they run through exactly the same pipeline as the shipped one."""
    from sfumato.runtime import manifest
    home = Path(tempfile.mkdtemp(prefix="sfumato-bench-"))
    (home / "models").mkdir()
    entries = {}
    for name, path in files.items():
        shutil.copy(path, home / "models" / f"{name}.onnx")
        entries[name] = dict(manifest.get_model("sfumato-inpaint").entry, file=f"{name}.onnx",
                             sha256=manifest.sha256_file(home / "models" / f"{name}.onnx"))
    (home / "models" / "manifest.json").write_text(json.dumps({"models": entries}))
    os.environ["SFUMATO_HOME"] = str(home)


def methods(args) -> dict:
    register_models({name: path for name, path in (("candidate", args.candidate), ("previous", args.previous),
                                                   ("experiment", args.experiment)) if path})
    found = {"sfumato": sfumato(InpaintOptions())}
    for text in args.variant:
        found[f"sfumato {text}"] = sfumato(parse_variant(text))
    if args.candidate:
        found["candidate"] = sfumato(InpaintOptions(model="candidate"))
        for text in args.variant:
            found[f"candidate {text}"] = sfumato(replace(parse_variant(text), model="candidate"))
    if args.previous:
        found["sfumato, previous model"] = sfumato(InpaintOptions(model="previous"))
    if args.experiment:
        found["experiment (not shipped)"] = sfumato(InpaintOptions(model="experiment"))
    found["harmonic prior"] = prior
    try:
        import cv2
        found["opencv telea"] = opencv(cv2.INPAINT_TELEA)
        found["opencv ns"] = opencv(cv2.INPAINT_NS)
    except ImportError:
        print("(opencv-python-headless not installed: OpenCV methods skipped)")
    try:
        from patchmatch import patch_match
        if patch_match.patchmatch_available:
            found["patchmatch"] = patchmatch(3)
            if args.patchmatch_default:
                found["patchmatch 15"] = patchmatch(15)  # patch_match.inpaint's own default patch size
    except ImportError:
        print("(pypatchmatch not installed: PatchMatch skipped)")
    if args.no_gmic:
        pass
    elif shutil.which("gmic"):
        found["gmic pde"] = gmic("inpaint_pde")
        if args.matchpatch:
            found["gmic matchpatch"] = gmic("inpaint_matchpatch")
    else:
        print("(gmic not installed: `apt-get install gmic` to compare with G'MIC)")
    return found


def ours(name: str) -> bool:
    return name.startswith(("sfumato", "candidate", "experiment"))


def classical(name: str) -> bool:
    return not ours(name) and name != "harmonic prior"


# --- photos and cases ----------------------------------------------------------------------------

def default_photos() -> Path:
    from sfumato.export.source import CACHE
    held_out = CACHE / "inpaint-holdout"
    if not held_out.exists():
        raise SystemExit(f"no held-out photos in {held_out}: run `python -m sfumato.export prepare inpaint-data` first")
    return held_out


def load_photos(folder: Path, size: str, limit: int) -> list[tuple[str, np.ndarray]]:
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg")
                   and "kodak" not in p.name.lower())
    photos = []
    for p in files:
        img = Image.open(p).convert("RGB")
        if size == "full":
            if max(img.size) < FULL_MIN:
                continue
        else:
            img.thumbnail((SMALL, SMALL), Image.LANCZOS)
        photos.append((p.stem, np.asarray(img)))
    if limit and len(photos) > limit:  # spread over the sorted list, not the first few sources
        photos = [photos[round(i * len(photos) / limit)] for i in range(limit)]
    return photos


def draw_mask(family: str, kind: str, h: int, w: int, rng: random.Random) -> np.ndarray:
    if family == "unseen":
        return unseen_mask(h, w, rng, kind)
    from sfumato.export.inpaint_masks import random_mask
    side = max(h, w)
    return np.asarray(Image.fromarray(random_mask(side, rng, kind)).crop((0, 0, w, h)))


def _timed(fill, given, hole):
    t0 = time.perf_counter()
    out = fill(given, hole)
    return out, time.perf_counter() - t0


def run_cases(photos, family, found, judge, rng, grid, realism=None, save=None, kinds=KINDS):
    """Scores per kind and method: lists of (psnr, ssim, grad, perc); timing per method.
    A method that runs in a process of its own (G'MIC: ~8 s a fill at full size, on one core) runs on
    a thread beside the in-process ones, so the bench takes about half as long; the seconds per fill
    it prints are then measured while the two share the machine."""
    table = {k: {m: [] for m in found} for k in KINDS}
    timing = {m: [] for m in found}
    with ThreadPoolExecutor(max_workers=1) as beside:
        for stem, img in photos:
            truth = img.astype(np.float32) / 255
            truth_features = judge.features(truth)
            for kind in KINDS:
                hole = draw_mask(family, kind, *img.shape[:2], rng)  # drawn for every kind: the same masks whichever run
                if kind not in kinds or hole.mean() < 0.002 or hole.all():
                    continue
                given = np.where(hole[..., None], np.uint8(GREY), img)
                started = {name: beside.submit(_timed, fill, given, hole)
                           for name, fill in found.items() if getattr(fill, "own_process", False)}
                done = {name: _timed(fill, given, hole) for name, fill in found.items() if name not in started}
                done |= {name: future.result() for name, future in started.items()}
                row = [given.astype(np.float32) / 255]
                for name in found:  # in the methods' order, whichever finished first
                    out, seconds = done[name]
                    timing[name].append(seconds)
                    table[kind][name].append((psnr(out[hole], truth[hole]), ssim(out, truth, hole),
                                              grad_ratio(out, truth, hole), judge.distance(out, truth, hole, truth_features)))
                    row.append(out)
                    if realism is not None and kind in LARGE:
                        realism.add_fill(name, kind, out, hole)
                    if save is not None and kind in LARGE:
                        keep = save / name.replace(" ", "_").replace("=", "-").replace(",", "+")
                        keep.mkdir(parents=True, exist_ok=True)
                        Image.fromarray((np.clip(out, 0, 1) * 255 + 0.5).astype(np.uint8)).save(keep / f"{kind}-{stem}.png")
                if realism is not None and kind in LARGE:
                    realism.add_real(truth, hole, np.random.default_rng(len(realism.real)), n=4)
                    realism.add_fill("unedited photo", kind, truth, hole)
                if kind == "object" and grid is not None:
                    grid.append((stem, row))
    return table, timing


# --- report --------------------------------------------------------------------------------------

def medians(rows) -> dict:
    a = np.array(rows)
    return {m: float(np.median(a[:, i])) for i, m in enumerate(METRICS)}


def best_classical(table_kind) -> dict:
    """Per metric, the best classical method's median (and its name)."""
    best = {}
    for i, m in enumerate(METRICS):
        cands = {n: medians(r)[m] for n, r in table_kind.items() if classical(n) and r}
        if not cands:
            continue
        if HIGHER_IS_BETTER[m] is None:
            name = min(cands, key=lambda n: abs(np.log(max(cands[n], 1e-6))))
        else:
            name = (max if HIGHER_IS_BETTER[m] else min)(cands, key=cands.get)
        best[m] = (name, cands[name])
    return best


def targets(kind: str, ours_med: dict, best: dict, shipped: dict | None) -> list[str]:
    """The issue's targets for one kind; returns what is missed (empty = met)."""
    missed = []
    if not best:
        return ["no classical method to compare with"]
    if kind in ("strokes", "blobs"):
        if ours_med["psnr"] < best["psnr"][1] + 1.0:
            missed.append(f"PSNR {ours_med['psnr']:.2f} < best classical + 1 ({best['psnr'][1] + 1:.2f})")
        if ours_med["ssim"] <= best["ssim"][1]:
            missed.append(f"SSIM {ours_med['ssim']:.3f} <= {best['ssim'][1]:.3f}")
    else:
        if ours_med["perc"] > 0.85 * best["perc"][1]:
            missed.append(f"perceptual {ours_med['perc']:.3f} > 0.85 x best classical ({0.85 * best['perc'][1]:.3f})")
        if shipped is not None and ours_med["perc"] >= shipped["perc"]:
            missed.append(f"perceptual {ours_med['perc']:.3f} not below the shipped model's {shipped['perc']:.3f}")
        if ours_med["psnr"] < best["psnr"][1]:
            missed.append(f"PSNR {ours_med['psnr']:.2f} < best classical {best['psnr'][1]:.2f}")
        if not 0.6 <= ours_med["grad"] <= 1.2:
            missed.append(f"gradient ratio {ours_med['grad']:.2f} outside 0.6-1.2")
    if ours_med["ssim"] < best["ssim"][1] and kind not in ("strokes", "blobs"):
        missed.append(f"SSIM {ours_med['ssim']:.3f} below best classical {best['ssim'][1]:.3f}")
    return missed


def report(title: str, table: dict, target_of: str, realism=None) -> dict:
    first = next((k for k in KINDS if any(table[k].values())), KINDS[0])
    names = [n for n in table[first] if table[first][n]]
    print(f"\n## {title}: medians over the hole, PSNR dB / SSIM / gradient ratio / perceptual distance")
    print(f"{'mask':8s} " + " ".join(f"{n[:30]:>30s}" for n in names))
    summary = {}
    for kind in KINDS:
        if not table[kind][names[0]]:
            continue
        meds = {n: medians(table[kind][n]) for n in names}
        print(f"{kind:8s} " + " ".join(f"{'{psnr:6.2f} / {ssim:.3f} / {grad:.2f} / {perc:.3f}'.format(**meds[n]):>30s}"
                                       for n in names))
        summary[kind] = {"n": len(table[kind][names[0]]), "medians": meds}
        if realism is not None and kind in LARGE:  # no reference: a distribution distance, x1000
            real = {n: 1000 * realism.distance(n, kind) for n in names}
            summary[kind]["realism_kid_x1000"] = real
            floor = 1000 * realism.distance("unedited photo", kind)
            summary[kind]["realism_kid_x1000"]["unedited photo"] = floor
            print(f"{'  KIDx1e3':8s} " + " ".join(f"{real[n]:>30.2f}" for n in names) + f"   (unedited photo: {floor:.2f})")
    for kind, s in summary.items():
        best = best_classical(table[kind])
        if "psnr" not in best:
            continue
        ref_name = best["psnr"][0]
        ref = np.array(table[kind][ref_name])
        cells = []
        for n in names:
            if not ours(n):
                continue
            d = np.array(table[kind][n])[:, 0] - ref[:, 0]
            ratio = np.median(np.array(table[kind][n])[:, 3]) / max(np.median(ref[:, 3]), 1e-9)
            cells.append(f"{n}: {d.mean():+.2f} ± {d.std(ddof=1) / np.sqrt(len(d)):.2f} dB, perceptual x{ratio:.2f}")
        print(f"  {kind} vs {ref_name} (paired over {len(ref)} masks): " + "; ".join(cells))
        s["paired"] = f"vs {ref_name}, paired over {len(ref)} masks: " + "; ".join(cells)
        # the perceptual target: below the model that is shipped now (or was, before this one)
        shipped = s["medians"].get("sfumato, previous model") or (s["medians"]["sfumato"] if target_of != "sfumato" else None)
        missed = targets(kind, s["medians"][target_of], best, shipped)
        s["best_classical"] = {m: list(v) for m, v in best.items()}
        s["targets_missed"] = missed
        print(f"  {kind} targets for {target_of}: " + ("met" if not missed else "MISSED: " + "; ".join(missed)))
    return summary


def markdown(results: dict) -> str:
    """The README's tables, from the bench's own numbers: one per mask family and resolution."""
    parts = []
    for key, table in results.items():
        if not isinstance(table, dict) or not table:
            continue
        family, size = key.split("-")
        names = list(next(iter(table.values()))["medians"])
        kinds = list(table)
        parts.append(f"**{family} masks, {'384 px' if size == '384' else 'full size'}** "
                     f"({table[kinds[0]]['n']} masks per kind): PSNR dB / SSIM / gradient ratio / perceptual distance\n")
        parts.append("| mask | " + " | ".join(names) + " |")
        parts.append("|---" * (len(names) + 1) + "|")
        for kind in kinds:
            meds = table[kind]["medians"]
            cells = [f"{m['psnr']:.2f} / {m['ssim']:.3f} / {m['grad']:.2f} / {m['perc']:.3f}" for m in meds.values()]
            parts.append(f"| {kind} | " + " | ".join(cells) + " |")
        parts.append("")
        for kind in kinds:
            missed = table[kind].get("targets_missed")
            gains = table[kind].get("paired", "")
            parts.append(f"- {kind}: {gains}; targets " + ("met" if not missed else "missed: " + "; ".join(missed)))
        parts.append("")
    return "\n".join(parts)


def speed_12mp(runs: int = 5) -> tuple[float, float]:
    """Seconds for a 12 MP photo (4240x2832 JPEG) with one 5% region at the defaults, medians of `runs`:
    the `inpaint()` call in a warm process, and the whole command as a user types it (a new process:
    start, imports, model session, reading the JPEG, the fill, writing the PNG)."""
    img = np.asarray(Image.open(ROOT / "core" / "samples" / "coffee.jpg").resize((4240, 2832), Image.BICUBIC))
    hole = np.zeros(img.shape[:2], np.float32)
    side = int(np.sqrt(0.05 * hole.size))
    hole[1000:1000 + side, 1500:1500 + side] = 1.0
    inpaint(img, hole)  # warm-up: session creation
    calls, commands = [], []
    command = Path(sys.executable).parent / "sfumato"
    command = [str(command)] if command.exists() else [sys.executable, "-m", "sfumato.cli"]
    with tempfile.TemporaryDirectory() as tmp:
        Image.fromarray(img).save(f"{tmp}/photo.jpg", quality=92)
        Image.fromarray((hole * 255).astype(np.uint8)).save(f"{tmp}/mask.png")
        for _ in range(runs):  # interleaved, so a busy moment hits both alike
            t0 = time.perf_counter()
            inpaint(img, hole)
            calls.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            subprocess.run(command + ["inpaint", f"{tmp}/photo.jpg", "--mask", f"{tmp}/mask.png", "-o", f"{tmp}/out.png"],
                           check=True, capture_output=True)
            commands.append(time.perf_counter() - t0)
    return statistics.median(calls), statistics.median(commands)


def spoon_row(found) -> tuple[str, list]:
    """The demo's object removal (`make demo`): the spoon beside the cup, every method."""
    img = np.asarray(Image.open(ROOT / "core" / "samples" / "coffee.jpg").convert("RGB"))
    hole = np.asarray(Image.open(ROOT / "core" / "samples" / "coffee_spoon_mask.png").convert("L")) > 127
    given = np.where(hole[..., None], np.uint8(GREY), img)
    return "spoon", [given.astype(np.float32) / 255] + [fill(given, hole) for fill in found.values()]


def save_grid(grid, names, path: Path, tile: int = 320) -> None:
    rows = grid[:5]
    labels = ["input"] + names
    h = max(round(tile * r[0].shape[0] / r[0].shape[1]) for _, r in rows)
    sheet = Image.new("RGB", (tile * len(labels), (h + 16) * len(rows) + 16), "white")
    d = ImageDraw.Draw(sheet)
    for c, label in enumerate(labels):
        d.text((c * tile + 4, 2), label[:40], fill="black")
    for r, (_, row) in enumerate(rows):
        for c, img in enumerate(row):
            t = Image.fromarray((np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8))
            t = t.resize((tile, round(tile * t.height / t.width)), Image.LANCZOS)
            sheet.paste(t, (c * tile, 16 + r * (h + 16)))
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path, quality=90)
    print(f"grid -> {path}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--photos", type=Path, default=None, help="default: the held-out photos")
    ap.add_argument("--sizes", nargs="+", default=["384", "full"], choices=["384", "full"])
    ap.add_argument("--families", nargs="+", default=["unseen", "train"], choices=["unseen", "train"])
    ap.add_argument("--full-photos", type=int, default=12, help="photos scored at full size (0 = all)")
    ap.add_argument("--small-photos", type=int, default=0, help="photos scored at 384 px (0 = all)")
    ap.add_argument("--variant", action="append", default=[],
                    help="another setting to score beside the defaults, e.g. grow=0,detail=0 (repeatable)")
    ap.add_argument("--candidate", type=Path, help="an ONNX of the shipped convention to score beside it (targets: its)")
    ap.add_argument("--previous", type=Path, help="the model shipped before this one, shown beside it")
    ap.add_argument("--experiment", type=Path, help="a model tried and not shipped, shown beside it (targets stay the shipped one's)")
    ap.add_argument("--matchpatch", action="store_true", help="also G'MIC inpaint_matchpatch (slow)")
    ap.add_argument("--no-speed", action="store_true")
    ap.add_argument("--kinds", nargs="+", default=list(KINDS), choices=KINDS, help="mask kinds to score")
    ap.add_argument("--patchmatch-default", action="store_true", help="also PatchMatch at its own default patch size (15)")
    ap.add_argument("--no-gmic", action="store_true", help="leave G'MIC out (~8 s a fill at full size)")
    ap.add_argument("--save-fills", type=Path, help="keep every box and object fill here (for bench/ab_sheets.py)")
    ap.add_argument("--out", type=Path, help="picture grid of object removals at full size")
    ap.add_argument("--json", type=Path, help="write every median and target here")
    ap.add_argument("--markdown", type=Path, help="write the README's tables here")
    args = ap.parse_args()
    folder = args.photos or default_photos()
    found = methods(args)
    judge = PerceptualJudge()
    target_of = "candidate" if args.candidate else "sfumato"
    results, grid = {}, []
    t_start = time.perf_counter()
    for size in args.sizes:
        photos = load_photos(folder, size, args.full_photos if size == "full" else args.small_photos)
        for family in args.families:
            rng = random.Random(f"{family}-{size}")  # same masks for every method and every run
            realism = RealismJudge(judge)
            save = args.save_fills / f"{family}-{size}" if args.save_fills else None
            table, timing = run_cases(photos, family, found, judge, rng, grid if size == "full" and family == "unseen" else None,
                                      realism, save, args.kinds)
            title = f"{family} masks, {'384 px' if size == '384' else 'full size'}, {len(photos)} photos"
            results[f"{family}-{size}"] = report(title, table, target_of, realism)
            print("  median seconds per fill: " + ", ".join(f"{n} {statistics.median(t):.2f}" for n, t in timing.items() if t))
    print(f"\nbench time {(time.perf_counter() - t_start) / 60:.1f} min")
    if not args.no_speed:
        results["speed_12mp_s"], results["speed_12mp_command_s"] = speed_12mp()
        print(f"12 MP photo, one 5% region, defaults: inpaint() {results['speed_12mp_s']:.2f} s, the whole command "
              f"`sfumato inpaint photo.jpg --mask mask.png -o out.png` {results['speed_12mp_command_s']:.2f} s "
              "(target <= 1.5 s; medians of 5, interleaved)")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    if args.markdown:
        args.markdown.write_text(markdown(results))
        print(f"tables -> {args.markdown}")
    if args.out and grid:
        save_grid([spoon_row(found)] + grid, list(found), args.out)


if __name__ == "__main__":
    main()
