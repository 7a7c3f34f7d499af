"""The shared secret of `sfumato serve` and its clients. Light (standard library): the CLI's client
side reads it without loading the server's stack."""
from __future__ import annotations

import hashlib
import secrets
from pathlib import Path

from ..errors import SfumatoError

LOOPBACK = ("127.0.0.1", "::1", "localhost")


def token_sha256(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def default_token_file() -> Path:
    return _user_dir() / "serve-token"


def read_token(path: Path) -> str:
    try:
        token = Path(path).read_text().strip()
    except OSError as exc:
        raise SfumatoError(f"cannot read the token file {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        token = None
    if token is None or not (token.isascii() and token.isprintable()) or any(c.isspace() for c in token):
        raise SfumatoError(f"{path} does not hold a token (one line of printable ASCII, no spaces); "
                           "give the file the server was started with")
    if len(token) < 16:
        raise SfumatoError(f"the token in {path} is shorter than 16 characters; use a long random one "
                           "(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))' > FILE`)")
    return token


def server_token(token_file: Path | None, host: str) -> tuple[str, Path]:
    """The token a server checks: from --token-file, or on loopback one made once for this user
    (mode 0600 in the user folder, where local clients find it)."""
    if token_file is not None:
        return read_token(token_file), token_file
    if host not in LOOPBACK:
        raise SfumatoError(f"a server on {host} can be reached from other machines: give it --token-file FILE "
                           "(clients send the same token), or serve on 127.0.0.1")
    path = default_token_file()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        from ..atomic import write_text
        write_text(path, secrets.token_urlsafe(32) + "\n", mode=0o600)
    return read_token(path), path


def _user_dir() -> Path:
    from ..runtime.manifest import user_dir
    return user_dir()
