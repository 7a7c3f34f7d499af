"""The CLI as a client of `sfumato serve` (`--server URL`): the same arrays the local run would
process go to the server as raw buffers and the result comes back the same way, so the output file is
the one the local command writes, bit for bit. Standard library HTTP (service/protocol.py)."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from . import protocol
from ..errors import SfumatoError
from ..options import to_wire

DTYPE_NAMES = {np.dtype(np.uint8): "u8", np.dtype(np.uint16): "u16", np.dtype(np.float32): "f32"}
NUMPY = {v: k for k, v in DTYPE_NAMES.items()}


def client_token(token_file: Path | None) -> str:
    """--token-file, else $SFUMATO_TOKEN, else the token a server on this machine made for this user."""
    if token_file is not None:
        from .tokens import read_token
        return read_token(token_file)
    if os.environ.get("SFUMATO_TOKEN"):
        return os.environ["SFUMATO_TOKEN"].strip()
    from .tokens import default_token_file, read_token
    path = default_token_file()
    if not path.exists():
        raise SfumatoError("no token for the server: give --token-file FILE or set SFUMATO_TOKEN "
                           f"(a server started on this machine keeps one in {path})")
    return read_token(path)


def _spec(arr: np.ndarray) -> dict:
    if arr.dtype not in DTYPE_NAMES:
        raise SfumatoError(f"cannot send a {arr.dtype} array to the server")
    return {"width": arr.shape[1], "height": arr.shape[0], "channels": 1 if arr.ndim == 2 else arr.shape[2],
            "dtype": DTYPE_NAMES[arr.dtype]}


class Remote:
    def __init__(self, url: str, token: str, timeout: float | None = 600.0):
        import uuid
        self.url, self.token, self.timeout = url.rstrip("/"), token, timeout
        self.client_id = uuid.uuid4().hex[:16]  # this client's share of the server's queue

    def call(self, op: str, options: dict, arrays: dict[str, np.ndarray]) -> np.ndarray:
        arrays = {k: np.ascontiguousarray(v) for k, v in arrays.items() if v is not None}
        header = {"op": op, "options": options, "layout": list(arrays), **{k: _spec(v) for k, v in arrays.items()}}
        buffers = [memoryview(v).cast("B") for v in arrays.values()]
        try:
            body = protocol.http_post(self.url, self.token, op, header, buffers, timeout=self.timeout,
                                      client_id=self.client_id)
            while True:
                msg, bufs = protocol.recv(body)
                if msg.get("type") == "result":
                    shape = (msg["height"], msg["width"], msg["channels"])
                    return np.frombuffer(bufs[0], NUMPY[msg["dtype"]]).reshape(shape)
                if msg.get("type") == "error":
                    raise SfumatoError(msg.get("message", "the server reported an unknown error"))
        except protocol.HttpError as exc:
            retry = "; the request can be retried" if exc.retryable else ""
            raise SfumatoError(f"server {self.url}: {exc}{retry}") from None
        except (EOFError, ConnectionResetError, BrokenPipeError):
            raise SfumatoError(f"server {self.url} closed the connection before the result (a replica restarting?); "
                               "nothing was written, the request can be retried") from None
        except OSError as exc:
            raise SfumatoError(f"cannot reach the Sfumato server at {self.url} ({exc.strerror or exc}); "
                               "is `sfumato serve` running there?") from None
        except protocol.ProtocolError as exc:
            raise SfumatoError(f"server {self.url} sent a reply this client cannot read ({exc})") from None

    def stylize(self, image: np.ndarray, options, mask: np.ndarray | None = None) -> np.ndarray:
        arrays = {"image": image, "style_image": options.style_image,
                  "mask": None if mask is None else mask.astype(np.float32)}
        return self.call("stylize", to_wire("stylize", options), arrays).reshape(image.shape)

    def inpaint(self, image: np.ndarray, mask: np.ndarray, options,
                sample_from: np.ndarray | None = None) -> np.ndarray:
        arrays = {"image": image, "mask": mask.astype(np.float32),
                  "sample_from": None if sample_from is None else sample_from.astype(np.float32)}
        return self.call("inpaint", to_wire("inpaint", options), arrays).reshape(image.shape)
