"""Sfumato as a user meets it in GIMP 3's own window (the GUI under Xvfb, driven by the keyboard):
Filters > Sfumato is there with its four filters, each dialog opens from the menu, OK on a fill makes a
new layer and Ctrl+Z gives back the exact picture, Cancel in the middle of a job leaves the picture as
it was and the menu as it was, and GIMP's log has no CRITICAL or WARNING from the plug-in.

Screenshots (the menu, each dialog, the canvas) are kept in the test's folder; with
SFUMATO_GUI_SHOTS=docs/images the menu and dialog ones are also copied there for the README."""
from __future__ import annotations

import os
import re
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import ROOT, SAMPLES
from tests.gimp import gui, harness

pytestmark = pytest.mark.gimp

# label mnemonic of each filter in Filters > Sfumato (gimp_plugin/sfumato/sfumato_plugin.py LABELS)
ENTRIES = {"sfumato-fill-selection": ("_Remove Object / Fill Selection...", "r"),
           "sfumato-stylize": ("_Stylize...", "s"),
           "sfumato-stylize-with": ("Stylize Like an _Image...", "i"),
           "sfumato-stylize-frames": ("Stylize Animation _Frames...", "f")}
SHOT_NAMES = {"sfumato-fill-selection": "gimp-fill-dialog.png", "sfumato-stylize": "gimp-stylize-dialog.png",
              "sfumato-stylize-with": "gimp-stylize-like-dialog.png",
              "sfumato-stylize-frames": "gimp-frames-dialog.png"}
HOLE = (250, 150, 80, 60)  # the ellipse selected in the small picture (600 x 400)

MAKE_IMAGES = """
src = Gio.File.new_for_path({src!r})
img = Gimp.file_load(Gimp.RunMode.NONINTERACTIVE, src)
img.select_ellipse(Gimp.ChannelOps.REPLACE, {hole})
Gimp.file_save(Gimp.RunMode.NONINTERACTIVE, img, Gio.File.new_for_path({small!r}), None)
big = Gimp.file_load(Gimp.RunMode.NONINTERACTIVE, src)
big.scale(4800, 3200)
Gimp.file_save(Gimp.RunMode.NONINTERACTIVE, big, Gio.File.new_for_path({big!r}), None)
"""


def keep(path: Path, name: str):
    """A screenshot for the README, when asked for (SFUMATO_GUI_SHOTS=docs/images)."""
    dest = os.environ.get("SFUMATO_GUI_SHOTS")
    if dest:
        Path(dest).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, Path(dest) / name)


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    gui.require()
    work = tmp_path_factory.mktemp("gimp-gui")
    images = work / "images"
    images.mkdir()
    small, big = images / "coffee.xcf", images / "coffee-big.xcf"
    gui.console(MAKE_IMAGES.format(src=str(SAMPLES / "coffee.jpg"), small=str(small), big=str(big),
                                   hole=", ".join(map(str, HOLE))), [SAMPLES, images])
    profile = work / "profile"
    from sfumato.gimp_plugin.install import install
    install(profile)
    g = gui.Gui(work)
    try:
        g.start(profile, [big, small], binds=[ROOT, Path(sys.base_prefix).resolve()])
        g.shots = work / "shots"
        g.shots.mkdir()
        yield g
    finally:
        g.stop()
        stop_worker(work / "state" / "xdg" / "sfumato" / "worker.sock")
    print(f"GUI screenshots: {g.shots}")


def stop_worker(path: Path):
    """The worker this GIMP started (in its runtime folder) is no child of GIMP's: ask it to go."""
    from sfumato.service import protocol
    if not path.exists():
        return
    try:
        with protocol.connect(str(path), timeout=5) as sock:
            protocol.send(sock, {"op": "shutdown"})
            protocol.recv(sock)
    except (OSError, EOFError):
        pass


def canvas(shot: np.ndarray) -> np.ndarray:
    """The canvas of the maximized 1600 x 1000 image window: between the rulers, the docks and the
    status bar (the picture at its zoom and the padding around it)."""
    return shot[120:930, 240:1320]


def steady_canvas(g, path: Path) -> np.ndarray:
    """A screenshot once the canvas has stopped changing (a redraw or the zoom settling)."""
    last = canvas(g.shot(path))
    for _ in range(20):
        time.sleep(0.3)
        now = canvas(g.shot(path))
        if np.array_equal(now, last):
            return now
        last = now
    raise AssertionError("the canvas kept changing")


def switch_to(g, name: str):
    """The image tab whose title holds `name` (Alt+1 / Alt+2: GIMP's image tabs in order of opening)."""
    for n in ("1", "2"):
        g.focus_image()
        g.key(f"alt+{n}")
        try:
            g.until(f"image {name}", lambda: re.match(rf"\*?{re.escape(name)}\.xcf-", g.title()), 5)
            return
        except AssertionError:
            pass
    raise AssertionError(f"no image tab {name}: {g.title()}")


def test_the_menu_entries_are_registered(session):
    """pluginrc, which GIMP writes at start-up: each filter has its label and the Filters > Sfumato path
    (a path added before the label is dropped, and the filter is then in no menu)."""
    out = session.g("menus", *ENTRIES)
    for proc, (label, _) in ENTRIES.items():
        assert f"{proc}\t{label}\t<Image>/Filters/Sfumato\t" in out, out


def test_filters_sfumato_opens_with_its_four_filters(session):
    g = session
    switch_to(g, "coffee")
    menus = g.open_sfumato_menu()
    filters, sub = menus[0], menus[-1]
    time.sleep(0.3)  # let the submenu draw
    w, h, x, y = sub
    assert x >= filters[2] + filters[0] - 10 and w >= 150, menus           # opens to the right of Filters
    assert 4 * 18 <= h <= 4 * 30, f"the submenu should hold four entries: {sub}"
    fx, fy = filters[2], filters[3]
    region = f"{x + w - fx + 8}x{max(fy + filters[1], y + h) - fy + 8}+{fx - 4}+{fy - 4}"
    g.shot(g.shots / "menu.png", region)
    g.shot(g.shots / "menu-full.png")
    g.menu_shot = g.shot(g.shots / "sfumato-submenu.png", f"{w}x{h}+{x}+{y}")
    keep(g.shots / "menu.png", "gimp-menu.png")
    g.close_menus()


@pytest.mark.parametrize("proc", list(ENTRIES))
def test_each_dialog_opens_from_the_menu(session, proc):
    g = session
    switch_to(g, "coffee")
    seen = previews(g)
    wid = g.open_dialog(proc, ENTRIES[proc][1])
    title = g.g("xdo", "getwindowname", wid).strip()
    assert title == ENTRIES[proc][0].replace("_", "").rstrip("."), title   # GIMP's style: no "..."
    if proc in ("sfumato-fill-selection", "sfumato-stylize"):  # their previews, drawn by the worker
        g.until("the preview", lambda: previews(g) > seen, 90)
    time.sleep(0.5)  # let it draw
    path = g.shots / SHOT_NAMES[proc]
    g.shot(path, g.geometry(wid, frame=True))
    keep(path, SHOT_NAMES[proc])
    g.close_window(wid)
    g.until("the plug-in to end", lambda: not g.plug_in_pids(), 20)


def worker_cancels(g) -> int:
    """Jobs the worker this GIMP started has cancelled (its log is in GIMP's runtime folder)."""
    return sum(p.read_text().count("stylize cancelled after") for p in (g.state / "xdg").rglob("worker.log"))


def previews(g) -> int:
    """Previews drawn so far: the plug-in logs a line for each."""
    return g.log().count("[sfumato] preview ")


def test_a_changed_setting_redraws_the_preview_and_closing_leaves_nothing(session):
    """Style strength one step down (its mnemonic, then Page Down): a new preview comes; the dialog
    answers meanwhile (it closes at once), no plug-in process or layer is left."""
    g = session
    switch_to(g, "coffee")
    seen = previews(g)
    wid = g.open_dialog("sfumato-stylize", "s")
    g.until("the first preview", lambda: previews(g) > seen, 90)
    for _ in range(3):  # a key can be lost while the dialog takes the focus
        g.g("xdo", "windowactivate", "--sync", wid)
        g.key("alt+n", "Page_Down")
        try:
            g.until("the preview of the new setting", lambda: previews(g) > seen + 1, 30)
            break
        except AssertionError:
            pass
    else:
        raise AssertionError("no new preview after the setting changed")
    line = g.log().split("[sfumato] preview ")[-1].splitlines()[0]
    assert re.match(r"\d+x\d+ drawn [\d.]+s after the change", line), line
    g.key("alt+n", "Page_Down")  # and close while that one is being made
    g.close_window(wid)
    g.until("the plug-in to end", lambda: not g.plug_in_pids(), 20)
    assert "1 layer" in g.title(), g.title()


def test_the_style_gallery_shows_thumbnails_and_a_click_picks_the_style(session):
    """Stylize's gallery of style thumbnails: it is there (the plug-in logs where), it starts on the
    default style, and a click on another thumbnail sets Style (logged) and redraws the preview."""
    g = session
    switch_to(g, "coffee")
    log_start, seen = len(g.log()), previews(g)
    wid = g.open_dialog("sfumato-stylize", "s")
    g.until("the gallery", lambda: "[sfumato] gallery " in g.log()[log_start:], 30)
    g.until("the first preview", lambda: previews(g) > seen, 90)
    # the strip's place in the dialog's window (logged by the plug-in), on the screen
    w, h, x, y = map(int, re.findall(r"\[sfumato\] gallery (\d+)x(\d+)\+(-?\d+)\+(-?\d+)",
                                     g.log()[log_start:])[-1])
    dx, dy = map(int, re.match(r"\d+x\d+\+(-?\d+)\+(-?\d+)", g.geometry(wid)).groups())
    x, y = x + dx, y + dy
    assert w >= 3 * 72 and h >= 72, (w, h)
    path = g.shots / "stylize-gallery.png"
    strip = g.shot(path, f"{w}x{h}+{x}+{y}")
    assert strip.std() > 20, "the gallery shows no pictures"
    assert "[sfumato] style " not in g.log()[log_start:]  # nothing picked yet: the default
    picked = None
    # a thumbnail other than the selected one; then the pointer goes back where gimp3-gui.sh parks it (the
    # title bar): left over the canvas, GIMP would draw the brush outline in the later tests' screenshots
    for tx in (x + 40, x + w - 40, x + 40 + 76):
        g.g("xdo", "mousemove", "--sync", tx, y + 40, "click", "1", "mousemove", "800", "3")
        try:
            g.until("the picked style", lambda: "[sfumato] style " in g.log()[log_start:], 5)
        except AssertionError:
            continue
        picked = re.findall(r"\[sfumato\] style (\S+)", g.log()[log_start:])[-1]
        break
    assert picked and picked != "starry-night", picked
    g.until("the preview of the picked style", lambda: previews(g) > seen + 1, 60)
    time.sleep(0.5)
    path = g.shots / "gimp-stylize-picked.png"
    g.shot(path, g.geometry(wid, frame=True))
    g.close_window(wid)
    g.until("the plug-in to end", lambda: not g.plug_in_pids(), 20)
    assert "1 layer" in g.title(), g.title()


def test_a_fill_with_nothing_selected_is_refused_in_the_dialog(session):
    """The big picture has no selection: the dialog says so and OK does nothing (before, the fill failed
    only after OK)."""
    g = session
    switch_to(g, "coffee-big")
    wid = g.open_dialog("sfumato-fill-selection", "r")
    time.sleep(0.5)
    path = g.shots / "gimp-fill-refused.png"
    shot = g.shot(path, g.geometry(wid, frame=True))
    keep(path, "gimp-fill-refused.png")
    g.g("xdo", "windowactivate", "--sync", wid)
    g.key("Return", "alt+o")  # OK's default key and its mnemonic
    time.sleep(1.5)  # what would have started a fill by now
    assert wid in g.windows(".*"), "the dialog closed: OK was accepted with nothing selected"
    assert not g.plug_in_pids() or "1 layer" in g.title()
    g.close_window(wid)
    assert "1 layer" in g.title(), g.title()
    assert shot.shape[0] > 150


def test_ok_on_a_fill_makes_a_layer_and_ctrl_z_restores_the_exact_picture(session):
    g = session
    switch_to(g, "coffee")
    g.key("ctrl+t")  # View > Show Selection off: the marching ants would change every screenshot
    before = steady_canvas(g, g.shots / "fill-before.png")
    assert "1 layer" in g.title(), g.title()
    wid = g.open_dialog("sfumato-fill-selection", "r")
    time.sleep(0.3)
    g.close_window(wid, key="alt+o")  # OK
    g.until("the fill's new layer", lambda: "2 layers" in g.title(), 120)
    g.until("the plug-in to end", lambda: not g.plug_in_pids(), 30)
    filled = steady_canvas(g, g.shots / "fill-after.png")
    changed = np.any(filled != before, axis=2)
    assert changed.sum() > 500, "the fill changed nothing on screen"
    g.focus_image()
    g.key("ctrl+z")
    g.until("the undo", lambda: "1 layer" in g.title(), 20)
    undone = steady_canvas(g, g.shots / "fill-undone.png")
    assert np.array_equal(undone, before), f"Ctrl+Z: {np.any(undone != before, axis=2).sum()} px differ"
    g.key("ctrl+t")


def test_cancel_mid_run_leaves_the_picture_and_the_menu_as_they_were(session):
    g = session
    switch_to(g, "coffee-big")
    before = steady_canvas(g, g.shots / "cancel-before.png")
    assert "1 layer" in g.title(), g.title()
    seen = previews(g)
    wid = g.open_dialog("sfumato-stylize", "s")
    g.until("the preview", lambda: previews(g) > seen, 120)  # so the cancel below is the final call's
    cancels = worker_cancels(g)
    g.close_window(wid, key="alt+o")
    g.until("the stylize to run", g.plug_in_pids, 20)
    time.sleep(2.0)  # into the job (the worker's log proves it was cancelled mid-run)
    g.click_cancel()
    g.until("the plug-in to end", lambda: not g.plug_in_pids(), 30)
    assert "1 layer" in g.title(), g.title()
    after = steady_canvas(g, g.shots / "cancel-after.png")
    assert np.array_equal(after, before)
    g.until("the worker to note the cancel", lambda: worker_cancels(g) > cancels, 30)
    switch_to(g, "coffee")
    menus = g.open_sfumato_menu()
    time.sleep(0.3)
    w, h, x, y = menus[-1]
    again = g.shot(g.shots / "sfumato-submenu-after-cancel.png", f"{w}x{h}+{x}+{y}")
    g.close_menus()
    assert np.array_equal(again, g.menu_shot), "Filters > Sfumato changed after the Cancel"


def test_gimps_log_has_no_critical_or_warning_from_the_plug_in(session):
    log = session.log()
    bad = [line for line in log.splitlines() if re.search(r"CRITICAL|doesn't exist", line)
           or (re.search(r"WARNING", line) and "sfumato" in line.lower())]
    assert not bad, "\n".join(bad)
