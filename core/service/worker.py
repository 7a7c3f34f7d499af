"""The long-lived worker the GIMP plug-in talks to: `python -m sfumato.service.worker`.

GIMP's Python cannot import onnxruntime, so the plug-in starts this process (in the project's own
environment) on first use and reuses it: models stay loaded between calls. It listens on a Unix
socket in a private directory (service/protocol.py), serves one request at a time, reads and writes only
the pixel buffers a request carries, and exits after `--idle-timeout` seconds without requests.
A cancel message, or the plug-in disconnecting (GIMP's Cancel ends the plug-in process), stops the
running job within milliseconds.
"""
from __future__ import annotations

import argparse
import fcntl
import os
import queue
import socket
import struct
import sys
import threading
import time
import traceback
from pathlib import Path

import numpy as np

from .. import __version__
from . import protocol
from ..errors import SfumatoError
from ..runtime.job import Cancelled, Job

DTYPES = {"u8": np.uint8, "u16": np.uint16, "f32": np.float32}
FAINTEST_COVERAGE = 0.5 / 65535
# s a client may take to send its request: a silent one must not hold the others up
READ_TIMEOUT = float(os.environ.get("SFUMATO_WORKER_READ_TIMEOUT", 30))


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
    return np.frombuffer(buf, dtype).reshape(h, w, c)


def _inputs(header: dict, buffers: list) -> dict[str, np.ndarray]:
    names = header.get("layout", [])
    if not isinstance(names, list) or len(names) != len(buffers) or not all(isinstance(n, str) for n in names):
        raise SfumatoError("request layout does not match its buffers")
    if not all(isinstance(header.get(name), dict) for name in names):
        raise SfumatoError("request layout names a buffer it does not describe")
    arrays = {name: _array(buf, header[name], name.replace("_", " ")) for name, buf in zip(names, buffers)}
    if "image" not in arrays and "frame0" not in arrays:
        raise SfumatoError("the request has no image")
    return arrays


def _options(header: dict, fields: dict) -> dict:
    """The request's options that are set, each converted to its type or refused by name."""
    o = header.get("options", {})
    if not isinstance(o, dict):
        raise SfumatoError("request options must be a JSON object")
    out = {}
    for key, kind in fields.items():
        value = o.get(key)
        if value in (None, ""):
            continue  # left out: the option keeps its default
        if kind is bool:
            ok = isinstance(value, bool)
        elif kind is str:
            ok = isinstance(value, (str, int)) and not isinstance(value, bool)  # a style index may come as a number
        else:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) and np.isfinite(value)
        if not ok:
            raise SfumatoError(f"option {key} must be {'a number' if kind in (int, float) else kind.__name__}, "
                               f"got {value!r}")
        out[key] = kind(value) if kind is not int else int(round(value))
    return out


def _fields(operation: str, **more: type) -> dict:
    """The option names and types a request may set: the schema's (core/options.py), plus the device."""
    from ..options import SCHEMA
    return {**{o.name: o.type for o in SCHEMA[operation]}, **more, "device": str}


def _mask(arrays: dict) -> np.ndarray | None:
    """H x W float: GIMP's selection (float coverage) as sent, stored pixels (a mask file) made grey as
    the CLI reads them."""
    mask = arrays.get("mask")
    if mask is None:
        return None
    if mask.shape[:2] != arrays["image"].shape[:2]:
        raise SfumatoError(f"mask is {mask.shape[1]}x{mask.shape[0]} but the image is "
                           f"{arrays['image'].shape[1]}x{arrays['image'].shape[0]}; they must be the same size")
    from ..imageio import mask_from_array
    if mask.dtype != np.float32:
        return mask_from_array(mask)
    # a feathered selection in a float image covers the whole layer with weights like 1e-20; coverage
    # under half a 16-bit step rounds to nothing in any integer selection, and is nothing here too
    return np.where(mask[:, :, 0] < FAINTEST_COVERAGE, np.float32(0), mask[:, :, 0])


def op_stylize(header: dict, arrays: dict, job: Job) -> np.ndarray:
    from ..styling.pipeline import StylizeOptions, stylize
    mask = _mask(arrays)
    o = _options(header, _fields("stylize", style=str))
    options = StylizeOptions(**o, style_image=arrays.get("style_image"))
    return stylize(arrays["image"], options, mask=mask, job=job)


def op_stylize_frames(header: dict, arrays: dict, job: Job) -> list[np.ndarray]:
    """GIMP's layers as the frames of an animation (frame0, frame1, ...), one set of statistics."""
    from ..styling.pipeline import StylizeOptions, stylize_frames
    frames = [arrays[f"frame{i}"] for i in range(len(arrays)) if f"frame{i}" in arrays]
    if len(frames) != len(arrays):
        raise SfumatoError("a frames request carries frame0, frame1, ... and nothing else")
    o = _options(header, _fields("stylize", style=str))
    return stylize_frames(frames, StylizeOptions(**o, style_image=None), job=job)


def op_inpaint(header: dict, arrays: dict, job: Job) -> np.ndarray:
    from ..inpainting.pipeline import InpaintOptions, inpaint
    if "mask" not in arrays:
        raise SfumatoError("nothing to fill: the request has no mask")
    # settings the request leaves out keep InpaintOptions' defaults
    o = _options(header, _fields("inpaint", model=str))
    return inpaint(arrays["image"], _mask(arrays), InpaintOptions(**o), job=job)


def op_styles(header: dict) -> dict:
    from ..styling.styles import style_table
    return {"styles": [s["name"] for s in style_table()]}


JOBS = {"stylize": op_stylize, "inpaint": op_inpaint, "stylize_frames": op_stylize_frames}


class Worker:
    def __init__(self, path: str, idle_timeout: float):
        self.path, self.idle_timeout = path, idle_timeout
        self.running = True

    def serve(self) -> None:
        lock = open(os.path.join(os.path.dirname(self.path), "worker.lock"), "w")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log("another worker is running; exiting")
            return
        if os.path.exists(self.path):
            os.unlink(self.path)  # stale: we hold the lock, so no live worker owns it
        srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)
        try:
            srv.bind(self.path)
        finally:
            os.umask(old)
        srv.listen(16)
        srv.settimeout(0.5)
        log(f"worker {os.getpid()} listening on {self.path} (idle timeout {self.idle_timeout:.0f}s), "
            f"sfumato {__version__} from {Path(__file__).resolve().parents[1]}")  # which install is serving
        # one thread accepts and tells queued clients how many jobs are ahead; this one serves in order
        pending: queue.Queue = queue.Queue()
        self.busy = False
        threading.Thread(target=self.accept, args=(srv, pending), daemon=True).start()
        last_active = time.monotonic()
        try:
            while self.running:
                try:
                    conn = pending.get(timeout=0.5)
                except queue.Empty:
                    if time.monotonic() - last_active > self.idle_timeout:
                        log("idle timeout; exiting")
                        break
                    continue
                self.busy = True
                with conn:
                    self.handle(conn)
                self.busy = False
                last_active = time.monotonic()
        finally:
            self.running = False
            srv.close()
            if os.path.exists(self.path):
                os.unlink(self.path)

    def accept(self, srv: socket.socket, pending: queue.Queue) -> None:
        while self.running:
            try:
                conn, _ = srv.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            ahead = pending.qsize() + self.busy
            if ahead:
                conn.settimeout(1.0)
                _try_send(conn, {"type": "progress", "fraction": 0.0,
                                 "message": f"Sfumato is busy: {ahead} job{'s' if ahead > 1 else ''} ahead"})
            pending.put(conn)

    def handle(self, conn: socket.socket) -> None:
        """One request, whatever it holds: a malformed one gets an error reply (when the client is
        still there) and the worker goes on serving."""
        conn.settimeout(READ_TIMEOUT)
        try:
            header, buffers = protocol.recv(conn)
        except protocol.ProtocolError as exc:
            log(f"bad request: {exc}")
            _try_send(conn, {"type": "error", "message": f"bad request: {exc}"})
            return
        except (EOFError, OSError, ValueError, struct.error) as exc:
            log(f"bad request: {exc or type(exc).__name__}")
            return
        conn.settimeout(None)  # the job may run long; the watcher waits on the client as long as it takes
        op = header.get("op")
        t0 = time.perf_counter()
        try:
            if not isinstance(op, str):
                protocol.send(conn, {"type": "error", "message": f"bad request: 'op' must be a string, got {op!r}"})
            elif op == "ping":
                protocol.send(conn, {"type": "result", "pid": os.getpid(), "version": __version__})
            elif op == "shutdown":
                self.running = False
                protocol.send(conn, {"type": "result"})
            elif op == "styles":
                protocol.send(conn, {"type": "result", **op_styles(header)})
            elif op in JOBS:
                self.run_job(conn, op, header, buffers, t0)
            else:
                protocol.send(conn, {"type": "error", "message": f"unknown request {op!r}"})
        except OSError as exc:
            log(f"{op}: client went away ({exc})")
        except Exception as exc:  # noqa: BLE001 - never die on one request
            traceback.print_exc()
            _try_send(conn, {"type": "error", "message": f"internal error in the Sfumato worker: {exc!r}"})

    def run_job(self, conn, op, header, buffers, t0) -> None:
        last = [0.0]

        def on_progress(fraction: float) -> None:
            now = time.perf_counter()
            if now - last[0] > 0.1 or fraction >= 1.0:
                last[0] = now
                try:
                    protocol.send(conn, {"type": "progress", "fraction": fraction})
                except OSError:
                    job.cancel()
                    raise Cancelled() from None

        job = Job(on_progress)

        def watch() -> None:  # a cancel message or a closed connection cancels the job
            try:
                while True:
                    msg, _ = protocol.recv(conn)
                    if msg.get("op") == "cancel":
                        break
            except (EOFError, OSError, ValueError, protocol.ProtocolError):
                pass
            job.cancel()

        watcher = threading.Thread(target=watch, daemon=True)
        try:
            arrays = _inputs(header, buffers)
            del buffers
            watcher.start()
            result = JOBS[op](header, arrays, job)
            results = [np.ascontiguousarray(r) for r in (result if isinstance(result, list) else [result])]
            first = _describe(results[0])
            reply = {"type": "result", "seconds": round(time.perf_counter() - t0, 3), **first}
            if isinstance(result, list):
                reply["frames"] = [_describe(r) for r in results]
            protocol.send(conn, reply, *[memoryview(r).cast("B") for r in results])
            log(f"{op} {first['width']}x{first['height']}{f' x{len(results)}' if len(results) > 1 else ''} "
                f"done in {time.perf_counter() - t0:.2f}s")
        except Cancelled:
            log(f"{op} cancelled after {time.perf_counter() - t0:.2f}s")
            _try_send(conn, {"type": "error", "message": "cancelled"})
        except SfumatoError as exc:
            _try_send(conn, {"type": "error", "message": str(exc)})
        except Exception as exc:  # noqa: BLE001 - report, keep serving
            traceback.print_exc()
            _try_send(conn, {"type": "error", "message": f"internal error in the Sfumato worker: {exc!r}"})


def _describe(result: np.ndarray) -> dict:
    return {"width": result.shape[1], "height": result.shape[0], "channels": 1 if result.ndim == 2 else result.shape[2],
            "dtype": {v: k for k, v in DTYPES.items()}[result.dtype.type]}


def _try_send(conn, header) -> None:
    try:
        protocol.send(conn, header)
    except OSError:
        pass


def log(msg: str) -> None:
    print(f"[sfumato-worker {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m sfumato.service.worker")
    ap.add_argument("--socket", help="socket path (default: in the private runtime directory)")
    ap.add_argument("--idle-timeout", type=float, default=600.0, help="exit after this many idle seconds")
    args = ap.parse_args(argv)
    Worker(args.socket or protocol.socket_path(), args.idle_timeout).serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
