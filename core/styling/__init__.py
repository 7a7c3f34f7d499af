"""Stylization: the network's adapter (adapter.py), named styles and blends (styles.py), tiling with
shared statistics (tiling.py), the pipeline (pipeline.py) and the styles' contact sheet (sheet.py)."""
