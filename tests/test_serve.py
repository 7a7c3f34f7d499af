"""`sfumato serve` on a real local Ray Serve, and the CLI as its client: same results as local runs,
every request authenticated, refusals with the CLI's messages, limits, disconnects and cancels."""
import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import numpy as np
import pytest

from tests.conftest import ROOT, SAMPLES, run_cli
from tests.serving import Server, free_port

pytest.importorskip("ray.serve", reason="needs the serve extra: pip install -e '.[serve]'")
from sfumato.service import protocol  # noqa: E402


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """One server for the module (Ray takes ~20 s to start): one replica, small limits to test them."""
    with Server(tmp_path_factory.mktemp("serve"), "--max-queue", "3", "--max-per-client", "2", "--max-body-mb", "64",
                "--threads", "2", env={"SFUMATO_SERVE_BODY_TIMEOUT": "3"}) as srv:
        yield srv.url, srv.token_file, srv.token


def _get(url, token=None):
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _post(url, body, content_type, token, headers=None):
    req = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": content_type, "Authorization": f"Bearer {token}", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def _counts(server):
    url, _, token = server
    return _get(url + "/v1/health", token)[1]["counts"]


def test_every_request_without_the_token_is_refused_and_runs_nothing(server):
    url, _, token = server
    before = _counts(server)
    photo = (SAMPLES / "coffee.jpg").read_bytes()
    for bad in (None, "wrong-token-" + "x" * 20, token[:-1]):
        for path in ("/v1/health", "/v1/styles", "/v1/models", "/v1/openapi.json"):
            assert _get(url + path, bad)[0] == 401, (path, bad)
        status, headers, body = _post(url + "/v1/stylize?style=0", photo, "image/jpeg", bad or "")
        assert status == 401 and "token" in json.loads(body)["error"]
        assert headers.get("www-authenticate") == "Bearer"
        assert _post(url + "/v1/inpaint", b"x", protocol.FRAME_TYPE, bad or "")[0] == 401
    after = _counts(server)
    assert after.get("jobs_started", 0) == before.get("jobs_started", 0)  # no job ran for any of them
    assert after["unauthorised"] - before.get("unauthorised", 0) == 3 * 6


def test_cli_through_the_server_writes_the_local_result_bit_for_bit(server, tmp_path):
    url, token_file, _ = server
    photo, mask = SAMPLES / "coffee.jpg", SAMPLES / "coffee_spoon_mask.png"
    cases = {
        "stylize-blend": ["stylize", photo, "--style", "starry-blue:0.6,3:0.4", "--strength", "0.7",
                          "--preserve-colors", "--mask", mask],
        "stylize-image": ["stylize", photo, "--style-image", SAMPLES / "starry_night.jpg", "--scale", "1.5"],
        "inpaint": ["inpaint", photo, "--mask", mask, "--grow", "3", "--detail", "0.2"],
    }
    for name, args in cases.items():
        local, remote = tmp_path / f"{name}-local.png", tmp_path / f"{name}-remote.png"
        r = run_cli(*args, "-o", local)
        assert r.returncode == 0, r.stderr
        r = run_cli(*args, "-o", remote, "--server", url, "--token-file", token_file)
        assert r.returncode == 0, r.stderr
        assert remote.read_bytes() == local.read_bytes(), name


def test_a_16_bit_photo_keeps_its_precision_through_the_server(server, tmp_path):
    from PIL import Image
    url, token_file, _ = server
    rng = np.random.default_rng(0)
    grey16 = (rng.random((96, 128)) * 65535).astype(np.uint16)
    src = tmp_path / "grey16.png"
    Image.fromarray(grey16).save(src)
    outs = []
    for extra in ([], ["--server", url, "--token-file", token_file]):
        out = tmp_path / f"out{len(outs)}.png"
        r = run_cli("stylize", src, "--style", "2", "-o", out, *extra)
        assert r.returncode == 0, r.stderr
        outs.append(np.asarray(Image.open(out)))
    assert outs[0].dtype == outs[1].dtype and outs[1].max() > 255
    np.testing.assert_array_equal(outs[0], outs[1])


def test_bad_requests_get_the_clis_message_and_a_4xx(server, tmp_path):
    url, token_file, token = server
    photo = (SAMPLES / "coffee.jpg").read_bytes()
    status, _, body = _post(url + "/v1/stylize?style=no-such-style", photo, "image/jpeg", token)
    local = run_cli("stylize", SAMPLES / "coffee.jpg", "--style", "no-such-style", "-o", tmp_path / "x.png")
    assert status == 400 and json.loads(body)["error"] in local.stderr
    remote = run_cli("stylize", SAMPLES / "coffee.jpg", "--style", "no-such-style", "-o", tmp_path / "x.png",
                     "--server", url, "--token-file", token_file)
    assert remote.returncode == 2 and json.loads(body)["error"] in remote.stderr and not (tmp_path / "x.png").exists()
    assert _post(url + "/v1/stylize?style=0&strength=2", photo, "image/jpeg", token)[0] == 400
    assert _post(url + "/v1/stylize?style=0", b"not an image", "image/png", token)[0] == 400
    assert _post(url + "/v1/stylize", b"\x00\x00\x00\x05hello", protocol.FRAME_TYPE, token)[0] == 400
    assert _post(url + "/v1/stylize", b"garbage", "text/plain", token)[0] == 415
    assert _post(url + "/v1/inpaint", photo, "image/jpeg", token)[0] == 415
    # an empty mask: the worker's message, not a traceback
    img = np.zeros((64, 64, 3), np.uint8)
    header = {"options": {}, "layout": ["image", "mask"], "image": {"width": 64, "height": 64, "channels": 3, "dtype": "u8"},
              "mask": {"width": 64, "height": 64, "channels": 1, "dtype": "f32"}}
    status, _, body = _post(url + "/v1/inpaint", protocol.encode(header, img.tobytes(), np.zeros((64, 64), np.float32).tobytes()),
                            protocol.FRAME_TYPE, token)
    assert status == 400 and "empty" in json.loads(body)["error"]


def test_body_over_the_limit_is_refused_before_it_is_read(server):
    url, _, token = server
    with socket.create_connection(("127.0.0.1", int(url.rsplit(":", 1)[1]))) as s:
        s.sendall(f"POST /v1/stylize?style=0 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
                  f"Content-Type: image/png\r\nContent-Length: {65 << 20}\r\n\r\n".encode())
        reply = _reply(s)
    assert reply.startswith("HTTP/1.1 413") and "64 MB" in reply


def _reply(s: socket.socket) -> str:
    """A whole small HTTP response from a raw socket (its head and body may come in separate packets)."""
    s.settimeout(30)
    data = b""
    while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < int(
            data.lower().split(b"content-length: ", 1)[1].split(b"\r\n", 1)[0]):
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    return data.decode()


def _stalled_upload(url, token):
    """A request whose body never finishes arriving: it holds a place in the queue."""
    s = socket.create_connection(("127.0.0.1", int(url.rsplit(":", 1)[1])))
    s.sendall(f"POST /v1/stylize?style=0 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
              "Content-Type: image/png\r\nContent-Length: 100000\r\n\r\n".encode() + b"x" * 1000)
    return s


def test_queue_limits_answer_503_with_retry_after_and_uploads_cut_off_free_their_place(server):
    url, _, token = server
    photo = (SAMPLES / "coffee.jpg").read_bytes()
    held = [_stalled_upload(url, token) for _ in range(2)]  # this client's limit is 2
    try:
        deadline = time.monotonic() + 10
        while _get(url + "/v1/health", token)[1]["held"] < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        status, headers, body = _post(url + "/v1/stylize?style=0", photo, "image/jpeg", token)
        assert status == 503 and headers.get("retry-after") and "queued" in json.loads(body)["error"]
    finally:
        for s in held:
            s.close()  # clients that disconnect mid-upload
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        health = _get(url + "/v1/health", token)[1]
        freed = health["counts"].get("disconnected", 0) + health["counts"].get("timed_out", 0)
        if not health["held"] and freed >= 2:  # seen going away, or dropped by the 3 s body timeout
            break
        time.sleep(0.1)
    assert freed >= 2 and not health["held"], health
    assert _post(url + "/v1/stylize?style=0", photo, "image/jpeg", token)[0] == 200


def test_a_silent_upload_times_out_and_frees_its_place(server):
    url, _, token = server
    s = _stalled_upload(url, token)
    reply = _reply(s)  # the fixture sets a 3 s body timeout
    s.close()
    assert reply.startswith("HTTP/1.1 408")


def test_progress_streams_and_closing_the_connection_cancels_the_job(server):
    url, _, token = server
    img = np.random.default_rng(1).integers(0, 255, (3072, 3072, 3), np.uint8)  # ~10 s of work
    header = {"op": "stylize", "options": {"style": "0"}, "layout": ["image"],
              "image": {"width": 3072, "height": 3072, "channels": 3, "dtype": "u8"}}
    before = _counts(server)
    body = protocol.http_post(url, token, "stylize", header, [img.tobytes()], timeout=60)
    msg, _ = protocol.recv(body)
    assert msg["type"] == "progress" and msg["fraction"] == 0.0  # sent as soon as the job is accepted
    body.close()  # as GIMP's Cancel does, by ending the plug-in
    deadline = time.monotonic() + 30
    while _counts(server).get("cancelled", 0) == before.get("cancelled", 0) and time.monotonic() < deadline:
        time.sleep(0.2)
    after = _counts(server)
    assert after.get("cancelled", 0) == before.get("cancelled", 0) + 1
    assert after.get("jobs_done", 0) == before.get("jobs_done", 0)
    # and the next job runs normally
    small = img[:128, :128].copy()
    header = dict(header, image={"width": 128, "height": 128, "channels": 3, "dtype": "u8"})
    body = protocol.http_post(url, token, "stylize", header, [small.tobytes()], timeout=60)
    while True:
        msg, bufs = protocol.recv(body)
        if msg["type"] != "progress":
            break
    assert msg["type"] == "result" and len(bufs[0]) == small.nbytes


def test_openapi_describes_the_endpoints(server):
    url, _, token = server
    status, spec = _get(url + "/v1/openapi.json", token)
    assert status == 200
    assert {"/v1/stylize", "/v1/inpaint", "/v1/styles", "/v1/models", "/v1/health"} <= set(spec["paths"])
    assert protocol.FRAME_TYPE in spec["paths"]["/v1/inpaint"]["post"]["requestBody"]["content"]
    assert "starry-blue" in _get(url + "/v1/styles", token)[1]["styles"]


def test_off_loopback_the_server_refuses_to_start_without_a_token_file():
    r = subprocess.run([sys.executable, "-m", "sfumato", "serve", "--host", "0.0.0.0", "--port", str(free_port())],
                       capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert r.returncode == 2 and "--token-file" in r.stderr


def test_an_unreachable_server_is_one_line_and_nothing_is_written(tmp_path):
    token = tmp_path / "t"
    token.write_text("x" * 32)
    out = tmp_path / "out.png"
    r = run_cli("stylize", SAMPLES / "coffee.jpg", "--style", "0", "-o", out,
                "--server", f"http://127.0.0.1:{free_port()}", "--token-file", token)
    assert r.returncode == 2 and "cannot reach the Sfumato server" in r.stderr and not out.exists()
    assert "Traceback" not in r.stderr


def test_the_server_refuses_what_the_cli_refuses_with_4xx_and_one_line(server, tmp_path):
    """The CLI's checks at the server's door: sizes, non-finite pixels, option ranges; never a bare 500."""
    import io

    import tifffile
    from PIL import Image
    url, _, token = server

    def png(w, h):
        b = io.BytesIO()
        Image.new("RGB", (w, h), (90, 120, 30)).save(b, format="PNG")
        return b.getvalue()

    for w, h in ((1, 1), (40, 31)):
        status, _, body = _post(url + "/v1/stylize?style=0", png(w, h), "image/png", token)
        assert status == 400 and f"is {w}x{h}; both sides need at least 32 px" in json.loads(body)["error"]
    f = np.full((48, 64, 3), 0.5, np.float32)
    f[3, 3, 0] = np.nan
    header = {"op": "stylize", "layout": ["image"], "options": {"style": "crimson"},
              "image": {"width": 64, "height": 48, "channels": 3, "dtype": "f32"}}
    status, _, body = _post(url + "/v1/stylize", protocol.encode(header, f.tobytes()), protocol.FRAME_TYPE, token)
    assert status == 400 and "1 pixel value that is not a number" in json.loads(body)["error"]
    f[3, 3, 0] = 0.5
    header["options"]["tile"] = 2 ** 70
    status, _, body = _post(url + "/v1/stylize", protocol.encode(header, f.tobytes()), protocol.FRAME_TYPE, token)
    assert status == 400 and "tile must be between 128 and 16384" in json.loads(body)["error"]
    b = io.BytesIO()
    tifffile.imwrite(b, f, photometric="rgb")
    status, _, body = _post(url + "/v1/stylize?style=0", b.getvalue(), "image/tiff", token)
    assert status == 400 and "cannot" in json.loads(body)["error"]  # a float result: no PNG can hold it


def test_the_sample_from_area_through_the_server_gives_the_local_pixels_and_refusals(server, tmp_path):
    """--sample-from with --server: the area travels as a buffer beside the mask; the file is the local
    run's bit for bit, and a bad area is the local run's one error line, nothing written."""
    from tests.test_cli import _half_textured_files
    from PIL import Image
    url, token_file, _ = server
    photo, mask, area = _half_textured_files(tmp_path)
    args = ["inpaint", photo, "--mask", mask, "--sample-from", area]
    local, remote = tmp_path / "local.png", tmp_path / "remote.png"
    assert run_cli(*args, "-o", local).returncode == 0
    r = run_cli(*args, "-o", remote, "--server", url, "--token-file", token_file)
    assert r.returncode == 0, r.stderr
    assert remote.read_bytes() == local.read_bytes()
    Image.fromarray(np.zeros((256, 256), np.uint8)).save(area)  # no pixels to copy from
    here = run_cli(*args, "-o", tmp_path / "x.png")
    there = run_cli(*args, "-o", tmp_path / "x.png", "--server", url, "--token-file", token_file)
    assert here.returncode == there.returncode == 2 and not (tmp_path / "x.png").exists()
    assert "'sample from' area has no pixels" in here.stderr and there.stderr == here.stderr
