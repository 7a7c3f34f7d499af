"""Inpainting model adapters: one small class per ONNX convention, chosen by the manifest's "kind".

Each adapter takes a crop in the core's convention (H x W x 3 float RGB 0..1) and a hole mask
(H x W bool, True = fill) and returns the filled crop in the same convention. Resolution and
padding are the adapter's business (fixed-size models resize, dynamic ones pad to a multiple).
The fill pipeline around them (regions, margins, paste-back) is in pipeline.py.
"""
from __future__ import annotations


import numpy as np

from ..errors import SfumatoError
from ..pixels import resize
from ..runtime import manifest, sessions
from ..runtime.job import Job
from .priors import harmonic_fill
from .regions import padded_box, working_scale

USED_MARGIN = 8  # px around the holes where a fill is read (the colour match's ring is 3)


class InpaintModel:
    """Base adapter. `size_multiple`: padding for dynamic models; `fixed_size`: (w, h) or None."""

    size_multiple = 8
    fixed_size: tuple[int, int] | None = None

    def __init__(self, name: str, device: str, job: Job | None = None):
        self.info = manifest.get_model(name)
        self.session = sessions.session(name, device)
        self.job = job or Job()  # progress and cancel, when a caller watches
        self.inputs = self.session.get_inputs()
        self.work_size = int(self.info.entry.get("work_size", 512))

    def __call__(self, crop: np.ndarray, unknown: np.ndarray, region: np.ndarray) -> np.ndarray:
        """The crop filled where `unknown`, at the working scale of `region` (the hole it is cut around):
        the resolution strategy, one for every model. A thick region is filled at the model's working
        size and scaled back; a thin one (a scratch, a wire) at full resolution, where its edges are."""
        f = working_scale(region, self.work_size)
        if f >= 1.0:
            return self.fill(crop, unknown)
        ch, cw = region.shape
        size = (max(16, round(cw * f)), max(16, round(ch * f)))
        small_hole = resize(unknown.astype(np.float32), size, smooth=False) > 0.01
        small = self.fill(resize(crop, size), small_hole)
        # scaled back only where the fill is used: the holes and the ring around them the colour match
        # reads (a ninth of a crop's area); elsewhere the crop's own pixels
        ys, xs = padded_box(unknown, USED_MARGIN)
        fx, fy = size[0] / cw, size[1] / ch
        out = crop.copy()
        out[ys, xs] = resize(small, (xs.stop - xs.start, ys.stop - ys.start),
                             box=(xs.start * fx, ys.start * fy, xs.stop * fx, ys.stop * fy))
        return out

    def _run(self, feeds):
        return self.job.run(self.session, feeds)

    def fill(self, crop: np.ndarray, hole: np.ndarray) -> np.ndarray:
        """One network run in the model's own convention (its padding, its fixed size)."""
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
    info = manifest.get_model(name)
    if info.task != "inpaint":
        raise SfumatoError(f"model {name!r} is a {info.task} model, not an inpainting one; see `sfumato models`")
    adapter = ADAPTERS.get(info.kind)
    if adapter is None:
        raise SfumatoError(f"model {name!r} has an unknown convention {info.kind!r}")
    return adapter(name, device, job)
