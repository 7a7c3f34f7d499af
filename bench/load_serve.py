"""Load and fault run of `sfumato serve`, on loopback, bounded in requests and time.

Starts a server (its own Ray, a fresh token), then:
  1. one client, sequential stylize requests at 1024 px: the reference throughput;
  2. 8 clients x 25 stylize requests at 1024 px and 4 clients x 10 inpaint requests, all at once:
     throughput against (1), p50/p95 latency per kind, errors; every result compared with the local
     core's for the same input (bit for bit);
  3. faults: a replica killed mid-request (the client must get a retryable error or the right image,
     and the requests after it must succeed), clients that disconnect mid-upload, malformed bodies.

    python bench/load_serve.py [--replicas 2 --threads 1] [--sequential 12]

Clients send raw buffers, as `sfumato ... --server` does. Pause other work on the machine first: it
shares the cores with the server.
"""
import argparse
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sfumato.service import protocol  # noqa: E402
from sfumato.errors import SfumatoError  # noqa: E402
from sfumato.imageio import read_image  # noqa: E402
from sfumato.inpainting.pipeline import InpaintOptions, inpaint  # noqa: E402
from sfumato.pixels import resize  # noqa: E402
from sfumato.service.remote import Remote  # noqa: E402
from sfumato.styling.pipeline import StylizeOptions, stylize  # noqa: E402

STYLE_OPTIONS = StylizeOptions(style="starry-blue")
INPAINT_OPTIONS = InpaintOptions()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(args, token_file: Path, port: int) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "sfumato", "serve", "--port", str(port), "--token-file", str(token_file),
           "--replicas", str(args.replicas), "--threads", str(args.threads), "--max-queue", "32",
           "--max-per-client", "8"]
    log = open(token_file.parent / "server.log", "w")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=token_file.parent, start_new_session=True,
                            env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0"})
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/health", timeout=2)
        except urllib.error.HTTPError as exc:
            if exc.code == 401:
                return proc
        except OSError:
            pass
        if proc.poll() is not None:
            sys.exit(f"server exited: {(token_file.parent / 'server.log').read_text()[-2000:]}")
        time.sleep(0.5)
    proc.kill()
    sys.exit("server did not start in 240 s")


def health(url: str, token: str) -> dict:
    req = urllib.request.Request(url + "/v1/health", headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


def photos(n: int, side: int) -> list[np.ndarray]:
    """n different 1024-px pictures (crops of the bundled samples), so no result is a cached repeat."""
    base = [read_image(ROOT / "core" / "samples" / name) for name in ("coffee.jpg", "starry_night.jpg")]
    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        img = resize(base[i % 2][:, :, :3].astype(np.float32) / 255, (side, side * 2 // 3))
        img = np.roll(img, rng.integers(0, side), axis=1)
        out.append(np.clip(img * 255 + 0.5, 0, 255).astype(np.uint8))
    return out


def hole(shape, i: int) -> np.ndarray:
    m = np.zeros(shape[:2], np.float32)
    h, w = shape[:2]
    y, x = h // 4 + (i * 37) % (h // 3), w // 4 + (i * 53) % (w // 3)
    m[y:y + h // 6, x:x + w // 8] = 1
    return m


def timed(fn):
    t0 = time.perf_counter()
    try:
        return fn(), time.perf_counter() - t0, None
    except SfumatoError as exc:
        return None, time.perf_counter() - t0, str(exc)


def pct(values, q):
    return float(np.percentile(values, q)) if values else float("nan")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--replicas", type=int, default=1)
    ap.add_argument("--threads", type=int, default=0, help="onnxruntime threads per replica (0 = all)")
    ap.add_argument("--sequential", type=int, default=12, help="requests of the one-client reference")
    ap.add_argument("--side", type=int, default=1024)
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="sfumato-load-"))
    token = secrets.token_urlsafe(32)
    (tmp / "token").write_text(token)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    t_start = time.perf_counter()
    server = start_server(args, tmp / "token", port)
    print(f"server up in {time.perf_counter() - t_start:.1f} s: {args.replicas} replica(s), "
          f"{args.threads or 'all'} onnxruntime threads each, on {os.cpu_count()} cores")
    remote = Remote(url, token, timeout=300)
    try:
        pics = photos(8, args.side)
        expected_style = [stylize(p, STYLE_OPTIONS) for p in pics]  # the local core's results
        inpaint_pics = [p[:, : args.side * 3 // 4].copy() for p in pics[:4]]
        expected_fill = [inpaint(p, hole(p.shape, i), INPAINT_OPTIONS) for i, p in enumerate(inpaint_pics)]
        remote.stylize(pics[0], STYLE_OPTIONS)  # warm the replica(s)
        remote.inpaint(inpaint_pics[0], hole(inpaint_pics[0].shape, 0), INPAINT_OPTIONS)

        # 1. one sequential client
        t0 = time.perf_counter()
        for i in range(args.sequential):
            remote.stylize(pics[i % 8], STYLE_OPTIONS)
        seq_rate = args.sequential / (time.perf_counter() - t0)
        print(f"1 client, {args.sequential} sequential stylize requests at {args.side} px: {seq_rate:.2f} req/s")

        # 2. 8 stylize clients x 25 and 4 inpaint clients x 10, all at once
        results = {"stylize": [], "inpaint": []}
        wrong = []

        def stylize_client(c):
            remote = Remote(url, token, timeout=300)  # a client of its own, as each GIMP or CLI is
            for k in range(25):
                i = (c + k) % 8
                out, dt, err = timed(lambda: remote.stylize(pics[i], STYLE_OPTIONS))
                results["stylize"].append((dt, err))
                if out is not None and not np.array_equal(out, expected_style[i]):
                    wrong.append(("stylize", i))

        def inpaint_client(c):
            remote = Remote(url, token, timeout=300)
            for k in range(10):
                i = (c + k) % 4
                out, dt, err = timed(lambda: remote.inpaint(inpaint_pics[i], hole(inpaint_pics[i].shape, i),
                                                            INPAINT_OPTIONS))
                results["inpaint"].append((dt, err))
                if out is not None and not np.array_equal(out, expected_fill[i]):
                    wrong.append(("inpaint", i))

        t0 = time.perf_counter()
        with ThreadPoolExecutor(12) as pool:
            futures = [pool.submit(stylize_client, c) for c in range(8)] + \
                      [pool.submit(inpaint_client, c) for c in range(4)]
            for f in futures:
                f.result()
        wall = time.perf_counter() - t0
        stylize_s = [dt for dt, err in results["stylize"] if err is None]
        errors = [err for kind in results.values() for _, err in kind if err is not None]
        # throughput in stylize-request equivalents: an inpaint request counted by its sequential cost;
        # failed requests are not counted
        t1 = time.perf_counter()
        for i in range(4):
            remote.inpaint(inpaint_pics[i], hole(inpaint_pics[i].shape, i), INPAINT_OPTIONS)
        inpaint_cost = (time.perf_counter() - t1) / 4 * seq_rate
        equivalents = sum(err is None for _, err in results["stylize"]) + \
            inpaint_cost * sum(err is None for _, err in results["inpaint"])
        rate = equivalents / wall
        print(f"8 stylize clients x 25 + 4 inpaint clients x 10, all at once: {wall:.1f} s, "
              f"{rate:.2f} stylize-equivalent req/s = {rate / seq_rate:.2f}x the single sequential client "
              f"(an inpaint request counted as {inpaint_cost:.2f} stylize requests)")
        for kind, rows in results.items():
            ok = [dt for dt, err in rows if err is None]
            print(f"  {kind:8s} {len(rows)} requests, {len(rows) - len(ok)} failed, latency p50 {pct(ok, 50):.2f} s, "
                  f"p95 {pct(ok, 95):.2f} s")
        print(f"  results different from the local core's: {len(wrong)}; errors: {len(errors)}"
              + (f" (first: {errors[0]})" if errors else ""))
        del stylize_s

        # 3. faults
        print("faults:")
        fault_ok = True
        # a replica killed mid-request: its client gets a retryable error, never a wrong image
        big = np.ascontiguousarray(np.tile(pics[0], (3, 3, 1)))
        outcome = {}

        def victim():
            outcome["result"] = timed(lambda: remote.stylize(big, STYLE_OPTIONS))

        pid = health(url, token)["pid"]
        t = threading.Thread(target=victim)
        t.start()
        time.sleep(2.0)
        os.kill(pid, signal.SIGKILL)
        t.join()
        out, _, err = outcome["result"]
        retryable = err is not None and "retried" in err
        print(f"  replica {pid} killed mid-request: client got {'a retryable error' if retryable else err or 'a result'}"
              f"{': ' + err if err else ''}")
        fault_ok &= retryable or (out is not None and np.array_equal(out, stylize(big, STYLE_OPTIONS)))
        deadline, after = time.monotonic() + 120, None
        while time.monotonic() < deadline:
            out, _, err = timed(lambda: remote.stylize(pics[1], STYLE_OPTIONS))
            if err is None:
                after = np.array_equal(out, expected_style[1])
                break
            time.sleep(1)
        print(f"  next request after the restart: {'correct' if after else 'FAILED'} "
              f"({time.monotonic() - deadline + 120:.1f} s after the kill)")
        fault_ok &= bool(after)
        # clients that disconnect mid-upload
        for _ in range(5):
            s = socket.create_connection(("127.0.0.1", port))
            s.sendall(f"POST /v1/stylize HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Type: "
                      f"{protocol.FRAME_TYPE}\r\nContent-Length: 10000000\r\n\r\n".encode() + b"\0" * 5000)
            s.close()
        time.sleep(1)
        h = health(url, token)
        print(f"  5 uploads cut off: the replica holds {h['held']} jobs afterwards")
        fault_ok &= h["held"] == 0
        # malformed bodies: 4xx each, and the server serves on
        statuses = []
        for body, ctype in ((b"\xff" * 100, protocol.FRAME_TYPE), (b"\0\0\0\x02{}", protocol.FRAME_TYPE),
                            (b"\0\0\x10\0" + b"{" * 50, protocol.FRAME_TYPE), (b"GIF89a", "image/gif"),
                            (b"x" * 100, "application/json")):
            req = urllib.request.Request(url + "/v1/stylize", data=body, method="POST",
                                         headers={"Authorization": f"Bearer {token}", "Content-Type": ctype})
            try:
                urllib.request.urlopen(req, timeout=30)
                statuses.append(200)
            except urllib.error.HTTPError as exc:
                statuses.append(exc.code)
        out, _, err = timed(lambda: remote.stylize(pics[2], STYLE_OPTIONS))
        print(f"  malformed bodies answered {statuses}; a good request after them: "
              f"{'correct' if err is None and np.array_equal(out, expected_style[2]) else 'FAILED'}")
        fault_ok &= all(400 <= s < 500 for s in statuses) and err is None
        print(f"targets: 0 failed requests under load: {'met' if not errors and not wrong else 'NOT met'}; "
              f"throughput >= 1.8x one sequential client: {'met' if rate / seq_rate >= 1.8 else 'NOT met'} "
              f"({rate / seq_rate:.2f}x); faults handled: {'yes' if fault_ok else 'NO'}")
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
    return 0


if __name__ == "__main__":
    sys.exit(main())
