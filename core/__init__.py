"""Sfumato core: neural style transfer and inpainting through onnxruntime. No torch here.

Python API (numpy arrays in and out, any of uint8/uint16/float, grey/RGB/alpha):

    from sfumato import stylize, StylizeOptions, inpaint, InpaintOptions
    out = stylize(photo, StylizeOptions(style="starry-night", strength=0.8))
    filled = inpaint(photo, mask, InpaintOptions())

The layers, each importing only those below it (tests/test_packaging.py checks):
    cli.py                    the command line (and __main__.py)
    service/                  the GIMP worker and its protocol, `sfumato serve`, the HTTP client, tokens
    batch/                    many files, video clips, Ray
    styling/  inpainting/     the two operations: adapters, pipelines (neither imports the other)
    runtime/                  model manifest, onnxruntime sessions and providers, jobs (progress, cancel)
    pixels.py imageio.py options.py errors.py atomic.py hooks.py   the ground floor
"""
from .errors import SfumatoError

# public name -> the module that defines it
_API = {"StylizeOptions": "options", "stylize": "styling.pipeline", "parse_style": "styling.styles",
        "style_table": "styling.styles", "style_vector": "styling.styles",
        "InpaintOptions": "options", "inpaint": "inpainting.pipeline"}
__all__ = ["SfumatoError", *_API]


def package_version() -> str:
    """The installed package's version (importlib.metadata); in a source tree that is not installed,
    pyproject.toml's. Looked up on first use of `sfumato.__version__`: importlib.metadata's import
    alone is longer than `sfumato --help`."""
    from importlib import metadata
    try:
        return metadata.version("sfumato")
    except metadata.PackageNotFoundError:
        import re
        from pathlib import Path
        try:
            text = (Path(__file__).resolve().parents[1] / "pyproject.toml").read_text()
        except OSError:
            return "unknown"
        found = re.search(r'^version\s*=\s*"([^"]+)"', text, re.MULTILINE)
        return found.group(1) if found else "unknown"


def __getattr__(name: str):
    """The API loads on first use, so `sfumato --help` and the GIMP worker's start skip numpy and
    onnxruntime until they are needed (PEP 562); the version is looked up when first asked for."""
    if name == "__version__":
        globals()["__version__"] = version = package_version()
        return version
    if name in _API:
        import importlib
        return getattr(importlib.import_module(f"{__name__}.{_API[name]}"), name)
    raise AttributeError(f"module 'sfumato' has no attribute {name!r}")
