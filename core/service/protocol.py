"""The plug-in <-> worker wire format. Standard library only: the GIMP plug-in imports this file
too (the installer copies it next to the plug-in as sfumato_protocol.py), inside GIMP's own Python.

A message is a 4-byte big-endian length, a UTF-8 JSON header of that length, then the raw buffers
whose byte sizes the header lists under "buffers". Requests carry {"op": ...}; the worker answers a
job with any number of {"type": "progress", "fraction": f} messages and then exactly one
{"type": "result"} or {"type": "error", "message": ...}. The client cancels by sending
{"op": "cancel"} or simply by closing the connection.

The socket lives in a directory only the user can open ($XDG_RUNTIME_DIR/sfumato, else
/tmp/sfumato-UID, mode 0700): no TCP port, nobody else can reach the worker.
"""
import json
import os
import socket
import stat
import struct

HEADER = struct.Struct(">I")
MAX_HEADER = 1 << 20
# the largest image the core accepts (268 MP), 4 channels of float32: no request needs a bigger buffer
MAX_BUFFER = 16384 * 16384 * 4 * 4
WAITALL = getattr(socket, "MSG_WAITALL", 0)


class ProtocolError(Exception):
    pass


def runtime_dir():
    base = os.environ.get("XDG_RUNTIME_DIR")
    path = os.path.join(base, "sfumato") if base and os.path.isdir(base) else "/tmp/sfumato-%d" % os.getuid()
    os.makedirs(path, mode=0o700, exist_ok=True)
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o077:
        raise ProtocolError("%s is not a private directory of this user; remove it and retry" % path)
    return path


def socket_path():
    return os.path.join(runtime_dir(), "worker.sock")


def _pieces(buffer):
    """A buffer is bytes-like, or an object with a length that yields its bytes in pieces: the
    plug-in reads a layer in strips, and each strip travels while GIMP hands over the next."""
    return (buffer,) if isinstance(buffer, (bytes, bytearray, memoryview)) else buffer


def send(sock, header, *buffers):
    header = dict(header, buffers=[len(b) for b in buffers])
    data = json.dumps(header).encode("utf-8")
    sock.sendall(HEADER.pack(len(data)) + data)
    for b in buffers:
        for piece in _pieces(b):
            sock.sendall(piece)


def _recv_exact(sock, n):
    """n bytes as one bytes object. A socket fills it in one call (MSG_WAITALL): no growing buffer
    and no copy, which spares a fresh plug-in process copying a large layer into new memory, and
    GEGL takes bytes as they are. A header that only declares a huge buffer still costs
    nothing until the bytes are really sent: the allocation is virtual until they arrive."""
    if WAITALL and (isinstance(sock, socket.socket) or getattr(sock, "waitall", False)):
        data = sock.recv(n, WAITALL)
    else:  # an HTTP body or a test's reader
        data = sock.recv(n)
    if len(data) == n:
        return data
    parts, got = [data], len(data)
    while data and got < n:  # cut short by a signal, a timeout or the peer going away
        data = sock.recv(min(n - got, 1 << 22))
        parts.append(data)
        got += len(data)
    if got < n:
        raise EOFError("connection closed")
    return b"".join(parts)


def _header(data):
    try:
        header = json.loads(bytes(data).decode("utf-8"))
    except (ValueError, RecursionError) as exc:  # not JSON, not UTF-8, or nested too deep
        raise ProtocolError("message header is not valid JSON (%s)" % str(exc)[:80]) from None
    if not isinstance(header, dict):
        raise ProtocolError("message header is not a JSON object")
    sizes = header.get("buffers", [])
    if not isinstance(sizes, list) or not all(type(k) is int and 0 <= k <= MAX_BUFFER for k in sizes):
        raise ProtocolError("message 'buffers' must be a list of byte counts up to %d" % MAX_BUFFER)
    if sum(sizes) > 3 * MAX_BUFFER:
        raise ProtocolError("message buffers total %d bytes, over the limit" % sum(sizes))
    return header


def recv(sock):
    """-> (header dict, [bytes, ...]); raises EOFError when the peer has gone and ProtocolError
    for a malformed message."""
    (n,) = HEADER.unpack(_recv_exact(sock, HEADER.size))
    if n > MAX_HEADER:
        raise ProtocolError("message header of %d bytes" % n)
    header = _header(_recv_exact(sock, n))
    return header, [_recv_exact(sock, k) for k in header.get("buffers", [])]


def connect(path=None, timeout=None):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(path or socket_path())
    return s


# --- the same messages over HTTP, to a `sfumato serve` server (core/service/serve.py) -------------------------
# A request body is one message (FRAME_TYPE); a client that asks for STREAM_TYPE gets the worker's
# reply sequence (progress..., then result or error) as the response body.
FRAME_TYPE = "application/x-sfumato"
STREAM_TYPE = "application/x-sfumato-stream"


class HttpError(Exception):
    """The server refused or lost the request. `retryable`: the same request may succeed later."""

    def __init__(self, status, message, retryable=False):
        super().__init__(message)
        self.status, self.retryable = status, retryable


def encode(header, *buffers):
    """One message as bytes (an HTTP request body)."""
    data = json.dumps(dict(header, buffers=[len(b) for b in buffers])).encode("utf-8")
    return b"".join([HEADER.pack(len(data)), data] + [bytes(p) for b in buffers for p in _pieces(b)])


class _Body:
    """An HTTP response body read the way recv reads a socket."""

    def __init__(self, connection, response):
        self.connection, self.response = connection, response

    def recv(self, n):
        import http.client
        try:
            return self.response.read(n)
        except http.client.HTTPException as exc:  # a stream cut short (IncompleteRead): the server went away
            raise EOFError("the server closed the connection (%s)" % type(exc).__name__) from None

    def close(self):
        """Closes the connection itself: the server cancels the job."""
        self.response.close()
        self.connection.close()


def http_post(url, token, op, header, buffers=(), timeout=None, client_id=None):
    """POST one request message to SERVER_URL/v1/OP; returns a reader for recv(): the reply messages.
    Raises HttpError for a refusal (its message is the server's one line) and OSError when the server
    cannot be reached."""
    import http.client
    from urllib.parse import urlsplit
    u = urlsplit(url)
    if u.scheme not in ("http", "https") or not u.hostname:
        raise HttpError(0, "server address %r must look like http://HOST:PORT" % url)
    cls = http.client.HTTPSConnection if u.scheme == "https" else http.client.HTTPConnection
    conn = cls(u.hostname, u.port, timeout=timeout)
    data = json.dumps(dict(header, buffers=[len(b) for b in buffers])).encode("utf-8")
    conn.putrequest("POST", u.path.rstrip("/") + "/v1/" + op)
    conn.putheader("Authorization", "Bearer " + token)
    conn.putheader("Content-Type", FRAME_TYPE)
    conn.putheader("Accept", STREAM_TYPE)
    if client_id:  # several clients behind one address (a shared desktop, a NAT) get a queue share each
        conn.putheader("X-Sfumato-Client", client_id)
    conn.putheader("Content-Length", str(HEADER.size + len(data) + sum(len(b) for b in buffers)))
    conn.endheaders()
    conn.send(HEADER.pack(len(data)) + data)
    for b in buffers:
        for piece in _pieces(b):
            conn.send(piece)
    response = conn.getresponse()
    if response.status != 200:
        error = _refusal(response)
        conn.close()
        raise error
    return _Body(conn, response)


def _refusal(response):
    body = response.read(1 << 16)
    try:
        message = json.loads(body.decode("utf-8"))["error"]
    except (ValueError, KeyError, TypeError):
        message = body.decode("utf-8", "replace").strip()[:200] or response.reason
    status = response.status
    retryable = status in (502, 503, 504) or status >= 500
    if status == 503 and response.getheader("Retry-After"):
        message += " (retry in %s s)" % response.getheader("Retry-After")
    return HttpError(status, message, retryable)
