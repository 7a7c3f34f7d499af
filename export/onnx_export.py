"""Export a PyTorch module to our own ONNX (metadata + manifest entry) and check parity against it."""
from __future__ import annotations

import shlex
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch

import sfumato
from sfumato import atomic
from sfumato.runtime.manifest import write_manifest_entry

OPSET = 17
MODELS_DIR = Path(sfumato.__file__).resolve().parent / "models"  # core/ in the source tree


def export_onnx(module: torch.nn.Module, args: tuple, path: Path, input_names: list[str],
                output_names: list[str], dynamic_axes: dict, metadata: dict[str, str]) -> None:
    module.eval()
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.onnx"
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer chatter; parity checks after export are what count
            torch.onnx.export(module, args, str(raw), input_names=input_names, output_names=output_names,
                              dynamic_axes=dynamic_axes, opset_version=OPSET, dynamo=False)
        model = onnx.load(str(raw))
    onnx.checker.check_model(model)
    model.producer_name = "sfumato-export"
    for key, value in metadata.items():
        model.metadata_props.add(key=key, value=str(value))
    with atomic.replacing(path) as tmp:
        onnx.save(model, str(tmp))


def run_onnx(path_or_bytes, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    src = str(path_or_bytes) if isinstance(path_or_bytes, Path) else path_or_bytes
    sess = ort.InferenceSession(src, providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)


IMAGE_TOLERANCE = 1e-4  # max |d| of output pixels (0..1), PyTorch module vs exported ONNX
STATS_TOLERANCE = 1e-3  # max relative |d| of reported norm statistics (var = E[x^2] - E[x]^2 amplifies rounding)


def torch_vs_onnx(module: torch.nn.Module, path: Path, feeds: dict[str, np.ndarray]) -> dict[str, float]:
    """Parity of the PyTorch module and the exported ONNX on the same inputs: max |d| of the first
    output (pixels or vector) and, when present, max relative |d| of the norm statistics.
    Raises when either is over its tolerance: an export that drifts must not ship."""
    with torch.no_grad():
        ref = module(*[torch.from_numpy(v) for v in feeds.values()])
    ref = [r.numpy() for r in (ref if isinstance(ref, (tuple, list)) else (ref,))]
    got = run_onnx(path, feeds)
    result = {"max_abs": float(np.abs(ref[0] - got[0]).max())}
    if len(ref) > 1:
        result["stats_max_rel"] = float((np.abs(ref[1] - got[1]) / np.maximum(np.abs(ref[1]), 1.0)).max())
    if result["max_abs"] > IMAGE_TOLERANCE or result.get("stats_max_rel", 0.0) > STATS_TOLERANCE:
        raise RuntimeError(f"{path.name}: PyTorch vs ONNX parity failed: {result}")
    return result


def worst(*results: dict[str, float]) -> dict[str, float]:
    return {k: max(r[k] for r in results) for k in results[0]}


def build_command() -> str:
    return "python -m sfumato.export " + " ".join(shlex.quote(a) for a in sys.argv[1:])


def update_manifest(name: str, entry: dict, models_dir: Path = MODELS_DIR) -> dict:
    """Add/replace one model's entry through the runtime's one manifest writer."""
    return write_manifest_entry(models_dir, name, entry)
