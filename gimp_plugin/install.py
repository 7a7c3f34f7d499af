"""`sfumato gimp install | uninstall | status`: put the plug-in where GIMP 3 looks for it.

The plug-in folder gets sfumato.py (executable: the file GIMP starts), sfumato_plugin.py (the plug-in
it imports), its client, a copy of core/service/protocol.py and sfumato-config.json naming this
environment's Python, so the plug-in can start the worker here.
"""
from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from sfumato import atomic
from sfumato.service import protocol
from sfumato.errors import SfumatoError
from sfumato.options import WORKER_IDLE_TIMEOUT_S

PLUGIN_SRC = Path(__file__).resolve().parent / "sfumato"
PROTOCOL_SRC = Path(protocol.__file__)  # core/service/protocol.py in the source tree
FLATPAK_NOTE = ("Flatpak GIMP runs plug-ins inside its sandbox, which cannot start programs of the host's Python "
                "environment; the plug-in is installed but the worker will not start unless the sandbox is opened "
                "(e.g. `flatpak override --user --filesystem=home --talk-name=org.freedesktop.Flatpak "
                "org.gimp.GIMP`) or GIMP is installed from your distribution instead.")


def profiles() -> list[Path]:
    """GIMP 3 profile folders of this user: native and Flatpak."""
    home = Path.home()
    found = []
    for base in (home / ".config" / "GIMP", home / ".var" / "app" / "org.gimp.GIMP" / "config" / "GIMP"):
        found += sorted(p for p in base.glob("3.*") if p.is_dir())
    return found


def _targets(gimp_dir: Path | None) -> list[Path]:
    if gimp_dir is not None:
        return [gimp_dir]
    found = profiles()
    return found or [Path.home() / ".config" / "GIMP" / "3.0"]  # GIMP creates it on first start


def _config(idle_timeout: int) -> dict:
    from sfumato.options import DEFAULT_INPAINT_MODEL
    from sfumato.options import SCHEMA
    from sfumato.runtime.manifest import all_models
    from sfumato.styling.styles import style_table
    inpainters = sorted((n for n, m in all_models().items() if m.task == "inpaint"), key=lambda n: n != DEFAULT_INPAINT_MODEL)
    from sfumato import package_version
    return {"python": sys.executable, "version": package_version(), "idle_timeout": idle_timeout,
            "styles": [s["name"] for s in style_table()],
            "inpaint_models": inpainters,
            # the option schema's GIMP part: the plug-in makes its procedure arguments from it
            "options": {op: [o.describe() for o in options if o.gimp] for op, options in SCHEMA.items()}}


def _write_json(path: Path, data: dict) -> None:
    """Atomically, readable by this user only: the config may hold a server's token."""
    atomic.write_json(path, data, mode=0o600)


def install(gimp_dir: Path | None = None, idle_timeout: int = int(WORKER_IDLE_TIMEOUT_S),
            server: str | None = None, token: str | None = None, resident: bool = False) -> list[Path]:
    """Copy the plug-in into each GIMP profile. With `server`, its jobs go to that `sfumato serve`
    (with `token`) instead of a local worker. `resident` is refused (RESIDENT_NOTE)."""
    if resident:
        raise SfumatoError(RESIDENT_NOTE)
    installed = []
    config = _config(idle_timeout)
    if server:
        config.update(server=server.rstrip("/"), token=token)
    for profile in _targets(gimp_dir):
        dest = profile / "plug-ins" / "sfumato"
        dest.mkdir(parents=True, exist_ok=True)
        for name in ("sfumato.py", "sfumato_plugin.py", "sfumato_client.py", "sfumato_preview.py"):
            shutil.copyfile(PLUGIN_SRC / name, dest / name)
        shutil.copyfile(PROTOCOL_SRC, dest / "sfumato_protocol.py")
        # the style picker's thumbnails (python -m sfumato.export build thumbs)
        shutil.copytree(PLUGIN_SRC / "thumbs", dest / "thumbs", dirs_exist_ok=True)
        (dest / "sfumato.py").chmod(0o755)  # GIMP skips plug-ins without the run bit
        _write_json(dest / "sfumato-config.json", config)
        installed.append(dest)
    return installed


def installed_dirs(gimp_dir: Path | None = None) -> list[Path]:
    return [p / "plug-ins" / "sfumato" for p in _targets(gimp_dir) if (p / "plug-ins" / "sfumato").exists()]


def refresh_installed_plugins() -> None:
    """After a new style is trained or a model added: offer it in every installed plug-in's menus."""
    for dest in installed_dirs():
        cfg_path = dest / "sfumato-config.json"
        if cfg_path.exists():
            cfg = json.loads(cfg_path.read_text())
            fresh = _config(cfg.get("idle_timeout", int(WORKER_IDLE_TIMEOUT_S)))
            _write_json(cfg_path, {**cfg, "version": fresh["version"], "styles": fresh["styles"],
                                   "inpaint_models": fresh["inpaint_models"],
                                   "options": fresh["options"]})


def stop_worker() -> bool:
    from sfumato.service import protocol
    try:
        sock = protocol.connect(timeout=5)
    except OSError:
        return False
    with sock:
        protocol.send(sock, {"op": "shutdown"})
        protocol.recv(sock)
    return True


def worker_status() -> str:
    from sfumato.service import protocol
    try:
        sock = protocol.connect(timeout=5)
    except OSError:
        return "not running (the plug-in starts it on first use)"
    with sock:
        protocol.send(sock, {"op": "ping"})
        msg, _ = protocol.recv(sock)
    return f"running, pid {msg['pid']}, socket {protocol.socket_path()}"


RESIDENT_NOTE = ("--resident is no longer offered: in GIMP 3.0's window a resident plug-in's filters could not be "
                 "kept in the menus (a Cancel ended the process and its filters, and starting it again brought them "
                 "back in no menu). Install without it: each call is its own process (~80 ms more per call) and "
                 "the worker stays warm.")


def main(action: str, gimp_dir: Path | None, server: str | None = None, token: str | None = None,
         resident: bool = False) -> int:
    if action == "install":
        for dest in install(gimp_dir, server=server, token=token, resident=resident):
            print(f"installed the GIMP plug-in in {dest}" + (f", sending its jobs to {server}" if server else ""))
            if "org.gimp.GIMP" in str(dest):
                print(f"note: {FLATPAK_NOTE}")
        print(f"worker Python: {sys.executable}. Restart GIMP, then use Filters > Sfumato.")
    elif action == "uninstall":
        dirs = installed_dirs(gimp_dir)
        if not dirs:
            raise SfumatoError("the Sfumato plug-in is not installed in any GIMP 3 profile")
        for dest in dirs:
            shutil.rmtree(dest)
            print(f"removed {dest}")
        if stop_worker():
            print("stopped the running worker")
    else:
        dirs = installed_dirs(gimp_dir)
        if not dirs:
            print("plug-in: not installed (run `sfumato gimp install`)")
        for dest in dirs:
            cfg = json.loads((dest / "sfumato-config.json").read_text())
            ok = "ok" if Path(cfg["python"]).exists() else "MISSING - run `sfumato gimp install` again"
            where = f"jobs go to the server {cfg['server']}" if cfg.get("server") else f"worker Python {cfg['python']}: {ok}"
            print(f"plug-in: {dest} ({where})")
        print(f"worker: {worker_status()}")
    return 0
