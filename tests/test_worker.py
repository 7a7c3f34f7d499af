"""The worker and the plug-in's client, outside GIMP: protocol, reuse, errors, cancel, crashes."""
import importlib
import json
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from sfumato import StylizeOptions, stylize
from sfumato.service import protocol
from tests.conftest import run_cli


def _installed_client(tmp_path, monkeypatch):
    """The installed plug-in's client module, with a private runtime dir for this test."""
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    from sfumato.gimp_plugin.install import install
    [dest] = install(tmp_path / "GIMP" / "3.0", idle_timeout=60)
    monkeypatch.syspath_prepend(str(dest))
    for name in ("sfumato_client", "sfumato_protocol"):
        sys.modules.pop(name, None)
    return importlib.import_module("sfumato_client")


@pytest.fixture
def client(tmp_path, monkeypatch):
    mod = _installed_client(tmp_path, monkeypatch)
    yield mod
    try:
        mod.request({"op": "shutdown"})
    except Exception:
        pass


def _image_request(img, **options):
    h, w, c = img.shape
    return {"op": "stylize", "layout": ["image"], "options": options,
            "image": {"width": w, "height": h, "channels": c, "dtype": "u8"}}, [img.tobytes()]


def test_stylize_through_the_worker_equals_the_api(client, photo):
    header, buffers = _image_request(photo, style="starry-blue", strength=0.8)
    progress = []
    result, out = client.request(header, buffers, progress.append)
    got = np.frombuffer(out[0], np.uint8).reshape(photo.shape)
    assert np.array_equal(got, stylize(photo, StylizeOptions(style="starry-blue", strength=0.8)))
    assert progress and progress[-1] == 1.0


def test_worker_is_reused_and_serves_after_an_error(client, photo):
    pid = client.request({"op": "ping"})[0]["pid"]
    header, buffers = _image_request(photo, style="no-such-style")
    with pytest.raises(client.WorkerError, match="unknown style"):
        client.request(header, buffers)
    assert client.request({"op": "ping"})[0]["pid"] == pid


def test_bad_buffers_are_refused(client, photo):
    header, buffers = _image_request(photo, style="crimson")
    with pytest.raises(client.WorkerError, match="expected"):
        client.request(header, [buffers[0][:-10]])


def _wait_for(condition, seconds=60.0):
    """Poll until condition() is true; a generous bound, since these machines are often loaded."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_closing_the_connection_cancels_the_job(client):
    client.request({"op": "ping"})  # worker up and warm
    big = np.random.default_rng(0).integers(0, 255, (4096, 2048, 3), dtype=np.uint8)  # several tiles
    header, buffers = _image_request(big, style="starry-blue")
    client.request(_image_request(big[:64, :64], style="starry-blue")[0],
                   [big[:64, :64].tobytes()])  # load the session first
    sock = protocol.connect()
    protocol.send(sock, header, *buffers)
    msg, _ = protocol.recv(sock)  # the job has started once it reports progress
    assert msg["type"] == "progress"
    sock.close()  # what happens when GIMP's Cancel ends the plug-in
    log = lambda: open(client.log_path()).read()  # noqa: E731
    assert _wait_for(lambda: "stylize cancelled" in log()), log()[-2000:]
    assert "stylize 2048x4096 done" not in log()  # stopped, not run to the end
    assert client.request({"op": "ping"})[0]["type"] == "result"  # and the worker serves the next call


def test_a_crashed_worker_is_reported_and_replaced(client, photo):
    pid = client.request({"op": "ping"})[0]["pid"]
    tall = np.random.default_rng(0).integers(0, 255, (4096, 1280, 3), dtype=np.uint8)  # tiled: several progress steps
    header, buffers = _image_request(tall, style="starry-blue")

    def crash(_fraction):  # the worker dies mid-job, as on a segfault or the OOM killer
        os.kill(pid, signal.SIGKILL)

    with pytest.raises(client.WorkerError, match="stopped during the job"):
        client.request(header, buffers, crash)
    assert client.request({"op": "ping"})[0]["pid"] != pid


def test_socket_lives_in_a_private_directory(client):
    client.request({"op": "ping"})
    path = protocol.socket_path()
    assert os.stat(os.path.dirname(path)).st_mode & 0o077 == 0
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    s.close()


def test_runtime_dir_open_to_others_is_refused(tmp_path, monkeypatch):
    shared = tmp_path / "rt"
    (shared / "sfumato").mkdir(parents=True)
    os.chmod(shared / "sfumato", 0o777)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(shared))
    with pytest.raises(protocol.ProtocolError, match="private"):
        protocol.socket_path()


LAUNCHER_CHECK = """
import importlib.util, sys
spec = importlib.util.spec_from_file_location("launcher", sys.argv[1])
launcher = importlib.util.module_from_spec(spec)
spec.loader.exec_module(launcher)
launcher.defer_asyncio()
import asyncio
heavy = "asyncio.base_events"
# what PyGObject takes at import, without asyncio's heavy modules
assert asyncio.InvalidStateError is sys.modules["asyncio.exceptions"].InvalidStateError
got_loop = asyncio._get_running_loop
assert heavy not in sys.modules and "ssl" not in sys.modules, sorted(sys.modules)
FIRST_USE  # loads asyncio
assert heavy in sys.modules
# the real asyncio now, in the same module object, with the same classes
assert sys.modules["asyncio"] is asyncio and asyncio.get_event_loop is asyncio.events.get_event_loop
assert asyncio.InvalidStateError is asyncio.exceptions.InvalidStateError
async def answer():
    await asyncio.sleep(0)
    return 42
assert asyncio.run(answer()) == 42
print("ok")
"""


@pytest.mark.parametrize("first_use", ["assert got_loop() is None", "asyncio.Queue", "from asyncio import Lock"])
def test_the_plugin_launcher_defers_asyncio_until_it_is_used(first_use):
    """sfumato.py keeps asyncio (imported by PyGObject, unused by the plug-in) out of each call's
    start, and whatever touches it later gets the whole, real module."""
    from sfumato.gimp_plugin.install import PLUGIN_SRC
    r = subprocess.run([sys.executable, "-c", LAUNCHER_CHECK.replace("FIRST_USE", first_use),
                        str(PLUGIN_SRC / "sfumato.py")], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr


def test_gimp_install_status_uninstall(tmp_path):
    profile = tmp_path / "GIMP" / "3.0"
    r = run_cli("gimp", "install", "--gimp-dir", profile)
    assert r.returncode == 0, r.stderr
    dest = profile / "plug-ins" / "sfumato"
    assert os.access(dest / "sfumato.py", os.X_OK)
    assert (dest / "sfumato_protocol.py").read_text() == open(protocol.__file__).read()
    cfg = json.loads((dest / "sfumato-config.json").read_text())
    assert os.path.exists(cfg["python"]) and "starry-blue" in cfg["styles"] and "resident" not in cfg
    r = run_cli("gimp", "status", "--gimp-dir", profile)
    assert r.returncode == 0 and str(dest) in r.stdout and "ok" in r.stdout and "resident" not in r.stdout
    r = run_cli("gimp", "install", "--resident", "--gimp-dir", profile)  # removed: GIMP 3.0 lost its menus
    assert r.returncode == 2 and "no longer offered" in r.stderr, r.stderr
    r = run_cli("gimp", "status", "--resident", "--gimp-dir", profile)
    assert r.returncode == 2 and "--resident" in r.stderr
    r = run_cli("gimp", "uninstall", "--gimp-dir", profile)
    assert r.returncode == 0 and not dest.exists()
    r = run_cli("gimp", "uninstall", "--gimp-dir", profile)
    assert r.returncode == 2 and r.stderr.startswith("error: ")


def test_inpaint_through_the_worker(client, photo, tmp_path):
    from sfumato.inpainting.pipeline import InpaintOptions, inpaint
    from sfumato.inpainting.user_models import add_user_model
    from tests.test_inpaint import migan_like
    registry_entry = add_user_model(
        migan_like(tmp_path / "m.onnx"), "migan", "worker-migan")
    mask = np.zeros(photo.shape[:2], np.float32)
    mask[100:180, 200:300] = 1
    h, w, c = photo.shape
    header = {"op": "inpaint", "layout": ["image", "mask"], "options": {"model": registry_entry["name"], "grow": 3,
                                                                              "detail": 0.5},
              "image": {"width": w, "height": h, "channels": c, "dtype": "u8"},
              "mask": {"width": w, "height": h, "channels": 1, "dtype": "f32"}}
    result, out = client.request(header, [photo.tobytes(), mask.tobytes()])
    got = np.frombuffer(out[0], np.uint8).reshape(photo.shape)
    assert np.array_equal(got, inpaint(photo, mask, InpaintOptions(model="worker-migan", grow=3, detail=0.5)))
    assert not np.array_equal(got, inpaint(photo, mask, InpaintOptions(model="worker-migan", grow=0, detail=0.5)))
    header["layout"], header["options"] = ["image"], {}
    with pytest.raises(client.WorkerError, match="no mask"):
        client.request(header, [photo.tobytes()])


def test_idle_worker_exits_and_removes_its_socket(tmp_path):
    import subprocess
    runtime = tmp_path / "rt"
    runtime.mkdir(mode=0o700)
    path = runtime / "worker.sock"
    proc = subprocess.Popen([sys.executable, "-m", "sfumato.service.worker", "--socket", str(path), "--idle-timeout", "1"],
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    sock = protocol.connect(str(path))
    protocol.send(sock, {"op": "ping"})
    assert protocol.recv(sock)[0]["pid"] == proc.pid
    sock.close()
    assert proc.wait(timeout=10) == 0  # about a second after the last request
    assert not path.exists() and "idle timeout" in proc.stderr.read()


def _raw(payload: bytes, read=True):
    """Send raw bytes as a client would; returns the first reply's header that is not progress (a
    "busy" note comes first when the previous connection is still being closed), None if the worker
    hung up."""
    s = protocol.connect(timeout=30)
    try:
        s.sendall(payload)
        if not read:
            return None
        try:
            while True:
                header = protocol.recv(s)[0]
                if header.get("type") != "progress":
                    return header
        except (EOFError, OSError):
            return None
    finally:
        s.close()


def _frame(header_bytes: bytes) -> bytes:
    return protocol.HEADER.pack(len(header_bytes)) + header_bytes


@pytest.mark.parametrize("payload,reply", [
    (_frame(b"[1, 2, 3]"), "not a JSON object"),
    (_frame(b"{" * 100000), "not valid JSON"),
    (_frame(b"\xff\xfe not utf-8"), "not valid JSON"),
    (_frame(b'{"op": "ping", "buffers": ["ten"]}'), "list of byte counts"),
    (_frame(b'{"op": "ping", "buffers": 7}'), "list of byte counts"),
    (_frame(json.dumps({"op": "ping", "buffers": [2 ** 40]}).encode()), "list of byte counts"),
    (_frame(b'{"op": ["stylize"]}'), "'op' must be a string"),
    (_frame(b'{"op": "frobnicate"}'), "unknown request"),
    (_frame(b'{"op": "stylize", "layout": []}'), "has no image"),
    (protocol.HEADER.pack(1 << 30), None),  # a header over the limit: the worker hangs up on it
])
def test_malformed_requests_get_an_error_and_the_worker_lives_on(client, payload, reply):
    pid = client.request({"op": "ping"})[0]["pid"]
    got = _raw(payload)
    if reply is None:
        assert got is None or got["type"] == "error"
    else:
        assert got is not None and got["type"] == "error" and reply in got["message"], got
    assert client.request({"op": "ping"})[0]["pid"] == pid


@pytest.mark.parametrize("options,reply", [({"style": "crimson", "strength": "abc"}, "option strength must be a number"),
                                           ({"style": "crimson", "scale": float("nan")}, "option scale must be a number"),
                                           ({"style": "crimson", "preserve_colors": "yes"}, "option preserve_colors must be bool"),
                                           ({"style": 5}, None)])
def test_option_values_are_checked_by_name(client, photo, options, reply):
    header, buffers = _image_request(photo[:64, :64].copy(), **options)
    if reply is None:  # a style index sent as a number is a style index
        result, _ = client.request(header, buffers)
        assert result["type"] == "result"
        return
    with pytest.raises(client.WorkerError, match=reply):
        client.request(header, buffers)


def test_a_declared_buffer_is_not_allocated_before_it_arrives(client):
    """A header may declare up to the pixel limit's bytes; memory is spent only as data comes."""
    pid = client.request({"op": "ping"})[0]["pid"]
    s = protocol.connect(timeout=30)
    s.sendall(_frame(json.dumps({"op": "stylize", "layout": ["image"], "buffers": [1 << 31]}).encode()))
    time.sleep(0.5)
    rss_kb = int(next(line for line in open(f"/proc/{pid}/status") if line.startswith("VmRSS")).split()[1])
    s.close()
    assert rss_kb < 1_500_000  # far below the 2 GiB it declared
    assert client.request({"op": "ping"})[0]["pid"] == pid


def test_a_message_arriving_in_pieces_is_read_whole_and_a_cut_one_is_an_eof():
    """recv reads a buffer in one call where it can; one that arrives in small pieces, slowly, comes
    out the same bytes (as bytes: GEGL copies bytes directly, a bytearray item by item), and a peer
    gone mid-buffer is an EOFError, never a short buffer."""
    import threading
    payload = os.urandom(3 << 20)
    a, b = socket.socketpair()

    class Strips:  # what the plug-in sends: a length, then the bytes in pieces
        def __len__(self):
            return len(payload)

        def __iter__(self):
            return (payload[i:i + 99_999] for i in range(0, len(payload), 99_999))

    frame = protocol.encode({"op": "x"}, Strips(), b"tail")
    assert frame == protocol.encode({"op": "x"}, payload, b"tail")

    def dribble():
        for i in range(0, len(frame), 700_001):
            a.sendall(frame[i:i + 700_001])
            time.sleep(0.02)

    t = threading.Thread(target=dribble)
    t.start()
    header, (got, tail) = protocol.recv(b)
    t.join()
    assert header["op"] == "x" and type(got) is bytes and got == payload and tail == b"tail"

    def send_then_cut_short():
        protocol.send(a, {"op": "y"}, Strips())  # pieces through send, whole
        a.sendall(frame[:-1000])  # and a message that stops 1,000 bytes short
        a.close()

    t = threading.Thread(target=send_then_cut_short)
    t.start()
    header, (got,) = protocol.recv(b)
    assert header["op"] == "y" and got == payload
    with pytest.raises(EOFError):
        protocol.recv(b)
    t.join()
    b.close()


def test_silent_and_slow_clients_delay_nobody_and_are_dropped_at_the_deadline(tmp_path, monkeypatch, photo):
    """A client that connects and sends nothing, and one that sends a byte now and then, are read on
    their own threads: GIMP's requests meanwhile are served at once, and both are dropped (with an
    error reply) once the whole-request deadline has passed, however often the slow one sends."""
    import threading
    monkeypatch.setenv("SFUMATO_WORKER_READ_TIMEOUT", "3")  # before the worker starts: it reads it once
    client = _installed_client(tmp_path, monkeypatch)
    try:
        client.request({"op": "ping"})
        silent = protocol.connect(timeout=30)  # connects and sends nothing
        slow = protocol.connect(timeout=30)
        frame = _frame(json.dumps({"op": "ping"}).encode())
        stop = threading.Event()

        def dribble():  # one byte every 0.4 s: each read succeeds, the request never completes in time
            for byte in frame[:-1]:
                if stop.wait(0.4):
                    return
                try:
                    slow.send(bytes([byte]))
                except OSError:
                    return
        t = threading.Thread(target=dribble)
        t.start()
        time.sleep(0.3)
        t0 = time.monotonic()
        notes = []
        assert client.request({"op": "ping"}, on_status=notes.append)[0]["type"] == "result"
        header, buffers = _image_request(photo[:64, :64].copy(), style="crimson")
        assert client.request(header, buffers)[0]["type"] == "result"
        assert time.monotonic() - t0 < 2.5, time.monotonic() - t0  # before either of them is dropped
        assert not notes  # nothing ran ahead of it: no "busy"
        for sock in (silent, slow):
            reply = protocol.recv(sock)[0]
            assert reply["type"] == "error" and "did not arrive whole within 3s" in reply["message"], reply
        assert time.monotonic() - t0 < 10
        stop.set()
        t.join()
        silent.close()
        slow.close()
        short = protocol.connect(timeout=30)  # a message cut short, then half-closed: told why
        short.sendall(_frame(json.dumps({"op": "stylize", "buffers": [1000]}).encode()) + b"x" * 10)
        short.shutdown(socket.SHUT_WR)
        reply = protocol.recv(short)[0]
        assert reply["type"] == "error" and "ended before" in reply["message"]
        short.close()
        assert "bad request" in open(client.log_path()).read()
    finally:
        try:
            client.request({"op": "shutdown"})
        except Exception:
            pass


def test_queued_clients_hear_how_many_jobs_are_ahead(client, photo):
    import threading
    big = np.ascontiguousarray(np.tile(photo, (3, 3, 1)))
    header, buffers = _image_request(big, style="crimson")
    t = threading.Thread(target=lambda: client.request(header, buffers))
    t.start()
    time.sleep(1.0)  # the big job is running
    notes = []
    assert client.request({"op": "ping"}, on_status=notes.append)[0]["type"] == "result"
    t.join()
    assert notes and notes[0] == "Sfumato is busy: 1 job ahead", notes


def test_the_worker_starts_where_nothing_can_shadow_the_package(tmp_path, monkeypatch):
    """`python -m sfumato.service.worker` imports from its working folder first: neither a folder named
    `sfumato` where GIMP was started nor the plug-in's own sfumato.py may replace the real package, so
    the worker runs in the private runtime folder (the plug-in's folder once made it import the
    plug-in; before that the installer wrote the folder under a key the client never read)."""
    decoy = tmp_path / "gimp-cwd" / "sfumato"
    decoy.mkdir(parents=True)
    (decoy / "__init__.py").write_text("raise SystemExit('the decoy sfumato was imported')\n")
    (decoy / "worker.py").write_text("raise SystemExit('the decoy sfumato was imported')\n")
    monkeypatch.chdir(decoy.parent)
    client = _installed_client(tmp_path, monkeypatch)
    try:
        pid = client.request({"op": "ping"})[0]["pid"]
        assert os.readlink(f"/proc/{pid}/cwd") == client.protocol.runtime_dir()  # the private runtime folder
    finally:
        try:
            client.request({"op": "shutdown"})
        except Exception:
            pass


def _raw_request(arr, dtype="u8", **options):
    h, w, c = arr.shape
    return {"op": "stylize", "layout": ["image"], "options": {"style": "crimson", **options},
            "image": {"width": w, "height": h, "channels": c, "dtype": dtype}}, [arr.tobytes()]


@pytest.mark.parametrize("case, message", [
    ("1x1", "image is 1x1; both sides need at least 32 px"),
    ("31x40", "image is 40x31; both sides need at least 32 px"),
    ("nan", "image has 1 pixel value that is not a number (NaN or infinity)"),
    ("inf", "image has 2 pixel values that are not a number (NaN or infinity)"),
    ("tile", "tile must be between 128 and 16384 px"),
    ("strength", "strength must be between 0 and 1"),
    ("tile4", "tile must be a multiple of 4"),
])
def test_the_worker_refuses_what_the_cli_refuses_with_the_same_message(client, photo, case, message):
    """The CLI's checks at the GIMP door (and so the server's, which parses requests the same way)."""
    arr, dtype, options = photo[:64, :64].copy(), "u8", {}
    if case == "1x1":
        arr = photo[:1, :1].copy()
    elif case == "31x40":
        arr = photo[:31, :40].copy()
    elif case in ("nan", "inf"):
        arr, dtype = (photo[:64, :64] / 255.0).astype(np.float32), "f32"
        arr[5, 5, 0] = np.nan
        if case == "inf":
            arr[5, 5, 0], arr[6, 6, 2] = np.inf, -np.inf
    elif case == "tile":
        options = {"tile": 2 ** 70}
    elif case == "strength":
        options = {"strength": 1e300}
    elif case == "tile4":
        options = {"tile": 130}
    header, buffers = _raw_request(arr, dtype, **options)
    with pytest.raises(client.WorkerError) as err:
        client.request(header, buffers)
    assert message in str(err.value) and "internal error" not in str(err.value)


def test_a_float_image_with_huge_values_is_clipped_never_a_nan_result(client, photo):
    arr = (photo[:64, :64] / 255.0).astype(np.float32)
    arr[5, 5, 0] = 1e30
    header, buffers = _raw_request(arr, "f32")
    result, out = client.request(header, buffers)
    got = np.frombuffer(out[0], np.float32)
    assert np.isfinite(got).all() and 0 <= got.min() and got.max() <= 1


def _sample_from_request(tmp_path, area_pixels):
    """The CLI test's half-textured photo, its large hole and a 'sample from' area, as GIMP sends them:
    the selection and the channel as stored (u8), beside the CLI's files of the same pixels."""
    from tests.test_cli import _half_textured_files
    from PIL import Image
    photo, mask, area = _half_textured_files(tmp_path)
    if area_pixels is not None:
        Image.fromarray(area_pixels).save(area)
    img, m, a = (np.asarray(Image.open(p)) for p in (photo, mask, area))
    h, w, c = img.shape
    header = {"op": "inpaint", "layout": ["image", "mask", "sample_from"], "options": {},
              "image": {"width": w, "height": h, "channels": c, "dtype": "u8"},
              "mask": {"width": w, "height": h, "channels": 1, "dtype": "u8"},
              "sample_from": {"width": a.shape[1], "height": a.shape[0], "channels": 1, "dtype": "u8"}}
    return (photo, mask, area), header, [img.tobytes(), m.tobytes(), np.ascontiguousarray(a).tobytes()], img.shape


def test_the_sample_from_area_through_the_worker_gives_the_clis_pixels(client, tmp_path):
    from PIL import Image
    (photo, mask, area), header, buffers, shape = _sample_from_request(tmp_path, None)
    _, out = client.request(header, buffers)
    r = run_cli("inpaint", photo, "--mask", mask, "--sample-from", area, "-o", tmp_path / "cli.png")
    assert r.returncode == 0, r.stderr
    got = np.frombuffer(out[0], np.uint8).reshape(shape)
    assert np.array_equal(got, np.asarray(Image.open(tmp_path / "cli.png")))
    header.pop("sample_from")
    header["layout"] = ["image", "mask"]
    _, free = client.request(header, buffers[:2])
    assert not np.array_equal(np.frombuffer(free[0], np.uint8).reshape(shape), got)  # the area changed the fill


@pytest.mark.parametrize("case", ["small", "empty", "hole_only"])
def test_a_bad_sample_from_area_gets_the_clis_message_at_the_worker(client, tmp_path, case):
    area = {"small": np.full((48, 64), 255, np.uint8), "empty": np.zeros((256, 256), np.uint8)}.get(case)
    if case == "hole_only":
        area = np.zeros((256, 256), np.uint8)
        area[60:180, 70:190] = 255
    (photo, mask, path), header, buffers, _ = _sample_from_request(tmp_path, area)
    cli = run_cli("inpaint", photo, "--mask", mask, "--sample-from", path, "-o", tmp_path / "out.png")
    assert cli.returncode == 2 and not (tmp_path / "out.png").exists()
    with pytest.raises(client.WorkerError) as err:
        client.request(header, buffers)
    assert cli.stderr.strip() == f"error: {err.value}"
    assert "'sample from'" in str(err.value)
