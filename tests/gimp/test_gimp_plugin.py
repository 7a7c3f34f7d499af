"""The plug-in inside a real GIMP 3.0 (headless): all three procedures on a real photo with a feathered
elliptical selection, new layer and in-place output, grey and 16-bit images, layer offsets, and the
messages a user sees for selections that make no sense."""

import numpy as np
import pytest

from tests.conftest import SAMPLES
from tests.gimp import harness

pytestmark = pytest.mark.gimp

PHOTO = str(SAMPLES / "coffee.jpg")        # 600 x 400
PAINTING = str(SAMPLES / "starry_night.jpg")
ELLIPSE = "ellipse:150,100,300,200"
CASES = [
    {"id": "stylize_new", "proc": "sfumato-stylize", "selection": ELLIPSE, "feather": 30,
     "args": {"style": "starry-blue"}},
    {"id": "stylize_inplace", "proc": "sfumato-stylize", "selection": ELLIPSE, "feather": 30,
     "args": {"style": "crimson", "output": "in-place"}},
    {"id": "stylize_blend_options", "proc": "sfumato-stylize", "selection": ELLIPSE, "feather": 30,
     "args": {"blend": "starry-blue:0.5,ink-comic:0.5", "strength": 0.7, "preserve-colors": True,
              "texture-scale": 1.5}},
    {"id": "stylize_mix", "proc": "sfumato-stylize", "selection": ELLIPSE, "feather": 30,
     "args": {"style": "starry-blue", "mix-style": "crimson", "mix": 0.3}},
    {"id": "with_layer", "proc": "sfumato-stylize-with", "selection": ELLIPSE, "feather": 30,
     "args": {"style-layer-from": PAINTING}},
    {"id": "with_file_inplace", "proc": "sfumato-stylize-with", "selection": ELLIPSE, "feather": 30,
     "args": {"style-file": PAINTING, "output": "in-place"}},
    {"id": "grey", "proc": "sfumato-stylize", "grey": True, "selection": ELLIPSE, "feather": 30,
     "args": {"style": "starry-blue"}},
    {"id": "u16", "proc": "sfumato-stylize", "precision": "u16", "selection": ELLIPSE, "feather": 30,
     "args": {"style": "starry-blue"}},
    {"id": "offset_partial", "proc": "sfumato-stylize", "offset": [40, 30], "selection": "ellipse:0,0,300,220",
     "feather": 20, "args": {"style": "starry-blue"}},
    {"id": "whole_layer", "proc": "sfumato-stylize", "args": {"style": "starry-blue"}},
    {"id": "selection_off_layer", "proc": "sfumato-stylize", "offset": [40, 30], "selection": "rect:0,0,20,20",
     "args": {"style": "starry-blue"}},
    {"id": "with_nothing", "proc": "sfumato-stylize-with", "selection": ELLIPSE, "args": {}},
    {"id": "unknown_style", "proc": "sfumato-stylize", "args": {"blend": "mona-lisa"}},
    {"id": "fill_new", "proc": "sfumato-fill-selection", "selection": "ellipse:250,150,80,60", "feather": 6,
     "args": {"grow": 4, "feather": 4, "detail": 0.5}},
    {"id": "fill_inplace_u16", "proc": "sfumato-fill-selection", "precision": "u16",
     "selection": "ellipse:250,150,80,60", "feather": 6, "args": {"output": "in-place"}},
    {"id": "fill_grey_offset", "proc": "sfumato-fill-selection", "grey": True, "offset": [40, 30],
     "selection": "ellipse:0,0,120,100", "feather": 6, "args": {}},
    {"id": "fill_empty", "proc": "sfumato-fill-selection", "args": {}},
    {"id": "stylize_float_linear", "proc": "sfumato-stylize", "precision": "float-linear", "selection": ELLIPSE,
     "feather": 30, "args": {"style": "starry-blue", "strength": 0.6}},
    {"id": "fill_float_linear_inplace", "proc": "sfumato-fill-selection", "precision": "float-linear",
     "selection": "ellipse:250,150,80,60", "feather": 6, "args": {"output": "in-place"}},
    {"id": "frames", "proc": "sfumato-stylize-frames", "frames": [str(SAMPLES / "starry_night.jpg"),
                                                                  str(SAMPLES / "coffee_spoon_mask.png")],
     "selection": ELLIPSE, "args": {"blend": "starry-blue:0.5,crimson:0.5", "strength": 0.8}},
]
for c in CASES:
    c["image"] = PHOTO
# GIMP's Cancel mid-job (its mechanism: the plug-in's process killed 1.5 s into a 4800 x 3200 stylize, in
# place): the image as it was, the worker stops the job and serves the next call
CASES += [{"id": "cancelled", "proc": "sfumato-stylize", "image": PHOTO, "scale": 8, "kill_plugin_after": 1.5,
           "args": {"style": "starry-blue", "output": "in-place"}},
          {"id": "after_the_cancel", "proc": "sfumato-stylize", "image": PHOTO, "selection": ELLIPSE,
           "args": {"style": "crimson"}}]
# a worker that dies mid-job (killed 1.5 s into a 4800 x 3200 stylize, in place): one message, the
# image as it was; the next call starts a new worker
CASES += [{"id": "worker_killed", "proc": "sfumato-stylize", "image": PHOTO, "scale": 8, "kill_worker_after": 1.5,
           "args": {"style": "starry-blue", "output": "in-place"}},
          {"id": "after_the_crash", "proc": "sfumato-stylize", "image": PHOTO, "selection": ELLIPSE,
           "args": {"style": "crimson"}}]
CASES.append({"id": "introspect", "introspect": ["sfumato-stylize", "sfumato-stylize-with", "sfumato-stylize-frames",
                                                 "sfumato-fill-selection"]})


@pytest.fixture(scope="module")
def gimp_run(tmp_path_factory):
    harness.require()
    out = tmp_path_factory.mktemp("gimp")
    harness.stop_worker()
    harness.reset_worker_log()
    harness.install_plugin()
    records, log = harness.run_cases(CASES, out)
    yield {r["id"]: r for r in records}, out, log
    harness.stop_worker()


def _load(out, rec, kind):
    fmt = rec["format"]
    dtype = np.uint8 if fmt.endswith("u8") else np.uint16 if fmt.endswith("u16") else np.float32
    channels = len(fmt.split()[0].replace("'", ""))
    return np.fromfile(out / f"{rec['id']}.{kind}.raw", dtype).reshape(rec["height"], rec["width"], channels)


def _mask(out, rec):
    return np.fromfile(out / f"{rec['id']}.mask.raw", np.float32).reshape(rec["height"], rec["width"])


def worker_mask(rec, mask):
    """The selection (read here as float) as the worker reads it: the plug-in sends an integer
    selection as stored, and the worker scales it as to_float does."""
    scale = {"u8": 255, "u16": 65535}.get(rec["precision"].split("-")[0])
    if not scale:
        return mask
    from sfumato.pixels import to_float
    return to_float(np.round(mask * scale).astype(np.uint8 if scale == 255 else np.uint16))


def _ok(gimp_run, cid):
    records, out, log = gimp_run
    rec = records[cid]
    assert rec["status"] == "success", f"{cid}: {rec}\n{log[-3000:]}"
    return rec, out


@pytest.mark.parametrize("cid", ["stylize_new", "stylize_blend_options", "with_layer", "grey", "u16",
                                 "offset_partial"])
def test_new_layer_above_source_changes_only_the_selection(gimp_run, cid):
    rec, out = _ok(gimp_run, cid)
    before, after, result = _load(out, rec, "before"), _load(out, rec, "source_after"), _load(out, rec, "result")
    mask = _mask(out, rec)
    assert not rec["result_is_source"]
    assert rec["result_index"] == rec["source_index"] - 1  # directly above
    assert rec["result_offsets"] == rec["offsets"] and rec["result_size"] == [rec["width"], rec["height"]]
    assert rec["result_name"].endswith("Sfumato")
    assert rec["result_type"] == rec["source_type"]
    assert np.array_equal(after, before)                     # the user's layer is untouched
    outside, inside = mask == 0, mask >= 0.999
    assert outside.sum() > 1000 and inside.sum() > 1000
    assert np.array_equal(result[outside], before[outside])  # outside the selection: bit for bit
    scale = 255.0 if result.dtype == np.uint8 else 65535.0
    assert np.abs(result[inside].astype(float) - before[inside]).mean() / scale > 0.05
    edge = (mask > 0.2) & (mask < 0.8)                       # feathered edge: between the two
    d_edge = np.abs(result[edge].astype(float) - before[edge]).mean()
    assert 0 < d_edge < np.abs(result[inside].astype(float) - before[inside]).mean()


@pytest.mark.parametrize("cid", ["stylize_inplace", "with_file_inplace"])
def test_in_place_writes_into_the_source(gimp_run, cid):
    rec, out = _ok(gimp_run, cid)
    before, result = _load(out, rec, "before"), _load(out, rec, "result")
    mask = _mask(out, rec)
    assert rec["result_is_source"] and len(rec["layers_top_down"]) == 1
    assert np.array_equal(result[mask == 0], before[mask == 0])
    after = np.fromfile(out / f"{rec['id']}.mask_after.raw", np.float32).reshape(mask.shape)
    assert np.array_equal(after, mask) and rec["channels_after"] == 0  # the selection is back, nothing left over
    assert np.abs(result[mask >= 0.999].astype(float) - before[mask >= 0.999]).mean() > 10


def test_grey_and_16_bit_keep_their_type_and_precision(gimp_run):
    grey, out = _ok(gimp_run, "grey")
    assert grey["result_type"].startswith("gray") and grey["format"].startswith("Y'")
    u16, out = _ok(gimp_run, "u16")
    assert u16["precision"].startswith("u16")
    result, mask = _load(out, u16, "result"), _mask(out, u16)
    inside = result[mask >= 0.999]
    assert (inside % 257 != 0).mean() > 0.5  # real 16-bit values, not 8-bit ones scaled up


def test_whole_layer_without_selection(gimp_run):
    rec, out = _ok(gimp_run, "whole_layer")
    before, result = _load(out, rec, "before"), _load(out, rec, "result")
    changed = np.abs(result.astype(int) - before).max(axis=2) > 0
    assert changed.mean() > 0.95


@pytest.mark.parametrize("cid", ["fill_new", "fill_inplace_u16", "fill_grey_offset"])
def test_fill_selection_changes_only_the_grown_selection(gimp_run, cid):
    from scipy import ndimage
    rec, out = _ok(gimp_run, cid)
    before, result, mask = _load(out, rec, "before"), _load(out, rec, "result"), _mask(out, rec)
    y, x = np.mgrid[-4:5, -4:5]
    grown = ndimage.binary_dilation(mask > 0, x * x + y * y <= 16)
    assert np.array_equal(result[~grown], before[~grown])
    inside = mask >= 0.999
    assert inside.sum() > 500 and np.abs(result[inside].astype(float) - before[inside]).mean() > 0
    if cid == "fill_inplace_u16":
        assert rec["result_is_source"] and rec["precision"].startswith("u16")
    else:
        assert rec["result_index"] == rec["source_index"] - 1 and rec["result_offsets"] == rec["offsets"]
        assert rec["result_type"] == rec["source_type"]
        assert np.array_equal(_load(out, rec, "source_after"), before)


@pytest.mark.parametrize("cid,message", [("fill_empty", "The selection is empty"),
                                         ("selection_off_layer", "does not touch the active layer"),
                                         ("with_nothing", "Choose a style layer"),
                                         ("unknown_style", "unknown style")])
def test_clear_messages_for_impossible_requests(gimp_run, cid, message):
    records, out, log = gimp_run
    rec = records[cid]
    assert rec["status"] == "execution-error", rec
    assert message in rec["error"], rec
    # and nothing changed: no layer added, the source's pixels as they were
    assert len(rec["layers_after"]) == len(rec["layers_before"]), rec
    assert np.array_equal(_load(out, rec, "source_after"), _load(out, rec, "before"))


@pytest.mark.parametrize("cid", ["stylize_float_linear", "fill_float_linear_inplace"])
def test_32_bit_float_work_keeps_its_precision(gimp_run, cid):
    """A 32-bit float (linear light) image comes back as float, with values between the 8- and 16-bit
    steps: nothing on the way was posterised."""
    rec, out = _ok(gimp_run, cid)
    assert rec["format"].endswith("float") and rec["precision"].startswith("float")
    before, result, mask = _load(out, rec, "before"), _load(out, rec, "result"), _mask(out, rec)
    changed = np.abs(result - before).max(axis=2) > 1e-5  # over GIMP's own linear round trip (see above)
    outside = mask < 0.5 / 65535  # GIMP's feathered float selection is ~1e-20, not 0, far from the ellipse
    # only what is visibly selected changes (a fill of the ~1e-20 coverage would fill 12x the area)
    assert outside.mean() > 0.3 and changed.sum() > 100 and not changed[outside].any()
    inside = result[changed]
    steps16 = np.abs(inside * 65535 - np.round(inside * 65535))
    assert (steps16 > 0.01).mean() > 0.9  # not on the 16-bit grid (so not on the 8-bit one either)


def test_one_warm_worker_served_every_call(gimp_run):
    """One worker until the crash case kills it; one more after it."""
    records, out, log = gimp_run
    wlog = harness.worker_log()
    assert wlog.count("listening on") == 2, wlog
    assert wlog.count("done in") >= 12


# Each procedure's settings must reach the core: what GIMP produced equals what the Python API gives
# for the same pixels, selection and options, bit for bit (the path is deterministic). A plug-in
# that dropped or mangled an option would differ.
API_CASES = {
    "stylize_new": ("stylize", {"style": "starry-blue"}),
    "stylize_inplace": ("stylize", {"style": "crimson"}),
    "stylize_blend_options": ("stylize", {"style": "starry-blue:0.5,ink-comic:0.5", "strength": 0.7,
                                          "preserve_colors": True, "scale": 1.5}),
    "stylize_mix": ("stylize", {"style": "starry-blue:0.7,crimson:0.3"}),  # Mix with a second style, by 0.3
    "grey": ("stylize", {"style": "starry-blue"}),
    "u16": ("stylize", {"style": "starry-blue"}),
    "offset_partial": ("stylize", {"style": "starry-blue"}),
    "whole_layer": ("stylize", {"style": "starry-blue"}),
    "fill_new": ("inpaint", {"grow": 4, "feather": 4, "detail": 0.5}),
    "fill_inplace_u16": ("inpaint", {}),
    "fill_grey_offset": ("inpaint", {}),
    "stylize_float_linear": ("stylize", {"style": "starry-blue", "strength": 0.6}),
    "fill_float_linear_inplace": ("inpaint", {}),
}


@pytest.mark.parametrize("cid", sorted(API_CASES))
def test_gimp_gives_what_the_python_api_gives_with_the_same_settings(gimp_run, cid):
    rec, out = _ok(gimp_run, cid)
    before, result, mask = _load(out, rec, "before"), _load(out, rec, "result"), _mask(out, rec)
    from sfumato.service.jobs import FAINTEST_COVERAGE
    mask = worker_mask(rec, np.where(mask < FAINTEST_COVERAGE, np.float32(0), mask))
    op, options = API_CASES[cid]
    whole = mask.max() == 0 and op == "stylize"  # no selection: the whole layer
    if op == "stylize":
        from sfumato.styling.pipeline import StylizeOptions, stylize
        expected = stylize(before, StylizeOptions(**options), mask=None if whole else mask)
    else:
        from sfumato.inpainting.pipeline import InpaintOptions, inpaint
        expected = inpaint(before, mask, InpaintOptions(**options))
    assert expected.dtype == result.dtype and expected.shape == result.shape
    if rec["precision"].endswith("-linear"):
        # GIMP stores a linear image's layers in linear light: the R'G'B' result written back and read
        # again drifts by float rounding (~1e-6), well under a 16-bit step (1.5e-5)
        assert np.abs(expected - result).max() < 1e-5, f"{cid}: {np.abs(expected - result).max()} max difference"
        return
    assert np.array_equal(expected, result), f"{cid}: {np.abs(expected.astype(float) - result).max()} max difference"


def test_dropping_an_option_would_show(gimp_run):
    """The comparison above can fail: the same call without the blend's options differs."""
    from sfumato.styling.pipeline import StylizeOptions, stylize
    rec, out = _ok(gimp_run, "stylize_blend_options")
    before, result, mask = _load(out, rec, "before"), _load(out, rec, "result"), _mask(out, rec)
    plain = stylize(before, StylizeOptions(style="starry-blue:0.5,ink-comic:0.5"), mask=mask)
    assert not np.array_equal(plain, result)


def _layer(out, cid, k, info, when):
    fmt = info["format"]
    dtype = np.uint8 if fmt.endswith("u8") else np.uint16 if fmt.endswith("u16") else np.float32
    channels = len(fmt.split()[0].replace("'", ""))
    return np.fromfile(out / f"{cid}.layer{k}.{when}.raw", dtype).reshape(info["height"], info["width"], channels)


def test_layers_as_frames_share_statistics_into_new_layers(gimp_run):
    """Stylize Layers as Frames: each layer (the bottom one first) gets a new layer above it holding
    what the core's stylize_frames gives for all the layers at once (one set of statistics, the
    selection ignored); the sources stay as they were."""
    from sfumato.styling.pipeline import StylizeOptions, stylize_frames
    rec, out = _ok(gimp_run, "frames")
    before, after = rec["layers_before"], rec["layers_after"]
    assert [l["name"] for l in after] == [n for b in before for n in (f"{b['name']} \u2014 Sfumato", b["name"])]
    sources = [_layer(out, "frames", k, b, "before") for k, b in enumerate(before)]
    for k, b in enumerate(before):  # sources untouched
        assert np.array_equal(_layer(out, "frames", 2 * k + 1, after[2 * k + 1], "after"), sources[k])
    expected = stylize_frames(sources[::-1], StylizeOptions(style="starry-blue:0.5,crimson:0.5", strength=0.8))[::-1]
    for k in range(len(before)):
        got = _layer(out, "frames", 2 * k, after[2 * k], "after")
        assert got.shape == expected[k].shape and np.array_equal(got, expected[k]), before[k]["name"]


def test_the_gimp_procedures_take_their_options_from_the_schema(gimp_run):
    """The GIMP door of core/options.py: every option offered in GIMP is an argument of each procedure
    of its operation, with the schema's default and range."""
    from sfumato.options import SCHEMA
    records, out, log = gimp_run
    procs = records["introspect"]["procs"]
    for proc, operation in (("sfumato-stylize", "stylize"), ("sfumato-stylize-with", "stylize"),
                            ("sfumato-stylize-frames", "stylize"), ("sfumato-fill-selection", "inpaint")):
        args = {a["name"]: a for a in procs[proc]}
        for o in SCHEMA[operation]:
            if not o.gimp:
                assert o.gimp not in args
                continue
            a = args[o.gimp]
            assert a["default_value"] == o.default, (proc, o.name, a)
            if o.range:
                assert (a["minimum"], a["maximum"]) == o.range, (proc, o.name, a)


def test_by_default_each_call_is_a_plug_in_process_of_its_own(gimp_run):
    """The default: plug-in procedures, one process per call, which GIMP's Cancel ends harmlessly."""
    import re
    records, out, log = gimp_run
    assert set(records["introspect"]["types"].values()) == {"plugin"}, records["introspect"]["types"]
    pids = re.findall(r"\[sfumato\] .* plug-in pid (\d+)", log)
    assert len(pids) >= 12 and len(set(pids)) == len(pids), pids


GI_WITHOUT_ASYNCIO = """
import importlib.util, sys
spec = importlib.util.spec_from_file_location("launcher", sys.argv[1])
launcher = importlib.util.module_from_spec(spec)
spec.loader.exec_module(launcher)
launcher.defer_asyncio()
import gi
gi.require_version("Gimp", "3.0")
gi.require_version("Gegl", "0.4")
from gi.repository import Gegl, Gimp, GLib, GObject
assert "asyncio.base_events" not in sys.modules and "ssl" not in sys.modules, "gi loaded asyncio"
import asyncio
async def answer():
    return 42
assert asyncio.run(answer()) == 42
print("ok")
"""


def test_gimps_own_python_loads_gi_without_asyncio_through_the_launcher():
    """What sfumato.py saves on every call, in GIMP's own Python and PyGObject: gi and GIMP's typelibs
    load without asyncio's heavy modules, and asyncio still works when something uses it."""
    import subprocess
    harness.require()
    from sfumato.gimp_plugin.install import PLUGIN_SRC
    launcher = PLUGIN_SRC / "sfumato.py"
    r = subprocess.run([str(harness.TOOLS / "gimp3-run.sh"), "--bind", str(launcher.parent), "--", "python3", "-c",
                        GI_WITHOUT_ASYNCIO, str(launcher)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.strip().endswith("ok"), r.stdout + r.stderr


def test_cancel_mid_job_leaves_the_image_as_it_was_and_stops_the_job(gimp_run):
    """GIMP's Cancel kills the call's plug-in process; the connection closes, the worker cancels the job
    (its log says so) and goes on serving: the next call is answered by the same worker."""
    import time
    records, out, log = gimp_run
    rec = records["cancelled"]
    assert rec["status"] != "success", rec
    assert len(rec["layers_after"]) == len(rec["layers_before"])
    assert np.array_equal(_load(out, rec, "source_after"), _load(out, rec, "before"))
    assert records["after_the_cancel"]["status"] == "success", records["after_the_cancel"]
    deadline = time.monotonic() + 30
    while "stylize cancelled after" not in harness.worker_log() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert "stylize cancelled after" in harness.worker_log(), harness.worker_log()[-2000:]


def test_a_worker_crash_mid_job_is_one_message_and_the_image_is_unchanged(gimp_run):
    records, out, log = gimp_run
    rec = records["worker_killed"]
    assert rec["status"] == "execution-error" and "stopped during the job" in rec["error"], rec
    assert len(rec["layers_after"]) == len(rec["layers_before"])
    assert np.array_equal(_load(out, rec, "source_after"), _load(out, rec, "before"))
    assert records["after_the_crash"]["status"] == "success", records["after_the_crash"]  # a new worker
