"""Sfumato core: neural style transfer and inpainting through onnxruntime. No torch here.

Python API (numpy arrays in and out, any of uint8/uint16/float, grey/RGB/alpha):

    from core import stylize, StylizeOptions
    out = stylize(photo, StylizeOptions(style="starry-night", strength=0.8))
"""
from .errors import SfumatoError
from .styletransfer import StylizeOptions, parse_style, style_table, style_vector, stylize

__all__ = ["SfumatoError", "StylizeOptions", "parse_style", "style_table", "style_vector", "stylize"]
__version__ = "0.1.0"
