import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "core" / "samples"
SHARED = ROOT.parent / "shared" / "data"


# In CI every test runs: a skip there means a dependency went missing (torch, GIMP), so it fails.
# Only the CUDA tests may skip: CI machines have no GPU (bench/gpu_check.sh runs them on one).
@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("CI") and report.skipped and item.get_closest_marker("cuda") is None:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome, report.longrepr = "failed", f"skipped in CI, where it must run: {reason}"


@pytest.fixture(autouse=True)
def _isolated_user_dir(tmp_path, monkeypatch):
    """Each test gets its own user models folder, so nothing leaks between tests or from the machine."""
    monkeypatch.setenv("SFUMATO_HOME", str(tmp_path / "sfumato-home"))


@pytest.fixture(scope="session")
def photo() -> np.ndarray:
    from sfumato.imageio import read_image
    return read_image(SAMPLES / "coffee.jpg")


@pytest.fixture(scope="session")
def painting() -> np.ndarray:
    from sfumato.imageio import read_image
    return read_image(SAMPLES / "starry_night.jpg")


def run_cli(*args, cwd=None, env=None):
    e = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "sfumato", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd or ROOT, env=e, timeout=600)


def build_wheel(folder: Path) -> Path:
    """This tree as a wheel (no dependencies, no build isolation: offline), in `folder`."""
    subprocess.run(["rm", "-rf", str(ROOT / "build")])  # setuptools' build folder: a stale one would leak in
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation", "-q",
                        "-w", str(folder)], capture_output=True, text=True, timeout=300, cwd=folder,
                       env={**os.environ, "PIP_NO_INPUT": "1"})
    subprocess.run(["rm", "-rf", str(ROOT / "build")])
    assert r.returncode == 0, r.stderr[-2000:]
    return next(folder.glob("sfumato-*.whl"))


def install_wheel(wheel: Path, target: Path) -> Path:
    """The wheel pip-installed into a folder of its own (put it on PYTHONPATH to use it)."""
    r = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    return target
