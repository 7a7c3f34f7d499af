"""What an installed Sfumato has before its first command: sfumato's modules compiled to bytecode.
pip compiles a package when it installs it; the editable install of `make setup` leaves that to the
first import, which PYTHONDONTWRITEBYTECODE (set on some machines, this project's among them) turns
off, and then every command compiles its modules afresh: ~20 ms of a stylize call here. `make setup`
compiles them; the benches that time whole commands do it again, after any edit, so they time what
a user's install runs."""
import compileall
from pathlib import Path

CORE = Path(__file__).resolve().parent.parent / "core"


def compile_sfumato() -> None:
    compileall.compile_dir(str(CORE), quiet=1)
