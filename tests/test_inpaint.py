"""The fill pipeline and the bring-your-own-model adapters, proved with tiny ONNX models built here
that follow each public convention exactly (the real LaMa / MI-GAN files are not available offline)."""
import json

import numpy as np
import onnx
import pytest
from scipy import ndimage
from PIL import Image
from onnx import TensorProto, helper

from sfumato.errors import SfumatoError
from sfumato.inpainting import user_models
from sfumato.runtime import manifest
from sfumato.inpainting.pipeline import InpaintOptions, inpaint
from sfumato.inpainting.priors import harmonic_fill, push_pull_fill
from tests.conftest import SAMPLES, run_cli

FILL = np.array([0.2, 0.6, 0.4], np.float32)


def lama_like(path, size=64, scale=1.0):
    """image/mask float NCHW (1 = hole), fixed size; output = known pixels, FILL in the hole (x scale)."""
    image = helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, size, size])
    mask = helper.make_tensor_value_info("mask", TensorProto.FLOAT, [1, 1, size, size])
    out = helper.make_tensor_value_info("inpainted", TensorProto.FLOAT, [1, 3, size, size])
    nodes = [helper.make_node("Sub", ["one", "mask"], ["keep"]), helper.make_node("Mul", ["image", "keep"], ["a"]),
             helper.make_node("Mul", ["mask", "fill"], ["b"]), helper.make_node("Add", ["a", "b"], ["sum"]),
             helper.make_node("Mul", ["sum", "scale"], ["inpainted"])]
    inits = [helper.make_tensor("one", TensorProto.FLOAT, [], [1.0]),
             helper.make_tensor("fill", TensorProto.FLOAT, [1, 3, 1, 1], FILL.tolist()),
             helper.make_tensor("scale", TensorProto.FLOAT, [], [scale])]
    onnx.save(helper.make_model(helper.make_graph(nodes, "lama_like", [image, mask], [out], inits),
                                opset_imports=[helper.make_opsetid("", 17)], ir_version=8), path)
    return path


def migan_like(path):
    """image uint8 NCHW, mask uint8 (255 = known, 0 = hole), any size; output composited uint8."""
    image = helper.make_tensor_value_info("image", TensorProto.UINT8, [1, 3, "h", "w"])
    mask = helper.make_tensor_value_info("mask", TensorProto.UINT8, [1, 1, "h", "w"])
    out = helper.make_tensor_value_info("result", TensorProto.UINT8, [1, 3, "h", "w"])
    nodes = [helper.make_node("Equal", ["mask", "known"], ["is_known"]),
             helper.make_node("Where", ["is_known", "image", "fill"], ["result"])]
    inits = [helper.make_tensor("known", TensorProto.UINT8, [], [255]),
             helper.make_tensor("fill", TensorProto.UINT8, [1, 3, 1, 1], (FILL * 255).round().astype(int).tolist())]
    onnx.save(helper.make_model(helper.make_graph(nodes, "migan_like", [image, mask], [out], inits),
                                opset_imports=[helper.make_opsetid("", 17)], ir_version=8), path)
    return path


@pytest.fixture
def photo_and_mask(photo):
    mask = np.zeros(photo.shape[:2], np.float32)
    mask[100:160, 100:180] = 1.0        # region 1
    mask[250:300, 400:470] = 1.0        # region 2, disjoint
    return photo, mask


def _add(path, convention, name):
    entry = user_models.add_user_model(path, convention, name)
    assert entry["name"] == name
    return name


@pytest.mark.parametrize("kind", ["lama", "lama255", "migan"])
def test_byo_conventions_fill_every_region_and_keep_the_rest(tmp_path, photo_and_mask, kind):
    photo, mask = photo_and_mask
    if kind == "migan":
        name = _add(migan_like(tmp_path / "m.onnx"), "migan", "my-migan")
    else:
        name = _add(lama_like(tmp_path / "l.onnx", scale=255.0 if kind == "lama255" else 1.0), "lama", "my-lama")
    out = inpaint(photo, mask, InpaintOptions(model=name, grow=3, feather=2))
    assert out.shape == photo.shape and out.dtype == photo.dtype
    grown = np.zeros_like(mask, bool)
    grown[97:163, 97:183] = True
    grown[247:303, 397:473] = True
    assert np.array_equal(out[~grown], photo[~grown])            # outside the grown hole: bit for bit
    for ys, xs in ((slice(110, 150), slice(110, 170)), (slice(260, 290), slice(410, 460))):
        centre = out[ys, xs].reshape(-1, 3).astype(float) / 255
        # the model's colour, shifted by colour matching toward the surroundings (same shift everywhere)
        assert centre.std(axis=0).max() < 0.02
        assert np.abs(centre.mean(axis=0) - photo[ys, xs].reshape(-1, 3).mean(axis=0) / 255).max() > 0.02


def test_grey_mask_blends_partially(tmp_path, photo):
    name = _add(migan_like(tmp_path / "m.onnx"), "migan", "blend-test")
    full = np.zeros(photo.shape[:2], np.float32)
    full[100:200, 100:200] = 1.0
    half = full * 0.5
    a = inpaint(photo, full, InpaintOptions(model=name, grow=0, feather=0)).astype(float)
    b = inpaint(photo, half, InpaintOptions(model=name, grow=0, feather=0)).astype(float)
    inside = (slice(120, 180), slice(120, 180))
    assert np.abs(b[inside] - (a[inside] + photo[inside]) / 2).max() <= 1.0


def test_alpha_and_grey_images(tmp_path, photo):
    name = _add(migan_like(tmp_path / "m.onnx"), "migan", "alpha-test")
    mask = np.zeros(photo.shape[:2], np.float32)
    mask[100:200, 100:200] = 1
    rgba = np.dstack([photo, np.full(photo.shape[:2], 77, np.uint8)])
    out = inpaint(rgba, mask, InpaintOptions(model=name))
    assert out.shape == rgba.shape and (out[..., 3] == 77).all()
    grey = photo[..., 0]
    g = inpaint(grey, mask, InpaintOptions(model=name))
    assert g.shape == grey.shape and np.array_equal(g[mask == 0][:1000], grey[mask == 0][:1000])


def test_mask_errors(tmp_path, photo):
    name = _add(migan_like(tmp_path / "m.onnx"), "migan", "err-test")
    h, w = photo.shape[:2]
    with pytest.raises(SfumatoError, match="empty"):
        inpaint(photo, np.zeros((h, w), np.float32), InpaintOptions(model=name))
    with pytest.raises(SfumatoError, match="whole image"):
        inpaint(photo, np.ones((h, w), np.float32), InpaintOptions(model=name))
    with pytest.raises(SfumatoError, match="mask is"):
        inpaint(photo, np.ones((h, w + 2), np.float32), InpaintOptions(model=name))
    some = np.zeros((h, w), np.float32)
    some[10:20, 10:20] = 1
    with pytest.raises(SfumatoError, match="not an inpainting"):
        inpaint(photo, some, InpaintOptions(model="styles"))
    with pytest.raises(SfumatoError, match="unknown model"):
        inpaint(photo, some, InpaintOptions(model="no-such-model"))


def test_cpu_sessions_plan_memory_only_for_a_fixed_size_model(tmp_path):
    """Our graphs take any size: onnxruntime's memory plans save them nothing, cost the style network
    ~0.1 s of its start and a half more peak memory, so they are off; a model of one fixed size keeps them."""
    from sfumato.runtime import sessions
    sessions.clear_sessions()
    try:
        for shipped in ("styles", "sfumato-inpaint"):
            opts = sessions.session(shipped, "cpu").get_session_options()
            assert opts.enable_mem_reuse is False and opts.enable_mem_pattern is False
        name = _add(lama_like(tmp_path / "l.onnx"), "lama", "fixed-lama")
        assert manifest.get_model(name).entry["input_size"] == [64, 64]
        opts = sessions.session(name, "cpu").get_session_options()
        assert opts.enable_mem_reuse is True and opts.enable_mem_pattern is True
    finally:
        sessions.clear_sessions()


def test_models_add_refuses_a_model_of_no_convention(tmp_path):
    path = migan_like(tmp_path / "m.onnx")
    r = run_cli("models", "add", path, "--convention", "lama", env={"SFUMATO_HOME": str(tmp_path / "h")})
    assert r.returncode == 2
    assert r.stderr.startswith("error: ") and "does not follow the lama convention" in r.stderr
    assert not (tmp_path / "h" / "models" / "m.onnx").exists()


def test_cli_inpaint_with_a_byo_model(tmp_path):
    home = {"SFUMATO_HOME": str(tmp_path / "h")}
    r = run_cli("models", "add", lama_like(tmp_path / "l.onnx"), "--convention", "lama", "--name", "cli-lama", env=home)
    assert r.returncode == 0, r.stderr
    manifest = json.loads((tmp_path / "h" / "models" / "manifest.json").read_text())["models"]["cli-lama"]
    assert manifest["kind"] == "lama" and manifest["input_size"] == [64, 64] and len(manifest["sha256"]) == 64
    from PIL import Image
    m = np.zeros((400, 600), np.uint8)
    m[150:250, 200:300] = 255
    Image.fromarray(m).save(tmp_path / "mask.png")
    out = tmp_path / "out.png"
    r = run_cli("inpaint", SAMPLES / "coffee.jpg", "--mask", tmp_path / "mask.png", "--model", "cli-lama", "-o", out,
                env=home)
    assert r.returncode == 0, r.stderr
    assert np.asarray(Image.open(out)).shape == (400, 600, 3)
    Image.fromarray(np.zeros((400, 600), np.uint8)).save(tmp_path / "empty.png")
    r = run_cli("inpaint", SAMPLES / "coffee.jpg", "--mask", tmp_path / "empty.png", "--model", "cli-lama",
                "-o", tmp_path / "out2.png", env=home)
    assert r.returncode == 2 and "empty" in r.stderr and not (tmp_path / "out2.png").exists()


def test_push_pull_prior_is_smooth_and_keeps_known_pixels(photo):
    img = photo.astype(np.float32) / 255
    known = np.ones(img.shape[:2], bool)
    known[150:250, 200:300] = False
    filled = push_pull_fill(img, known)
    assert np.array_equal(filled[known], img[known])
    hole = filled[150:250, 200:300]
    ring = img[140:260, 190:310].reshape(-1, 3)
    assert ring.min(axis=0).min() - 1e-6 <= hole.min() and hole.max() <= ring.max() + 1e-6
    assert np.abs(np.diff(hole, axis=0)).mean() < np.abs(np.diff(img, axis=0)).mean()


def test_harmonic_prior_continues_a_gradient_exactly():
    # a linear ramp is harmonic, so the exact fill of a hole inside it is the ramp itself; a pyramid fill is not
    y, x = np.mgrid[0:120, 0:160].astype(np.float32)
    img = np.stack([x / 159, y / 119, (x + y) / 278], axis=2)
    known = np.ones((120, 160), bool)
    known[30:90, 40:130] = False
    filled = harmonic_fill(img, known)
    assert np.array_equal(filled[known], img[known])
    assert np.abs(filled - img)[~known].max() < 1e-4
    assert np.abs(push_pull_fill(img, known) - img)[~known].max() > 0.01


def test_harmonic_prior_is_the_mean_of_its_neighbours_up_to_the_image_border(photo):
    img = photo.astype(np.float32) / 255
    known = np.ones(img.shape[:2], bool)
    known[:60, :90] = False          # a hole in the corner: no pixels beyond the border to fill from
    known[200:260, 100:300] = False
    filled = harmonic_fill(img, known).astype(np.float64)
    assert np.array_equal(filled[known], img[known])
    inside = np.pad(np.ones(known.shape), 1)
    padded = np.pad(filled, ((1, 1), (1, 1), (0, 0)))
    total = padded[:-2, 1:-1] + padded[2:, 1:-1] + padded[1:-1, :-2] + padded[1:-1, 2:]
    count = inside[:-2, 1:-1] + inside[2:, 1:-1] + inside[1:-1, :-2] + inside[1:-1, 2:]
    assert np.abs(total / count[..., None] - filled)[~known].max() < 1e-5
    assert img.min() <= filled.min() and filled.max() <= img.max()


def test_grow_spares_thin_regions_and_grows_thick_ones_up_to_the_setting():
    """A scratch keeps the known pixels right beside it, which are most of what it is filled from;
    a large hole grows by the setting, in proportion to its thickness."""
    from sfumato.inpainting.regions import GROW_PER_THICKNESS, grow_hole
    hole = np.zeros((300, 400), bool)
    hole[50:56, 20:380] = True      # a 6 px scratch
    hole[120:280, 100:300] = True   # a 160 x 200 box
    grown = grow_hole(hole, 8)
    assert np.array_equal(grown[40:66], hole[40:66])  # the scratch: not one pixel more
    r = min(8, int(160 * GROW_PER_THICKNESS))
    assert grown[120 - r, 200] and not grown[120 - r - 1, 200] and grown[200, 300 + r - 1] and not grown[200, 300 + r]
    assert np.array_equal(grow_hole(hole, 0), hole)


def test_the_default_settings_never_touch_a_known_pixel(photo):
    """A selection is taken as drawn: outside it, every pixel comes back bit for bit (a lasso that
    already overshoots the object would otherwise lose the pixels the fill needs most)."""
    mask = np.zeros(photo.shape[:2], np.float32)
    mask[150:250, 250:350] = 1
    mask[60:64, 20:400] = 1
    out = inpaint(photo, mask)
    assert np.array_equal(out[mask == 0], photo[mask == 0])
    assert (out[mask == 1] != photo[mask == 1]).any(axis=-1).mean() > 0.5


def test_the_network_beats_its_own_prior(photo):
    """The fill must be better than the harmonic prior the network starts from, not merely better
    than a flat colour: a broken network on top of a good prior would pass that."""
    from sfumato.inpainting.priors import harmonic_fill
    truth = photo.astype(np.float32) / 255
    gains = []
    for ys, xs in ((slice(150, 230), slice(250, 330)), (slice(40, 100), slice(60, 200)), (slice(280, 330), slice(380, 520))):
        mask = np.zeros(photo.shape[:2], np.float32)
        mask[ys, xs] = 1
        hole = mask > 0
        net = inpaint(photo, mask).astype(np.float32) / 255
        prior = harmonic_fill(truth, ~hole)
        mse = lambda a: float(((a[hole] - truth[hole]) ** 2).mean())  # noqa: E731
        gains.append(10 * np.log10(mse(prior) / mse(net)))
    assert np.mean(gains) > 1.0, gains


def test_default_model_is_shipped_with_its_training_record():
    entry = manifest.get_model("sfumato-inpaint").entry
    assert entry["task"] == "inpaint" and entry["kind"] == "sfumato-inpaint" and entry["licence"] == "Apache-2.0"
    assert entry["training"]["steps"] > 0 and entry["training"]["hours"] > 0
    assert entry["built_by"] == "python -m sfumato.export build inpaint"
    assert entry["parity_torch_vs_onnx"]["max_abs"] <= 1e-4


def test_default_model_fills_a_hole(photo):
    mask = np.zeros(photo.shape[:2], np.float32)
    mask[150:250, 250:350] = 1
    out = inpaint(photo, mask)
    assert np.array_equal(out[:140], photo[:140])
    hole = out[160:240, 260:340].astype(float)
    assert np.abs(hole - photo[160:240, 260:340]).mean() > 1  # the content changed...
    truth = photo[160:240, 260:340].astype(float)
    flat = np.abs(truth - truth.mean(axis=(0, 1))).mean()
    assert np.abs(hole - truth).mean() < flat  # ...to something closer to the photo than a flat average colour


@pytest.mark.torch
def test_default_model_matches_its_pytorch_module(photo):
    import torch
    from sfumato.export.onnx_export import run_onnx
    from sfumato.export.train_inpaint import CHECKPOINT, make_net
    net = make_net()
    from sfumato.export.train_inpaint import exported_weights
    net.load_state_dict(exported_weights(torch.load(CHECKPOINT, map_location="cpu", weights_only=False)), strict=False)
    net.eval()
    x = np.ascontiguousarray((photo[:192, :256].astype(np.float32) / 255).transpose(2, 0, 1)[None])
    m = np.zeros((1, 1, 192, 256), np.float32)
    m[..., 50:120, 80:200] = 1
    with torch.no_grad():
        ref = net(torch.from_numpy(x), torch.from_numpy(m)).numpy()
    got = run_onnx(manifest.get_model("sfumato-inpaint").path, {"image": x, "mask": m})[0]
    assert np.abs(ref - got).max() <= 1e-4


# --- detail stage: texture by PatchMatch for large holes (core/inpainting/exemplar.py) ---------------

def _energy(x):
    gy, gx = np.gradient(x.mean(axis=2))
    return float(np.sqrt(gx ** 2 + gy ** 2).mean())


def _half_textured(size=256, seed=0):
    """Left half: fine random texture around mid-grey; right half: flat light grey."""
    rng = np.random.default_rng(seed)
    img = np.full((size, size, 3), 0.8, np.float32)
    img[:, : size // 2] = 0.5 + 0.15 * rng.standard_normal((size, size // 2, 1)).astype(np.float32)
    return np.clip(img, 0, 1)


def test_patch_texture_comes_from_like_surroundings():
    from sfumato.inpainting.exemplar import complete
    img = _half_textured()
    unknown = np.zeros(img.shape[:2], bool)
    unknown[60:180, 60:200] = True          # straddles the textured and the flat half
    filled = push_pull_fill(img, ~unknown)  # smooth, like a network's fill
    out = complete(filled, img, unknown)
    assert out.dtype == np.float32 and np.array_equal(out[~unknown], filled[~unknown])
    textured, flat = (slice(65, 175), slice(62, 120)), (slice(65, 175), slice(140, 198))
    assert _energy(out[textured]) > 3 * _energy(filled[textured])
    # white noise is the worst case for voting (overlapping patches average it): a third is kept
    assert _energy(out[textured]) > 0.2 * _energy(img[textured])
    assert np.abs(out[flat] - 0.8).mean() < 0.01  # the flat side is filled from the flat side
    assert np.array_equal(complete(filled, img, unknown), out)  # the same inputs, the same fill


def test_a_repeating_pattern_is_restored_not_averaged():
    """Stripes the hole cuts through: a smooth fill greys them out; patches from beside the hole
    continue them (what the network alone cannot do)."""
    from sfumato.inpainting.exemplar import complete
    y, x = np.mgrid[0:224, 0:256]
    img = np.repeat((0.5 + 0.3 * np.sign(np.sin(2 * np.pi * x / 12)))[..., None], 3, axis=2).astype(np.float32)
    img[..., 2] = 0.5 + 0.2 * np.sin(2 * np.pi * y / 16)
    unknown = np.zeros(img.shape[:2], bool)
    unknown[60:170, 70:190] = True
    filled = push_pull_fill(img, ~unknown)
    out = complete(filled, img, unknown)
    smooth_error = np.abs(filled - img)[unknown].mean()
    assert smooth_error > 0.15
    # not exact: where the stripes continued from the left meet those from the right they can jump by a
    # stripe; but stripes they are, as contrasted as the original's, not a grey average
    assert np.abs(out - img)[unknown].mean() < 0.7 * smooth_error
    inside = (slice(65, 165), slice(75, 185))
    assert _energy(out[inside]) > 0.7 * _energy(img[inside]) > 5 * _energy(filled[inside])


def test_a_hole_thinner_than_a_large_one_keeps_the_networks_fill():
    from sfumato.inpainting.exemplar import LARGE_HOLE, complete
    img = _half_textured()
    unknown = np.zeros(img.shape[:2], bool)
    unknown[70:70 + LARGE_HOLE - 2, 10:250] = True  # a wide blob, but not a large hole: its neighbours fill it
    filled = push_pull_fill(img, ~unknown)
    assert complete(filled, img, unknown) is filled
    unknown[70:70 + LARGE_HOLE + 2, 10:250] = True
    assert not np.array_equal(complete(filled, img, unknown), filled)


def test_a_crop_larger_than_the_working_side_is_filled_in_seconds_with_texture():
    """Above WORK_SIDE px (or HOLE_BUDGET hole pixels) PatchMatch runs on a shrunk crop and its fill is
    scaled back: still textured, not a smooth blur."""
    from sfumato.inpainting.exemplar import WORK_SIDE, complete
    rng = np.random.default_rng(1)
    h, w = 300, WORK_SIDE + 400
    img = np.clip(0.5 + 0.12 * rng.standard_normal((h, w, 1)), 0, 1).repeat(3, axis=2).astype(np.float32)
    img = ndimage.gaussian_filter(img, (1.5, 1.5, 0))  # grain coarser than the shrink
    unknown = np.zeros((h, w), bool)
    unknown[80:220, 600:800] = True
    filled = push_pull_fill(img, ~unknown)
    out = complete(filled, img, unknown)
    inside = (slice(90, 210), slice(610, 790))
    assert _energy(out[inside]) > 0.4 * _energy(img[inside])
    assert _energy(out[inside]) > 4 * _energy(filled[inside])
    assert np.array_equal(out[~unknown], filled[~unknown])


def test_inpaint_detail_option(photo):
    mask = np.zeros(photo.shape[:2], np.float32)
    mask[150:250, 250:350] = 1
    smooth = inpaint(photo, mask, InpaintOptions(grow=0, feather=0, detail=0.0))
    sharp = inpaint(photo, mask, InpaintOptions(grow=0, feather=0))  # texture is the default for a large hole
    assert np.array_equal(sharp[mask == 0], photo[mask == 0])
    hole = (slice(150, 250), slice(250, 350))
    assert _energy(sharp[hole].astype(np.float32)) > 1.15 * _energy(smooth[hole].astype(np.float32))
    with pytest.raises(SfumatoError, match="detail must be between 0 and 1"):
        inpaint(photo, mask, InpaintOptions(detail=1.5))
    r = run_cli("inpaint", SAMPLES / "coffee.jpg", "--mask", SAMPLES / "coffee_spoon_mask.png", "--detail", "2")
    assert r.returncode == 2 and "--detail" in r.stderr


def test_by_default_a_thin_hole_keeps_the_networks_fill_and_a_large_one_gets_texture(photo):
    scratch = np.zeros(photo.shape[:2], np.float32)
    scratch[200:212, 40:500] = 1
    assert np.array_equal(inpaint(photo, scratch), inpaint(photo, scratch, InpaintOptions(detail=0.0)))
    box = np.zeros(photo.shape[:2], np.float32)
    box[100:260, 200:400] = 1
    hole = box > 0
    textured, smooth = inpaint(photo, box), inpaint(photo, box, InpaintOptions(detail=0.0))
    assert _energy(textured[100:260, 200:400].astype(np.float32)) > 1.5 * _energy(smooth[100:260, 200:400].astype(np.float32))
    assert np.array_equal(textured[~hole], photo[~hole])


def test_on_a_large_photo_a_blob_sized_hole_keeps_the_networks_fill():
    """Thick enough in pixels, but small beside the photo (a blob on a 1280 px photo): no texture."""
    from sfumato.inpainting.exemplar import LARGE_HOLE, LARGE_SHARE
    big = np.asarray(Image.open(SAMPLES / "coffee.jpg").convert("RGB").resize((1200, 800)))
    blob = np.zeros(big.shape[:2], np.float32)
    side = LARGE_HOLE + 20
    assert side < LARGE_SHARE * 800
    blob[300:300 + side, 500:500 + side] = 1
    assert np.array_equal(inpaint(big, blob), inpaint(big, blob, InpaintOptions(detail=0.0)))


def test_a_mask_of_thousands_of_specks_is_filled_in_a_few_model_runs(photo, monkeypatch):
    from sfumato.inpainting import models
    runs = []
    original = models.SfumatoInpaint.fill
    monkeypatch.setattr(models.SfumatoInpaint, "fill", lambda self, c, h: runs.append(1) or original(self, c, h))
    mask = (np.random.default_rng(0).random(photo.shape[:2]) < 0.05).astype(np.float32)  # ~12k specks
    out = inpaint(photo, mask)
    from sfumato.inpainting.regions import MAX_REGIONS
    assert 0 < len(runs) <= MAX_REGIONS
    assert (out[mask > 0] != photo[mask > 0]).any(axis=-1).mean() > 0.5 and np.array_equal(out[mask == 0], photo[mask == 0])


def test_thin_regions_are_filled_at_full_resolution_thick_ones_at_the_working_size():
    """A scratch across a large photo is filled from the pixels right beside it: shrinking its crop
    to the working size would blur exactly those. A large hole shrinks as before."""
    from sfumato.inpainting.regions import MAX_CROP_SIDE, working_scale
    scratch = np.zeros((700, 1200), bool)
    scratch[300:310, 50:1150] = True
    assert working_scale(scratch, 512) == 1.0
    box = np.zeros((700, 1200), bool)
    box[100:600, 200:1000] = True
    assert working_scale(box, 512) == pytest.approx(512 / 1200)
    photo_sized = np.zeros((512, 768), bool)  # a whole 768 x 512 photo's crop: filled as it is
    photo_sized[100:400, 200:600] = True
    assert working_scale(photo_sized, 512) == 1.0
    assert working_scale(np.pad(photo_sized, ((0, 0), (0, 1))), 512) == pytest.approx(512 / 769)
    long_scratch = np.zeros((100, 4000), bool)
    long_scratch[40:48] = True  # even a thin region's crop is bounded, for time and memory
    assert working_scale(long_scratch, 512) == pytest.approx(MAX_CROP_SIDE / 4000)


def test_sample_from_limits_where_a_large_holes_texture_comes_from():
    """Left half fine texture, right half flat: a hole across both takes texture from the left by
    default; told to sample only from the flat half, it comes out flat."""
    img = (_half_textured(256) * 255).astype(np.uint8)
    mask = np.zeros(img.shape[:2], np.float32)
    mask[60:180, 70:190] = 1
    inside = (slice(65, 175), slice(75, 125))  # the part of the hole on the textured side
    free = inpaint(img, mask)
    flat_side = np.zeros(mask.shape, np.float32)
    flat_side[:, 200:] = 1
    limited = inpaint(img, mask, sample_from=flat_side)
    assert _energy(limited[inside].astype(np.float32)) < 0.3 * _energy(free[inside].astype(np.float32))
    assert np.array_equal(limited[mask == 0], img[mask == 0])
    with pytest.raises(SfumatoError, match="no pixels outside the hole"):
        inpaint(img, mask, sample_from=mask)  # only the hole itself: nothing to copy from
    with pytest.raises(SfumatoError, match="'sample from' mask is 10x10"):
        inpaint(img, mask, sample_from=np.ones((10, 10), np.float32))


def test_sample_from_far_from_the_hole_widens_the_crop():
    """An area outside the region's usual crop is still used: the crop takes it in. Noise all over but
    vertical stripes in a far corner; told to sample from the stripes, the fill is striped."""
    rng = np.random.default_rng(2)
    img = np.clip(0.5 + 0.1 * rng.standard_normal((256, 900, 1)), 0, 1).repeat(3, axis=2)
    x = np.arange(800, 900)
    img[:, 800:] = (0.5 + 0.3 * np.sign(np.sin(2 * np.pi * x / 10)))[None, :, None]
    img = (img * 255).astype(np.uint8)
    mask = np.zeros(img.shape[:2], np.float32)
    mask[60:200, 40:180] = 1
    area = np.zeros(mask.shape, np.float32)
    area[:, 800:] = 1  # beyond the region's own crop (~140 px of margin)

    def striped(a):  # across the stripes vs along them
        gy, gx = np.gradient(a[70:190, 50:170].astype(np.float32).mean(axis=2))
        return np.abs(gx).mean() / np.abs(gy).mean()
    assert striped(inpaint(img, mask)) < 1.5
    assert striped(inpaint(img, mask, sample_from=area)) > 3
