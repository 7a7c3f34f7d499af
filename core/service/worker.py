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
import math
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
# s a client may take to send its request header; its buffers get this plus a second per MIN_RATE
# bytes. Past that deadline it is dropped (slow and silent clients are read on their own threads,
# so they hold nobody up meanwhile)
READ_TIMEOUT = float(os.environ.get("SFUMATO_WORKER_READ_TIMEOUT", 30))
MIN_RATE = 16 << 20
MAX_READERS = 16  # requests arriving at once; more are told to retry


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


def _inputs(header: dict, buffers: list) -> dict[str, np.ndarray]:
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


def _options(header: dict, fields: dict) -> dict:
    """The request's options that are set, each converted to its type or refused by name, then held
    to the schema's range (the CLI's message)."""
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
            # an int of any size is a number (2**70: the range check refuses it); a float must be finite
            ok = not isinstance(value, bool) and (isinstance(value, int) or
                                                  (isinstance(value, float) and math.isfinite(value)))
        if not ok:
            raise SfumatoError(f"option {key} must be {'a number' if kind in (int, float) else kind.__name__}, "
                               f"got {value!r}")
        out[key] = kind(value) if kind is not int else int(round(value))
    from ..options import SCHEMA
    for o in (o for options in SCHEMA.values() for o in options):
        if o.name in out and o.type is fields.get(o.name):
            o.check(out[o.name])
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
    from ..styling.pipeline import StylizeOptions, stylize, stylize_region
    mask = _mask(arrays)
    o = _options(header, _fields("stylize", style=str))
    options = StylizeOptions(**o, style_image=arrays.get("style_image"))
    _check_stylize(options)
    region = header.get("region")  # [x, y, width, height]: a preview of that part of the result
    if region is not None:
        if not (isinstance(region, list) and len(region) == 4 and all(type(v) is int for v in region)):
            raise SfumatoError("region must be [x, y, width, height] in whole pixels")
        return stylize_region(arrays["image"], options, region, mask=mask, job=job)
    return stylize(arrays["image"], options, mask=mask, job=job)


def op_stylize_frames(header: dict, arrays: dict, job: Job) -> list[np.ndarray]:
    """GIMP's layers as the frames of an animation (frame0, frame1, ...), one set of statistics."""
    from ..styling.pipeline import StylizeOptions, stylize_frames
    frames = [arrays[f"frame{i}"] for i in range(len(arrays)) if f"frame{i}" in arrays]
    if len(frames) != len(arrays):
        raise SfumatoError("a frames request carries frame0, frame1, ... and nothing else")
    o = _options(header, _fields("stylize", style=str))
    options = StylizeOptions(**o, style_image=None)
    _check_stylize(options)
    return stylize_frames(frames, options, job=job)


def check_request(op: str, header: dict) -> None:
    """A job's options, checked before its pixels: the order the CLI checks them in (the option
    ranges, then the options together, then the style), so every door gives the same first message."""
    from ..styling.pipeline import StylizeOptions
    if op in ("stylize", "stylize_frames"):
        o = _options(header, _fields("stylize", style=str))
        # a style image's pixels are checked with the others; here only that one style is named
        options = StylizeOptions(**o, style_image=None if o.get("style") is not None else np.zeros((1, 1, 3)))
        _check_stylize(options)
        if options.style is not None:
            from ..styling.styles import parse_style
            parse_style(options.style)
    elif op == "inpaint":
        from ..options import InpaintOptions, check_inpaint_options
        check_inpaint_options(InpaintOptions(**_options(header, _fields("inpaint", model=str))))


def _check_stylize(options) -> None:
    """The CLI's check of a stylize run's options (core/styling/pipeline.py), in the request's words."""
    from ..styling.pipeline import check_options
    if options.style is None and options.style_image is None:
        raise SfumatoError("the request names no style: set option style, or send a style_image buffer")
    check_options(options)


def op_inpaint(header: dict, arrays: dict, job: Job) -> np.ndarray:
    from ..inpainting.pipeline import InpaintOptions, inpaint
    if "mask" not in arrays:
        raise SfumatoError("nothing to fill: the request has no mask")
    # settings the request leaves out keep InpaintOptions' defaults
    o = _options(header, _fields("inpaint", model=str))
    from ..options import check_inpaint_options
    options = InpaintOptions(**o)
    check_inpaint_options(options)
    return inpaint(arrays["image"], _mask(arrays), options, job=job)


def op_styles(header: dict) -> dict:
    from ..styling.styles import style_table
    return {"styles": [s["name"] for s in style_table()]}


JOBS = {"stylize": op_stylize, "inpaint": op_inpaint, "stylize_frames": op_stylize_frames}


class Worker:
    """Requests are read on a thread each, under one deadline for the whole request (header and
    buffers), so a slow or silent client delays nobody: only complete requests queue for the one
    thread that runs jobs, in order; pings and the style list are answered at once."""

    def __init__(self, path: str, idle_timeout: float):
        self.path, self.idle_timeout = path, idle_timeout
        self.running = True
        self.busy = False
        self.readers = threading.BoundedSemaphore(MAX_READERS)
        self.last_active = time.monotonic()

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
        # one thread accepts, a thread per connection reads its request; this one runs the jobs in order
        pending: queue.Queue = queue.Queue()
        threading.Thread(target=self.accept, args=(srv, pending), daemon=True).start()
        self.last_active = time.monotonic()
        try:
            while self.running:
                try:
                    conn, header, buffers, t0 = pending.get(timeout=0.5)
                except queue.Empty:
                    if time.monotonic() - self.last_active > self.idle_timeout and not self.reading():
                        log("idle timeout; exiting")
                        break
                    continue
                self.busy = True
                with conn:
                    self.dispatch(conn, header, buffers, t0)
                del header, buffers
                self.busy = False
                self.last_active = time.monotonic()
        finally:
            self.running = False
            srv.close()
            if os.path.exists(self.path):
                os.unlink(self.path)

    def reading(self) -> bool:
        return self.readers._value < MAX_READERS  # noqa: SLF001 - a request is on its way in

    def accept(self, srv: socket.socket, pending: queue.Queue) -> None:
        while self.running:
            try:
                conn, _ = srv.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            if not self.readers.acquire(blocking=False):
                conn.settimeout(1.0)
                _try_send(conn, {"type": "error", "message": f"Sfumato is busy: {MAX_READERS} requests are "
                                                             "arriving at once; try again in a moment"})
                conn.close()
                continue
            ahead = pending.qsize() + self.busy
            if ahead:
                conn.settimeout(1.0)
                _try_send(conn, {"type": "progress", "fraction": 0.0,
                                 "message": f"Sfumato is busy: {ahead} job{'s' if ahead > 1 else ''} ahead"})
            threading.Thread(target=self.receive, args=(conn, pending), daemon=True).start()

    def receive(self, conn: socket.socket, pending: queue.Queue) -> None:
        """Read one request whole (or drop it); quick requests are answered here, jobs queued."""
        try:
            request = self.read(conn)
            if request is None:
                conn.close()
                return
            header, buffers, t0 = request
            op = header.get("op")
            if isinstance(op, str) and (op in JOBS or op == "shutdown"):
                pending.put((conn, header, buffers, t0))
                return
            with conn:
                self.dispatch(conn, header, buffers, t0)
            self.last_active = time.monotonic()
        except Exception as exc:  # noqa: BLE001 - one bad connection never ends the worker's reading
            log(f"bad request: {exc!r}")
            conn.close()
        finally:
            self.readers.release()

    def read(self, conn: socket.socket):
        """(header, buffers, t0), or None after telling the client why its request was dropped."""
        t0 = time.perf_counter()
        deadline = _Deadline(conn, READ_TIMEOUT)
        try:
            header, buffers = _recv_request(deadline)
        except protocol.ProtocolError as exc:
            log(f"bad request: {exc}")
            _try_send(conn, {"type": "error", "message": f"bad request: {exc}"})
            return None
        except socket.timeout:
            log(f"bad request: not whole after {deadline.allowed:.0f}s; dropped")
            _try_send(conn, {"type": "error", "message": f"bad request: it did not arrive whole within "
                                                         f"{deadline.allowed:.0f}s; dropped"})
            return None
        except EOFError:  # cut short: a client that only half-closed still hears why
            log("bad request: the message ended early")
            _try_send(conn, {"type": "error", "message": "bad request: the message ended before the sizes its "
                                                         "header gives"})
            return None
        except (OSError, ValueError, struct.error) as exc:
            log(f"bad request: {exc or type(exc).__name__}")
            return None
        conn.settimeout(None)  # the job may run long; the watcher waits on the client as long as it takes
        return header, buffers, t0

    def dispatch(self, conn: socket.socket, header: dict, buffers: list, t0: float) -> None:
        """One request, whatever it holds: a malformed one gets an error reply (when the client is
        still there) and the worker goes on serving."""
        op = header.get("op")
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
            check_request(op, header)
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


class _Deadline:
    """A socket whose reads share one deadline: each waits only for the time the request has left."""
    waitall = True  # protocol._recv_exact may read whole buffers in one call

    def __init__(self, sock: socket.socket, seconds: float):
        self.sock, self.allowed = sock, seconds
        self.end = time.monotonic() + seconds

    def extend(self, seconds: float) -> None:
        self.allowed += seconds
        self.end += seconds

    def recv(self, n: int, flags: int = 0) -> bytes:
        left = self.end - time.monotonic()
        if left <= 0:
            raise socket.timeout("request deadline")
        self.sock.settimeout(left)
        return self.sock.recv(n, flags)


def _recv_request(sock: _Deadline):
    """protocol.recv under one deadline: the header's time, then more for the bytes it declares."""
    (n,) = protocol.HEADER.unpack(protocol._recv_exact(sock, protocol.HEADER.size))  # noqa: SLF001
    if n > protocol.MAX_HEADER:
        raise protocol.ProtocolError("message header of %d bytes" % n)
    header = protocol._header(protocol._recv_exact(sock, n))  # noqa: SLF001
    sizes = header.get("buffers", [])
    sock.extend(sum(sizes) / MIN_RATE)
    return header, [protocol._recv_exact(sock, k) for k in sizes]  # noqa: SLF001


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
    from ..atomic import ensure_cache_home
    ensure_cache_home()
    Worker(args.socket or protocol.socket_path(), args.idle_timeout).serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
