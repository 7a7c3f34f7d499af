"""Blind A/B sheets for two fill methods, and the score of a judge's answers against their key.

    python bench/ab_sheets.py make A_DIR B_DIR --out /tmp/ab/PAIR --key /tmp/ab_keys/PAIR.json
    python bench/ab_sheets.py score --key /tmp/ab_keys/PAIR.json --answers ANSWERS.txt

A_DIR and B_DIR hold the two methods' fills of the same holes under the same file names (what
`bench/bench_inpaint.py --save-fills DIR` writes: DIR/FAMILY-SIZE/METHOD/KIND-PHOTO.png). `make` writes one
sheet per hole, 01.png, 02.png, ...: the two whole pictures side by side at full size, in random order,
under the bare labels L and R; the hole is not outlined and the methods are not named. The sheets are
shuffled too, so neither the order nor the side tells the method. The key (which side is which) goes to
a file of its own; keep it away from the judges (outside the sheets' folder).

The judge's question: which picture looks more like an unedited photograph? Answers: one line per sheet,
`NN L`, `NN R` or `NN =` (cannot tell); a bare `L`/`R`/`=` per line is read in sheet order. `score` prints
how often each method was preferred, per mask kind and in all, and the share for A with ties left out.
"""
from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

from PIL import Image, ImageDraw

GAP = 24    # px between the two pictures
LABEL = 28  # px of label band above them


def make(a_dir: Path, b_dir: Path, out: Path, key: Path, seed: int = 0, kinds=None, max_side: int = 0) -> int:
    names = sorted(p.name for p in a_dir.glob("*.png") if (b_dir / p.name).exists()
                   and (not kinds or p.name.split("-", 1)[0] in kinds))
    if not names:
        raise SystemExit(f"no fills in both {a_dir} and {b_dir}")
    if out.resolve() in key.resolve().parents:
        raise SystemExit("keep the key outside the sheets' folder: judges see that folder")
    rng = random.Random(seed)
    rng.shuffle(names)
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.png"):
        old.unlink()
    entries = []
    for i, name in enumerate(names, start=1):
        a_left = rng.random() < 0.5
        left, right = (a_dir, b_dir) if a_left else (b_dir, a_dir)
        pics = [Image.open(d / name).convert("RGB") for d in (left, right)]
        if max_side and max(pics[0].size) > max_side:
            for p in pics:
                p.thumbnail((max_side, max_side), Image.LANCZOS)
        w, h = pics[0].size
        sheet = Image.new("RGB", (2 * w + GAP, h + LABEL), "white")
        draw = ImageDraw.Draw(sheet)
        for j, (pic, label) in enumerate(zip(pics, "LR")):
            sheet.paste(pic, (j * (w + GAP), LABEL))
            draw.text((j * (w + GAP) + w // 2, 6), label, fill="black")
        sheet.save(out / f"{i:02d}.png")
        entries.append({"sheet": f"{i:02d}", "file": name, "kind": name.split("-", 1)[0],
                        "left": "A" if a_left else "B", "right": "B" if a_left else "A"})
    key.parent.mkdir(parents=True, exist_ok=True)
    key.write_text(json.dumps({"A": str(a_dir), "B": str(b_dir), "sheets": entries}, indent=1))
    print(f"{len(entries)} sheets -> {out}; key -> {key}")
    return len(entries)


def read_answers(text: str, count: int) -> dict[str, str]:
    answers, bare = {}, []
    for line in text.splitlines():
        parts = line.replace(",", " ").replace(":", " ").split()
        if not parts or parts[0].startswith("#"):
            continue
        if len(parts) == 1:
            bare.append(parts[0])
        else:
            answers[f"{int(parts[0].removesuffix('.png')):02d}"] = parts[1]
    if bare and answers:
        raise SystemExit("mix of numbered and bare answers: use one form")
    if bare:
        answers = {f"{i:02d}": a for i, a in enumerate(bare, start=1)}
    bad = {k: v for k, v in answers.items() if v.upper() not in ("L", "R", "=")}
    if bad:
        raise SystemExit(f"answers must be L, R or =: {bad}")
    if len(answers) != count:
        print(f"warning: {len(answers)} answers for {count} sheets", file=sys.stderr)
    return {k: v.upper() for k, v in answers.items()}


def score(key: Path, answers_file: Path) -> dict:
    data = json.loads(key.read_text())
    answers = read_answers(answers_file.read_text(), len(data["sheets"]))
    counts: dict[str, dict[str, int]] = {}
    for e in data["sheets"]:
        said = answers.get(e["sheet"])
        if said is None:
            continue
        winner = "=" if said == "=" else e["left"] if said == "L" else e["right"]
        for group in (e["kind"], "all"):
            counts.setdefault(group, {"A": 0, "B": 0, "=": 0})[winner] += 1
    print(f"A = {data['A']}\nB = {data['B']}")
    for group, c in counts.items():
        decided = c["A"] + c["B"]
        share = f"{100 * c['A'] / decided:.0f}%" if decided else "-"
        print(f"{group:8s} A preferred {c['A']}, B preferred {c['B']}, can't tell {c['=']}; "
              f"A's share of decided {share}; A's share counting ties as half "
              f"{100 * (c['A'] + c['='] / 2) / max(1, decided + c['=']):.0f}%")
    return counts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)
    m = sub.add_parser("make")
    m.add_argument("a", type=Path)
    m.add_argument("b", type=Path)
    m.add_argument("--out", type=Path, required=True)
    m.add_argument("--key", type=Path, required=True)
    m.add_argument("--seed", type=int, default=0)
    m.add_argument("--kinds", nargs="*", help="only these mask kinds (file names KIND-PHOTO.png)")
    m.add_argument("--max-side", type=int, default=0, help="shrink each picture to this long side (0: full size)")
    s = sub.add_parser("score")
    s.add_argument("--key", type=Path, required=True)
    s.add_argument("--answers", type=Path, required=True)
    args = ap.parse_args()
    if args.command == "make":
        make(args.a, args.b, args.out, args.key, args.seed, args.kinds, args.max_side)
    else:
        score(args.key, args.answers)


if __name__ == "__main__":
    main()
