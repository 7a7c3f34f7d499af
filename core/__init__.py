"""Sfumato core: neural style transfer and inpainting through onnxruntime. No torch here.

Python API (numpy arrays in and out, any of uint8/uint16/float, grey/RGB/alpha):

    from sfumato import stylize, StylizeOptions
    out = stylize(photo, StylizeOptions(style="starry-night", strength=0.8))
"""
from .errors import SfumatoError

__all__ = ["SfumatoError", "StylizeOptions", "parse_style", "style_table", "style_vector", "stylize"]
__version__ = "0.1.0"


def __getattr__(name: str):
    """The API loads on first use, so `sfumato --help` and the GIMP worker's start skip numpy and
    onnxruntime until they are needed (PEP 562)."""
    if name in __all__:
        from . import styletransfer
        return getattr(styletransfer, name)
    raise AttributeError(f"module 'sfumato' has no attribute {name!r}")
