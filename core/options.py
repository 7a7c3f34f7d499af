"""The one schema of every option a user sets: name, type, default, range and help, from which the
doors are made — the CLI's arguments (core/cli.py), the worker's and the server's parsing and checks
(core/service/jobs.py), the GIMP procedures' arguments (the installer writes the schema into the plug-in's
config) — and the option sets themselves: `StylizeOptions` and `InpaintOptions` are built here from it,
and `options_from` turns any door's mapping (argparse's namespace, a request's JSON options, the
server's query string) into them, so an option added to the schema reaches the pipeline through every
door. Light to import (no numpy): the CLI states the defaults in its help without loading the image stack."""
from __future__ import annotations

import math
from dataclasses import dataclass, field, make_dataclass

from .errors import SfumatoError

DEFAULT_INPAINT_MODEL = "sfumato-inpaint"
DEVICES = ("auto", "cpu", "cuda")
DEFAULT_DEVICE = "auto"  # CUDA where it really works, else the CPU (core/runtime/sessions.py)

# --- the services' defaults, stated once (the CLI's flags, the worker, the server) ---------------
WORKER_IDLE_TIMEOUT_S = 600.0  # the GIMP worker exits after this long without a request
SERVER_MAX_QUEUE = 16          # jobs a server replica holds (running + waiting) before answering 503
SERVER_MAX_PER_CLIENT = 4      # of those, from one client
SERVER_MAX_BODY_MB = 512       # request body cap (a 12 MP 16-bit RGBA buffer is 96 MB)
GPU_SHARE_PER_ACTOR = 0.25     # a Ray actor's share of a GPU with --device cuda: four warm actors per GPU


@dataclass(frozen=True)
class Option:
    name: str                   # the Python and wire name
    type: type                  # float, int, bool or str
    default: object
    help: str
    range: tuple | None = None  # (lowest, highest), both allowed
    gimp: str | None = None     # the GIMP procedure argument it is ("" = not offered in GIMP)
    # GIMP's dialog label, its mnemonic clear of the dialog's own buttons (_OK, _Cancel, _Reset; Save
    # Settings and Load Saved Settings take S and L)
    label: str = ""
    choices: tuple | None = None  # the values the CLI offers (an unknown device is refused where it is used)
    tooltip: str = ""           # GIMP's tooltip: plain words with the range (the CLI's help is terser)

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    def check(self, value) -> None:
        if self.range is not None and not self.range[0] <= value <= self.range[1]:
            unit = " px" if self.type is int else ""
            raise SfumatoError(f"{self.name} must be between {self.range[0]:g} and {self.range[1]:g}{unit}, got {value}")

    def convert(self, value):
        """A value from any door (a parsed flag, JSON, a query string made JSON) as this option's type,
        or refused by name."""
        if self.type is bool:
            ok = isinstance(value, bool)
        elif self.type is str:
            ok = isinstance(value, (str, int)) and not isinstance(value, bool)  # a style index may come as a number
        else:
            # an int of any size is a number (2**70: the range check refuses it); a float must be finite
            ok = not isinstance(value, bool) and (isinstance(value, int) or
                                                  (isinstance(value, float) and math.isfinite(value)))
        if not ok:
            raise SfumatoError(f"option {self.name} must be "
                               f"{'a number' if self.type in (int, float) else self.type.__name__}, got {value!r}")
        return int(round(value)) if self.type is int else self.type(value)

    def describe(self) -> dict:
        """What the GIMP plug-in needs (JSON)."""
        return {"name": self.name, "gimp": self.gimp, "type": self.type.__name__, "default": self.default,
                "min": None if self.range is None else self.range[0], "max": None if self.range is None else self.range[1],
                "label": self.label, "help": self.help, "tooltip": self.tooltip}


DEVICE = Option("device", str, DEFAULT_DEVICE, "where the networks run: auto = CUDA where it works, else the CPU",
                None, "", choices=DEVICES)

STYLIZE = (
    Option("style", str, None, "built-in style name or index, or a blend NAME:W,NAME:W (see `sfumato styles`)",
           None, ""),
    Option("strength", float, 1.0, "0 = original, 1 = full style", (0.0, 1.0), "strength", "Style stre_ngth",
           tooltip="How much of the style to apply: 0 keeps the original, 1 is the full style (0 to 1)."),
    Option("preserve_colors", bool, False, "stylized luminance, original colours", None, "preserve-colors",
           "_Keep original colours", tooltip="Paint the strokes in the picture's own colours instead of the style's."),
    Option("scale", float, 1.0, "texture size: >1 bigger brush strokes, <1 finer", (0.25, 8.0), "texture-scale",
           "Brush stroke si_ze", tooltip="Size of the brush strokes and texture: 1 as the style was made, 2 twice "
           "as big, 0.5 half as big (0.25 to 8)."),
    Option("tile", int, 768, "tile size for large images (network pixels, a multiple of 4); bounds memory",
           (128, 16384), ""),
    DEVICE,
)

INPAINT = (
    Option("model", str, DEFAULT_INPAINT_MODEL, "inpainting model; see `sfumato models`", None, ""),
    # px at most the hole is enlarged before filling, to catch a halo a tight selection leaves; 0 by
    # default: a hole as selected keeps every known pixel beside it, which is most of what a scratch or
    # a lasso that already overshoots is filled from. Thin regions grow less (core/inpainting/regions.py).
    Option("grow", int, 0, "px at most the hole is enlarged before filling, less for thin regions; catches the "
           "halo a tight selection leaves", (0, 200), "grow", "_Grow selection (px)",
           tooltip="Enlarge the area to fill by up to this many pixels, to cover a halo a tight selection leaves "
           "around the object (0 to 200 px; thin areas grow less)."),
    Option("feather", int, 4, "px of soft edge when pasting back over the grown band", (0, 200), "feather",
           "_Feather edge (px)", tooltip="Width of the soft edge where the fill meets the picture, inside the grown "
           "area (0 to 200 px; no effect when Grow is 0)."),
    # on by default: a large hole filled by the network alone is a smooth blur that never reads as a
    # photo; thin holes (scratches, blobs) keep the network's fill whatever this is (exemplar.LARGE_HOLE)
    Option("detail", float, 1.0, "0..1: texture for large holes, copied from patches of the surroundings "
           "(PatchMatch); 0 = the network's smooth fill; thin holes are left as filled", (0.0, 1.0), "detail",
           "Texture _detail", tooltip="For large areas: texture copied from the surroundings instead of a smooth "
           "fill (0 = smooth fill only, 1 = full texture)."),
    DEVICE,
)

SCHEMA = {"stylize": STYLIZE, "inpaint": INPAINT}


def option(operation: str, name: str) -> Option:
    return next(o for o in SCHEMA[operation] if o.name == name)


def defaults(options: tuple[Option, ...]) -> dict:
    return {o.name: o.default for o in options}


def check(options: tuple[Option, ...], values) -> None:
    """Every option of `values` (a dataclass or a dict) within its range."""
    for o in options:
        value = values[o.name] if isinstance(values, dict) else getattr(values, o.name)
        o.check(value)


# --- the option sets: the schema's options, then settings no door offers ------------------------

# fields code sets but no door offers, after the schema's options: (name, type, default)
INTERNAL_FIELDS = {
    "stylize": (("style_image", object, None),  # any picture as the style (H x W x 3 array; the arbitrary network)
                ("stats_side", int, 1024)),     # long side of the pass that sets the global normalisation statistics
    "inpaint": (("context", float, 2.0),        # context margin around each region, relative to the region's size
                ("min_margin", int, 32)),       # px
}


def option_class(operation: str) -> type:
    """The operation's option set: a dataclass with a field per schema option (its default), then
    its INTERNAL_FIELDS."""
    fields = [(o.name, o.type, field(default=o.default)) for o in SCHEMA[operation]]
    fields += [(n, t, field(default=d)) for n, t, d in INTERNAL_FIELDS[operation]]
    name = f"{operation.capitalize()}Options"
    return make_dataclass(name, fields, namespace={"__module__": __name__, "__qualname__": name, "__doc__":
                          f"A {operation} run's settings: the schema's {operation.upper()} options, then "
                          f"{', '.join(n for n, _, _ in INTERNAL_FIELDS[operation])}."})


StylizeOptions = option_class("stylize")
InpaintOptions = option_class("inpaint")
OPTION_CLASSES = {"stylize": StylizeOptions, "inpaint": InpaintOptions}


def options_from(operation: str, values, **internal):
    """The operation's options from any door's mapping: argparse's namespace, a request's JSON
    options, the server's query string. Every schema option that is set (not None, not "") is
    converted to its type, then held to its range, each refused by name; the rest keep their defaults.
    `internal`: the fields no door offers (a style image)."""
    if not isinstance(values, dict):
        values = vars(values)  # argparse.Namespace
    schema = SCHEMA[operation]
    chosen = {o.name: o.convert(values[o.name]) for o in schema if values.get(o.name) not in (None, "")}
    for o in schema:
        if o.name in chosen:
            o.check(chosen[o.name])
    return OPTION_CLASSES[operation](**chosen, **internal)


def to_wire(operation: str, options) -> dict:
    """The schema's options of an option set, as a request's JSON options (the inverse of options_from)."""
    return {o.name: getattr(options, o.name) for o in SCHEMA[operation]}


def check_stylize_options(o) -> None:
    if (o.style is None) == (o.style_image is None):
        raise SfumatoError("give exactly one of a style name (--style) or a style image (--style-image)")
    check(SCHEMA["stylize"], o)
    if o.tile % 4:
        raise SfumatoError(f"tile must be a multiple of 4, got {o.tile}")


def check_inpaint_options(o) -> None:
    check(SCHEMA["inpaint"], o)
