"""Named styles: the style table (built-in rows and the user's own), blends "NAME:W,NAME:W", and
any picture as a style (the arbitrary network's style vector)."""
from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING

from ..errors import SfumatoError
from ..options import DEFAULT_DEVICE
from ..runtime import manifest, sessions
from ..runtime.job import Job

if TYPE_CHECKING:
    import numpy as np

# numpy loads inside the functions that compute: `sfumato styles` lists the names from the manifest
# alone and starts in about half the time

STYLE_TABLE = "styles"  # the style table model; a user model of this name (with their own styles) replaces it
PREDICTOR_SIZE = 256


def style_table() -> list[dict]:
    """Every named style as {index, name, model, row, ...}: the style table's rows first (index = row),
    then styles that are models of their own (fully fine-tuned with `train style --full`)."""
    models = manifest.all_models()
    styles = [dict(s, model=STYLE_TABLE, row=s["index"]) for s in manifest.get_model(STYLE_TABLE).entry["styles"]]
    for name, info in sorted(models.items()):
        if info.kind == "cin" and name != STYLE_TABLE:
            styles += [dict(s, model=name, row=s["index"], index=len(styles)) for s in info.entry["styles"]]
    return styles


def parse_style(spec: str) -> tuple[str, np.ndarray]:
    """"starry-night", "7", or a blend "starry-night:0.7,7:0.3" -> (model, normalised weights over its rows)."""
    import numpy as np
    styles = style_table()
    by_name = {s["name"].lower(): s for s in styles}
    chosen: list[tuple[dict, float]] = []
    for part in [p.strip() for p in spec.split(",") if p.strip()] or [""]:
        name, _, weight = part.rpartition(":") if re.search(r":[-+0-9.eE]+$", part) else (part, "", "1")
        key = name.strip().lower()
        style = styles[int(key)] if key.isdigit() and int(key) < len(styles) else by_name.get(key)
        if style is None:
            raise SfumatoError(f"unknown style {name.strip()!r}; `sfumato styles` lists the names "
                               f"(or use an index 0-{len(styles) - 1})")
        try:
            if not math.isfinite(float(weight)):  # 1e400, inf, nan: no blend
                raise ValueError
            chosen.append((style, float(weight)))
        except ValueError:
            raise SfumatoError(f"bad weight in style {part!r}; write blends as NAME:W,NAME:W") from None
    models = {s["model"] for s, _ in chosen}
    if len(models) > 1:
        raise SfumatoError(f"{spec!r} mixes styles of different networks ({', '.join(sorted(models))}); "
                           "blend styles of the same table only")
    if sum(abs(w) for _, w in chosen) > 1e30:  # float32 weights would overflow to inf, the image to black
        raise SfumatoError(f"style weights in {spec!r} are too large; use weights like 0.7 and 0.3")
    model = models.pop()
    weights = np.zeros(sum(1 for s in styles if s["model"] == model), np.float32)
    for style, weight in chosen:
        weights[style["row"]] += weight
    if (weights < 0).any() or weights.sum() <= 0:
        raise SfumatoError(f"style weights in {spec!r} must be non-negative and not all zero")
    return model, weights / weights.sum()


def style_vector(style_image: np.ndarray, device: str = DEFAULT_DEVICE, job: Job | None = None) -> np.ndarray:
    """Any picture -> the arbitrary network's 100-d style vector (centre square at 256 px, as trained)."""
    import numpy as np

    from ..pixels import resize, split_channels, to_float
    colour, _ = split_channels(style_image)
    colour = to_float(colour)
    h, w = colour.shape[:2]
    side = min(h, w)
    y0, x0 = (h - side) // 2, (w - side) // 2
    square = resize(colour[y0:y0 + side, x0:x0 + side], (PREDICTOR_SIZE, PREDICTOR_SIZE))
    sess = sessions.session("arbitrary_predict", device)
    job = job or Job()
    feeds = {"style_image": np.ascontiguousarray(square[None], np.float32)}
    return job.run(sess, feeds)[0].reshape(1, -1)
