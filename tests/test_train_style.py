"""Training a new named style (issue: train a style from any painting on this CPU)."""
import json
import os

import numpy as np
import pytest

import torch  # noqa: E402  (the export extra; a missing torch must fail, not skip)
pytestmark = pytest.mark.torch

from tests.conftest import SAMPLES, run_cli  # noqa: E402

TINY = ["--steps", "30", "--size", "64", "--batch", "2", "--style-size", "128", "--lr", "0.05", "--save-every", "10"]


def train(home, *args):
    import subprocess
    import sys
    env = {**os.environ, "SFUMATO_HOME": str(home), "HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "sfumato.export", "train", "style", *map(str, args)], capture_output=True,
                          text=True, env=env, timeout=600, cwd=SAMPLES.parent.parent)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    profile = home / ".config" / "GIMP" / "3.0"
    r = run_cli("gimp", "install", "--gimp-dir", profile, env={"SFUMATO_HOME": str(home), "HOME": str(home)})
    assert r.returncode == 0, r.stderr
    r = train(home, "--style-image", SAMPLES / "starry_night.jpg", "--name", "tiny-test", *TINY,
              "--checkpoint-dir", home / "ckpt")
    assert r.returncode == 0, r.stderr[-3000:]
    return home


def test_short_training_lowers_the_style_loss(trained):
    meta = json.loads((trained / "styles" / "tiny-test.json").read_text())
    t = meta["training"]
    assert t["steps"] == 30 and t["loss_net"] == "efficientnet"
    assert t["style_loss_last10"] < 0.8 * t["style_loss_first10"]


def test_new_style_round_trips_through_the_manifest(trained, tmp_path):
    env = {"SFUMATO_HOME": str(trained)}
    r = run_cli("styles", env=env)
    assert r.returncode == 0 and "tiny-test" in r.stdout
    manifest = json.loads((trained / "models" / "manifest.json").read_text())["models"]["styles"]
    new = manifest["styles"][-1]
    assert new["name"] == "tiny-test" and new["index"] == len(manifest["styles"]) - 1
    assert manifest["parity_torch_vs_onnx"]["max_abs"] <= 1e-4
    assert run_cli("models", "--verify", env=env).returncode == 0
    out_new, out_old = tmp_path / "new.png", tmp_path / "old.png"
    assert run_cli("stylize", SAMPLES / "coffee.jpg", "--style", "tiny-test", "-o", out_new, env=env).returncode == 0
    assert run_cli("stylize", SAMPLES / "coffee.jpg", "--style", str(new["index"]), "-o", out_old,
                   env=env).returncode == 0
    from PIL import Image
    assert np.array_equal(np.asarray(Image.open(out_new)), np.asarray(Image.open(out_old)))  # name == index alias
    # the 26 imported styles are unchanged by the new row
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    run_cli("stylize", SAMPLES / "coffee.jpg", "--style", "crimson", "-o", a, env=env)
    run_cli("stylize", SAMPLES / "coffee.jpg", "--style", "crimson", "-o", b)
    assert np.abs(np.asarray(Image.open(a)).astype(int) - np.asarray(Image.open(b))).max() <= 1


def test_exported_table_matches_the_pytorch_module(trained, monkeypatch):
    monkeypatch.setenv("SFUMATO_HOME", str(trained))
    from sfumato.export.nets.norm import stats_size
    from sfumato.export.onnx_export import run_onnx
    from sfumato.export.style_table import SHIPPED_STYLES, assemble, user_styles_dir
    net, styles = assemble([SHIPPED_STYLES, user_styles_dir()])
    x = np.random.default_rng(0).random((1, 3, 64, 96), dtype=np.float32)
    w = np.zeros(net.n_styles, np.float32)
    w[-1] = 1
    feeds = {"image": x, "style_weights": w, "norm_stats": np.zeros(stats_size(net), np.float32),
             "stats_mix": np.zeros(1, np.float32)}
    with torch.no_grad():
        ref = net(*[torch.from_numpy(v) for v in feeds.values()])[0].numpy()
    got = run_onnx(trained / "models" / "styles.onnx", feeds)[0]
    assert np.abs(ref - got).max() <= 1e-4


def test_the_gimp_dialog_offers_the_new_style(trained):
    cfg = json.loads((trained / ".config" / "GIMP" / "3.0" / "plug-ins" / "sfumato" / "sfumato-config.json").read_text())
    assert "tiny-test" in cfg["styles"]


def test_resume_continues_where_it_stopped_and_seed_makes_it_repeatable(tmp_path):
    args = ["--style-image", SAMPLES / "starry_night.jpg", "--size", "64", "--batch", "2", "--style-size", "128",
            "--save-every", "5", "--checkpoint-dir", tmp_path / "ckpt"]
    r = train(tmp_path / "a", "--name", "resume-me", "--steps", "10", *args)
    assert r.returncode == 0, r.stderr[-2000:]
    r = train(tmp_path / "a", "--name", "resume-me", "--steps", "20", "--resume", *args)
    assert r.returncode == 0 and "resumed resume-me at step 10" in r.stdout + r.stderr
    meta = json.loads((tmp_path / "a" / "styles" / "resume-me.json").read_text())
    assert meta["training"]["steps"] == 20
    r = train(tmp_path / "b", "--name", "resume-me", "--steps", "20", *args, "--checkpoint-dir", tmp_path / "ckpt2")
    assert r.returncode == 0
    with np.load(tmp_path / "a" / "styles" / "resume-me.npz") as a, np.load(tmp_path / "b" / "styles" / "resume-me.npz") as b:
        assert all(np.allclose(a[k], b[k], atol=1e-5) for k in a.files)


@pytest.mark.parametrize("case,message", [
    ("missing", "not found"), ("unreadable", "not a readable image"), ("clash", "already exists"),
    ("bad-name", "lowercase")])
def test_bad_input_exit_2_with_a_clear_message(tmp_path, case, message):
    painting, name = SAMPLES / "starry_night.jpg", "fine-name"
    if case == "missing":
        painting = tmp_path / "nope.jpg"
    elif case == "unreadable":
        painting = tmp_path / "junk.jpg"
        painting.write_text("junk")
    elif case == "clash":
        name = "starry-blue"
    elif case == "bad-name":
        name = "Bad Name!"
    r = train(tmp_path, "--style-image", painting, "--name", name, "--steps", "2")
    assert r.returncode == 2, r.stderr[-2000:]
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]


def test_full_fine_tuning_makes_a_model_of_its_own(tmp_path):
    home = tmp_path / "home"
    r = train(home, "--style-image", SAMPLES / "starry_night.jpg", "--name", "full-test", "--full", "--steps", "6",
              "--size", "64", "--batch", "2", "--style-size", "128", "--checkpoint-dir", tmp_path / "ckpt")
    assert r.returncode == 0, r.stderr[-2000:]
    manifest = json.loads((home / "models" / "manifest.json").read_text())["models"]
    entry = manifest["style-full-test"]
    assert entry["kind"] == "cin" and entry["styles"][0]["name"] == "full-test"
    assert entry["parity_torch_vs_onnx"]["max_abs"] <= 1e-4
    assert "styles" not in manifest  # the table is untouched: no user table was written
    env = {"SFUMATO_HOME": str(home)}
    listed = run_cli("styles", env=env)
    assert listed.returncode == 0 and "full-test" in listed.stdout
    out = tmp_path / "out.png"
    assert run_cli("stylize", SAMPLES / "coffee.jpg", "--style", "full-test", "-o", out, env=env).returncode == 0
    r = run_cli("stylize", SAMPLES / "coffee.jpg", "--style", "full-test:0.5,crimson:0.5", "-o", out, env=env)
    assert r.returncode == 2 and "same table" in r.stderr
