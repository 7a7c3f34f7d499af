"""Contact sheet: every built-in style on one photo, labelled with name and index."""
from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from ..options import DEFAULT_DEVICE
from ..pixels import from_float, resize, split_channels, to_float
from .pipeline import StylizeOptions, stylize
from .styles import style_table


def contact_sheet(photo: np.ndarray, device: str = DEFAULT_DEVICE, tile: int = 256, columns: int = 6) -> np.ndarray:
    colour = to_float(split_channels(photo)[0])
    h, w = colour.shape[:2]
    f = tile / max(h, w)
    small = resize(colour, (max(32, round(w * f)), max(32, round(h * f))))
    th, tw = small.shape[:2]
    entries = [("original", small)] + [
        (f"{s['index']}  {s['name']}", to_float(stylize(small, StylizeOptions(style=str(s["index"]), device=device))))
        for s in style_table()]
    pad, label = 6, 18
    rows = -(-len(entries) // columns)
    sheet = Image.new("RGB", (columns * (tw + pad) + pad, rows * (th + label + pad) + pad), "white")
    draw = ImageDraw.Draw(sheet)
    for n, (name, img) in enumerate(entries):
        r, c = divmod(n, columns)
        x, y = pad + c * (tw + pad), pad + r * (th + label + pad)
        sheet.paste(Image.fromarray(from_float(img, np.uint8)), (x, y + label))
        draw.text((x + 2, y + 3), name, fill="black")
    return np.asarray(sheet)
