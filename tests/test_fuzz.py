"""A bounded, seeded fuzz run of the two doors users and GIMP come through: each bad input gives a
correct result or one clear error, never a traceback, a partial file or a dead worker."""
import random
import time

import pytest

from sfumato.service import protocol
from tests.fuzz_inputs import bad_frames, run_cli_fuzz
from tests.test_worker import client  # noqa: F401  (fixture)


def test_cli_fuzz_keeps_the_contract():
    counts = run_cli_fuzz(250, seed=7)
    assert counts["ok"] > 20 and counts["refused"] > 20, counts  # both kinds were exercised


def test_worker_fuzz_every_bad_frame_is_answered_and_the_worker_lives(client):  # noqa: F811
    pid = client.request({"op": "ping"})[0]["pid"]
    rng = random.Random(11)
    for i in range(150):
        frame = bad_frames(rng)
        s = protocol.connect(timeout=30)
        try:
            cut = rng.random() < 0.15  # a client that disconnects mid-send
            s.sendall(frame[:max(1, len(frame) // 2)] if cut else frame)
            if not cut:
                s.shutdown(1)  # nothing more will come: a short buffer must end, not hang
                try:
                    protocol.recv(s)
                except (EOFError, OSError, protocol.ProtocolError):
                    pass
        finally:
            s.close()
    t0 = time.monotonic()
    assert client.request({"op": "ping"})[0]["pid"] == pid  # the same worker, still serving
    assert time.monotonic() - t0 < 30


def test_worker_fuzz_slow_silent_and_cut_clients_never_delay_a_gimp_call(client):  # noqa: F811
    """Clients that connect and say nothing, dribble a request, or stop half-way and half-close, a few
    at a time, while GIMP's calls come in: each GIMP call is answered at once (no job runs ahead of
    it), and the worker lives on."""
    import json
    import socket
    rng = random.Random(13)
    pid = client.request({"op": "ping"})[0]["pid"]
    frame = protocol.encode({"op": "ping"})
    worst = 0.0
    for _ in range(30):
        socks = []
        for _ in range(rng.randint(1, 4)):
            s = protocol.connect(timeout=30)
            kind = rng.choice(["silent", "dribble", "cut", "cut-half-closed", "huge-declared"])
            if kind == "dribble":
                s.sendall(frame[:rng.randrange(1, len(frame))])
            elif kind.startswith("cut"):
                raw = json.dumps({"op": "stylize", "layout": ["image"], "buffers": [rng.randint(10, 10 ** 6)],
                                  "image": {"width": 64, "height": 48, "channels": 3, "dtype": "u8"}}).encode()
                s.sendall(protocol.HEADER.pack(len(raw)) + raw + bytes(rng.randint(0, 9)))
                if kind == "cut-half-closed":
                    s.shutdown(socket.SHUT_WR)
            elif kind == "huge-declared":
                raw = json.dumps({"op": "stylize", "buffers": [1 << 31]}).encode()
                s.sendall(protocol.HEADER.pack(len(raw)) + raw)
            socks.append((kind, s))
        t0 = time.monotonic()
        assert client.request({"op": "ping"})[0]["pid"] == pid
        worst = max(worst, time.monotonic() - t0)
        for kind, s in socks:
            if kind == "cut-half-closed":  # told why, not left hanging
                reply = protocol.recv(s)[0]
                assert reply["type"] == "error" and "ended before" in reply["message"], reply
            s.close()
    assert worst < 2.0, worst


def test_the_same_input_gets_the_same_answer_from_the_cli_and_the_worker(tmp_path):
    """Odd sizes, types, NaN/inf/huge pixels and options out of range, through both doors: the same
    refusal (the same words) or the same pixels, bit for bit."""
    from tests.fuzz_doors import Worker, cli_door, door_case, same, worker_door
    rng = random.Random(21)
    worker = Worker(tmp_path)
    try:
        kinds = {"result": 0, "error": 0}
        for i in range(40):
            arr, dtype, options = door_case(rng)
            case = tmp_path / f"case{i}"
            case.mkdir()
            a, b = cli_door(arr, options, case), worker_door(worker.path, arr, dtype, options)
            assert same(a, b), (arr.shape, dtype, options, a if a[0] == "error" else a[0], b if b[0] == "error" else b[0])
            kinds[a[0]] += 1
        assert kinds["result"] >= 3 and kinds["error"] >= 10, kinds
    finally:
        worker.close()
