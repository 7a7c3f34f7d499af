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
