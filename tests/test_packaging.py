"""Installed under our own name: the wheel holds one top-level package, `sfumato` (nothing called
`core` or `export` lands in site-packages), and a non-editable install runs without the source tree:
the CLI, the GIMP installer and the worker the plug-in starts."""
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from tests.conftest import ROOT, SAMPLES, build_wheel, install_wheel


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    return build_wheel(tmp_path_factory.mktemp("wheel"))


def test_the_wheel_has_one_top_level_name_and_everything_it_needs(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert {n.split("/")[0] for n in names} == {"sfumato", wheel.name.split("-py3")[0] + ".dist-info"}
    for needed in ("sfumato/cli.py", "sfumato/service/protocol.py", "sfumato/models/manifest.json", "sfumato/models/NOTICE",
                   "sfumato/models/styles.onnx", "sfumato/models/sfumato-inpaint.onnx", "sfumato/samples/coffee.jpg",
                   "sfumato/export/__main__.py", "sfumato/export/nets/__init__.py",
                   "sfumato/gimp_plugin/install.py", "sfumato/gimp_plugin/sfumato/sfumato.py",
                   "sfumato/gimp_plugin/sfumato/sfumato_plugin.py"):
        assert needed in names, needed
    assert not [n for n in names if n.endswith(".pt")]  # training checkpoints stay in the source tree


def test_a_non_editable_install_runs_without_the_source_tree(wheel, tmp_path):
    target = install_wheel(wheel, tmp_path / "site")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(target), "SFUMATO_HOME": str(tmp_path / "home"), "HOME": str(tmp_path)}

    def run(*args, cwd=elsewhere):
        return subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True, cwd=cwd, env=env,
                              timeout=300)

    r = run("-c", "import sfumato, sfumato.export, sfumato.gimp_plugin.install as i; print(sfumato.__file__, i.PROTOCOL_SRC)")
    assert r.returncode == 0 and r.stdout.split() == [str(target / "sfumato" / "__init__.py"),
                                                     str(target / "sfumato" / "service" / "protocol.py")], r.stdout + r.stderr
    r = run("-m", "sfumato", "stylize", SAMPLES / "coffee.jpg", "--style", "starry-blue", "-o", tmp_path / "out.png")
    assert r.returncode == 0 and (tmp_path / "out.png").stat().st_size > 10_000, r.stderr
    gimp = tmp_path / "GIMP" / "3.0"
    r = run("-m", "sfumato", "gimp", "install", "--gimp-dir", gimp)
    assert r.returncode == 0, r.stderr
    plugin = gimp / "plug-ins" / "sfumato"
    assert {"sfumato.py", "sfumato_plugin.py", "sfumato_client.py", "sfumato_protocol.py", "sfumato-config.json"} <= {p.name for p in plugin.iterdir()}
    # the worker, started with the installed plug-in's own command and folder (its folder holds a
    # sfumato.py that must not shadow the package), here with the non-editable install on PYTHONPATH
    sys.path.insert(0, str(plugin))
    try:
        import sfumato_client
        argv, cwd = sfumato_client.worker_command(sfumato_client.load_config())
    finally:
        sys.path.remove(str(plugin))
        for name in ("sfumato_client", "sfumato_protocol"):
            sys.modules.pop(name, None)
    assert argv[0] == sys.executable and argv[1:3] == ["-m", "sfumato.service.worker"]
    sock = tmp_path / "w.sock"
    worker = subprocess.Popen(argv + ["--socket", str(sock)], cwd=cwd, env=env, stderr=subprocess.PIPE, text=True)
    try:
        from sfumato.service import protocol
        deadline = time.monotonic() + 60
        while not sock.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        s = protocol.connect(str(sock), timeout=30)
        protocol.send(s, {"op": "styles"})
        msg, _ = protocol.recv(s)
        s.close()
        assert msg["type"] == "result" and "starry-blue" in msg["styles"]
    finally:
        worker.terminate()
        worker.wait(30)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    top = {"core": ["sfumato"], "export": ["sfumato", "export"], "gimp_plugin": ["sfumato", "gimp_plugin"]}[parts[0]]
    name = top + parts[1:]
    return ".".join(name[:-1] if name[-1] == "__init__" else name)


def _imports(path: Path, modules: frozenset = frozenset()) -> set[str]:
    """Absolute module names a file imports anywhere in it (relative imports resolved against its
    package); `from X import y` counts as X.y where that is one of `modules`."""
    import ast
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            module = ".".join(p for p in (base, node.module or "") if p)
            found |= {f"{module}.{a.name}" if f"{module}.{a.name}" in modules else module for a in node.names}
    return found


# core's floors, top down: a module imports only from its own floor or the floors below it, except
# that styling and inpainting share a floor and never import each other. `sfumato` itself (the
# package: its version and the lazy public API) loads nothing when imported, so anything may import it.
CORE_FLOORS = [{"sfumato.__main__", "sfumato.cli"}, {"sfumato.service"}, {"sfumato.batch"},
               {"sfumato.styling", "sfumato.inpainting"}, {"sfumato.runtime"},
               {f"sfumato.{m}" for m in ("pixels", "imageio", "png", "threads", "options", "errors", "atomic", "hooks")}]


def _floor(module: str) -> tuple[int, str]:
    """(floor, unit): the floor's index, and the part of it the module belongs to."""
    parent = ".".join(module.split(".")[:2])
    for i, units in enumerate(CORE_FLOORS):
        if module in units or parent in units:
            return i, parent if parent in ("sfumato.styling", "sfumato.inpainting") else str(i)
    raise AssertionError(f"{module} is on no floor of CORE_FLOORS: add it where it belongs")


def test_imports_only_go_downward():
    """The runtime never imports the export path, the plug-in or torch; the export path never imports
    the plug-in (they plug in through entry points, core/hooks.py); inside core, each floor imports
    only from the floors below it."""
    core = {_module_name(p): p for p in (ROOT / "core").rglob("*.py")}
    for name, path in core.items():
        found = _imports(path, frozenset(core))
        bad = {m for m in found if m.startswith(("sfumato.export", "sfumato.gimp_plugin", "torch",
                                                 "core", "export", "gimp_plugin"))}
        assert not bad, f"{path.relative_to(ROOT)} imports {bad}"
        if name == "sfumato":
            continue
        floor, unit = _floor(name)
        for m in found & set(core) - {"sfumato"}:
            to_floor, to_unit = _floor(m)
            assert to_unit == unit or to_floor > floor, f"{name} imports {m}: upward or sideways"
    for path in (ROOT / "export").rglob("*.py"):
        bad = {m for m in _imports(path) if m.startswith(("sfumato.gimp_plugin", "gimp_plugin", "core", "export"))}
        assert not bad, f"{path.relative_to(ROOT)} imports {bad}"


def test_no_import_circles():
    """No two of our modules import each other, directly or round a loop: not at the top of a file and
    not hidden inside a function either (a function-local import is how a circle usually hides)."""
    files = {_module_name(p): p for d in ("core", "export", "gimp_plugin") for p in (ROOT / d).rglob("*.py")}
    modules = frozenset(files)  # `from ..runtime import sessions` imports the module sfumato.runtime.sessions
    graph = {name: {e for e in _imports(path, modules) if e in files and e != name} for name, path in files.items()}
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                loop = path[path.index(nxt):] + [nxt]
                raise AssertionError("import circle: " + " -> ".join(loop))
            if nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = 2
    for name in sorted(graph):
        if name not in state:
            visit(name, [name])


def test_setup_adds_the_cuda_extra_exactly_where_an_nvidia_driver_is_loaded():
    """A GPU box runs on the GPU after the README's two commands: `make` installs the cuda extra where
    an NVIDIA driver is loaded (the paths the runtime checks), and CUDA= / CUDA=1 decide instead."""
    from sfumato.runtime.sessions import nvidia_driver_present
    env = {k: v for k, v in os.environ.items() if k != "CUDA"}

    def pip_line(*overrides):
        r = subprocess.run(["make", "-n", "-B", ".venv/bin/.installed", *overrides], cwd=ROOT, env=env,
                           capture_output=True, text=True, check=True)
        return next(line for line in r.stdout.splitlines() if "pip install --quiet -e" in line)

    assert pip_line("CUDA=1").endswith('-e ".[export,test,serve,ray,cuda]"')
    for off in ("CUDA=", "CUDA=0"):
        assert pip_line(off).endswith('-e ".[export,test,serve,ray]"')
    assert pip_line() == pip_line("CUDA=1" if nvidia_driver_present() else "CUDA=")
