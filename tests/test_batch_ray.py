"""`--ray`: a batch on a real local Ray (Ray Data, an actor pool) writes what the single-process
batch writes, bit for bit, and reports a bad file the same way."""
import shutil

import pytest

from tests.conftest import SAMPLES, run_cli

pytest.importorskip("ray.data", reason="needs the ray extra: pip install -e '.[ray]'")


@pytest.fixture()
def folder(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    for i in range(3):
        shutil.copy(SAMPLES / "coffee.jpg", src / f"photo{i}.jpg")
    shutil.copy(SAMPLES / "starry_night.jpg", src / "painting.jpg")
    (src / "broken.jpg").write_bytes(b"not a picture")
    masks = tmp_path / "masks"
    masks.mkdir()
    for i in range(3):
        shutil.copy(SAMPLES / "coffee_spoon_mask.png", masks / f"photo{i}.png")
    return tmp_path


@pytest.mark.parametrize("command", [["stylize", "--style", "starry-blue:0.5,3:0.5", "--strength", "0.8"],
                                     ["inpaint", "--mask-dir", "MASKS"]])
def test_ray_batch_equals_the_local_batch(folder, command):
    command = [str(folder / "masks") if c == "MASKS" else c for c in command]
    local = run_cli(command[0], folder / "in", "-o", folder / "local", *command[1:])
    on_ray = run_cli(command[0], folder / "in", "-o", folder / "ray", *command[1:], "--ray", "--jobs", "2",
                     env={"RAY_USAGE_STATS_ENABLED": "0"})
    assert local.returncode == on_ray.returncode == 1, on_ray.stderr[-3000:]  # the broken file (and, inpainting, the painting without a mask)
    written = sorted(p.name for p in (folder / "local").iterdir())
    assert written == sorted(p.name for p in (folder / "ray").iterdir()) and len(written) >= 3
    for name in written:
        assert (folder / "ray" / name).read_bytes() == (folder / "local" / name).read_bytes(), name
    assert f"error: {folder / 'in' / 'broken.jpg'}:" in on_ray.stderr
    assert "1 failed" in on_ray.stdout or "2 failed" in on_ray.stdout
