"""The plug-in inside a real GIMP 3 sending its jobs to `sfumato serve` (`sfumato gimp install --server`):
the same pixels as the local core, and an unreachable server is one message with the image unchanged."""
import numpy as np
import pytest

from tests.conftest import SAMPLES
from tests.gimp import harness
from tests.gimp.test_gimp_plugin import _layer, _load, _mask, worker_mask
from tests.serving import Server, free_port

pytestmark = pytest.mark.gimp
pytest.importorskip("ray.serve", reason="needs the serve extra: pip install -e '.[serve]'")

PHOTO = str(SAMPLES / "coffee.jpg")
CASES = [
    {"id": "server_fill", "proc": "sfumato-fill-selection", "selection": "ellipse:250,150,80,60", "feather": 6,
     "args": {"grow": 4, "feather": 4, "detail": 0.5}},
    {"id": "server_stylize", "proc": "sfumato-stylize", "selection": "ellipse:150,100,300,200", "feather": 30,
     "args": {"blend": "starry-blue:0.5,ink-comic:0.5", "strength": 0.7, "texture-scale": 1.5}},
    {"id": "server_fill_u16_inplace", "proc": "sfumato-fill-selection", "precision": "u16",
     "selection": "ellipse:250,150,80,60", "feather": 6, "args": {"output": "in-place"}},
    {"id": "server_frames", "proc": "sfumato-stylize-frames", "frames": [str(SAMPLES / "starry_night.jpg")],
     "args": {"style": "crimson", "strength": 0.9}},
]
DOWN = [{"id": "down_fill", "proc": "sfumato-fill-selection", "selection": "ellipse:250,150,80,60", "feather": 6,
         "args": {"output": "in-place"}},
        {"id": "down_stylize", "proc": "sfumato-stylize", "selection": "ellipse:150,100,300,200", "args": {}}]
for c in CASES + DOWN:
    c["image"] = PHOTO


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    harness.require()
    from sfumato.gimp_plugin.install import install
    folder = tmp_path_factory.mktemp("gimp-server")
    harness.stop_worker()
    harness.reset_worker_log()
    try:
        with Server(folder) as srv:
            install(harness.PROFILE, server=srv.url, token=srv.token)
            served, log = harness.run_cases(CASES, folder / "served")
        install(harness.PROFILE, server=f"http://127.0.0.1:{free_port()}", token="x" * 32)  # nobody listens there
        down, down_log = harness.run_cases(DOWN, folder / "down")
    finally:
        harness.install_plugin()  # back to the local worker for the other tests
    yield {r["id"]: r for r in served + down}, folder, log + down_log


@pytest.mark.parametrize("cid", [c["id"] for c in CASES if c["proc"] != "sfumato-stylize-frames"])
def test_jobs_sent_to_the_server_give_the_local_result_bit_for_bit(runs, cid):
    records, folder, log = runs
    rec = records[cid]
    assert rec["status"] == "success", f"{rec}\n{log[-3000:]}"
    out = folder / "served"
    before, result, mask = _load(out, rec, "before"), _load(out, rec, "result"), worker_mask(rec, _mask(out, rec))
    case = next(c for c in CASES if c["id"] == cid)
    if case["proc"] == "sfumato-fill-selection":
        from sfumato.inpainting.pipeline import InpaintOptions, inpaint
        options = {k: v for k, v in case["args"].items() if k != "output"}
        expected = inpaint(before, mask, InpaintOptions(**options))
    else:
        from sfumato.styling.pipeline import StylizeOptions, stylize
        expected = stylize(before, StylizeOptions(style=case["args"]["blend"], strength=0.7, scale=1.5), mask=mask)
    assert np.array_equal(expected, result)
    assert "listening on" not in harness.worker_log()  # no local worker was started


@pytest.mark.parametrize("cid", [c["id"] for c in DOWN])
def test_an_unreachable_server_is_one_message_and_the_image_is_unchanged(runs, cid):
    records, folder, log = runs
    rec = records[cid]
    assert rec["status"] == "execution-error", rec
    assert "cannot reach its server" in rec["error"] and "Nothing was changed" in rec["error"], rec
    out = folder / "down"
    assert np.array_equal(_load(out, rec, "before"), _load(out, rec, "source_after"))
    assert len(rec["layers_top_down"]) == 1  # no layer was added


def test_layers_as_frames_through_the_server(runs):
    from sfumato.styling.pipeline import StylizeOptions, stylize_frames
    records, folder, log = runs
    rec = records["server_frames"]
    assert rec["status"] == "success", f"{rec}\n{log[-3000:]}"
    out = folder / "served"
    before, after = rec["layers_before"], rec["layers_after"]
    sources = [_layer(out, "server_frames", k, b, "before") for k, b in enumerate(before)]
    expected = stylize_frames(sources[::-1], StylizeOptions(style="crimson", strength=0.9))[::-1]
    for k in range(len(before)):
        assert np.array_equal(_layer(out, "server_frames", 2 * k, after[2 * k], "after"), expected[k])
