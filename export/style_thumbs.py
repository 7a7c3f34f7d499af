"""Thumbnails of the built-in styles for the GIMP plug-in's style picker: the sample photo
(core/samples/coffee.jpg, the contact sheet's picture) cropped square, stylized by each style of the
table and scaled down to one small JPEG per style, gimp_plugin/sfumato/thumbs/NAME.jpg (~3 KB each).

Rebuild after the style table changes:  python -m sfumato.export build thumbs
A user's own trained styles get no thumbnail; the picker shows their name alone."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

THUMBS_DIR = Path(__file__).resolve().parents[1] / "gimp_plugin" / "sfumato" / "thumbs"
SIZE = 72       # px, the picker's tile
WORK = 192      # px the style runs at: strokes at this scale stay visible when scaled to SIZE


def build_thumbs(out_dir: Path = THUMBS_DIR, device: str = "cpu") -> list[Path]:
    import sfumato
    from sfumato.imageio import read_image
    from sfumato.pixels import from_float, split_channels, to_float
    from sfumato.styling.pipeline import StylizeOptions, stylize
    from sfumato.styling.styles import style_table
    photo = to_float(split_channels(read_image(Path(sfumato.__file__).parent / "samples" / "coffee.jpg"))[0])
    h, w = photo.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    square = Image.fromarray(from_float(photo[top:top + side, left:left + side], np.uint8))
    small = to_float(np.asarray(square.resize((WORK, WORK), Image.LANCZOS)))
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for s in style_table():
        styled = from_float(to_float(stylize(small, StylizeOptions(style=s["name"], device=device))), np.uint8)
        path = out_dir / f"{s['name']}.jpg"
        Image.fromarray(styled).resize((SIZE, SIZE), Image.LANCZOS).save(path, quality=82, optimize=True)
        written.append(path)
    return written
