"""What the layers above the runtime plug into it, found through entry points (pyproject.toml,
group "sfumato.hooks") rather than imported: the core never imports the GIMP plug-in.

- "models-changed": called after a style or model is added (the GIMP plug-in's installer offers it in
  the dialogs of every installed plug-in from GIMP's next start);
- "gimp-command": `sfumato gimp install|uninstall|status`, provided by the plug-in's installer.
"""
from __future__ import annotations

from importlib.metadata import entry_points
from typing import Callable

GROUP = "sfumato.hooks"


def hook(name: str) -> Callable | None:
    found = [e for e in entry_points(group=GROUP) if e.name == name]
    return found[0].load() if found else None


def models_changed() -> None:
    refresh = hook("models-changed")
    if refresh is not None:
        refresh()
