"""The real GIMP 3 GUI on a virtual display (shared/tools/gimp3/gimp3-gui.sh), driven by keyboard as a
user would, for tests that look at what a user sees: menus, dialogs, the canvas.

Every step waits for what it needs (a window by title or WM_CLASS, a menu popup, a title change, a
process) with a deadline instead of sleeping a fixed time, and keys that a tooltip or a window
activation can swallow are sent again until their effect shows."""
from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

import numpy as np

from tests.gimp import harness

GUI = harness.TOOLS / "gimp3-gui.sh"
PROCS = ("sfumato-fill-selection", "sfumato-stylize", "sfumato-stylize-with", "sfumato-stylize-frames")


def available() -> str | None:
    why = harness.available()
    if why:
        return why
    if not GUI.exists():
        return f"no {GUI}"
    # (lexists: the chroot's links are absolute, meant for inside it)
    missing = [b for b in ("Xvfb", "xdotool", "openbox", "magick") if not any(
        os.path.lexists(harness.CHROOT / d / b) for d in ("usr/bin", "bin"))]
    if missing:
        return f"no GUI tools in the chroot ({', '.join(missing)}): run GIMP3_GUI=1 setup-gimp3.sh (make gimp-env)"
    return None


def require() -> None:
    harness.require(available, "the GIMP GUI is")


def free_display(first: int = 83) -> str:
    for n in range(first, first + 40):
        lock = harness.CHROOT / "tmp" / f".X{n}-lock"
        if lock.exists():
            pid = "".join(c for c in lock.read_text() if c.isdigit())
            if pid and Path(f"/proc/{pid}").exists():
                continue
        if not Path(f"/tmp/.X{n}-lock").exists():
            return f":{n}"
    raise RuntimeError("no free X display number")


class Gui:
    def __init__(self, work: Path, display: str | None = None):
        self.work = work
        self.display = display or os.environ.get("SFUMATO_GUI_DISPLAY") or free_display()
        self.state = work / "state"
        self.env = {**os.environ, "GIMP3_GUI_STATE": str(self.state),
                    # no demo plug-in of the tools folder: only GIMP's own and the profile's (Sfumato)
                    "GIMP3_PLUGIN_DIRS": str(work / "no-plug-ins")}
        (work / "no-plug-ins").mkdir(parents=True, exist_ok=True)
        self.window = None

    def g(self, *args, check=True, timeout=120) -> str:
        r = subprocess.run([str(GUI), "--display", self.display, *map(str, args)], capture_output=True, text=True,
                           env=self.env, timeout=timeout)
        if check and r.returncode != 0:
            raise RuntimeError(f"gimp3-gui.sh {' '.join(map(str, args))}: rc {r.returncode}\n{r.stdout}{r.stderr}")
        return r.stdout

    def start(self, profile: Path, files, binds=(), env=()):
        self.profile = profile
        args = ["start", "--profile", str(profile)]
        for b in binds:
            args += ["--bind", str(b)]
        for e in env:
            args += ["--env", e]
        out = self.g(*args, *map(str, files), timeout=240)
        found = re.search(r"window=(\d+)", out)
        # start looks the window up twice; while GIMP opens the next file its title can change in
        # between, and the second look finds nothing: look again
        self.window = found.group(1) if found else self.until(
            "GIMP's image window", lambda: (self.windows(" GIMP$") or [None])[0], 60)
        return out

    def stop(self):
        if (self.state / "state").exists():
            self.g("stop", check=False, timeout=90)

    def log(self) -> str:
        path = self.state / "gimp.log"
        return path.read_text(errors="replace") if path.exists() else ""

    # --- looking ---------------------------------------------------------------------------

    def shot(self, path: Path, geometry: str | None = None) -> np.ndarray:
        self.g("shot", path, *([geometry] if geometry else []))
        from PIL import Image
        return np.asarray(Image.open(path).convert("RGB"))

    def popups(self) -> list[tuple[int, int, int, int]]:
        """Open menus, outermost first: (w, h, x, y)."""
        found = []
        for line in self.g("popups").splitlines():
            m = re.match(r"\d+ (\d+)x(\d+)\+(-?\d+)\+(-?\d+)", line)
            if m:
                found.append(tuple(int(v) for v in m.groups()))
        return found

    def title(self) -> str:
        return self.g("xdo", "getwindowname", self.window).strip()

    def windows(self, regex: str, classname=False) -> list[str]:
        out = self.g("xdo", "search", "--onlyvisible", "--classname" if classname else "--name", regex, check=False)
        return out.split()

    def geometry(self, wid: str, frame: bool = False) -> str:
        """WxH+X+Y of a window on the screen; with frame, its title bar and borders too."""
        info = self.g("run", "xwininfo", "-id", wid)
        v = {k: int(re.search(rf"{k}:\s+(-?\d+)", info).group(1))
             for k in ("Absolute upper-left X", "Absolute upper-left Y", "Width", "Height")}
        left = right = top = bottom = 0
        if frame:
            m = re.search(r"= (\d+), (\d+), (\d+), (\d+)", self.g("run", "xprop", "-id", wid, "_NET_FRAME_EXTENTS"))
            if m:
                left, right, top, bottom = map(int, m.groups())
        return (f"{v['Width'] + left + right}x{v['Height'] + top + bottom}"
                f"+{v['Absolute upper-left X'] - left}+{v['Absolute upper-left Y'] - top}")

    def until(self, what: str, predicate, seconds: float = 30, every: float = 0.25):
        deadline = time.monotonic() + seconds
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {seconds:.0f}s waiting for {what}")
            time.sleep(every)

    def plug_in_pids(self) -> list[int]:
        """Sfumato plug-in processes of this GIMP: those running the plug-in of its profile."""
        mine = f"{self.profile}/plug-ins/sfumato/sfumato.py".encode()
        pids = []
        for entry in os.listdir("/proc"):
            try:
                if entry.isdigit() and mine in Path(f"/proc/{entry}/cmdline").read_bytes():
                    pids.append(int(entry))
            except OSError:
                pass
        return pids

    # --- doing -----------------------------------------------------------------------------

    def focus_image(self):
        self.g("xdo", "windowactivate", "--sync", self.window)
        self.until("the image window to have the focus",
                   lambda: self.g("xdo", "getwindowfocus", check=False).strip() == self.window
                   or self.g("xdo", "getactivewindow", check=False).strip() == self.window, 10)

    def key(self, *keys):
        """Keys to the focused window (XTEST, as a keyboard would)."""
        self.g("xdo", "key", "--delay", "60", *keys)

    def click_cancel(self):
        """The Cancel button GIMP shows at the right of the image window's status bar while a filter
        runs (Escape does not cancel a plug-in), clicked with the mouse."""
        w, h, x, y = (int(v) for v in re.split(r"[x+]", self.geometry(self.window)))
        self.g("xdo", "mousemove", "--sync", x + w - 278, y + h - 18, "click", "1")

    def close_menus(self):
        for _ in range(6):
            if not self.popups():
                return
            self.key("Escape")
            time.sleep(0.2)
        assert not self.popups(), "the menus did not close"

    def open_sfumato_menu(self) -> list[tuple[int, int, int, int]]:
        """Filters (alt+r), its last entry (End: plug-in submenus come last) opened (Right)."""
        for attempt in range(3):
            self.close_menus()
            self.focus_image()
            self.key("alt+r")
            try:
                self.until("the Filters menu", lambda: len(self.popups()) >= 1, 10)
                self.key("End")
                time.sleep(0.2)
                self.key("Right")
                return self.until("the Sfumato submenu", lambda: len(self.popups()) >= 2 and self.popups(), 10)
            except AssertionError:
                if attempt == 2:
                    raise

    def open_dialog(self, proc: str, mnemonic: str) -> str:
        """Filters > Sfumato > the entry with this mnemonic; returns the dialog's window id."""
        for attempt in range(3):
            self.open_sfumato_menu()
            self.key(mnemonic)
            try:
                return self.until(f"the {proc} dialog", lambda: self.windows(f"^{proc}$", classname=True), 60)[0]
            except AssertionError:
                if attempt == 2:
                    raise

    def close_window(self, wid: str, key: str = "Escape"):
        """Escape (or another key) to a dialog until it is gone: a tooltip or the activation can eat a key."""
        for _ in range(4):
            self.g("xdo", "windowactivate", "--sync", wid, check=False)
            time.sleep(0.3)
            self.key(key)
            try:
                self.until("the window to close", lambda: wid not in self.g(
                    "xdo", "search", "--onlyvisible", "--name", ".", check=False).split(), 5)
                return
            except AssertionError:
                pass
        raise AssertionError(f"window {wid} did not close")


def console(script: str, binds, timeout=180) -> str:
    """Python-Fu code run in the headless gimp-console of the chroot (e.g. to make a test image)."""
    cmd = [str(harness.TOOLS / "gimp3-run.sh")]
    for b in binds:
        cmd += ["--bind", str(b)]
    cmd += ["--", "gimp-console-3.0", "-i", "-d", "-f", "--quit", "--batch-interpreter=python-fu-eval", "-b", script]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError(f"gimp-console failed (rc {r.returncode}):\n{(r.stdout + r.stderr)[-3000:]}")
    return r.stdout + r.stderr
