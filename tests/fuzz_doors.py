"""The same input through every door: the CLI, the GIMP worker and `sfumato serve` must refuse it with
the same message or give the same pixels (issue 33). Seeded; tests/test_fuzz.py runs a few dozen
cases through the CLI and the worker, `python -m tests.fuzz_doors --n 1000 [--server]` the long run."""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import random
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from sfumato.service import protocol

SIZES = [(1, 1), (31, 40), (40, 31), (64, 48), (48, 64), (33, 100)]
DTYPES = {"u8": np.uint8, "u16": np.uint16, "f32": np.float32}


def door_case(rng: random.Random) -> tuple[np.ndarray, str, dict]:
    """(pixels, dtype name, options): odd sizes, types, non-finite and huge values, options out of range."""
    w, h = rng.choice(SIZES)
    c = rng.choice([1, 2, 3, 3, 4])
    dtype = rng.choice(["u8", "u16", "f32"])
    g = np.random.default_rng(rng.getrandbits(32))
    base = g.random((h, w, c)).astype(np.float32)
    if dtype == "f32":
        arr = base
        if rng.random() < 0.4:
            for _ in range(rng.randint(1, 3)):
                arr.flat[rng.randrange(arr.size)] = rng.choice([np.nan, np.inf, -np.inf, 1e30, -2.0, 7.5])
    else:
        arr = (base * (255 if dtype == "u8" else 65535)).astype(DTYPES[dtype])
    options = {"style": rng.choice(["crimson", "7", "starry-blue:0.5,3:0.5", "0:1e400", "nope"])}
    if rng.random() < 0.5:
        options["tile"] = rng.choice([768, 256, 2 ** 70, 130, 64, 16384, 20000])
    if rng.random() < 0.5:
        options["strength"] = rng.choice([0.0, 0.5, 1.0, -0.1, 1.5, 1e300])
    if rng.random() < 0.3:
        options["scale"] = rng.choice([1.0, 2.0, 0.1, 9.0])
    return arr, dtype, options


def normalise(message: str) -> str:
    """A refusal as the user reads it, less where it came from (the CLI names the file, argparse its
    option): the words that must be the same at every door."""
    line = message.strip().splitlines()[-1] if message.strip() else ""
    line = re.sub(r"^(error: |sfumato stylize: error: argument --[a-z-]+: )", "", line)
    return re.sub(r"^image \S*[/.]\S* ", "image ", line)


def _write_input(arr: np.ndarray, folder: Path) -> Path:
    if arr.dtype == np.float32:
        import tifffile
        path = folder / "in.tif"
        c = arr.shape[2]
        tifffile.imwrite(path, arr if c > 1 else arr[:, :, 0], photometric="rgb" if c >= 3 else "minisblack",
                         **({"extrasamples": ("unassalpha",)} if c in (2, 4) else {}))
        return path
    from sfumato import png
    path = folder / "in.png"
    path.write_bytes(png.encode(arr))
    return path


def cli_door(arr: np.ndarray, options: dict, folder: Path) -> tuple[str, object]:
    from sfumato.cli import main
    from sfumato.imageio import read_image
    src = _write_input(arr, folder)
    out = folder / ("out.tif" if arr.dtype == np.float32 else "out.png")
    args = ["stylize", str(src), "-o", str(out), "--style", options["style"]]
    for k in ("strength", "scale", "tile"):  # the schema's order: a user's order picks argparse's first error
        if k in options:
            args += [f"--{k}", str(options[k])]
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            rc = main(args)
        except SystemExit as exc:
            rc = exc.code if isinstance(exc.code, int) else 2
    assert "Traceback" not in err.getvalue(), err.getvalue()
    if rc == 0:
        result = read_image(out)
        out.unlink()
        return "result", result
    return "error", normalise(err.getvalue())


def _header(arr: np.ndarray, dtype: str, options: dict) -> dict:
    h, w, c = arr.shape
    return {"op": "stylize", "layout": ["image"], "options": options,
            "image": {"width": w, "height": h, "channels": c, "dtype": dtype}}


def _reply(header: dict, buffers: list, arr: np.ndarray, dtype: str) -> tuple[str, object]:
    if header.get("type") == "error":
        return "error", normalise(header["message"])
    return "result", np.frombuffer(buffers[0], DTYPES[dtype]).reshape(arr.shape)


def worker_door(sock_path: str, arr: np.ndarray, dtype: str, options: dict) -> tuple[str, object]:
    s = protocol.connect(sock_path, timeout=120)
    try:
        protocol.send(s, _header(arr, dtype, options), arr.tobytes())
        while True:
            header, buffers = protocol.recv(s)
            if header.get("type") != "progress":
                return _reply(header, buffers, arr, dtype)
    finally:
        s.close()


def server_door(url: str, token: str, arr: np.ndarray, dtype: str, options: dict) -> tuple[str, object]:
    import urllib.error
    import urllib.request
    body = protocol.encode(_header(arr, dtype, options), arr.tobytes())
    req = urllib.request.Request(url + "/v1/stylize", data=body, method="POST", headers={
        "Content-Type": protocol.FRAME_TYPE, "Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            data = r.read()
    except urllib.error.HTTPError as exc:
        payload = exc.read()
        assert 400 <= exc.code < 500, f"{exc.code}: {payload[:200]!r}"  # never a 500
        return "error", normalise(json.loads(payload)["error"])

    class Reader:
        at = 0

        def recv(self, n):
            chunk = data[self.at:self.at + n]
            self.at += len(chunk)
            return chunk
    header, buffers = protocol.recv(Reader())
    return _reply(header, buffers, arr, dtype)


def same(a: tuple[str, object], b: tuple[str, object]) -> bool:
    if a[0] != b[0]:
        return False
    if a[0] == "error":
        return a[1] == b[1]
    return a[1].dtype == b[1].dtype and np.array_equal(a[1], b[1])


class Worker:
    """A worker process on a private socket, for the long run."""

    def __init__(self, folder: Path):
        run = folder / "run"
        run.mkdir(mode=0o700, exist_ok=True)
        self.path = str(run / "worker.sock")
        env = {**os.environ, "XDG_RUNTIME_DIR": str(run)}
        self.proc = subprocess.Popen([sys.executable, "-m", "sfumato.service.worker", "--socket", self.path,
                                      "--idle-timeout", "900"], env=env, stderr=open(folder / "worker.log", "w"))
        deadline = time.monotonic() + 60
        while not os.path.exists(self.path):
            assert time.monotonic() < deadline and self.proc.poll() is None, "the worker did not start"
            time.sleep(0.1)

    def close(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)


def slow_client_round(rng: random.Random, sock_path: str) -> float:
    """A few silent, dribbling and cut clients, then one ping: its latency (s)."""
    socks = []
    frame = protocol.encode({"op": "ping"})
    for _ in range(rng.randint(1, 4)):
        s = protocol.connect(sock_path, timeout=30)
        kind = rng.choice(["silent", "dribble", "cut-half-closed"])
        if kind == "dribble":
            s.sendall(frame[:rng.randrange(1, len(frame))])
        elif kind == "cut-half-closed":
            raw = json.dumps({"op": "stylize", "buffers": [rng.randint(10, 10 ** 6)]}).encode()
            s.sendall(protocol.HEADER.pack(len(raw)) + raw)
            s.shutdown(socket.SHUT_WR)
        socks.append((kind, s))
    t0 = time.monotonic()
    s = protocol.connect(sock_path, timeout=30)
    protocol.send(s, {"op": "ping"})
    header = protocol.recv(s)[0]
    while header.get("type") == "progress":
        header = protocol.recv(s)[0]
    latency = time.monotonic() - t0
    s.close()
    for kind, c in socks:
        if kind == "cut-half-closed":
            reply = protocol.recv(c)[0]
            assert reply["type"] == "error" and "ended before" in reply["message"], reply
        c.close()
    return latency


def main() -> int:
    ap = argparse.ArgumentParser(description="the same inputs through the CLI, the worker and the server")
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--server", action="store_true", help="also through a local `sfumato serve` (needs Ray Serve)")
    ap.add_argument("--slow-rounds", type=int, default=200)
    ap.add_argument("--bad-frames", type=int, default=1000)
    args = ap.parse_args()
    from tests.fuzz_inputs import bad_frames
    rng = random.Random(args.seed)
    counts = {"same result": 0, "same refusal": 0, "differ": 0, "bad frames answered": 0, "slow rounds": 0}
    differ = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        worker = Worker(folder)
        server = None
        if args.server:
            from tests.serving import Server
            (folder / "serve").mkdir()
            server = Server(folder / "serve", "--threads", "2")
            server.__enter__()
        try:
            for i in range(args.n):
                arr, dtype, options = door_case(rng)
                case = folder / f"case{i}"
                case.mkdir()
                verdicts = {"cli": cli_door(arr, options, case), "worker": worker_door(worker.path, arr, dtype, options)}
                if server is not None:
                    verdicts["server"] = server_door(server.url, server.token, arr, dtype, options)
                kinds = list(verdicts.values())
                if all(same(kinds[0], v) for v in kinds[1:]):
                    counts["same result" if kinds[0][0] == "result" else "same refusal"] += 1
                else:
                    counts["differ"] += 1
                    differ.append((arr.shape, dtype, options, {k: v if v[0] == "error" else ("result", v[1].dtype)
                                                               for k, v in verdicts.items()}))
                for p in case.iterdir():
                    p.unlink()
                case.rmdir()
            for _ in range(args.bad_frames):
                s = protocol.connect(worker.path, timeout=30)
                try:
                    s.sendall(bad_frames(rng))
                    s.shutdown(socket.SHUT_WR)
                    with contextlib.suppress(EOFError, OSError, protocol.ProtocolError):
                        protocol.recv(s)
                finally:
                    s.close()
                counts["bad frames answered"] += 1
            latencies = []
            for _ in range(args.slow_rounds):
                latencies.append(slow_client_round(rng, worker.path))
                counts["slow rounds"] += 1
            assert worker.proc.poll() is None, "the worker died"
        finally:
            worker.close()
            if server is not None:
                server.__exit__(None, None, None)
    print(json.dumps(counts))
    if latencies:
        print(f"GIMP ping beside slow clients: median {np.median(latencies) * 1000:.1f} ms, "
              f"worst {max(latencies) * 1000:.1f} ms over {len(latencies)} rounds")
    for d in differ[:20]:
        print("DIFFER", d)
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
