"""The job layer both transports share — the GIMP worker's Unix socket (worker.py) and `sfumato serve`'s
HTTP (serve.py): a request (a protocol.py header and its buffers) becomes options and arrays, the
operation runs with a Job, and its result becomes the reply message. The options come from the schema
(core/options.py, `options_from`), so a bad value gets the CLI's message, by name, at every door."""
from __future__ import annotations

import time

import numpy as np

from ..errors import SfumatoError
from ..options import check_inpaint_options, check_stylize_options, options_from
from ..runtime.job import Job

DTYPES = {"u8": np.uint8, "u16": np.uint16, "f32": np.float32}
FAINTEST_COVERAGE = 0.5 / 65535
PROGRESS_INTERVAL_S = 0.1  # progress messages at most this often (and always the last one)


# --- the request -------------------------------------------------------------------------------

def _array(buf: bytes, spec: dict, name: str = "image") -> np.ndarray:
    if spec.get("encoding") == "file":  # an image file's bytes (PNG, JPEG...), as a server client may send
        from ..imageio import decode_image
        return decode_image(bytes(buf), name)
    dtype = DTYPES.get(spec.get("dtype"))
    w, h, c = spec.get("width"), spec.get("height"), spec.get("channels")
    if dtype is None or not all(isinstance(v, int) and v > 0 for v in (w, h, c)):
        raise SfumatoError(f"bad pixel description {spec}")
    if len(buf) != w * h * c * np.dtype(dtype).itemsize:
        raise SfumatoError(f"pixel buffer has {len(buf)} bytes, expected {w}x{h}x{c} {spec['dtype']}")
    if c > 4:
        raise SfumatoError(f"bad pixel description {spec}: 1 to 4 channels")
    return np.frombuffer(buf, dtype).reshape(h, w, c)


def _arrays(header: dict, buffers: list) -> dict[str, np.ndarray]:
    names = header.get("layout", [])
    if not isinstance(names, list) or len(names) != len(buffers) or not all(isinstance(n, str) for n in names):
        raise SfumatoError("request layout does not match its buffers")
    if not all(isinstance(header.get(name), dict) for name in names):
        raise SfumatoError("request layout names a buffer it does not describe")
    arrays = {name: _array(buf, header[name], name.replace("_", " ")) for name, buf in zip(names, buffers)}
    if "image" not in arrays and "frame0" not in arrays:
        raise SfumatoError("the request has no image")
    from ..imageio import check_pixels  # the CLI's checks: sizes, NaN and infinite values, float range
    return {name: check_pixels(a, name.replace("_", " ")) for name, a in arrays.items()}


def request_arrays(op: str, header: dict, buffers: list) -> dict[str, np.ndarray]:
    """The request's pixels as arrays, after its options are checked (check_request)."""
    check_request(op, header)
    return _arrays(header, buffers)


def _options(operation: str, header: dict, **internal):
    """The request's options; those it leaves out keep their defaults."""
    values = header.get("options", {})
    if not isinstance(values, dict):
        raise SfumatoError("request options must be a JSON object")
    return options_from(operation, values, **internal)


def check_request(op: str, header: dict) -> None:
    """A job's options, checked before its pixels: the order the CLI checks them in (the option
    ranges, then the options together, then the style), so every door gives the same first message."""
    if op in ("stylize", "stylize_frames"):
        options = _options("stylize", header)
        if options.style is None:  # a style image's pixels are checked with the others
            options.style_image = np.zeros((1, 1, 3))
        _check_stylize(options)
        if options.style is not None:
            from ..styling.styles import parse_style
            parse_style(options.style)
    elif op == "inpaint":
        check_inpaint_options(_options("inpaint", header))


def _check_stylize(options) -> None:
    """The CLI's check of a stylize run's options, in the request's words."""
    if options.style is None and options.style_image is None:
        raise SfumatoError("the request names no style: set option style, or send a style_image buffer")
    check_stylize_options(options)


def _mask(arrays: dict, name: str = "mask") -> np.ndarray | None:
    """H x W float: GIMP's selection (float coverage) as sent, stored pixels (a mask file) made grey as
    the CLI reads them. The same for a "sample_from" area (GIMP's channel, a file's pixels), whose size
    inpaint() checks, in the words the CLI gives."""
    mask = arrays.get(name)
    if mask is None:
        return None
    if name == "mask" and mask.shape[:2] != arrays["image"].shape[:2]:
        raise SfumatoError(f"mask is {mask.shape[1]}x{mask.shape[0]} but the image is "
                           f"{arrays['image'].shape[1]}x{arrays['image'].shape[0]}; they must be the same size")
    from ..imageio import mask_from_array
    if mask.dtype != np.float32:
        return mask_from_array(mask)
    # a feathered selection in a float image covers the whole layer with weights like 1e-20; coverage
    # under half a 16-bit step rounds to nothing in any integer selection, and is nothing here too
    return np.where(mask[:, :, 0] < FAINTEST_COVERAGE, np.float32(0), mask[:, :, 0])


# --- the operations ----------------------------------------------------------------------------

def _stylize(header: dict, arrays: dict, job: Job) -> np.ndarray:
    from ..styling.pipeline import stylize, stylize_region
    mask = _mask(arrays)
    options = _options("stylize", header, style_image=arrays.get("style_image"))
    _check_stylize(options)
    region = header.get("region")  # [x, y, width, height]: a preview of that part of the result
    if region is not None:
        if not (isinstance(region, list) and len(region) == 4 and all(type(v) is int for v in region)):
            raise SfumatoError("region must be [x, y, width, height] in whole pixels")
        return stylize_region(arrays["image"], options, region, mask=mask, job=job)
    return stylize(arrays["image"], options, mask=mask, job=job)


def _stylize_frames(header: dict, arrays: dict, job: Job) -> list[np.ndarray]:
    """GIMP's layers as the frames of an animation (frame0, frame1, ...), one set of statistics."""
    from ..styling.pipeline import stylize_frames
    frames = [arrays[f"frame{i}"] for i in range(len(arrays)) if f"frame{i}" in arrays]
    if len(frames) != len(arrays):
        raise SfumatoError("a frames request carries frame0, frame1, ... and nothing else")
    options = _options("stylize", header)
    _check_stylize(options)
    return stylize_frames(frames, options, job=job)


def _inpaint(header: dict, arrays: dict, job: Job) -> np.ndarray:
    from ..inpainting.pipeline import inpaint
    if "mask" not in arrays:
        raise SfumatoError("nothing to fill: the request has no mask")
    options = _options("inpaint", header)
    check_inpaint_options(options)
    area = _mask(arrays, "sample_from")  # optional: where a large hole's texture may come from
    return inpaint(arrays["image"], _mask(arrays), options, job=job,
                   **({} if area is None else {"sample_from": area}))


OPERATIONS = {"stylize": _stylize, "inpaint": _inpaint, "stylize_frames": _stylize_frames}


def run(op: str, header: dict, arrays: dict, job: Job) -> list[np.ndarray]:
    """The job's result images (one, or one per frame), each contiguous, ready to send."""
    result = OPERATIONS[op](header, arrays, job)
    return [np.ascontiguousarray(r) for r in (result if isinstance(result, list) else [result])]


def styles() -> dict:
    from ..styling.styles import style_table
    return {"styles": [s["name"] for s in style_table()]}


# --- the reply ---------------------------------------------------------------------------------

def describe(result: np.ndarray) -> dict:
    return {"width": result.shape[1], "height": result.shape[0], "channels": 1 if result.ndim == 2 else result.shape[2],
            "dtype": {v: k for k, v in DTYPES.items()}[result.dtype.type]}


def result_message(op: str, results: list[np.ndarray], seconds: float) -> tuple[dict, list]:
    """(header, buffers) of the result message: the first image described in the header (all of them
    under "frames" for a frames job), every image a buffer."""
    header = {"type": "result", "seconds": round(seconds, 3), **describe(results[0])}
    if op == "stylize_frames":
        header["frames"] = [describe(r) for r in results]
    return header, [memoryview(r).cast("B") for r in results]


def throttled(report, interval: float = PROGRESS_INTERVAL_S):
    """A Job's progress callback that passes a fraction on to `report` at most every `interval`
    seconds, and always the last one (1.0): a client's progress bar, not a flood of messages."""
    last = [0.0]

    def on_progress(fraction: float) -> None:
        now = time.perf_counter()
        if now - last[0] > interval or fraction >= 1.0:
            last[0] = now
            report(fraction)
    return on_progress
