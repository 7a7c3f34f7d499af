"""`sfumato serve`: one GPU box for a studio. The core as a Ray Serve application (`pip install
"sfumato[serve]"`): replicas holding warm onnxruntime sessions behind an HTTP API, the whole pipeline
(tiling with shared statistics, masks, inpainting crops, colour match) on the server.

A job request's body is one message of the worker's wire format (service/protocol.py: a JSON header with
the options, then raw pixel buffers or image files), or for stylize a plain image file with the
options in the query string. The options are parsed and checked, and the job run, by the job layer
the worker uses too (service/jobs.py), so a bad request gets the CLI's one-line message, with a 4xx.
A client that accepts protocol.STREAM_TYPE gets the worker's reply sequence (progress..., result or
error) as it happens; closing the connection cancels the job.

Safety: every request carries `Authorization: Bearer TOKEN` or gets 401 and does no work; the token's
sha256 is all the replicas hold. Loopback unless --host says otherwise, and then --token-file is
required. Bodies are capped, each replica admits at most --max-queue jobs and --max-per-client from one
address (then 503 with Retry-After), and no endpoint touches server-side paths.
"""
# no `from __future__ import annotations`: FastAPI reads the handlers' annotations at run time
import asyncio
import hmac
import json
import os
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from ray import serve
from starlette.requests import ClientDisconnect

from .. import __version__
from . import jobs, protocol
from ..errors import SfumatoError
from ..options import DEFAULT_DEVICE, SERVER_MAX_BODY_MB, SERVER_MAX_PER_CLIENT, SERVER_MAX_QUEUE
from ..runtime import manifest
from ..runtime.job import Job
from ..threads import set_share
from .tokens import server_token, token_sha256

RETRY_AFTER_S = 2
BODY_TIMEOUT_S = float(os.environ.get("SFUMATO_SERVE_BODY_TIMEOUT", 30))


@dataclass
class ServeSettings:
    """What every replica needs to know; plain values, so Ray can ship them to any node."""
    token_sha256: str
    device: str = DEFAULT_DEVICE
    threads: int = 0            # onnxruntime threads per replica (0 = all cores)
    max_queue: int = SERVER_MAX_QUEUE
    max_per_client: int = SERVER_MAX_PER_CLIENT  # from one client (address + X-Sfumato-Client id)
    max_body_mb: int = SERVER_MAX_BODY_MB


class Refused(Exception):
    """An HTTP refusal: status, one line for the user, extra headers."""

    def __init__(self, status: int, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status, self.headers = status, headers or {}


class Failed(SfumatoError):
    """Something broke inside the server, not in the request: a 500 that still says what, in one line."""
    status = 500


def _status(exc: SfumatoError) -> int:
    return getattr(exc, "status", 400)


def _refusal(exc: Refused) -> JSONResponse:
    return JSONResponse({"error": str(exc)}, status_code=exc.status, headers=exc.headers)


class _BytesReader:
    """A request body read the way protocol.recv reads a socket."""

    def __init__(self, data: bytes):
        self.view, self.at = memoryview(data), 0

    def recv(self, n: int) -> bytes:
        chunk = self.view[self.at:self.at + n]
        self.at += len(chunk)
        return bytes(chunk)


def _query_options(query) -> dict:
    """Query-string options as the JSON the worker parses: numbers and true/false typed, names kept."""
    out = {}
    for key, text in query.items():
        try:
            out[key] = json.loads(text)
        except ValueError:
            out[key] = text
    return out


class Service:
    """One replica's work, apart from Ray: authorise, admit, parse, run. Jobs run one at a time on a
    thread of their own (onnxruntime already uses the replica's cores); the event loop stays free to
    refuse, queue and stream."""

    def __init__(self, settings: ServeSettings):
        self.settings = settings
        if settings.threads:
            set_share(settings.threads)  # before this replica loads a model
        self.jobs = ThreadPoolExecutor(1, thread_name_prefix="sfumato-job")
        self.counts = Counter()
        self.held = 0              # jobs admitted and not finished, this replica
        self.by_client = Counter()
        self.lock = threading.Lock()

    # --- refusals ---------------------------------------------------------------------------
    def authorise(self, request: Request) -> None:
        self.counts["requests"] += 1
        given = request.headers.get("authorization", "")
        scheme, _, token = given.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token_sha256(token.strip()),
                                                                 self.settings.token_sha256):
            self.counts["unauthorised"] += 1
            raise Refused(401, "missing or wrong token: send `Authorization: Bearer TOKEN` (the server's "
                               "--token-file; `sfumato ... --server URL --token-file FILE`)",
                          {"WWW-Authenticate": "Bearer"})

    def admit(self, client: str) -> None:
        with self.lock:
            if self.held >= self.settings.max_queue:
                self.counts["busy"] += 1
                raise Refused(503, f"the server is busy ({self.held} jobs queued)",
                              {"Retry-After": str(RETRY_AFTER_S)})
            if self.by_client[client] >= self.settings.max_per_client:
                self.counts["busy"] += 1
                raise Refused(503, f"you already have {self.by_client[client]} jobs queued on this server",
                              {"Retry-After": str(RETRY_AFTER_S)})
            self.held += 1
            self.by_client[client] += 1

    def release(self, client: str) -> None:
        with self.lock:
            self.held -= 1
            self.by_client[client] -= 1
            if not self.by_client[client]:
                del self.by_client[client]

    async def read_body(self, request: Request) -> bytes:
        cap = self.settings.max_body_mb << 20
        declared = request.headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > cap):
            raise Refused(413, f"request body of {declared} bytes is over the server's "
                               f"{self.settings.max_body_mb} MB limit")
        parts, size = [], 0
        chunks = request.stream().__aiter__()
        while True:
            try:  # a client that stops sending must not hold its place in the queue
                chunk = await asyncio.wait_for(chunks.__anext__(), BODY_TIMEOUT_S)
            except StopAsyncIteration:
                break
            except asyncio.TimeoutError:
                self.counts["timed_out"] += 1
                raise Refused(408, f"the request body stopped arriving for {BODY_TIMEOUT_S:.0f} s") from None
            size += len(chunk)
            if size > cap:
                raise Refused(413, f"request body is over the server's {self.settings.max_body_mb} MB limit")
            parts.append(chunk)
        return b"".join(parts)

    # --- the job -----------------------------------------------------------------------------
    def parse(self, op: str, content_type: str, body: bytes, query) -> tuple[dict, dict]:
        """(header, arrays) for the job layer, or SfumatoError / Refused."""
        kind = content_type.split(";")[0].strip().lower()
        if kind == protocol.FRAME_TYPE:
            reader = _BytesReader(body)
            try:
                header, buffers = protocol.recv(reader)
            except (protocol.ProtocolError, EOFError) as exc:
                raise SfumatoError(f"bad request body: {exc}") from None
            if reader.at != len(body):
                raise SfumatoError(f"bad request body: {len(body) - reader.at} bytes after the message")
        elif kind.startswith("image/"):
            if op != "stylize":
                raise Refused(415, f"{op} needs several pictures: send them as one {protocol.FRAME_TYPE} "
                                   "message (see the README's `sfumato serve`)")
            header = {"options": _query_options(query), "layout": ["image"], "image": {"encoding": "file"}}
            buffers = [body]
        else:
            raise Refused(415, f"send the request as {protocol.FRAME_TYPE} or as an image file (image/png, "
                               f"image/jpeg), not {kind or 'no content type'}")
        options = header.get("options", {})
        if isinstance(options, dict):  # the server's device, whatever a client asks
            header["options"] = dict(options, device=self.settings.device)
        try:
            return header, jobs.request_arrays(op, header, buffers)  # the options first, as the CLI checks them
        except SfumatoError:
            raise
        except Exception as exc:  # noqa: BLE001 - one line, never a bare 500
            raise Failed(f"internal error in the Sfumato server reading the request: {exc!r}") from None

    def run(self, op: str, header: dict, arrays: dict, job: Job) -> list[np.ndarray]:
        """The job's result images (one, or one per frame)."""
        from ..runtime.job import Cancelled
        self.counts["jobs_started"] += 1
        try:
            results = jobs.run(op, header, arrays, job)
        except (SfumatoError, Cancelled):
            raise
        except Exception as exc:  # noqa: BLE001 - one line (a 500, or the stream's error message)
            raise Failed(f"internal error in the Sfumato server: {exc!r}") from None
        self.counts["jobs_done"] += 1
        return results


def _result_message(op: str, results: list[np.ndarray], seconds: float) -> bytes:
    header, images = jobs.result_message(op, results, seconds)
    return protocol.encode(header, *images)


api = FastAPI(title="Sfumato", version=__version__, docs_url=None, redoc_url=None, openapi_url=None,
              description="Neural style transfer and inpainting. Every request needs `Authorization: Bearer TOKEN`.")

_JOB_BODY = {"requestBody": {"required": True, "content": {
    protocol.FRAME_TYPE: {"schema": {"type": "string", "format": "binary"},
                          "description": "one service/protocol.py message: 4-byte big-endian header length, JSON header "
                                         "{options, layout, <name>: {width, height, channels, dtype} or "
                                         "{encoding: 'file'}}, then the buffers"},
    "image/png": {"schema": {"type": "string", "format": "binary"},
                  "description": "stylize only: an image file, options in the query string"}}},
    "responses": {"200": {"description": "the result: the same kind of body as the request (a PNG for an image "
                                         "file; a protocol message, or with Accept: "
                                         f"{protocol.STREAM_TYPE} the progress messages and then the result)"},
                  "400": {"description": "bad options or pixels: {error: the CLI's message}"},
                  "401": {"description": "missing or wrong token"},
                  "413": {"description": "body over the limit"},
                  "503": {"description": "queue full; see Retry-After"}}}


@serve.deployment(name="sfumato")
@serve.ingress(api)
class SfumatoServer:
    def __init__(self, settings: dict):
        self.service = Service(ServeSettings(**settings))

    async def _job(self, op: str, request: Request) -> Response:
        service = self.service
        try:
            service.authorise(request)
            # the address, and the id a client sends: clients behind one address each get their share
            client = f"{request.client.host if request.client else '?'}/{request.headers.get('x-sfumato-client', '')[:64]}"
            service.admit(client)
        except Refused as exc:
            return _refusal(exc)
        t0 = time.perf_counter()
        loop = asyncio.get_running_loop()
        try:
            body = await service.read_body(request)
        except Refused as exc:
            service.release(client)
            return _refusal(exc)
        except BaseException as exc:  # the client went away mid-upload (however Serve and Starlette say so)
            service.counts["disconnected"] += 1
            service.release(client)
            if isinstance(exc, ClientDisconnect):
                return Response(status_code=499)
            raise
        try:
            header, arrays = await loop.run_in_executor(None, service.parse, op, request.headers.get(
                "content-type", ""), body, request.query_params)
            del body
        except Refused as exc:
            service.release(client)
            return _refusal(exc)
        except SfumatoError as exc:
            service.release(client)
            service.counts["bad"] += 1
            return JSONResponse({"error": str(exc)}, status_code=_status(exc))
        except BaseException:
            service.release(client)
            raise
        ahead = service.held - 1
        framed = request.headers.get("content-type", "").startswith(protocol.FRAME_TYPE)
        if protocol.STREAM_TYPE in request.headers.get("accept", ""):
            return StreamingResponse(self._stream(request, op, header, arrays, client, ahead, t0),
                                     media_type=protocol.STREAM_TYPE)
        job = Job()
        try:
            result = await loop.run_in_executor(service.jobs, service.run, op, header, arrays, job)
        except asyncio.CancelledError:  # the client went away: stop the job, free the replica
            job.cancel()
            service.counts["cancelled"] += 1
            raise
        except SfumatoError as exc:
            service.counts["bad"] += 1
            return JSONResponse({"error": str(exc)}, status_code=_status(exc))
        finally:
            service.release(client)
        if framed:
            return Response(_result_message(op, result, time.perf_counter() - t0), media_type=protocol.FRAME_TYPE)
        from ..imageio import encode_png
        try:
            png = await loop.run_in_executor(None, encode_png, result[0])
        except SfumatoError as exc:  # a float result: a PNG cannot hold it
            return JSONResponse({"error": f"{exc}; send float pixels as a {protocol.FRAME_TYPE} message to get "
                                          "them back as floats"}, status_code=400)
        return Response(png, media_type="image/png")

    async def _stream(self, request, op, header, arrays, client, ahead, t0):
        """The worker's reply sequence: progress as the job goes, then the result or an error. A
        client that closes the connection cancels the job (watched here: once a response streams,
        a disconnect does not reach the handler any other way behind Serve's proxy)."""
        service, loop = self.service, asyncio.get_running_loop()
        updates: asyncio.Queue = asyncio.Queue()
        # progress arrives on the job's thread; the event loop sends it
        job = Job(jobs.throttled(lambda fraction: loop.call_soon_threadsafe(updates.put_nowait, fraction)))
        future = loop.run_in_executor(service.jobs, service.run, op, header, arrays, job)
        del arrays

        async def watch() -> None:
            while (await request.receive())["type"] != "http.disconnect":
                pass
            if not future.done():
                job.cancel()
                service.counts["cancelled"] += 1

        watcher = asyncio.ensure_future(watch())
        try:
            # at once: the client knows the job is accepted (and when it waits behind others)
            yield protocol.encode({"type": "progress", "fraction": 0.0, **(
                {"message": f"Sfumato is busy: {ahead} job{'s' if ahead > 1 else ''} ahead"} if ahead > 0 else {})})
            while not future.done():
                getter = asyncio.ensure_future(updates.get())
                done, _ = await asyncio.wait({getter, future}, return_when=asyncio.FIRST_COMPLETED)
                if getter in done:
                    yield protocol.encode({"type": "progress", "fraction": getter.result()})
                else:
                    getter.cancel()
            try:
                result = future.result()
            except SfumatoError as exc:
                service.counts["bad"] += 1
                yield protocol.encode({"type": "error", "message": str(exc)})
                return
            yield _result_message(op, result, time.perf_counter() - t0)
        finally:
            watcher.cancel()
            if not future.done() and not job.cancelled:  # the stream was closed under us: cancel the job
                job.cancel()
                service.counts["cancelled"] += 1
            service.release(client)

    @api.post("/v1/stylize", openapi_extra=_JOB_BODY, summary="Repaint an image in a style")
    async def stylize(self, request: Request) -> Response:
        return await self._job("stylize", request)

    @api.post("/v1/inpaint", openapi_extra=_JOB_BODY, summary="Fill the masked part of an image")
    async def inpaint(self, request: Request) -> Response:
        return await self._job("inpaint", request)

    @api.post("/v1/stylize_frames", openapi_extra=_JOB_BODY,
              summary="Stylize the frames of an animation (frame0, frame1, ...) with one set of statistics")
    async def stylize_frames(self, request: Request) -> Response:
        return await self._job("stylize_frames", request)

    def _authorised(self, request: Request) -> JSONResponse | None:
        try:
            self.service.authorise(request)
        except Refused as exc:
            return _refusal(exc)
        return None

    @api.get("/v1/styles", summary="The built-in style names")
    async def styles(self, request: Request):
        return self._authorised(request) or jobs.styles()

    @api.get("/v1/models", summary="Installed models")
    async def models(self, request: Request):
        return self._authorised(request) or {"models": [
            {"name": n, "task": m.task, "licence": m.entry.get("licence"), "sha256": m.entry.get("sha256")}
            for n, m in manifest.all_models().items()]}

    @api.get("/v1/health", summary="Version, device and this replica's counters")
    async def health(self, request: Request):
        s = self.service
        return self._authorised(request) or {"status": "ok", "version": __version__, "pid": os.getpid(),
                                             "device": s.settings.device, "held": s.held, "counts": dict(s.counts)}

    @api.get("/v1/openapi.json", summary="This description")
    async def openapi(self, request: Request):
        return self._authorised(request) or api.openapi()


# --- `sfumato serve` -----------------------------------------------------------------------------

def run_server(host: str, port: int, token_file: Path | None, device: str, replicas: int, threads: int,
               gpus_per_replica: float, address: str | None, max_queue: int, max_per_client: int,
               max_body_mb: int, ready=None) -> None:
    """Start Ray (or join ADDRESS), deploy, serve until interrupted. `ready(url)` is called once serving."""
    import signal

    import ray
    token, token_path = server_token(token_file, host)
    if device == "cuda" and not gpus_per_replica:
        gpus_per_replica = 1.0 / replicas
    settings = ServeSettings(token_sha256(token), device, threads, max_queue, max_per_client, max_body_mb)
    if address:
        ray.init(address=address, log_to_driver=False)
    else:
        ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False)
    serve.start(http_options={"host": host, "port": port}, logging_config={"log_level": "WARNING"})
    app = SfumatoServer.options(
        num_replicas=replicas, max_ongoing_requests=max_queue + 2,  # our own admission answers 503 first
        max_queued_requests=max(4 * max_queue, 16),
        ray_actor_options={"num_cpus": 0, "num_gpus": gpus_per_replica},
    ).bind(asdict(settings))
    serve.run(app, name="sfumato", route_prefix="/")
    url = f"http://{'[' + host + ']' if ':' in host else host}:{port}"
    print(f"sfumato serve: {url} ({replicas} replica{'s' * (replicas > 1)}, device {device}); "
          f"token in {token_path}; Ctrl-C stops", file=sys.stderr, flush=True)
    if ready is not None:
        ready(url)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        stop.wait()
    finally:
        serve.shutdown()
        ray.shutdown()
