import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "core" / "samples"
SHARED = ROOT.parent / "shared" / "data"


@pytest.fixture(autouse=True)
def _isolated_user_dir(tmp_path, monkeypatch):
    """Each test gets its own user models folder, so nothing leaks between tests or from the machine."""
    monkeypatch.setenv("SFUMATO_HOME", str(tmp_path / "sfumato-home"))


@pytest.fixture(scope="session")
def photo() -> np.ndarray:
    from core.imageio import read_image
    return read_image(SAMPLES / "coffee.jpg")


@pytest.fixture(scope="session")
def painting() -> np.ndarray:
    from core.imageio import read_image
    return read_image(SAMPLES / "starry_night.jpg")


def run_cli(*args, cwd=None, env=None):
    e = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "core", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd or ROOT, env=e, timeout=600)
