"""The inpainting training: masks of every kind, the photo/texture mix, determinism and resume."""
import argparse
import random

import numpy as np
import pytest
from PIL import Image

pytestmark = pytest.mark.torch
import torch  # noqa: E402  (the export extra; a missing torch must fail, not skip)

from sfumato.export import inpaint_masks, train_inpaint  # noqa: E402
from sfumato.export.prepare_data import NOT_A_PHOTO, held_out, opaque_rgb  # noqa: E402


@pytest.mark.parametrize("kind,lo,hi", [("strokes", 0.003, 0.15), ("blobs", 0.01, 0.3), ("box", 0.1, 0.45),
                                        ("object", 0.05, 0.35), ("thick", 0.08, 0.4)])
def test_masks_of_each_kind_cover_what_users_draw(kind, lo, hi):
    rng = random.Random(0)
    areas = [inpaint_masks.random_mask(160, rng, kind).mean() for _ in range(50)]
    assert lo < np.median(areas) < hi


def test_prepare_keeps_photos_and_leaves_out_maps_and_cut_outs(tmp_path):
    assert NOT_A_PHOTO.search("wall01_nm") and NOT_A_PHOTO.search("metal_spec") and not NOT_A_PHOTO.search("brick01")
    cut_out = np.zeros((40, 40, 4), np.uint8)
    cut_out[10:30, 10:30] = 255
    Image.fromarray(cut_out).save(tmp_path / "cut.png")
    opaque = np.full((40, 40, 4), 200, np.uint8)
    opaque[..., 3] = 255
    Image.fromarray(opaque).save(tmp_path / "opaque.png")
    assert opaque_rgb(tmp_path / "cut.png") is None
    assert opaque_rgb(tmp_path / "opaque.png").mode == "RGB"
    assert opaque_rgb(tmp_path / "missing.png") is None
    share = np.mean([held_out(f"photo-{i}") for i in range(2000)])
    assert 0.07 < share < 0.13 and held_out("photo-7") == held_out("photo-7")


def test_a_photo_with_a_twin_in_training_is_never_held_out():
    from sfumato.export.prepare_data import HAS_A_TRAINING_TWIN, every_tenth
    by_hash = [k for k in HAS_A_TRAINING_TWIN if every_tenth(k)]
    assert sorted(by_hash) == sorted(HAS_A_TRAINING_TWIN)  # the hash alone would hold each one out
    assert not any(held_out(k) for k in HAS_A_TRAINING_TWIN)


def _qt_resource_bundle(files: dict[str, tuple[bytes, bool]]) -> bytes:
    """A version-1 .rcc with one folder `photos` holding `files` (name -> (bytes, zlib-compress))."""
    import struct
    import zlib
    names, data, entries = b"", b"", []

    def add_name(n):
        nonlocal names
        offset = len(names)
        names += struct.pack(">HI", len(n), 0) + n.encode("utf-16-be")
        return offset

    entries.append(struct.pack(">IHII", 0, 2, 1, 1))                    # root: 1 child at index 1
    entries.append(struct.pack(">IHII", add_name("photos"), 2, len(files), 2))
    for name, (blob, compress) in files.items():
        stored = struct.pack(">I", len(blob)) + zlib.compress(blob) if compress else blob
        entries.append(struct.pack(">IHHHI", add_name(name), int(compress), 0, 0, len(data)))
        data += struct.pack(">I", len(stored)) + stored
    tree = b"".join(entries)
    return b"qres" + struct.pack(">IIII", 1, 20, 20 + len(tree), 20 + len(tree) + len(data)) + tree + data + names


def test_qt_resource_bundles_are_read_file_by_file():
    """GCompris keeps its photos inside Qt resource bundles; prepare reads them without Qt."""
    from sfumato.export.prepare_data import rcc_files
    jpeg, png = b"\xff\xd8\xff fake jpeg", b"\x89PNG fake png" * 50
    bundle = _qt_resource_bundle({"cheetah.jpg": (jpeg, False), "pyramid.png": (png, True)})
    assert list(rcc_files(bundle)) == [("/photos/cheetah.jpg", jpeg), ("/photos/pyramid.png", png)]
    with pytest.raises(ValueError, match="not a Qt resource"):
        list(rcc_files(b"PK\x03\x04 a zip"))


def test_crops_of_small_photos_are_never_upscaled(tmp_path):
    """A crop smaller than the training size would be enlarged, i.e. blurred: crops take at least
    `size` pixels of the photo. A vertical ramp of 4 levels per row shows how many rows a crop took."""
    ramp = np.repeat((np.arange(64, dtype=np.uint8) * 4)[:, None, None], 64, axis=1).repeat(3, axis=2)
    Image.fromarray(ramp).save(tmp_path / "ramp.png")
    data = train_inpaint.Batches(train_inpaint.list_photos([tmp_path]), 32, random.Random(0))
    spans = [np.ptp(data.crop()[:, :, 0]) * 255 for _ in range(300)]
    assert min(spans) >= 0.9 * 4 * 31  # >= 32 source rows in every crop
    assert max(spans) > 4 * 50  # and larger crops still happen


def test_images_smaller_than_a_crop_are_left_out(tmp_path):
    """At a larger --size, a photo that would have to be enlarged (blurred) is not trained on; when no
    image is large enough, the run stops with a message that says what to do."""
    Image.fromarray(np.zeros((40, 60, 3), np.uint8)).save(tmp_path / "small.png")
    Image.fromarray(np.full((64, 64, 3), 255, np.uint8)).save(tmp_path / "large.png")
    files = train_inpaint.list_photos([tmp_path])
    data = train_inpaint.Batches(files, 48, random.Random(0))
    assert len(data.photos) == 1 and all(data.crop().min() == 1.0 for _ in range(20))
    assert len(train_inpaint.Batches(files, 40, random.Random(0)).photos) == 2
    with pytest.raises(SystemExit, match="smaller --size"):
        train_inpaint.Batches(files, 80, random.Random(0))


def test_batches_mix_textures_and_photos_in_the_asked_share(tmp_path):
    (tmp_path / "textures").mkdir()
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(tmp_path / "textures" / "t.jpg")
    Image.fromarray(np.full((64, 64, 3), 255, np.uint8)).save(tmp_path / "p.jpg")
    data = train_inpaint.Batches(train_inpaint.list_photos([tmp_path]), 32, random.Random(0), texture_share=0.25)
    assert data.photos[0].dtype == np.uint8 and len(data.photos) == len(data.textures) == 1
    dark = np.mean([data.crop().mean() < 0.5 for _ in range(400)])
    assert 0.18 < dark < 0.32
    truth, prior, mask = data.next(3)
    assert truth.shape == prior.shape == (3, 3, 32, 32) and mask.shape == (3, 1, 32, 32)


def _train(tmp_path, photos, name, steps, resume=False):
    p = argparse.ArgumentParser()
    train_inpaint.add_arguments(p)
    args = p.parse_args(["--photos", str(photos), "--size", "64", "--batch", "2", "--steps", str(steps),
                         "--threads", "1", "--checkpoint", str(tmp_path / name)] + (["--resume"] if resume else []))
    train_inpaint.train(args)
    return torch.load(tmp_path / name, weights_only=False)


def test_training_is_deterministic_and_resumes_where_it_stopped(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray(rng.integers(0, 255, (96, 128, 3), dtype=np.uint8)).save(photos / f"{i}.png")
    straight = _train(tmp_path, photos, "a.pt", 3)
    again = _train(tmp_path, photos, "b.pt", 3)
    _train(tmp_path, photos, "c.pt", 1)
    resumed = _train(tmp_path, photos, "c.pt", 3, resume=True)
    assert straight["step"] == resumed["step"] == 3 and resumed["data"] == {"photos": 3, "textures": 0}
    for key, value in straight["decoder"].items():
        assert torch.equal(value, again["decoder"][key]), key
        assert torch.allclose(value, resumed["decoder"][key], atol=1e-6), key
    torch.manual_seed(0)  # the seed train() starts from: the same initial weights
    initial = train_inpaint.trainable(train_inpaint.make_net())
    assert not all(torch.equal(v, initial[k]) for k, v in straight["decoder"].items())  # it did train


def test_a_stop_signal_ends_training_with_a_checkpoint(tmp_path, monkeypatch):
    """`kill` (SIGTERM) or Ctrl-C mid-run finishes the current step and saves, instead of losing
    the work since the last periodic save; the caller's signal handlers are put back."""
    import signal
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (96, 128, 3), dtype=np.uint8)).save(photos / "0.png")
    calls = []
    original = train_inpaint.Batches.next

    def next_then_signal(self, n):
        calls.append(n)
        if len(calls) == 2:
            signal.raise_signal(signal.SIGTERM)
        return original(self, n)

    monkeypatch.setattr(train_inpaint.Batches, "next", next_then_signal)
    before = signal.getsignal(signal.SIGTERM)
    saved = _train(tmp_path, photos, "stopped.pt", 1000)
    assert saved["step"] == 2 and len(calls) == 2
    assert signal.getsignal(signal.SIGTERM) is before


def test_about_half_the_training_masks_are_large():
    rng = random.Random(0)
    areas = np.array([inpaint_masks.random_mask(160, rng).mean() for _ in range(400)])
    assert 0.4 < (areas > 0.1).mean() < 0.65  # box, thick strokes, silhouettes


def test_the_evaluation_masks_are_not_the_training_generator():
    """bench/eval_masks.py is for held-out scoring: nothing under export/ may import it."""
    from tests.conftest import ROOT
    for path in (ROOT / "export").rglob("*.py"):
        assert "eval_masks" not in path.read_text(), path


def test_fourier_transform_as_matrix_products_matches_torch_fft():
    from sfumato.export.nets.inpaint_net import dft2, idft2_real
    x = torch.randn(2, 3, 12, 20, dtype=torch.float64)
    re, im = dft2(x)
    ref = torch.fft.fft2(x, norm="ortho")
    assert torch.allclose(re, ref.real, atol=1e-9) and torch.allclose(im, ref.imag, atol=1e-9)
    assert torch.allclose(idft2_real(re, im), x, atol=1e-9)
    spectrum = torch.complex(torch.randn(1, 2, 8, 10, dtype=torch.float64), torch.randn(1, 2, 8, 10, dtype=torch.float64))
    assert torch.allclose(idft2_real(spectrum.real, spectrum.imag), torch.fft.ifft2(spectrum, norm="ortho").real, atol=1e-9)


def test_fourier_blocks_reach_across_the_whole_picture_and_start_as_the_identity():
    from sfumato.export.nets.inpaint_net import FourierBlock
    torch.manual_seed(0)
    block = FourierBlock(8)
    x = torch.randn(1, 8, 16, 16)
    assert torch.equal(block(x), x)  # zero-initialised merge: a checkpoint without it resumes unchanged
    torch.nn.init.normal_(block.merge.weight)
    x.requires_grad_(True)
    block(x)[0, :, 0, 0].sum().backward()
    assert (x.grad[0, :, 15, 15].abs() > 0).all()  # the far corner influences the first pixel: a global field


def test_adversarial_training_runs_and_resumes_the_discriminator(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    rng = np.random.default_rng(0)
    for i in range(2):
        Image.fromarray(rng.integers(0, 255, (96, 128, 3), dtype=np.uint8)).save(photos / f"{i}.png")
    p = argparse.ArgumentParser()
    train_inpaint.add_arguments(p)
    base = ["--photos", str(photos), "--size", "64", "--batch", "2", "--threads", "1", "--adversarial", "0.1",
            "--checkpoint", str(tmp_path / "adv.pt")]
    train_inpaint.train(p.parse_args(base + ["--steps", "4"]))  # R1 runs at step 0 (every 4th step)
    first = torch.load(tmp_path / "adv.pt", weights_only=False)
    train_inpaint.train(p.parse_args(base + ["--steps", "6", "--resume"]))
    second = torch.load(tmp_path / "adv.pt", weights_only=False)
    assert second["step"] == 6 and second["losses"]["adversarial"] == 0.1
    assert any(not torch.equal(v, second["discriminator"][k]) for k, v in first["discriminator"].items())
    assert all(torch.isfinite(v).all() for v in second["ema"].values())
    assert any(not torch.equal(v, second["decoder"][k]) for k, v in second["ema"].items()
               if v.dtype.is_floating_point)  # the moving average lags the weights
