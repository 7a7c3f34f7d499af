"""Inpainting models a user adds (LaMa and MI-GAN conventions): checked, copied, recorded."""
from __future__ import annotations

from pathlib import Path


from .. import atomic
from ..errors import SfumatoError
from ..runtime import manifest


def check_convention(path, convention: str) -> dict:
    """Inspect an ONNX file's inputs/outputs against a public convention; returns facts for the
    manifest or raises SfumatoError naming what does not match."""
    import onnxruntime as ort
    try:
        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001
        raise SfumatoError(f"{path} is not a loadable ONNX model ({str(exc).splitlines()[0]})") from None
    ins, outs = sess.get_inputs(), sess.get_outputs()
    want = {"lama": "tensor(float)", "migan": "tensor(uint8)"}[convention]
    shape_ok = len(ins) == 2 and len(ins[0].shape) == 4 and len(ins[1].shape) == 4 and len(outs) >= 1
    if not shape_ok or ins[0].type != want or ins[1].type != want or (shape_ok and ins[1].shape[1] not in (1, "1")):
        found = ", ".join(f"{i.name} {i.type} {i.shape}" for i in ins)
        raise SfumatoError(f"{path.name} does not follow the {convention} convention (expected image and mask "
                           f"inputs of {want}, [N,3,H,W] and [N,1,H,W]; found: {found})")
    dims = ins[0].shape[2:]
    return {"input_size": [d if isinstance(d, int) else None for d in dims]}


def add_user_model(path: Path, convention: str, name: str | None = None, licence: str = "unknown") -> dict:
    """Copy a user's inpainting ONNX into the user models folder and record it in that manifest,
    after checking that its inputs follow the named convention."""
    import re
    import shutil

    path = Path(path)
    if not path.exists():
        raise SfumatoError(f"model file not found: {path}")
    facts = check_convention(path, convention)
    name = name or re.sub(r"[^a-z0-9-]+", "-", path.stem.lower()).strip("-")
    if name in manifest.read_manifest(manifest.SHIPPED_DIR):
        raise SfumatoError(f"{name!r} is the name of a shipped model; choose another with --name")
    folder = manifest.user_dir() / "models"
    folder.mkdir(parents=True, exist_ok=True)
    dest = folder / f"{name}.onnx"
    with atomic.replacing(dest) as tmp:
        shutil.copyfile(path, tmp)
    entry = manifest.write_manifest_entry(folder, name, {"file": dest.name, "task": "inpaint", "kind": convention,
                                                "licence": licence, "source": f"added by the user from {path}",
                                                "work_size": 512, **facts})
    return {"name": name, **entry}
