"""The one schema of every option a user sets: name, type, default, range and help, from which the
doors are made — the CLI's arguments (core/cli.py), the worker's and the server's parsing and checks
(core/service/worker.py), the GIMP procedures' arguments (the installer writes the schema into the plug-in's
config) — and the option sets' defaults. Light to import (no numpy): the CLI states the defaults in
its help without loading the image stack."""
from __future__ import annotations

from dataclasses import dataclass

from .errors import SfumatoError

DEFAULT_INPAINT_MODEL = "sfumato-inpaint"


@dataclass(frozen=True)
class Option:
    name: str                   # the Python and wire name
    type: type                  # float, int, bool or str
    default: object
    help: str
    range: tuple | None = None  # (lowest, highest), both allowed
    gimp: str | None = None     # the GIMP procedure argument it is ("" = not offered in GIMP)
    label: str = ""             # GIMP's dialog label (with its mnemonic)

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    def check(self, value) -> None:
        if self.range is not None and not self.range[0] <= value <= self.range[1]:
            unit = " px" if self.type is int else ""
            raise SfumatoError(f"{self.name} must be between {self.range[0]:g} and {self.range[1]:g}{unit}, got {value}")

    def describe(self) -> dict:
        """What the GIMP plug-in needs (JSON)."""
        return {"name": self.name, "gimp": self.gimp, "type": self.type.__name__, "default": self.default,
                "min": None if self.range is None else self.range[0], "max": None if self.range is None else self.range[1],
                "label": self.label, "help": self.help}


STYLIZE = (
    Option("strength", float, 1.0, "0 = original, 1 = full style", (0.0, 1.0), "strength", "S_trength"),
    Option("preserve_colors", bool, False, "stylized luminance, original colours", None, "preserve-colors",
           "_Keep original colours"),
    Option("scale", float, 1.0, "texture size: >1 bigger brush strokes, <1 finer", (0.25, 8.0), "texture-scale",
           "Texture _scale"),
    Option("tile", int, 768, "tile size for large images (network pixels, a multiple of 4); bounds memory",
           (128, 16384), ""),
)

INPAINT = (
    # px at most the hole is enlarged before filling, to catch a halo a tight selection leaves; 0 by
    # default: a hole as selected keeps every known pixel beside it, which is most of what a scratch or
    # a lasso that already overshoots is filled from. Thin regions grow less (core/inpainting/regions.py).
    Option("grow", int, 0, "px at most the hole is enlarged before filling, less for thin regions; catches the "
           "halo a tight selection leaves", (0, 200), "grow", "_Grow (px)"),
    Option("feather", int, 4, "px of soft edge when pasting back over the grown band", (0, 200), "feather",
           "_Feather (px)"),
    # on by default: a large hole filled by the network alone is a smooth blur that never reads as a
    # photo; thin holes (scratches, blobs) keep the network's fill whatever this is (exemplar.LARGE_HOLE)
    Option("detail", float, 1.0, "0..1: texture for large holes, rebuilt from patches of the surroundings "
           "(PatchMatch, the network's fill as a light colour guide); 0 = the network's smooth fill; thin holes "
           "are left as filled", (0.0, 1.0), "detail", "_Detail"),
)

SCHEMA = {"stylize": STYLIZE, "inpaint": INPAINT}


def defaults(options: tuple[Option, ...]) -> dict:
    return {o.name: o.default for o in options}


def check(options: tuple[Option, ...], values) -> None:
    """Every option of `values` (a dataclass or a dict) within its range."""
    for o in options:
        value = values[o.name] if isinstance(values, dict) else getattr(values, o.name)
        o.check(value)


_INPAINT = defaults(INPAINT)


@dataclass
class InpaintOptions:
    model: str = DEFAULT_INPAINT_MODEL
    grow: int = _INPAINT["grow"]
    feather: int = _INPAINT["feather"]  # inside the grown band; no-op at grow 0
    device: str = "auto"
    context: float = 2.0   # context margin around each region, relative to the region's size
    min_margin: int = 32   # px
    detail: float = _INPAINT["detail"]


def check_inpaint_options(o: InpaintOptions) -> None:
    check(INPAINT, o)
