"""A real `sfumato serve` (its own local Ray) for the tests that talk to one."""
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`sfumato serve` in a process of its own, on loopback, with a fresh token; a context manager."""

    def __init__(self, folder: Path, *args: str, env: dict | None = None):
        self.folder, self.args, self.env = folder, args, env or {}
        self.token_file = folder / "token"
        self.token_file.write_text(secrets.token_urlsafe(32))
        self.token = self.token_file.read_text().strip()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"

    def __enter__(self):
        env = {**os.environ, "SFUMATO_HOME": str(self.folder / "sfumato-home"), "RAY_USAGE_STATS_ENABLED": "0",
               **self.env}
        env.pop("RAY_ADDRESS", None)
        self.log = open(self.folder / "server.log", "w")
        self.proc = subprocess.Popen([sys.executable, "-m", "sfumato", "serve", "--port", str(self.port),
                                      "--token-file", str(self.token_file), *self.args],
                                     stdout=self.log, stderr=subprocess.STDOUT, env=env, cwd=self.folder,
                                     start_new_session=True)
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"sfumato serve exited: {(self.folder / 'server.log').read_text()[-3000:]}")
            try:
                urllib.request.urlopen(self.url + "/v1/health", timeout=2)
            except urllib.error.HTTPError as exc:
                if exc.code == 401:  # up, and refusing a request without the token
                    return self
            except OSError:
                pass
            time.sleep(0.5)
        self.__exit__()
        raise RuntimeError("sfumato serve did not answer within 240 s")

    def __exit__(self, *exc):
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.log.close()
