"""`python -m export prepare inpaint-data`: photographs for inpainting training, from offline sources
only: Debian's photographic wallpaper packages (fetched with apt-get download from the Debian
archive and unpacked without installing) and the bundled scikit-image/scikit-learn photos.
Photos are resized to a long side of 768 px into ~/.cache/sfumato/inpaint-photos. Never Kodak.
"""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
from PIL import Image

from . import source
from .train_inpaint import DATA

PACKAGES = ["gnome-backgrounds", "mate-backgrounds", "plasma-workspace-wallpapers", "ukui-wallpapers"]
BUNDLED = Path(__file__).resolve().parent / "data" / "photos"
LONG_SIDE = 768


def looks_like_a_photo(img: Image.Image) -> bool:
    """Rendered abstract wallpapers are smooth gradients or flat shapes; photos carry fine texture."""
    a = np.asarray(img.convert("L").resize((256, 256)), np.float32)
    lap = np.abs(4 * a[1:-1, 1:-1] - a[:-2, 1:-1] - a[2:, 1:-1] - a[1:-1, :-2] - a[1:-1, 2:])
    return float((lap > 8).mean()) > 0.08


def prepare() -> None:
    debs = source.CACHE / "debs"
    unpacked = source.CACHE / "wallpapers"
    debs.mkdir(parents=True, exist_ok=True)
    if not any(debs.glob("*.deb")):
        subprocess.run(["apt-get", "download", *PACKAGES], cwd=debs, check=True)
    for deb in debs.glob("*.deb"):
        subprocess.run(["dpkg", "-x", str(deb), str(unpacked)], check=True)
    shutil.rmtree(DATA, ignore_errors=True)
    DATA.mkdir(parents=True, exist_ok=True)
    kept = skipped = 0
    # one file per picture: KDE ships each wallpaper at many resolutions (NAME/contents/images/WxH.jpg)
    largest: dict[str, Path] = {}
    for p in sorted(unpacked.rglob("*")):
        if p.suffix.lower() not in (".jpg", ".jpeg", ".png") or "kodak" in str(p).lower():
            continue
        key = p.parts[-4] if "contents" in p.parts else re.sub(r"[_-]?\d+x\d+$", "", p.stem)
        if key not in largest or p.stat().st_size > largest[key].stat().st_size:
            largest[key] = p
    candidates = sorted(largest.items()) + [(p.stem, p) for p in sorted(BUNDLED.glob("*.jpg"))]
    for key, path in candidates:
        try:
            img = Image.open(path).convert("RGB")
        except OSError:
            continue
        if min(img.size) < 400:
            continue
        if path.parent != BUNDLED and not looks_like_a_photo(img):
            skipped += 1
            continue
        img.thumbnail((LONG_SIDE, LONG_SIDE), Image.LANCZOS)
        img.save(DATA / f"{key}.jpg", quality=92)
        kept += 1
    print(f"{kept} photos in {DATA} ({skipped} rendered/abstract wallpapers left out)")
