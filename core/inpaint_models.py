"""Inpainting model adapters: one small class per ONNX convention, chosen by the manifest's "kind".

Each adapter takes a crop in the core's convention (H x W x 3 float RGB 0..1) and a hole mask
(H x W bool, True = fill) and returns the filled crop in the same convention. Resolution and
padding are the adapter's business (fixed-size models resize, dynamic ones pad to a multiple).
The fill pipeline around them (regions, margins, paste-back) is in core/inpaint.py.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from . import atomic, registry
from .errors import SfumatoError
from .job import Job
from .pixels import resize


def push_pull_fill(image: np.ndarray, known: np.ndarray) -> np.ndarray:
    """A smooth fill of the unknown pixels from the known ones (normalised-convolution pyramid):
    average down with the known pixels as weights, then fill each level's gaps from the coarser
    one on the way up. A cheap smooth fill, used where no exact one is needed."""
    w = known.astype(np.float32)
    levels = [(image * w[..., None], w)]
    while min(levels[-1][1].shape) > 1:
        v, w = levels[-1]
        h2, w2 = (v.shape[0] + 1) // 2 * 2, (v.shape[1] + 1) // 2 * 2
        v = np.pad(v, ((0, h2 - v.shape[0]), (0, w2 - v.shape[1]), (0, 0)), mode="edge")
        w = np.pad(w, ((0, h2 - w.shape[0]), (0, w2 - w.shape[1])), mode="edge")
        v = v.reshape(h2 // 2, 2, w2 // 2, 2, 3).sum(axis=(1, 3))
        w = w.reshape(h2 // 2, 2, w2 // 2, 2).sum(axis=(1, 3))
        levels.append((v, w))
    v, w = levels[-1]
    filled = v / np.maximum(w, 1e-8)[..., None]
    for v, w in reversed(levels[:-1]):
        up = resize(filled, (v.shape[1], v.shape[0]), smooth=False)
        mean = v / np.maximum(w, 1e-8)[..., None]
        a = np.clip(w, 0.0, 1.0)[..., None]  # fully known -> own value; empty -> coarser level
        filled = a * mean + (1.0 - a) * up
    return np.where(known[..., None], image, filled).astype(np.float32)


def harmonic_fill(image: np.ndarray, known: np.ndarray) -> np.ndarray:
    """The smoothest fill of the unknown pixels: each one the average of its 4 neighbours (Laplace's
    equation, the known pixels as the boundary), solved exactly with one sparse factorisation for
    the three channels. It carries edges and gradients into the hole, where a pyramid fill leaves
    blocks; measured on the held-out photos it scores higher than G'MIC's inpaint_pde."""
    from scipy import sparse
    from scipy.sparse.linalg import splu

    unknown = ~known
    n = int(unknown.sum())
    if n == 0 or n == unknown.size:  # nothing to fill, or no boundary to fill from
        return push_pull_fill(image, known)
    h, w = known.shape
    index = np.full((h + 2, w + 2), -1, np.int64)  # a border of -1: no neighbour outside the image
    index[1:-1, 1:-1][unknown] = np.arange(n)
    known_padded = np.zeros((h + 2, w + 2), bool)
    known_padded[1:-1, 1:-1] = known
    values = np.zeros((h + 2, w + 2, 3), np.float64)
    values[1:-1, 1:-1] = image
    ys, xs = np.nonzero(unknown)
    ys, xs = ys + 1, xs + 1
    degree = np.zeros(n)
    rhs = np.zeros((n, 3))
    rows, cols = [np.arange(n)], [np.arange(n)]
    for dy, dx in ((0, 1), (0, -1), (1, 0), (-1, 0)):
        ny, nx = ys + dy, xs + dx
        neighbour = index[ny, nx]
        also_unknown, boundary = neighbour >= 0, known_padded[ny, nx]
        degree += also_unknown | boundary
        rows.append(np.flatnonzero(also_unknown))
        cols.append(neighbour[also_unknown])
        rhs += values[ny, nx] * boundary[:, None]
    weights = np.concatenate([degree] + [-np.ones(len(r)) for r in rows[1:]])
    laplacian = sparse.csc_matrix((weights, (np.concatenate(rows), np.concatenate(cols))), shape=(n, n))
    out = image.copy()
    out[unknown] = np.clip(splu(laplacian).solve(rhs), 0.0, 1.0)
    return out.astype(np.float32)


class InpaintModel:
    """Base adapter. `size_multiple`: padding for dynamic models; `fixed_size`: (w, h) or None."""

    size_multiple = 8
    fixed_size: tuple[int, int] | None = None

    def __init__(self, name: str, device: str, job: Job | None = None):
        self.info = registry.get_model(name)
        self.session = registry.session(name, device)
        self.job = job
        self.inputs = self.session.get_inputs()
        self.work_size = int(self.info.entry.get("work_size", 512))

    def _run(self, feeds):
        return self.job.run(self.session, feeds) if self.job else self.session.run(None, feeds)

    def fill(self, crop: np.ndarray, hole: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    @staticmethod
    def _pad(a: np.ndarray, multiple: int) -> np.ndarray:
        ph, pw = (-a.shape[0]) % multiple, (-a.shape[1]) % multiple
        return np.pad(a, ((0, ph), (0, pw)) + ((0, 0),) * (a.ndim - 2), mode="edge") if ph or pw else a


class SfumatoInpaint(InpaintModel):
    """Our model: input = harmonic prior fill (RGB 0..1) + hole mask (1 = hole), NCHW float,
    any size divisible by 16; output = the filled image, NCHW float 0..1."""

    size_multiple = 16

    def fill(self, crop, hole):
        h, w = hole.shape
        prior = harmonic_fill(crop, ~hole)
        x = self._pad(prior, self.size_multiple)
        m = self._pad(hole.astype(np.float32), self.size_multiple)
        out = self._run({"image": np.ascontiguousarray(x.transpose(2, 0, 1)[None]),
                         "mask": np.ascontiguousarray(m[None, None])})[0]
        return out[0].transpose(1, 2, 0)[:h, :w]


class LamaAdapter(InpaintModel):
    """LaMa exports: image float 0..1 NCHW + mask float NCHW (1 = hole); often a fixed 512x512
    input; output float NCHW in 0..1 or 0..255 (detected from the values)."""

    def __init__(self, name, device, job=None):
        super().__init__(name, device, job)
        dims = self.inputs[0].shape
        if isinstance(dims[2], int) and isinstance(dims[3], int):
            self.fixed_size = (dims[3], dims[2])

    def fill(self, crop, hole):
        h, w = hole.shape
        if self.fixed_size:
            x = resize(crop, self.fixed_size)
            m = resize(hole.astype(np.float32), self.fixed_size, smooth=False) > 0.5
        else:
            x, m = self._pad(crop, self.size_multiple), self._pad(hole, self.size_multiple)
        names = [i.name for i in self.inputs]
        out = self._run({names[0]: np.ascontiguousarray(x.transpose(2, 0, 1)[None], np.float32),
                         names[1]: m.astype(np.float32)[None, None]})[0][0].transpose(1, 2, 0)
        if out.max() > 2.0:  # 0..255 output
            out = out / 255.0
        out = np.clip(out, 0.0, 1.0).astype(np.float32)
        return resize(out, (w, h)) if self.fixed_size else out[:h, :w]


class MiganAdapter(InpaintModel):
    """MI-GAN pipeline exports: image uint8 NCHW + mask uint8 N1HW (255 = known, 0 = hole), any
    size; output uint8 NCHW, already composited with the known pixels."""

    def fill(self, crop, hole):
        names = [i.name for i in self.inputs]
        img = (np.clip(crop, 0, 1) * 255 + 0.5).astype(np.uint8)
        mask = np.where(hole, 0, 255).astype(np.uint8)
        out = self._run({names[0]: np.ascontiguousarray(img.transpose(2, 0, 1)[None]), names[1]: mask[None, None]})[0]
        return out[0].transpose(1, 2, 0).astype(np.float32) / 255.0


ADAPTERS = {"sfumato-inpaint": SfumatoInpaint, "lama": LamaAdapter, "migan": MiganAdapter}


def load(name: str, device: str, job: Job | None = None) -> InpaintModel:
    info = registry.get_model(name)
    if info.task != "inpaint":
        raise SfumatoError(f"model {name!r} is a {info.task} model, not an inpainting one; see `sfumato models`")
    adapter = ADAPTERS.get(info.kind)
    if adapter is None:
        raise SfumatoError(f"model {name!r} has an unknown convention {info.kind!r}")
    return adapter(name, device, job)


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
    if name in registry.read_manifest(registry.SHIPPED_DIR):
        raise SfumatoError(f"{name!r} is the name of a shipped model; choose another with --name")
    folder = registry.user_dir() / "models"
    folder.mkdir(parents=True, exist_ok=True)
    dest = folder / f"{name}.onnx"
    with atomic.replacing(dest) as tmp:
        shutil.copyfile(path, tmp)
    entry = registry.write_manifest_entry(folder, name, {"file": dest.name, "task": "inpaint", "kind": convention,
                                                "licence": licence, "source": f"added by the user from {path}",
                                                "work_size": 512, **facts})
    return {"name": name, **entry}
