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


def send(sock, header, *buffers):
    header = dict(header, buffers=[len(b) for b in buffers])
    data = json.dumps(header).encode("utf-8")
    sock.sendall(HEADER.pack(len(data)) + data)
    for b in buffers:
        sock.sendall(b)


def _recv_exact(sock, n):
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        k = sock.recv_into(view[got:], min(n - got, 1 << 22))
        if k == 0:
            raise EOFError("connection closed")
        got += k
    return buf


def recv(sock):
    """-> (header dict, [bytearray, ...]); raises EOFError when the peer has gone."""
    (n,) = HEADER.unpack(bytes(_recv_exact(sock, HEADER.size)))
    if n > MAX_HEADER:
        raise ProtocolError("message header of %d bytes" % n)
    header = json.loads(bytes(_recv_exact(sock, n)).decode("utf-8"))
    return header, [_recv_exact(sock, k) for k in header.get("buffers", [])]


def connect(path=None, timeout=None):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(path or socket_path())
    return s
