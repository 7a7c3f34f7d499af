"""The dialog preview in the real GIMP 3 window: seconds from a setting change to the preview drawn
(the plug-in's own log line), for a 512 x 512 view at the defaults, on layers of several sizes. A
change of Style strength (one Page Down) needs no new network run; the first preview of the dialog
does. Not a test: `GIMP3_TOOLS=... python tests/gimp/bench_preview.py [--changes 7]`."""
from __future__ import annotations

import argparse
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.gimp import gui  # noqa: E402

LINE = re.compile(r"\[sfumato\] preview (\d+)x(\d+) drawn ([\d.]+)s after the change \(worker ([\d.]+)s\)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--changes", type=int, default=7)
    ap.add_argument("--sizes", default="1024x683,2048x1365,4800x3200")
    args = ap.parse_args()
    why = gui.available()
    if why:
        raise SystemExit(f"GIMP GUI unavailable: {why}")
    work = Path(tempfile.mkdtemp(prefix="bench-preview-", dir="/tmp"))
    images = work / "images"
    images.mkdir()
    sizes = [tuple(int(v) for v in s.split("x")) for s in args.sizes.split(",")]
    script = "src = Gio.File.new_for_path(%r)\n" % str(ROOT / "core" / "samples" / "coffee.jpg")
    for w, h in sizes:
        script += ("im = Gimp.file_load(Gimp.RunMode.NONINTERACTIVE, src)\nim.scale(%d, %d)\n"
                   "Gimp.file_save(Gimp.RunMode.NONINTERACTIVE, im, Gio.File.new_for_path(%r), None)\n"
                   % (w, h, str(images / f"p{w}.xcf")))
    gui.console(script, [ROOT / "core" / "samples", images])
    from sfumato.gimp_plugin.install import install
    install(work / "profile")
    g = gui.Gui(work)
    try:
        g.start(work / "profile", [images / f"p{w}.xcf" for w, _ in sizes],
                binds=[ROOT, Path(sys.base_prefix).resolve()], env=["SFUMATO_PREVIEW_SIZE=512"])
        for n, (w, h) in enumerate(sizes):
            g.focus_image()
            g.key(f"alt+{n + 1}")
            g.until(f"image p{w}", lambda: f"p{w}.xcf-" in g.title(), 10)
            seen = g.log().count("[sfumato] preview ")
            wid = g.open_dialog("sfumato-stylize", "s")
            g.until("the first preview", lambda: g.log().count("[sfumato] preview ") > seen, 300)
            first = LINE.findall(g.log())[-1]
            times = []
            for _ in range(args.changes):
                seen = g.log().count("[sfumato] preview ")
                g.g("xdo", "windowactivate", "--sync", wid)
                g.key("alt+n", "Page_Down")
                g.until("a new preview", lambda: g.log().count("[sfumato] preview ") > seen, 120)
                times.append(float(LINE.findall(g.log())[-1][2]))
                time.sleep(0.3)
            g.close_window(wid)
            g.until("the plug-in to end", lambda: not g.plug_in_pids(), 30)
            print(f"{w}x{h} layer, view {first[0]}x{first[1]}: first preview {float(first[2]):.3f} s "
                  f"(worker {float(first[3]):.3f} s); strength change: median {statistics.median(times):.3f} s, "
                  f"all {' '.join(f'{t:.3f}' for t in times)}", flush=True)
    finally:
        g.stop()
        from tests.gimp.test_gimp_gui import stop_worker
        stop_worker(work / "state" / "xdg" / "sfumato" / "worker.sock")
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
