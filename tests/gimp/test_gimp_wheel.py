"""The plug-in inside a real GIMP 3 with Sfumato installed from its wheel, not from this source tree:
`pip install` of the wheel into a folder of its own, `python -m sfumato gimp install` run from it, and
the worker that GIMP's plug-in starts importing that copy (its log says from where)."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import ROOT, SAMPLES, build_wheel, install_wheel
from tests.gimp import harness
from tests.gimp.test_gimp_plugin import _load, _mask

pytestmark = pytest.mark.gimp

CASES = [{"id": "wheel_stylize", "proc": "sfumato-stylize", "image": str(SAMPLES / "coffee.jpg"),
          "selection": "ellipse:150,100,300,200", "feather": 30, "args": {"style": "crimson"}},
         {"id": "wheel_fill", "proc": "sfumato-fill-selection", "image": str(SAMPLES / "coffee.jpg"),
          "selection": "ellipse:250,150,80,60", "feather": 6, "args": {}}]


@pytest.fixture(scope="module")
def wheel_run(tmp_path_factory):
    harness.require()
    out = tmp_path_factory.mktemp("gimp-wheel")
    site = install_wheel(build_wheel(out), out / "site")
    env = {**os.environ, "PYTHONPATH": str(site)}
    r = subprocess.run([sys.executable, "-m", "sfumato", "gimp", "install", "--gimp-dir", str(harness.PROFILE)],
                       capture_output=True, text=True, timeout=120, env=env, cwd=out)
    assert r.returncode == 0, r.stderr
    # the plug-in starts the configured Python without GIMP's PYTHON* variables; this one has the
    # wheel's folder on its path, so the worker imports that copy and never this source tree
    python = out / "python-with-wheel"
    python.write_text(f"#!/bin/sh\nPYTHONPATH={site} exec {sys.executable} \"$@\"\n")
    python.chmod(0o755)
    config_path = harness.PROFILE / "plug-ins" / "sfumato" / "sfumato-config.json"
    config = json.loads(config_path.read_text())
    config_path.write_text(json.dumps({**config, "python": str(python)}))
    harness.stop_worker()
    harness.reset_worker_log()
    try:
        records, log = harness.run_cases(CASES, out)
        worker_log = harness.worker_log()
    finally:
        harness.stop_worker()
        harness.install_plugin()  # back to this tree's plug-in for the other tests
    yield {r["id"]: r for r in records}, out, log, worker_log, site


def test_the_plugin_from_the_wheel_runs_the_wheels_worker(wheel_run):
    records, out, log, worker_log, site = wheel_run
    assert f"from {site / 'sfumato'}" in worker_log, worker_log[-2000:]
    assert str(ROOT / "core") not in worker_log


@pytest.mark.parametrize("cid", [c["id"] for c in CASES])
def test_the_wheels_worker_gives_the_source_trees_pixels(wheel_run, cid):
    records, out, log, _, _ = wheel_run
    rec = records[cid]
    assert rec["status"] == "success", f"{rec}\n{log[-3000:]}"
    before, result, mask = _load(out, rec, "before"), _load(out, rec, "result"), _mask(out, rec)
    case = next(c for c in CASES if c["id"] == cid)
    if case["proc"] == "sfumato-fill-selection":
        from sfumato.inpainting.pipeline import InpaintOptions, inpaint
        want = inpaint(before, mask, InpaintOptions(device="cpu"))
    else:
        from sfumato.styling.pipeline import StylizeOptions, stylize
        want = stylize(before, StylizeOptions(style="crimson", device="cpu"), mask=mask)
    assert np.array_equal(result, want)
