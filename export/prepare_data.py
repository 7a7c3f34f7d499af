"""`python -m sfumato.export prepare inpaint-data`: training images for inpainting, from offline sources only.

- Photographs: Debian's photographic wallpaper packages, the photos in a few other Debian packages
  (Palapeli's puzzle photos, OpenCV's sample photos, Stellarium's landscape panoramas, the monument,
  animal, music, nature and object photos of six GCompris activities, read out of their Qt resource
  bundles). Long side <= 1280 px into ~/.cache/sfumato/inpaint-photos.
  Every 10th photo (by a hash of its name) goes to inpaint-holdout instead: never trained on, so
  the benchmark can report photos the model has not seen (`bench/bench_inpaint.py --photos`).
- Surface textures: the photo-based textures of two free games (UFO: Alien Invasion, OpenArena),
  into inpaint-photos/textures; training mixes them in for texture variety (--texture-share).
  Normal, specular and glow maps are not photographs and are left out by name.
Packages are fetched with `apt-get download` from the Debian archive and unpacked without being
installed. Never Kodak: those images are reserved for independent evaluation.
"""
from __future__ import annotations

import hashlib
import io
import re
import shutil
import struct
import subprocess
import zipfile
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

from . import source
from .inpaint_data import DATA, HOLDOUT

# package -> the folder inside it that holds photographs ("" = anywhere)
PHOTO_PACKAGES = {
    "gnome-backgrounds": "", "mate-backgrounds": "", "plasma-workspace-wallpapers": "", "ukui-wallpapers": "",
    "lomiri-wallpapers-16.04": "", "lomiri-wallpapers-20.04": "", "palapeli-data": "usr/share/palapeli/collection",
    "opencv-doc": "usr/share/doc/opencv-doc/examples/data", "stellarium-data": "usr/share/stellarium/landscapes",
}
# package -> its Qt resource bundles (.rcc) that hold photographs (the other activities are drawings)
RCC_PHOTO_PACKAGES = {
    "gcompris-qt-data": ["explore_monuments", "erase", "explore_world_animals", "explore_farm_animals",
                         "explore_world_music", "categorization"],
}
TEXTURE_PACKAGES = ["ufoai-textures", "openarena-081-textures"]
# near-duplicates (OpenCV's stereo calibration series) would outweigh everything else
DUPLICATES = re.compile(r"^(left|right)\d+$")
NOT_A_PHOTO = re.compile(r"(_nm|_norm|_normal|_n|_sm|_spec|_gm|_glow|_rm|_bump|_h|_height|_ao|_blend)$", re.I)
# OpenCV samples the hash would hold out while their twin trains: the other stereo view (aloeL),
# the next frame (basketball1), the same photo re-saved (ela_modified), the object in a scene (box_in_scene)
HAS_A_TRAINING_TWIN = {"aloeR", "basketball2", "ela_original", "box"}
LONG_SIDE = 1280
MIN_PHOTO_SIDE = 160  # one training crop (GCompris's categorisation photos are 320 x ~200)
TEXTURE_SIDE = 512


def looks_like_a_photo(img: Image.Image) -> bool:
    """Rendered abstract wallpapers are smooth gradients or flat shapes; photos carry fine texture."""
    a = np.asarray(img.convert("L").resize((256, 256)), np.float32)
    lap = np.abs(4 * a[1:-1, 1:-1] - a[:-2, 1:-1] - a[2:, 1:-1] - a[1:-1, :-2] - a[1:-1, 2:])
    return float((lap > 8).mean()) > 0.08


def every_tenth(key: str) -> bool:
    return int(hashlib.sha256(key.encode()).hexdigest(), 16) % 10 == 0


def held_out(key: str) -> bool:
    """Every 10th photo by hash, except one whose near-twin is a training photo (an unseen photo
    that the model has in effect seen would flatter the benchmark)."""
    return key not in HAS_A_TRAINING_TWIN and every_tenth(key)


def fetch(packages: list[str]) -> Path:
    """Download (once) and unpack each package; returns the folder holding one subfolder per package."""
    debs, unpacked = source.CACHE / "debs", source.CACHE / "packages"
    debs.mkdir(parents=True, exist_ok=True)
    missing = [p for p in packages if not any(debs.glob(f"{p}_*.deb"))]
    if missing:
        subprocess.run(["apt-get", "download", *missing], cwd=debs, check=True)
    for p in packages:
        if not (unpacked / p).exists():
            deb, tmp = next(debs.glob(f"{p}_*.deb")), unpacked / f"{p}.partial"
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
            subprocess.run(["dpkg", "-x", str(deb), str(tmp)], check=True)
            tmp.rename(unpacked / p)  # complete or absent: an interrupted unpack is redone
    return unpacked


def photo_candidates(unpacked: Path) -> list[tuple[str, Path]]:
    # one file per picture: KDE ships each wallpaper at many resolutions (NAME/contents/images/WxH.jpg)
    largest: dict[str, Path] = {}
    for package, folder in PHOTO_PACKAGES.items():
        for p in sorted((unpacked / package / folder).rglob("*")):
            if (p.suffix.lower() not in (".jpg", ".jpeg", ".png") or "kodak" in str(p).lower()
                    or DUPLICATES.match(p.stem)):
                continue
            key = p.parts[-4] if "contents" in p.parts else re.sub(r"[_-]?\d+x\d+$", "", p.stem)
            if key not in largest or p.stat().st_size > largest[key].stat().st_size:
                largest[key] = p
    return sorted(largest.items())


def rcc_files(data: bytes):
    """(path, bytes) of every file in a Qt resource bundle (.rcc, format versions 1-3): a header,
    a tree of fixed-size entries, a names table (UTF-16) and a data table (zlib-compressed or not)."""
    if data[:4] != b"qres":
        raise ValueError("not a Qt resource bundle")
    version, tree, payload, names = struct.unpack(">IIII", data[4:20])
    entry_size = 14 if version == 1 else 22  # version 2+ adds a modification time

    def name(offset: int) -> str:
        length = struct.unpack(">H", data[names + offset:names + offset + 2])[0]
        return data[names + offset + 6:names + offset + 6 + 2 * length].decode("utf-16-be")

    def walk(index: int, prefix: str):
        at = tree + index * entry_size
        name_offset, flags = struct.unpack(">IH", data[at:at + 6])
        here = prefix + name(name_offset) if index else ""
        if flags & 2:  # a directory: its children are consecutive entries
            count, first = struct.unpack(">II", data[at + 6:at + 14])
            for child in range(first, first + count):
                yield from walk(child, here + "/")
            return
        offset = payload + struct.unpack(">I", data[at + 10:at + 14])[0]
        size = struct.unpack(">I", data[offset:offset + 4])[0]
        blob = data[offset + 4:offset + 4 + size]
        if flags & 4:  # zstd (not used by the bundles read here)
            return
        yield here, zlib.decompress(blob[4:]) if flags & 1 else blob

    yield from walk(0, "")


def rcc_photo_candidates(unpacked: Path):
    for package, bundles in RCC_PHOTO_PACKAGES.items():
        for bundle in bundles:
            for rcc in sorted((unpacked / package).rglob(f"{bundle}.rcc")):
                for path, blob in rcc_files(rcc.read_bytes()):
                    stem, _, ext = Path(path).name.rpartition(".")
                    if ext.lower() in ("jpg", "jpeg", "png", "webp"):
                        yield f"{package.split('-')[0]}-{bundle}-{stem}", io.BytesIO(blob)


def texture_candidates(unpacked: Path):
    for package in TEXTURE_PACKAGES:
        for pk3 in sorted((unpacked / package).rglob("*.pk3")):  # game archives are zip files
            with zipfile.ZipFile(pk3) as z:
                for info in z.infolist():
                    name = Path(info.filename)
                    if name.suffix.lower() in (".jpg", ".png", ".tga") and not NOT_A_PHOTO.search(name.stem):
                        key = f"{package.split('-')[0]}-{'-'.join(name.with_suffix('').parts[-2:])}"
                        yield key, io.BytesIO(z.read(info))


def opaque_rgb(source) -> Image.Image | None:
    """The image as RGB, or None when unreadable or partly transparent (cut-outs are not photos)."""
    try:
        img = Image.open(source)
        img.load()
    except OSError:
        return None
    if "A" in img.getbands() or "transparency" in img.info:
        if img.convert("RGBA").getchannel("A").getextrema()[0] < 255:
            return None
    return img.convert("RGB")


def save(img: Image.Image, side: int, path: Path) -> None:
    img.thumbnail((side, side), Image.LANCZOS)
    img.save(path, quality=92)


def prepare() -> None:
    unpacked = fetch(list(PHOTO_PACKAGES) + list(RCC_PHOTO_PACKAGES) + TEXTURE_PACKAGES)
    for folder in (DATA, HOLDOUT):
        shutil.rmtree(folder, ignore_errors=True)
    (DATA / "textures").mkdir(parents=True)
    HOLDOUT.mkdir(parents=True)
    counts = dict(train=0, holdout=0, textures=0, skipped=0)
    for key, path in [*photo_candidates(unpacked), *rcc_photo_candidates(unpacked)]:
        img = opaque_rgb(path)
        if img is None or min(img.size) < MIN_PHOTO_SIDE or not looks_like_a_photo(img):
            counts["skipped"] += 1
            continue
        split = "holdout" if held_out(key) else "train"
        save(img, LONG_SIDE, (HOLDOUT if split == "holdout" else DATA) / f"{key}.jpg")
        counts[split] += 1
    for key, data in texture_candidates(unpacked):
        img = opaque_rgb(data)
        if img is None or min(img.size) < 256 or not looks_like_a_photo(img):
            counts["skipped"] += 1
            continue
        save(img, TEXTURE_SIDE, DATA / "textures" / f"{key}.jpg")
        counts["textures"] += 1
    print(f"{counts['train']} photos and {counts['textures']} surface textures in {DATA}; {counts['holdout']} photos "
          f"held out in {HOLDOUT}; {counts['skipped']} rendered, flat or small images left out")
