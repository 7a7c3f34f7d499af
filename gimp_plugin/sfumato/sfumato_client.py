"""The plug-in's side of the worker connection. Runs inside GIMP's Python: standard library only.

Finds the running worker through its private Unix socket, or starts one with the interpreter
named in sfumato-config.json (written by `sfumato gimp install`), sends one request and relays
progress until the result or an error comes back.
"""
import json
import os
import select
import subprocess
import time

import sfumato_protocol as protocol

HERE = os.path.dirname(os.path.abspath(__file__))
CONFIG = os.path.join(HERE, "sfumato-config.json")
START_TIMEOUT = 90.0


class WorkerError(Exception):
    """A message for the user."""


def load_config():
    try:
        with open(CONFIG) as f:
            return json.load(f)
    except (OSError, ValueError) as exc:
        raise WorkerError("Sfumato is not set up (%s). Run `sfumato gimp install` in the Sfumato environment."
                          % exc) from None


def log_path():
    return os.path.join(protocol.runtime_dir(), "worker.log")


def worker_command(config):
    """(argv, working folder) of the worker. `python -m` puts its working folder first on sys.path, so
    it runs in the private runtime folder, which holds nothing that could shadow the installed
    `sfumato` package (this plug-in's folder holds sfumato.py; the folder GIMP started in, anything)."""
    return ([config.get("python", ""), "-m", "sfumato.service.worker", "--idle-timeout", str(config.get("idle_timeout", 600))],
            protocol.runtime_dir())


def start_worker(config):
    python = config.get("python", "")
    if not os.path.exists(python):
        raise WorkerError("The Sfumato environment (%s) is missing. Run `sfumato gimp install` again from it."
                          % python)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}  # not GIMP's Python paths
    argv, cwd = worker_command(config)
    with open(log_path(), "ab") as log:
        subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env, cwd=cwd,
                         start_new_session=True, close_fds=True)


def connect_or_start(config):
    try:
        return protocol.connect()
    except (FileNotFoundError, ConnectionRefusedError):
        pass
    start_worker(config)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        try:
            return protocol.connect()
        except (FileNotFoundError, ConnectionRefusedError):
            time.sleep(0.05)
    raise WorkerError("The Sfumato worker did not start within %d s; see %s" % (START_TIMEOUT, log_path()))


def _wait_until_gone(seconds=2.0):
    """A worker that died mid-job can close our connection a moment before its listening socket:
    wait until that socket refuses connections, so the next call really starts a new worker."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            protocol.connect().close()
        except OSError:
            return
        time.sleep(0.05)


def _open_server(config, header, buffers):
    """The job sent to the `sfumato serve` server the installer named; its replies read like the worker's."""
    url = config["server"]
    try:
        return protocol.http_post(url, config.get("token", ""), header["op"], header, buffers)
    except protocol.HttpError as exc:
        raise WorkerError("The Sfumato server %s refused the job: %s%s" % (
            url, exc, " Try again in a moment." if exc.retryable else "")) from None
    except OSError as exc:
        raise WorkerError("Sfumato cannot reach its server at %s (%s). Nothing was changed; check that "
                          "`sfumato serve` runs there, or reinstall without --server to work locally."
                          % (url, exc.strerror or exc)) from None


TICK = 0.2  # s between on_wait calls while no message comes


def request(header, buffers=(), on_progress=None, on_status=None, on_wait=None):
    """Send one request; returns (result header, result buffers). Raises WorkerError.
    on_progress(fraction) follows the job; on_status(text) gets notes such as "busy: 2 jobs ahead";
    on_wait() is called every TICK seconds while nothing arrives (a job that reports no progress,
    such as a fill, still shows that it runs).
    Goes to the local worker, or to the server when `sfumato gimp install --server` named one."""
    config = load_config()
    if config.get("server"):
        sock = _open_server(config, header, buffers)
    else:
        try:
            sock = connect_or_start(config)
        except protocol.ProtocolError as exc:  # e.g. a runtime folder that is not private
            raise WorkerError("Sfumato cannot reach its worker: %s" % exc) from None
    try:
        if not config.get("server"):
            protocol.send(sock, header, *buffers)
        while True:
            if on_wait is not None and hasattr(sock, "fileno"):  # (a server's HTTP body has none)
                while not select.select([sock], [], [], TICK)[0]:
                    on_wait()
            msg, bufs = protocol.recv(sock)
            kind = msg.get("type")
            if kind == "progress":
                if msg.get("message") and on_status is not None:
                    on_status(msg["message"])
                if on_progress is not None:
                    on_progress(msg.get("fraction", 0.0))
            elif kind == "result":
                return msg, bufs
            elif kind == "error":
                raise WorkerError(msg.get("message", "unknown error"))
    except protocol.ProtocolError as exc:
        raise WorkerError("The Sfumato worker sent a message this plug-in cannot read (%s); reinstall with "
                          "`sfumato gimp install`" % exc) from None
    except (EOFError, OSError) as exc:
        if config.get("server"):
            raise WorkerError("The Sfumato server %s stopped answering during the job (%s); nothing was changed. "
                              "Try again." % (config["server"], exc or "connection closed")) from None
        if not isinstance(exc, (EOFError, ConnectionResetError, BrokenPipeError)):
            raise
        _wait_until_gone()
        raise WorkerError("The Sfumato worker stopped during the job (it may have crashed or run out of memory); "
                          "see %s. The next call starts a new worker." % log_path()) from None
    finally:
        sock.close()
