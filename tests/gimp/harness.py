"""Run scenarios through the real GIMP 3 (headless, in the Debian 13 chroot of shared/tools/gimp3)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TOOLS = Path(os.environ.get("GIMP3_TOOLS", ROOT.parent / "shared" / "tools" / "gimp3"))
CHROOT = Path(os.environ.get("GIMP3_ROOT", "/opt/trixie-gimp"))
GIMP_HOME = os.environ.get("GIMP3_HOME", "/root/gimp3-home")
PROFILE = CHROOT / GIMP_HOME.lstrip("/") / ".config" / "GIMP" / "3.0"
WORKER_SOCKET = CHROOT / "tmp" / f"sfumato-{os.getuid()}" / "worker.sock"


def available() -> str | None:
    """None when the real GIMP can run here, else why not."""
    if os.getuid() != 0:
        return "needs root (chroot)"
    if not (TOOLS / "gimp3-run.sh").exists():
        return f"no GIMP 3 tools at {TOOLS}"
    if not (CHROOT / "usr" / "bin" / "gimp-console-3.0").exists():
        return f"no GIMP 3 chroot at {CHROOT} (run {TOOLS}/setup-gimp3.sh)"
    return None


def require(check=None, what: str = "real GIMP") -> None:
    """Skip the calling test where the real GIMP cannot run (`check`, default available(), says why);
    fail instead under SFUMATO_REQUIRE_GIMP (CI)."""
    import pytest
    why = (check or available)()
    if why:
        if os.environ.get("SFUMATO_REQUIRE_GIMP"):
            pytest.fail(f"{what} required but unavailable: {why}")
        pytest.skip(why)


def install_plugin() -> None:
    from sfumato.gimp_plugin.install import install
    install(PROFILE)


def run_cases(cases: list[dict], out: Path, timeout: int = 900) -> tuple[list[dict], str]:
    """Run the cases in one GIMP session; returns (records, GIMP's output)."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "cases.json").write_text(json.dumps(cases))
    driver = Path(__file__).resolve().parent / "driver.py"
    python_home = Path(sys.base_prefix).resolve()
    cmd = [str(TOOLS / "gimp3-run.sh"), "--bind", str(ROOT), "--bind", str(out), "--bind", str(python_home),
           "--env", f"SFUMATO_CASES={out / 'cases.json'}", "--env", f"SFUMATO_OUT={out}", "--",
           "gimp-console-3.0", "-i", "-d", "-f", "--quit", "--batch-interpreter=python-fu-eval",
           "-b", f"exec(open('{driver}').read())"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    log = proc.stdout + proc.stderr
    records_path = out / "records.json"
    if not records_path.exists():
        raise RuntimeError(f"GIMP run failed (rc {proc.returncode}):\n{log[-4000:]}")
    return json.loads(records_path.read_text()), log


def reset_worker_log() -> None:
    (WORKER_SOCKET.parent / "worker.log").unlink(missing_ok=True)


def worker_log() -> str:
    path = WORKER_SOCKET.parent / "worker.log"
    return path.read_text() if path.exists() else ""


def stop_worker() -> None:
    """Stop the chroot's worker and wait until its socket is gone (a worker already on its way out,
    say from the previous module's stop, may accept the connection and close it unanswered)."""
    import time

    from sfumato.service import protocol
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            sock = protocol.connect(str(WORKER_SOCKET), timeout=5)
        except OSError:
            return
        with sock:
            try:
                protocol.send(sock, {"op": "shutdown"})
                protocol.recv(sock)
            except (EOFError, OSError):
                pass
        time.sleep(0.1)
