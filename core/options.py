"""Option sets of the core's operations: names, defaults and ranges in one place, and light to import
(no numpy), so the CLI can state the defaults in its help without loading the image stack."""
from __future__ import annotations

from dataclasses import dataclass

from .errors import SfumatoError

DEFAULT_INPAINT_MODEL = "sfumato-inpaint"


@dataclass
class InpaintOptions:
    model: str = DEFAULT_INPAINT_MODEL
    # px at most the hole is enlarged before filling, to catch a halo a tight selection leaves; 0 by
    # default: a hole as selected keeps every known pixel beside it, which is most of what a scratch or
    # a lasso that already overshoots is filled from. Thin regions grow less (GROW_PER_THICKNESS).
    grow: int = 0
    feather: int = 4       # px of soft transition when pasting back (inside the grown band; no-op at grow 0)
    device: str = "auto"
    context: float = 2.0   # context margin around each region, relative to the region's size
    min_margin: int = 32   # px
    # 0..1: texture copied in from the surroundings (core/detail.py). Off by default: it costs SSIM on
    # every kind of hole (bench/bench_inpaint.py); a choice for users who prefer grain to smoothness
    detail: float = 0.0


def check_inpaint_options(o: InpaintOptions) -> None:
    if not 0 <= o.grow <= 200:
        raise SfumatoError(f"grow must be between 0 and 200 px, got {o.grow}")
    if not 0 <= o.detail <= 1:
        raise SfumatoError(f"detail must be between 0 and 1, got {o.detail}")
    if not 0 <= o.feather <= 200:
        raise SfumatoError(f"feather must be between 0 and 200 px, got {o.feather}")
