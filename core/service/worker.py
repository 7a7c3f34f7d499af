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

from . import jobs, protocol
from ..errors import SfumatoError
from ..options import WORKER_IDLE_TIMEOUT_S
from ..runtime.job import Cancelled, Job

# s a client may take to send its request header; its buffers get this plus a second per MIN_RATE
# bytes. Past that deadline it is dropped (slow and silent clients are read on their own threads,
# so they hold nobody up meanwhile)
READ_TIMEOUT = float(os.environ.get("SFUMATO_WORKER_READ_TIMEOUT", 30))
MIN_RATE = 16 << 20
MAX_READERS = 16  # requests arriving at once; more are told to retry


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
            f"sfumato from {Path(__file__).resolve().parents[1]}")  # which install is serving (its version: ping)
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
            if isinstance(op, str) and (op in jobs.OPERATIONS or op == "shutdown"):
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
                from .. import __version__
                protocol.send(conn, {"type": "result", "pid": os.getpid(), "version": __version__})
            elif op == "shutdown":
                self.running = False
                protocol.send(conn, {"type": "result"})
            elif op == "styles":
                protocol.send(conn, {"type": "result", **jobs.styles()})
            elif op in jobs.OPERATIONS:
                self.run_job(conn, op, header, buffers, t0)
            else:
                protocol.send(conn, {"type": "error", "message": f"unknown request {op!r}"})
        except OSError as exc:
            log(f"{op}: client went away ({exc})")
        except Exception as exc:  # noqa: BLE001 - never die on one request
            traceback.print_exc()
            _try_send(conn, {"type": "error", "message": f"internal error in the Sfumato worker: {exc!r}"})

    def run_job(self, conn, op, header, buffers, t0) -> None:
        def report(fraction: float) -> None:
            try:
                protocol.send(conn, {"type": "progress", "fraction": fraction})
            except OSError:
                job.cancel()
                raise Cancelled() from None

        job = Job(jobs.throttled(report))

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
            arrays = jobs.request_arrays(op, header, buffers)
            del buffers
            watcher.start()
            results = jobs.run(op, header, arrays, job)
            reply, images = jobs.result_message(op, results, time.perf_counter() - t0)
            protocol.send(conn, reply, *images)
            log(f"{op} {reply['width']}x{reply['height']}{f' x{len(results)}' if len(results) > 1 else ''} "
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
    ap.add_argument("--idle-timeout", type=float, default=WORKER_IDLE_TIMEOUT_S,
                    help="exit after this many idle seconds")
    args = ap.parse_args(argv)
    from ..atomic import ensure_cache_home
    ensure_cache_home()
    Worker(args.socket or protocol.socket_path(), args.idle_timeout).serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
