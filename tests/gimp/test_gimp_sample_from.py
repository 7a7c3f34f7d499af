"""The fill's "Sample from" channel inside a real GIMP 3.0 (headless), called through the PDB as a script
would: a channel saved from a selection (Select > Save to Channel) limits where a large hole's texture
comes from, exactly as the Python API's sample_from does, and a channel that cannot serve is one message
with the image untouched."""

import numpy as np
import pytest
from PIL import Image

from tests.gimp import harness
from tests.gimp.test_gimp_plugin import _load, _mask

pytestmark = pytest.mark.gimp

HOLE = "rect:70,60,120,120"  # across the textured and the flat half (tests/test_inpaint.py's pattern)
FLAT_SIDE = "200,0,56,256"


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory):
    harness.require()
    out = tmp_path_factory.mktemp("gimp-sample-from")
    rng = np.random.default_rng(0)
    img = np.full((256, 256, 3), 0.8, np.float32)
    img[:, :128] = 0.5 + 0.15 * rng.standard_normal((256, 128, 1)).astype(np.float32)
    photo = out / "half.png"
    Image.fromarray((np.clip(img, 0, 1) * 255).astype(np.uint8)).save(photo)
    cases = [{"id": "free", "proc": "sfumato-fill-selection", "selection": HOLE, "args": {}},
             {"id": "limited", "proc": "sfumato-fill-selection", "selection": HOLE,
              "args": {"sample-from-rect": FLAT_SIDE}},
             {"id": "hole_only", "proc": "sfumato-fill-selection", "selection": HOLE,
              "args": {"sample-from-rect": "70,60,120,120"}},
             {"id": "other_image", "proc": "sfumato-fill-selection", "selection": HOLE,
              "args": {"sample-from-other-image": FLAT_SIDE}}]
    for c in cases:
        c["image"] = str(photo)
    harness.install_plugin()
    records, log = harness.run_cases(cases, out)
    yield {r["id"]: r for r in records}, out, log


def test_the_channel_limits_where_the_texture_comes_from_as_the_api_does(sample_run):
    from sfumato.inpainting.pipeline import inpaint
    records, out, log = sample_run
    for cid in ("free", "limited"):
        assert records[cid]["status"] == "success", f"{records[cid]}\n{log[-3000:]}"
    rec = records["limited"]
    before, mask = _load(out, rec, "before"), _mask(out, rec)
    area = np.zeros(mask.shape, np.float32)
    area[:, 200:] = 1
    limited, free = _load(out, rec, "result"), _load(out, records["free"], "result")
    assert np.array_equal(limited, inpaint(before, mask, sample_from=area))  # the API's pixels
    assert np.array_equal(free, inpaint(before, mask))

    def energy(x):  # the part of the hole on the textured side
        gy, gx = np.gradient(x[65:175, 75:125].astype(np.float32).mean(axis=2))
        return float(np.sqrt(gx ** 2 + gy ** 2).mean())
    assert energy(limited) < 0.3 * energy(free)
    assert rec["channels_after"] == 1  # the user's channel stays; nothing else is left over


@pytest.mark.parametrize("cid,message", [
    ("hole_only", "the 'sample from' area has no pixels outside the hole"),  # the CLI's and the worker's words
    ("other_image", "belongs to another image")])
def test_a_channel_that_cannot_serve_is_one_message_and_nothing_changes(sample_run, cid, message):
    records, out, log = sample_run
    rec = records[cid]
    assert rec["status"] == "execution-error", rec
    assert message in rec["error"], rec
    assert len(rec["layers_after"]) == len(rec["layers_before"]), rec
    assert np.array_equal(_load(out, rec, "source_after"), _load(out, rec, "before"))
