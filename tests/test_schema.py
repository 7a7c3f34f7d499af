"""One schema to the end: an option added to core/options.py reaches the pipeline's options through
every door — the CLI's flags, the worker's request header, the server's query string and the server
client's (--server) request — with no door copying option values by hand. The pipeline itself is
replaced by a recorder: what is tested is what each door hands it."""
import dataclasses
import socket
import threading
import time

import numpy as np
import pytest

from sfumato import options
from sfumato.errors import SfumatoError
from sfumato.runtime.job import Job
from sfumato.service import jobs, protocol

DUMMY = options.Option("dummy_knob", float, 0.5, "a test's option", (0.0, 1.0), "")


@pytest.fixture(params=["stylize", "inpaint"])
def dummy(request, monkeypatch):
    """The operation, with DUMMY in its schema and option set, and its pipeline recording the options
    it is given (returning the image untouched)."""
    operation = request.param
    monkeypatch.setitem(options.SCHEMA, operation, options.SCHEMA[operation] + (DUMMY,))
    monkeypatch.setitem(options.OPTION_CLASSES, operation, options.option_class(operation))
    seen = []
    if operation == "stylize":
        import sfumato.styling.pipeline as pipeline

        def stylize(image, o, mask=None, job=None, **_):
            seen.append(o)
            return image
        monkeypatch.setattr(pipeline, "stylize", stylize)
    else:
        import sfumato.inpainting.pipeline as pipeline

        def inpaint(image, mask, o, job=None):
            seen.append(o)
            return image
        monkeypatch.setattr(pipeline, "inpaint", inpaint)
    return operation, seen


def _picture(tmp_path):
    from sfumato.imageio import write_image
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)
    mask = np.zeros((40, 48), np.uint8)
    mask[8:16, 8:16] = 255
    write_image(tmp_path / "photo.png", image)
    write_image(tmp_path / "mask.png", mask)
    return image, mask


def _named(operation) -> dict:
    """The option that names what to run, as each door sends it."""
    return {"style": "0"} if operation == "stylize" else {}


def _received(seen, operation) -> float:
    [o] = seen
    assert type(o) is options.OPTION_CLASSES[operation] and (o.style == "0" if operation == "stylize" else True)
    return o.dummy_knob


def test_the_option_sets_are_the_schema(dummy):
    operation, _ = dummy
    fields = {f.name: f.default for f in dataclasses.fields(options.OPTION_CLASSES[operation])}
    assert {o.name: fields[o.name] for o in options.SCHEMA[operation]} == options.defaults(options.SCHEMA[operation])
    assert options.OPTION_CLASSES[operation]().dummy_knob == 0.5


def test_a_new_option_reaches_the_pipeline_through_the_cli(dummy, tmp_path):
    from sfumato.cli import main
    operation, seen = dummy
    _picture(tmp_path)
    extra = ["--style", "0"] if operation == "stylize" else ["--mask", tmp_path / "mask.png"]
    argv = [operation, tmp_path / "photo.png", *extra, "--dummy-knob", "0.25", "-o", tmp_path / "out.png"]
    assert main([str(a) for a in argv]) == 0
    assert _received(seen, operation) == 0.25
    with pytest.raises(SystemExit):  # the schema's range, checked by the flag's parser
        main([str(a) for a in argv[:-3]] + ["--dummy-knob", "2", "-o", str(tmp_path / "out2.png")])


def _request(operation, image, mask, **values) -> tuple[dict, list]:
    arrays = {"image": image, **({"mask": mask} if operation == "inpaint" else {})}
    header = {"op": operation, "options": {**_named(operation), **values}, "layout": list(arrays)}
    for name, a in arrays.items():
        header[name] = {"width": a.shape[1], "height": a.shape[0], "channels": 1 if a.ndim == 2 else a.shape[2],
                        "dtype": "u8" if a.dtype == np.uint8 else "f32"}
    return header, [np.ascontiguousarray(a).tobytes() for a in arrays.values()]


def test_a_new_option_reaches_the_pipeline_through_the_worker(dummy, tmp_path):
    """A real worker on its Unix socket (in this process, so it sees the test's schema)."""
    from sfumato.service.worker import Worker
    operation, seen = dummy
    image, mask = _picture(tmp_path)
    path = str(tmp_path / "worker.sock")
    worker = Worker(path, idle_timeout=60)
    thread = threading.Thread(target=worker.serve, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not (tmp_path / "worker.sock").exists() and time.monotonic() < deadline:
        time.sleep(0.05)

    def ask(header, buffers):
        with protocol.connect(path, timeout=60) as s:
            protocol.send(s, header, *buffers)
            while True:
                msg, _ = protocol.recv(s)
                if msg["type"] != "progress":
                    return msg
    try:
        assert ask(*_request(operation, image, mask, dummy_knob=0.75))["type"] == "result"
        assert _received(seen, operation) == 0.75
        refused = ask(*_request(operation, image, mask, dummy_knob=3))
        assert refused == {"type": "error", "message": "dummy_knob must be between 0 and 1, got 3.0", "buffers": []}
    finally:
        ask({"op": "shutdown"}, [])
        thread.join(30)


def test_a_new_option_reaches_the_pipeline_through_the_server_and_its_client(dummy, tmp_path):
    """The server's two forms (a protocol message as the --server client sends it, and an image file
    with the options in the query string), through the replica's own parsing and running."""
    pytest.importorskip("ray.serve", reason="needs the serve extra: pip install -e '.[serve]'")
    from sfumato.service.remote import Remote
    from sfumato.service.serve import ServeSettings, Service
    operation, seen = dummy
    image, mask = _picture(tmp_path)
    service = Service(ServeSettings(token_sha256="unused"))

    sent = []  # the client's request, as it would go over HTTP
    remote = Remote("http://127.0.0.1:1", "token")
    remote.call = lambda op, values, arrays: sent.append((op, values, arrays)) or image
    o = options.options_from(operation, {**_named(operation), "dummy_knob": 0.125})
    remote.stylize(image, o) if operation == "stylize" else remote.inpaint(image, mask / np.float32(255), o)
    [(op, values, arrays)] = sent
    header, buffers = _request(operation, image, mask, **values)
    header, arrays = service.parse(op, protocol.FRAME_TYPE, protocol.encode(header, *buffers), {})
    service.run(op, header, arrays, Job())
    assert _received(seen, operation) == 0.125

    if operation == "stylize":  # an image file, options in the query string (typed as JSON)
        from sfumato.imageio import encode_png
        seen.clear()
        header, arrays = service.parse(op, "image/png", encode_png(image), {"style": "0", "dummy_knob": "0.375"})
        service.run(op, header, arrays, Job())
        assert _received(seen, operation) == 0.375
    header, buffers = _request(operation, image, mask, dummy_knob=-1)
    with pytest.raises(SfumatoError, match="dummy_knob must be between 0 and 1"):
        service.parse(op, protocol.FRAME_TYPE, protocol.encode(header, *buffers), {})


def test_the_job_layer_refuses_a_value_of_the_wrong_type_by_name(dummy):
    operation, _ = dummy
    with pytest.raises(SfumatoError, match="option dummy_knob must be a number, got 'x'"):
        jobs.check_request(operation, {"options": {**_named(operation), "dummy_knob": "x"}})
