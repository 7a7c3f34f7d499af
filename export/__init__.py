"""Sfumato's PyTorch side: network definitions, weight importers, training and ONNX export.
Needs torch (the `export` extra); the runtime in `core` never imports this package."""
