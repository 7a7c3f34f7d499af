import os
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
from PIL import Image

from tests.conftest import ROOT, SAMPLES, run_cli


def _one_error_line(result):
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def test_stylize_writes_the_output(tmp_path):
    out = tmp_path / "out.png"
    r = run_cli("stylize", SAMPLES / "coffee.jpg", "--style", "starry-blue", "-o", out)
    assert r.returncode == 0, r.stderr
    img = np.asarray(Image.open(out))
    assert img.shape == (400, 600, 3)
    assert [p.name for p in tmp_path.iterdir() if p.name != "sfumato-home"] == ["out.png"]  # the user folder holds the graph cache


def test_every_option_together(tmp_path):
    mask = tmp_path / "mask.png"
    m = np.zeros((400, 600), np.uint8)
    m[50:350, 100:500] = 255
    Image.fromarray(m).save(mask)
    out = tmp_path / "out.png"
    r = run_cli("stylize", SAMPLES / "coffee.jpg", "--style", "starry-blue:0.6,crimson:0.4", "--strength", "0.8",
                "--preserve-colors", "--scale", "1.5", "--mask", mask, "--device", "cpu", "-o", out)
    assert r.returncode == 0, r.stderr
    before = np.asarray(Image.open(SAMPLES / "coffee.jpg"))
    after = np.asarray(Image.open(out))
    assert np.array_equal(after[m == 0], before[m == 0])
    assert np.abs(after[m == 255].astype(int) - before[m == 255]).mean() > 5


def test_style_image_and_default_output_name(tmp_path):
    src = tmp_path / "photo.jpg"
    src.write_bytes((SAMPLES / "coffee.jpg").read_bytes())
    r = run_cli("stylize", src, "--style-image", SAMPLES / "starry_night.jpg")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "photo_stylized.png").exists()


@pytest.mark.parametrize("case", ["missing", "junk", "tiny", "unknown-style", "bad-mask", "missing-style-image",
                                  "bad-output-folder"])
def test_bad_input_exit_2_one_line_nothing_written(tmp_path, case):
    out = tmp_path / "out.png"
    src = SAMPLES / "coffee.jpg"
    extra = ["--style", "starry-blue"]
    if case == "missing":
        src = tmp_path / "nope.jpg"
    elif case == "junk":
        src = tmp_path / "junk.jpg"
        src.write_text("not an image")
    elif case == "tiny":
        src = tmp_path / "tiny.png"
        Image.new("RGB", (16, 16)).save(src)
    elif case == "unknown-style":
        extra = ["--style", "mona-lisa"]
    elif case == "bad-mask":
        mask = tmp_path / "mask.png"
        Image.new("L", (10, 400)).save(mask)
        extra += ["--mask", mask]
    elif case == "missing-style-image":
        extra = ["--style-image", tmp_path / "nope.jpg"]
    elif case == "bad-output-folder":
        out = tmp_path / "no" / "such" / "out.png"
    line = _one_error_line(run_cli("stylize", src, *extra, "-o", out))
    assert len(line) < 300
    written = [p for p in tmp_path.rglob("*") if p.name.startswith("out") or p.suffix == ".part"]
    assert written == []


def test_cuda_request_without_cuda_is_a_clear_error(tmp_path):
    from sfumato.runtime import sessions
    works, why = sessions.cuda_status()
    if works:
        pytest.skip("CUDA works here")
    line = _one_error_line(run_cli("stylize", SAMPLES / "coffee.jpg", "--style", "crimson", "--device", "cuda",
                                   "-o", tmp_path / "out.png"))
    assert line.startswith("error: --device cuda: ") and why in line  # the actual reason, not only the help text
    assert not (tmp_path / "out.png").exists()


def test_device_auto_uses_cuda_exactly_when_it_works(monkeypatch):
    from sfumato import errors
    from sfumato.runtime import sessions
    monkeypatch.setattr(sessions, "cuda_status", lambda: (True, "CUDA works"))
    assert sessions.providers_for("auto") == ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert sessions.providers_for("cuda")[0] == "CUDAExecutionProvider"
    monkeypatch.setattr(sessions, "cuda_status", lambda: (False, "no NVIDIA driver is loaded on this machine"))
    assert sessions.providers_for("auto") == ["CPUExecutionProvider"]
    with pytest.raises(errors.SfumatoError, match="--device cuda: no NVIDIA driver is loaded"):
        sessions.providers_for("cuda")
    assert sessions.providers_for("cpu") == ["CPUExecutionProvider"]


def test_no_cuda_session_is_tried_without_an_nvidia_driver(monkeypatch):
    """Starting a CUDA session to find out costs ~0.25 s; without a driver it cannot work."""
    import onnxruntime
    from sfumato.runtime import sessions
    monkeypatch.setattr(sessions, "nvidia_driver_present", lambda: False)
    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"])
    monkeypatch.setattr(onnxruntime, "InferenceSession", lambda *a, **k: pytest.fail("a session was created"))
    sessions.cuda_status.cache_clear()
    try:
        assert sessions.cuda_status() == (False, "no NVIDIA driver is loaded on this machine")
    finally:
        sessions.cuda_status.cache_clear()


def test_sessions_start_from_a_cached_optimised_graph(tmp_path):
    from sfumato.runtime import manifest, sessions
    from sfumato.styling.pipeline import StylizeOptions, stylize
    img = np.asarray(Image.open(SAMPLES / "coffee.jpg").convert("RGB"))[:128, :128]
    sessions.clear_sessions()
    first = stylize(img, StylizeOptions(style="crimson", device="cpu"))
    cached = sessions.optimized_graph_path(manifest.get_model("styles"), "CPUExecutionProvider")
    assert cached.exists() and cached.is_relative_to(tmp_path)  # in this test's user folder
    sessions.clear_sessions()
    assert np.array_equal(stylize(img, StylizeOptions(style="crimson", device="cpu")), first)
    cached.write_bytes(b"damaged")  # a damaged cache entry is rebuilt, not an error
    sessions.clear_sessions()
    assert np.array_equal(stylize(img, StylizeOptions(style="crimson", device="cpu")), first)
    assert cached.stat().st_size > 1000
    sessions.clear_sessions()


def test_styles_lists_names_and_writes_a_sheet(tmp_path):
    r = run_cli("styles", "--sheet", tmp_path / "sheet.png")
    assert r.returncode == 0, r.stderr
    assert "starry-blue" in r.stdout and "ink-comic" in r.stdout
    sheet = np.asarray(Image.open(tmp_path / "sheet.png"))
    assert sheet.shape[0] > 800 and sheet.shape[1] > 1000


def test_models_verify_and_tamper_detection(tmp_path):
    r = run_cli("models", "--verify")
    assert r.returncode == 0, r.stderr
    assert "styles " in r.stdout and "Apache-2.0" in r.stdout and r.stdout.count("verified") >= 3
    # a user model whose file does not match its manifest sha256
    import json
    home = tmp_path / "home"
    (home / "models").mkdir(parents=True)
    (home / "models" / "broken.onnx").write_bytes(b"not the model")
    (home / "models" / "manifest.json").write_text(json.dumps({"models": {"broken": {
        "file": "broken.onnx", "task": "stylize", "licence": "MIT", "sha256": "0" * 64, "bytes": 13}}}))
    r = run_cli("models", "--verify", env={"SFUMATO_HOME": str(home)})
    assert "broken" in _one_error_line(r)


@pytest.mark.parametrize("model,command", [
    ("styles", ["stylize", SAMPLES / "coffee.jpg", "--style", "crimson"]),
    ("sfumato-inpaint", ["inpaint", SAMPLES / "coffee.jpg", "--mask", SAMPLES / "coffee_spoon_mask.png"]),
])
def test_a_damaged_model_file_is_one_error_naming_it(tmp_path, model, command):
    """A model whose bytes no longer match its sha256 (a bad download, a disk error) is refused
    before it runs: exit 2, one line with the file and both hashes' beginnings, nothing written."""
    import json
    from sfumato.runtime import manifest
    home = tmp_path / "home"
    (home / "models").mkdir(parents=True)
    shipped = manifest.get_model(model)
    data = bytearray(shipped.path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte
    (home / "models" / shipped.path.name).write_bytes(bytes(data))
    (home / "models" / "manifest.json").write_text(json.dumps({"models": {model: shipped.entry}}))
    out = tmp_path / "out.png"
    line = _one_error_line(run_cli(*command, "-o", out, env={"SFUMATO_HOME": str(home)}))
    assert str(home / "models" / shipped.path.name) in line and "damaged" in line
    assert f"manifest says {shipped.entry['sha256'][:12]}" in line
    assert not out.exists()


def test_doctor_reports_providers_and_cuda():
    r = run_cli("doctor")
    assert r.returncode == 0, r.stderr
    assert "CPUExecutionProvider" in r.stdout and "CUDA:" in r.stdout


def test_inpaint_defaults_are_the_same_everywhere():
    """The CLI's defaults are InpaintOptions' (both from core/options.py; the GIMP door is checked
    against the schema inside a real GIMP, tests/gimp)."""
    from sfumato.cli import build_parser
    from sfumato.inpainting.pipeline import InpaintOptions
    a = build_parser().parse_args(["inpaint", "in.png", "--mask", "m.png"])
    o = InpaintOptions()
    assert (a.grow, a.feather, a.detail) == (o.grow, o.feather, o.detail)


# --- many files in one run ----------------------------------------------------------------------

@pytest.fixture
def folder(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    img = Image.open(SAMPLES / "coffee.jpg").convert("RGB")
    img.crop((0, 0, 320, 240)).save(src / "a.jpg", quality=95)
    img.crop((200, 100, 520, 340)).save(src / "b.png")
    (src / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    (src / "notes.txt").write_text("not an image: not an input")
    return src


def test_a_folder_is_stylized_file_by_file_and_a_bad_file_does_not_stop_it(tmp_path, folder):
    out = tmp_path / "out"
    r = run_cli("stylize", folder, "-o", out, "--style", "crimson")
    assert r.returncode == 1, r.stderr  # some failed
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "b.png"]
    errors = [line for line in r.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and str(folder / "broken.png") in errors[0]
    assert "3 files: 2 written, 0 skipped (already there), 1 failed" in r.stdout and "broken.png" in r.stdout
    single = tmp_path / "single.png"  # the batch gives exactly what one file at a time gives
    assert run_cli("stylize", folder / "a.jpg", "--style", "crimson", "-o", single).returncode == 0
    assert np.array_equal(np.asarray(Image.open(single)), np.asarray(Image.open(out / "a.png")))


def test_skip_existing_resumes_and_jobs_give_the_same_pixels(tmp_path, folder):
    (folder / "broken.png").unlink()
    out = tmp_path / "out"
    out.mkdir()
    (out / "a.png").write_bytes(b"finished earlier")
    r = run_cli("stylize", folder / "*.*", "-o", out, "--style", "3", "--skip-existing", "--format", "png")
    assert r.returncode == 0, r.stderr
    assert (out / "a.png").read_bytes() == b"finished earlier" and "1 written, 1 skipped" in r.stdout
    parallel = tmp_path / "parallel"
    r = run_cli("stylize", folder, "-o", parallel, "--style", "3", "--jobs", "2")
    assert r.returncode == 0, r.stderr
    assert np.array_equal(np.asarray(Image.open(parallel / "b.png")), np.asarray(Image.open(out / "b.png")))


def test_a_batch_works_on_two_files_at_once_and_reports_them_in_order():
    """runner._threaded: two files at a time, results (and each file's error) in the tasks' order."""
    import threading
    import time

    from sfumato.batch import runner
    from sfumato.errors import SfumatoError
    lock, running, most = threading.Lock(), [0], [0]

    def process(task, job):
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.05 if task.source.name != "0" else 0.2)  # the first file is the slowest
        with lock:
            running[0] -= 1
        if task.source.name == "3":
            raise SfumatoError("cannot read it")
        return "ok"

    from sfumato import threads
    with mock.patch.object(threads, "_share", 0):  # a local batch without --jobs: two files, each on half the cores
        if os.cpu_count() >= 2:
            assert runner.files_in_flight(True, jobs=1) == 2
            assert threads.share() == os.cpu_count() // 2
        assert runner.files_in_flight(True, jobs=2) == 1 and runner.files_in_flight(False, jobs=1) == 1
    todo = [runner.Task(Path(str(i)), Path(f"{i}.png")) for i in range(7)]
    results = list(runner._results(todo, process, jobs=1, in_flight=2))
    assert [t.source.name for t, _ in results] == [str(i) for i in range(7)]
    assert [e for _, e in results] == [None, None, None, "cannot read it", None, None, None]
    assert most[0] == 2


def test_a_process_share_of_the_cores_sizes_its_sessions():
    """What a batch, a --jobs process, a Ray actor or a server replica sets (core/threads.py) is what
    each onnxruntime session it starts then uses."""
    from sfumato import threads
    from sfumato.runtime import sessions
    sessions.clear_sessions()
    try:
        with mock.patch.object(threads, "_share", 0):
            threads.set_share(1)
            assert sessions.session("styles", "cpu").get_session_options().intra_op_num_threads == 1
    finally:
        sessions.clear_sessions()


def test_an_interrupted_batch_cancels_the_files_in_progress_and_starts_no_more():
    """What runner.run does on Ctrl-C: it closes the results, and the files in progress stop (their
    jobs cancelled, as onnxruntime's terminate does to a running network) and queued ones never start."""
    import signal
    import threading
    import time

    from sfumato.batch import runner
    started, cancelled = [], []

    def process(task, job):
        started.append(task.source.name)
        if task.source.name == "0":
            return "ok"
        deadline = time.monotonic() + 30  # a long network call
        while time.monotonic() < deadline:
            try:
                job.progress(0.5)
            except Exception:
                cancelled.append(task.source.name)
                raise
            time.sleep(0.01)
        return "ok"

    todo = [runner.Task(Path(str(i)), Path(f"{i}.png")) for i in range(8)]
    found = runner._results(todo, process, jobs=1, in_flight=2)
    assert next(found)[0].source.name == "0"
    time.sleep(0.3)  # files 1 and 2 running, 3 queued
    t0 = time.monotonic()
    found.close()
    assert time.monotonic() - t0 < 5
    assert sorted(started) == ["0", "1", "2"] and sorted(cancelled) == ["1", "2"]

    # Ctrl-C while the batch waits for its oldest file: that file is cancelled too
    started.clear(), cancelled.clear()
    found = runner._results(todo[1:], process, jobs=1, in_flight=2)
    threading.Timer(0.3, signal.pthread_kill, (threading.main_thread().ident, signal.SIGINT)).start()
    with pytest.raises(KeyboardInterrupt):
        next(found)
    assert sorted(started) == ["1", "2"] and sorted(cancelled) == ["1", "2"]


def test_ctrl_c_in_a_batch_leaves_complete_files_and_skip_existing_finishes_it(tmp_path):
    import signal
    import subprocess
    import sys
    import time
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    photo = Image.open(SAMPLES / "coffee.jpg").convert("RGB").resize((1600, 1200))
    for i in range(10):
        photo.rotate(i * 3).save(src / f"p{i}.jpg", quality=90)
    proc = subprocess.Popen([sys.executable, "-m", "sfumato", "stylize", str(src), "-o", str(out), "--style", "3"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (out.exists() and list(out.glob("*.png"))) and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    done = sorted(p.name for p in out.glob("*.png"))
    assert proc.returncode == 130 and "interrupted" in err, err
    assert 1 <= len(done) < 10  # stopped part-way
    assert not [p.name for p in out.iterdir() if p.name not in done]  # no temporary file left
    r = run_cli("stylize", src, "-o", out, "--style", "3", "--skip-existing")
    assert r.returncode == 0 and f"{10 - len(done)} written, {len(done)} skipped" in r.stdout, r.stdout + r.stderr
    single = tmp_path / "single.png"  # a file finished before the interrupt is complete and right
    assert run_cli("stylize", src / done[0].replace(".png", ".jpg"), "--style", "3", "-o", single).returncode == 0
    assert np.array_equal(np.asarray(Image.open(single)), np.asarray(Image.open(out / done[0])))


def test_inpaint_pairs_each_photo_with_its_mask_by_name(tmp_path, folder):
    (folder / "broken.png").unlink()
    masks = tmp_path / "masks"
    masks.mkdir()
    m = np.zeros((240, 320), np.uint8)
    m[100:140, 100:180] = 255
    Image.fromarray(m).save(masks / "a.png")  # none for b: that file fails, a is filled
    out = tmp_path / "filled"
    r = run_cli("inpaint", folder, "--mask-dir", masks, "-o", out, "--format", "tif")
    assert r.returncode == 1 and "no mask for it" in r.stderr and str(masks / "b.png") in r.stderr
    assert [p.name for p in out.iterdir()] == ["a.tif"]
    filled, src = np.asarray(Image.open(out / "a.tif")), np.asarray(Image.open(folder / "a.jpg"))
    assert np.array_equal(filled[m == 0], src[m == 0]) and not np.array_equal(filled[m > 0], src[m > 0])


@pytest.mark.parametrize("args,message", [
    (["--style", "no-such-style"], "unknown style"),
    (["--style", "crimson", "--format", "png", "-o", "{tmp}/x", "{tmp}/nothing-here"], "no images found"),
])
def test_a_batch_that_cannot_run_stops_before_the_first_file(tmp_path, folder, args, message):
    args = [str(a).format(tmp=tmp_path) for a in args]
    (tmp_path / "nothing-here").mkdir()
    inputs = [] if any("nothing-here" in a for a in args) else [folder]
    r = run_cli("stylize", *inputs, *args, "-o", tmp_path / "out")
    assert message in _one_error_line(r)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("batch", [False, True])
def test_an_unknown_inpainting_model_is_one_error_and_nothing_written(tmp_path, folder, batch):
    """The model loads on a thread while the photo is read (cli.cmd_inpaint): its failure must still
    be the run's one error, exit 2, for a single file and before the first file of a batch."""
    masks = tmp_path / "masks"
    masks.mkdir()
    m = np.zeros((240, 320), np.uint8)
    m[50:100, 50:100] = 255
    for name in ("a", "b", "broken"):
        Image.fromarray(m).save(masks / f"{name}.png")
    out = tmp_path / "out"
    args = [folder, "--mask-dir", masks, "-o", out] if batch else \
        [folder / "a.jpg", "--mask", masks / "a.png", "-o", tmp_path / "a.png"]
    line = _one_error_line(run_cli("inpaint", *args, "--model", "no-such-model"))
    assert "no-such-model" in line
    assert not out.exists() and not (tmp_path / "a.png").exists()


def test_two_inputs_that_would_overwrite_each_other_are_refused(tmp_path, folder):
    other = tmp_path / "other"
    other.mkdir()
    Image.open(folder / "a.jpg").save(other / "a.png")
    line = _one_error_line(run_cli("stylize", folder / "a.jpg", other / "a.png", "--style", "3", "-o", tmp_path / "o"))
    assert "would both be written to" in line


def test_the_cli_takes_its_options_from_the_schema():
    """The CLI door of core/options.py: each option's flag, default, range and help as the schema says
    (that the values reach the pipeline through every door: tests/test_schema.py; the GIMP door is
    checked in tests/gimp)."""
    import argparse

    from sfumato.cli import build_parser
    from sfumato.options import SCHEMA
    parser = build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    for operation, options in SCHEMA.items():
        actions = {a.dest: a for a in subparsers[operation]._actions}
        for o in options:
            action = actions[o.name]
            assert action.option_strings == [o.flag] and action.default == o.default and o.help in action.help
            assert action.choices == o.choices
            if o.range:
                parse = action.type
                assert parse(str(o.range[0])) == o.range[0] and parse(str(o.range[1])) == o.range[1]
                for outside in (o.range[0] - 1, o.range[1] + 1):
                    with pytest.raises(argparse.ArgumentTypeError):
                        parse(str(outside))


def test_the_version_is_the_installed_package_s_or_else_pyproject_s(monkeypatch):
    """`sfumato --version` (and the worker's ping, the server's health) report the package's version:
    the installed distribution's, or pyproject.toml's in a source tree that is not installed."""
    import importlib.metadata
    import re

    import sfumato
    r = run_cli("--version")
    assert r.returncode == 0 and r.stdout == f"sfumato {importlib.metadata.version('sfumato')}\n", r.stdout + r.stderr
    declared = re.search(r'^version = "(.+)"', (ROOT / "pyproject.toml").read_text(), re.MULTILINE).group(1)

    def not_installed(name):
        raise importlib.metadata.PackageNotFoundError(name)
    monkeypatch.setattr(importlib.metadata, "version", not_installed)
    assert sfumato.package_version() == declared


@pytest.mark.parametrize("argv", [["--help"], ["styles"]])
def test_help_and_the_style_list_load_neither_numpy_nor_onnxruntime(argv):
    """They are what a user types first and what the plug-in's installer runs: they must start at
    once (numpy alone costs 0.1-0.2 s, onnxruntime more). Whole-process times are in bench/bench_cli.py."""
    import subprocess
    import sys
    code = ("import sys; from sfumato.cli import main\n"
            f"try:\n    main({argv!r})\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in ('numpy', 'onnxruntime', 'PIL', 'scipy') if m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[-1] == "[]", r.stdout[-300:]


def test_onnxruntime_is_imported_after_numpy_has_finished_importing():
    """The single-file command loads its session on a thread. onnxruntime's C module imports numpy's core
    from C; met with another thread's half-done `import numpy`, that failed in 9 of 60 runs (ImportError:
    partially initialized module). sessions._ort() imports numpy first, as Python does, which waits."""
    import subprocess
    import sys
    code = ("import sys\n"
            "class Watch:\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            "        if name == 'onnxruntime':\n"
            "            print('numpy imported:', 'numpy' in sys.modules)\n"
            "sys.meta_path.insert(0, Watch())\n"
            "from sfumato.runtime import sessions\n"
            "sessions._ort()\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["numpy imported: True"], r.stdout


def test_a_closed_pipe_is_not_a_traceback():
    """`sfumato styles | head -1`: the reader goes away; the list stops quietly, exit 0."""
    import os
    import subprocess
    import sys
    read_end, write_end = os.pipe()
    os.close(read_end)  # gone before the first write: every write fails, as after `head` exits
    try:
        r = subprocess.run([sys.executable, "-m", "sfumato", "styles"], stdout=write_end, stderr=subprocess.PIPE,
                           text=True, timeout=60)
    finally:
        os.close(write_end)
    assert r.returncode == 0 and "Traceback" not in r.stderr and "BrokenPipe" not in r.stderr, r.stderr


# --- originals are sacred: no run writes over a file it reads (issue 33) -------------------------------

@pytest.fixture
def shoot(tmp_path):
    d = tmp_path / "shoot"
    d.mkdir()
    img = Image.open(SAMPLES / "coffee.jpg").convert("RGB").crop((0, 0, 96, 64))
    img.save(d / "IMG_1.png")
    img.transpose(Image.FLIP_LEFT_RIGHT).save(d / "IMG_2.png")
    m = np.zeros((64, 96), np.uint8)
    m[10:30, 20:50] = 255
    Image.fromarray(m).save(d / "mask.png")
    return d


def _originals(folder):
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def test_a_folder_output_that_is_the_inputs_folder_gets_a_suffix_and_keeps_the_originals(shoot):
    before = _originals(shoot)
    r = run_cli("stylize", shoot / "IMG_1.png", "-o", shoot, "--style", "5")
    assert r.returncode == 0, r.stderr
    assert (shoot / "IMG_1_stylized.png").exists()
    r = run_cli("inpaint", shoot / "IMG_1.png", shoot / "IMG_2.png", "--mask", shoot / "mask.png", "-o", shoot)
    assert r.returncode == 0, r.stderr
    assert (shoot / "IMG_1_filled.png").exists() and (shoot / "IMG_2_filled.png").exists()
    assert all((shoot / name).read_bytes() == data for name, data in before.items())


@pytest.mark.parametrize("case", ["same-file", "folder-no-suffix", "mask", "style-image", "inpaint-same",
                                  "inpaint-mask", "symlink", "hardlink", "video", "sheet-photo"])
def test_an_output_that_would_replace_an_input_is_refused(shoot, case):
    before = _originals(shoot)
    src, out = shoot / "IMG_1.png", shoot / "IMG_1.png"
    args = ["stylize", src, "--style", "5", "-o", out]
    if case == "folder-no-suffix":
        args = ["stylize", shoot / "IMG_1.png", shoot / "IMG_2.png", "--style", "5", "-o", shoot, "--suffix="]
        out = shoot / "IMG_1.png"
    elif case == "mask":
        args, out = ["stylize", src, "--style", "5", "--mask", shoot / "mask.png", "-o", shoot / "mask.png"], \
            shoot / "mask.png"
    elif case == "style-image":
        args, out = ["stylize", src, "--style-image", shoot / "IMG_2.png", "-o", shoot / "IMG_2.png"], \
            shoot / "IMG_2.png"
    elif case == "inpaint-same":
        args = ["inpaint", src, "--mask", shoot / "mask.png", "-o", src]
    elif case == "inpaint-mask":
        args, out = ["inpaint", src, "--mask", shoot / "mask.png", "-o", shoot / "mask.png"], shoot / "mask.png"
    elif case == "symlink":
        (shoot.parent / "link.png").symlink_to(src)
        args = ["stylize", shoot.parent / "link.png", "--style", "5", "-o", src]
    elif case == "hardlink":
        os.link(src, shoot.parent / "hard.png")
        args = ["stylize", shoot.parent / "hard.png", "--style", "5", "-o", src]
    elif case == "video":
        (shoot / "clip.mp4").write_bytes(b"not decoded: refused before")
        before = _originals(shoot)
        args, out = ["stylize", shoot / "clip.mp4", "--style", "5", "-o", shoot / "clip.mp4"], shoot / "clip.mp4"
    elif case == "sheet-photo":
        args = ["styles", "--sheet", src, "--photo", src]
    line = _one_error_line(run_cli(*args))
    assert str(out) in line and "--overwrite" in line, line
    assert _originals(shoot) == before


def test_overwrite_replaces_an_input_on_purpose(shoot):
    src = shoot / "IMG_1.png"
    before = src.read_bytes()
    r = run_cli("stylize", src, "--style", "5", "-o", src, "--overwrite")
    assert r.returncode == 0, r.stderr
    assert src.read_bytes() != before and Image.open(src).size == (96, 64)
    r = run_cli("stylize", shoot / "IMG_2.png", "--style", "5", "-o", shoot / "named.png", "--suffix=-x")
    assert r.returncode == 0 and (shoot / "named.png").exists()  # a name given as -o is used as given
    r = run_cli("stylize", shoot / "IMG_2.png", "--style", "5", "--suffix=-x")
    assert r.returncode == 0 and (shoot / "IMG_2-x.png").exists()


def test_a_float_tiff_stays_float_and_unchanged_where_nothing_is_asked(tmp_path):
    import tifffile
    f = (np.random.default_rng(0).random((48, 64, 3)) * 0.9).astype(np.float32)
    tifffile.imwrite(tmp_path / "in.tif", f, photometric="rgb")
    m = np.zeros((48, 64), np.uint8)
    m[10:20, 10:20] = 255
    Image.fromarray(m).save(tmp_path / "mask.png")
    for extra in (["--strength", "0"], ["--mask", tmp_path / "mask.png"]):
        r = run_cli("stylize", tmp_path / "in.tif", "--style", "5", *extra, "-o", tmp_path / "out.tif")
        assert r.returncode == 0, r.stderr
        out = tifffile.imread(tmp_path / "out.tif")
        keep = m == 0 if "--mask" in extra else slice(None)
        assert out.dtype == np.float32 and np.array_equal(out[keep], f[keep])
    line = _one_error_line(run_cli("stylize", tmp_path / "in.tif", "--style", "5", "-o", tmp_path / "out.png"))
    assert "PNG cannot hold float pixels" in line and not (tmp_path / "out.png").exists()


@pytest.mark.parametrize("args, message", [
    (["--style", "0:1e400"], "bad weight"),
    (["--style", "0:3e38,0:3e38"], "too large"),
    (["--style", "5", "-o", "x" * 300 + ".png"], "too long"),
])
def test_overflowing_weights_and_overlong_names_are_one_error(tmp_path, args, message):
    r = run_cli("stylize", SAMPLES / "coffee.jpg", *args, cwd=tmp_path)
    assert message in _one_error_line(r)
    assert "RuntimeWarning" not in r.stderr


def test_a_damaged_tiff_is_one_error_line_without_libtiff_chatter(tmp_path):
    import io
    b = io.BytesIO()
    Image.open(SAMPLES / "coffee.jpg").crop((0, 0, 64, 48)).save(b, format="TIFF", compression="tiff_lzw")
    data = bytearray(b.getvalue())
    for i in range(20, 200, 3):  # the LZW codes: libtiff complains on stderr before Pillow raises
        data[i] ^= 0xFF
    (tmp_path / "bad.tif").write_bytes(bytes(data))
    line = _one_error_line(run_cli("stylize", tmp_path / "bad.tif", "--style", "5", "-o", tmp_path / "o.png"))
    assert "bad.tif" in line


@pytest.mark.parametrize("content", [b"\xff\xfe\x00binary\x80\x81" * 4, "jeton-très-secret-123".encode()])
def test_a_token_file_that_is_not_a_token_is_one_error(tmp_path, content):
    (tmp_path / "token").write_bytes(content)
    line = _one_error_line(run_cli("stylize", SAMPLES / "coffee.jpg", "--style", "5", "-o", tmp_path / "o.png",
                                   "--server", "http://127.0.0.1:9", "--token-file", tmp_path / "token"))
    assert "does not hold a token" in line


def test_no_onnxruntime_warning_where_home_cannot_be_written(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "XDG_CACHE_HOME"}
    env["HOME"] = "/dev/null"  # not a folder: onnxruntime cannot keep its telemetry id there
    import subprocess
    import sys
    r = subprocess.run([sys.executable, "-m", "sfumato", "stylize", str(SAMPLES / "coffee.jpg"), "--style", "5",
                        "-o", str(tmp_path / "o.png")], capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0 and r.stderr == "", r.stderr


def _animation(tmp_path, name="anim.gif"):
    frames = [Image.open(SAMPLES / "coffee.jpg").convert("RGB").crop((i * 10, 0, i * 10 + 64, 48)) for i in range(3)]
    frames[0].save(tmp_path / name, save_all=True, append_images=frames[1:], duration=[80, 120, 160], loop=0)
    return tmp_path / name


@pytest.mark.parametrize("src_name, out_name", [("anim.gif", "out.gif"), ("anim.gif", "out.png"),
                                                ("anim.webp", "out.webp"), ("anim.png", "out.tif")])
def test_an_animation_is_stylized_frame_by_frame_with_shared_statistics_and_its_timing(tmp_path, src_name, out_name):
    from sfumato import StylizeOptions
    from sfumato.imageio import read_frames
    from sfumato.styling.pipeline import stylize_frames
    src = _animation(tmp_path, src_name)
    r = run_cli("stylize", src, "--style", "5", "-o", tmp_path / out_name)
    assert r.returncode == 0, r.stderr
    frames, info = read_frames(src)
    got, got_info = read_frames(tmp_path / out_name)
    assert len(got) == 3 and got[0].shape == frames[0].shape
    if out_name != "out.tif":
        assert got_info["duration"] == info["duration"] == [80, 120, 160]
    if out_name in ("out.png", "out.tif"):  # lossless: exactly the clip's frames stylized together
        want = stylize_frames(frames, StylizeOptions(style="5"))
        assert all(np.array_equal(g, w) for g, w in zip(got, want))


def test_an_animation_into_a_one_picture_format_and_inpainting_one_are_refused(tmp_path):
    src = _animation(tmp_path)
    line = _one_error_line(run_cli("stylize", src, "--style", "5", "-o", tmp_path / "out.jpg"))
    assert "has 3 frames, and out.jpg can hold only one" in line and not (tmp_path / "out.jpg").exists()
    Image.new("L", (64, 48), 255).save(tmp_path / "mask.png")
    line = _one_error_line(run_cli("inpaint", src, "--mask", tmp_path / "mask.png", "-o", tmp_path / "out.gif"))
    assert "inpainting fills one picture" in line and "--mask-dir" in line and not (tmp_path / "out.gif").exists()


def test_ctrl_c_with_jobs_2_is_one_line_and_leaks_no_semaphores(tmp_path):
    import signal
    import subprocess
    import sys
    import time
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    photo = Image.open(SAMPLES / "coffee.jpg").convert("RGB").resize((1600, 1200))
    for i in range(8):
        photo.rotate(i * 3).save(src / f"p{i}.jpg", quality=90)
    proc = subprocess.Popen([sys.executable, "-m", "sfumato", "stylize", str(src), "-o", str(out), "--style", "3",
                             "--jobs", "2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    deadline = time.monotonic() + 120
    while not (out.exists() and list(out.glob("*.png"))) and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGINT)  # the terminal's Ctrl-C reaches the whole group
    _, err = proc.communicate(timeout=60)
    time.sleep(0.5)  # the resource tracker speaks after the process has gone
    assert proc.returncode == 130 and err.strip() == "error: interrupted", err


def test_several_inputs_with_a_file_as_output_is_one_error(shoot):
    before = _originals(shoot)
    line = _one_error_line(run_cli("stylize", shoot / "IMG_1.png", shoot / "IMG_2.png", "--style", "5",
                                   "-o", shoot / "IMG_1.png"))
    assert "is a file, but 2 inputs need a folder" in line and _originals(shoot) == before


def test_one_mask_serves_every_frame_of_an_animation(tmp_path):
    from sfumato.imageio import read_frames
    src = _animation(tmp_path, "anim.png")
    m = np.zeros((48, 64), np.uint8)
    m[10:30, 10:40] = 255
    Image.fromarray(m).save(tmp_path / "mask.png")
    r = run_cli("stylize", src, "--style", "5", "--mask", tmp_path / "mask.png", "-o", tmp_path / "out.png")
    assert r.returncode == 0, r.stderr
    frames, got = read_frames(src)[0], read_frames(tmp_path / "out.png")[0]
    for f, g in zip(frames, got):
        assert np.array_equal(g[m == 0], f[m == 0]) and not np.array_equal(g[m == 255], f[m == 255])


def test_a_float_image_into_a_format_that_cannot_hold_it_stops_before_the_work(tmp_path, capsys):
    import tifffile

    import sfumato.batch.video  # noqa: F401 - imported before the patch, which it would otherwise keep as its stylize
    from sfumato.cli import main
    tifffile.imwrite(tmp_path / "in.tif", np.full((48, 64, 3), 0.5, np.float32), photometric="rgb")
    with mock.patch("sfumato.styling.pipeline.stylize", side_effect=AssertionError("ran")) as run:
        assert main(["stylize", str(tmp_path / "in.tif"), "--style", "5"]) == 2  # default: INPUT_stylized.png
    assert not run.called and "PNG cannot hold float pixels" in capsys.readouterr().err


def _half_textured_files(tmp_path):
    """tests/test_inpaint.py's sample-from pattern as files: fine texture on the left, flat on the right,
    a large hole across both, and an area over the flat side only."""
    rng = np.random.default_rng(0)
    img = np.full((256, 256, 3), 0.8, np.float32)
    img[:, :128] = 0.5 + 0.15 * rng.standard_normal((256, 128, 1)).astype(np.float32)
    Image.fromarray((np.clip(img, 0, 1) * 255).astype(np.uint8)).save(tmp_path / "photo.png")
    mask = np.zeros((256, 256), np.uint8)
    mask[60:180, 70:190] = 255
    Image.fromarray(mask).save(tmp_path / "mask.png")
    area = np.zeros((256, 256), np.uint8)
    area[:, 200:] = 255
    Image.fromarray(area).save(tmp_path / "area.png")
    return tmp_path / "photo.png", tmp_path / "mask.png", tmp_path / "area.png"


def test_inpaint_sample_from_limits_where_a_large_holes_texture_comes_from(tmp_path):
    photo, mask, area = _half_textured_files(tmp_path)
    r = run_cli("inpaint", photo, "--mask", mask, "-o", tmp_path / "free.png")
    assert r.returncode == 0, r.stderr
    r = run_cli("inpaint", photo, "--mask", mask, "--sample-from", area, "-o", tmp_path / "limited.png")
    assert r.returncode == 0, r.stderr

    def energy(path):  # the part of the hole on the textured side
        x = np.asarray(Image.open(path), np.float32)[65:175, 75:125].mean(axis=2)
        gy, gx = np.gradient(x)
        return float(np.sqrt(gx ** 2 + gy ** 2).mean())
    assert energy(tmp_path / "limited.png") < 0.3 * energy(tmp_path / "free.png")
    m = np.asarray(Image.open(mask)) == 0
    assert np.array_equal(np.asarray(Image.open(tmp_path / "limited.png"))[m], np.asarray(Image.open(photo))[m])


@pytest.mark.parametrize("case,message", [
    ("small", "the 'sample from' mask is 64x48 but the image is 256x256"),
    ("empty", "the 'sample from' area has no pixels outside the hole"),
    ("hole_only", "the 'sample from' area has no pixels outside the hole"),
    ("missing", "'sample from' area not found"),
    ("garbage", "'sample from' area"),
])
def test_a_bad_sample_from_area_is_one_error_and_nothing_written(tmp_path, case, message):
    photo, mask, area = _half_textured_files(tmp_path)
    bad = tmp_path / "bad.png"
    if case == "small":
        Image.fromarray(np.full((48, 64), 255, np.uint8)).save(bad)
    elif case == "empty":
        Image.fromarray(np.zeros((256, 256), np.uint8)).save(bad)
    elif case == "hole_only":
        bad = mask
    elif case == "garbage":
        bad.write_bytes(b"not a picture")
    out = tmp_path / "out.png"
    line = _one_error_line(run_cli("inpaint", photo, "--mask", mask, "--sample-from", bad, "-o", out))
    assert message in line, line
    assert not out.exists()


def test_the_sample_from_area_is_an_input_the_output_never_replaces(tmp_path):
    photo, mask, area = _half_textured_files(tmp_path)
    before = area.read_bytes()
    line = _one_error_line(run_cli("inpaint", photo, "--mask", mask, "--sample-from", area, "-o", area))
    assert str(area) in line and "--overwrite" in line, line
    assert area.read_bytes() == before
