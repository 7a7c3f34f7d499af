"""docs/cli.md is generated from the command line's own parsers (core/cli.py, whose schema options come
from core/options.py), so the reference cannot drift from the code: this test fails when the file
differs from what the generator makes.

Regenerate after changing a command or an option:

    .venv/bin/python -m tests.test_docs > docs/cli.md

The generator lives here, not in core/, because core's import-floor test (tests/test_packaging.py)
places every core module on a floor, and a docs generator is no part of the runtime."""
from __future__ import annotations

import argparse
import re
import sys

from tests.conftest import ROOT

CLI_MD = ROOT / "docs" / "cli.md"

HEADER = """\
# Command line reference

<!-- Generated from core/cli.py by `python -m tests.test_docs > docs/cli.md`; do not edit by hand.
     tests/test_docs.py fails when this file and the parsers differ. -->

Every command of `sfumato`, with every option, as `sfumato COMMAND --help` states it. The options of
`stylize` and `inpaint` that also appear in GIMP's dialogs and in the server's API come from one
schema, `core/options.py`; their ranges are listed here and checked by every door. What the settings
do to a picture: [guide.md](guide.md).

Exit codes: 0 done; 1 a batch in which some files failed (the summary names them); 2 a user error
(one `error: …` line on stderr, nothing written); 130 interrupted.
"""


def _subparsers(parser: argparse.ArgumentParser) -> list[tuple[str, argparse.ArgumentParser, str]]:
    """(name, parser, help) of each subcommand, in the order they were added."""
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {c.dest: c.help for c in action._choices_actions}
            found += [(name, sub, helps.get(name, "")) for name, sub in action.choices.items()]
    return found


def _metavar(action: argparse.Action) -> str:
    if action.nargs == 0:
        return ""
    if action.choices is not None:
        text = "{" + ",".join(map(str, action.choices)) + "}"
    else:
        text = action.metavar or action.dest.upper()
    if action.nargs == "+":
        return f"{text} [{text} …]"
    if action.nargs == "?":
        return f"[{text}]"
    return text


def _escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _ranges(operation: str) -> dict[str, tuple]:
    from sfumato.options import SCHEMA
    return {o.name: o.range for o in SCHEMA.get(operation, ()) if o.range is not None}


def _row(action: argparse.Action, ranges: dict) -> str:
    name = ", ".join(f"`{s}`" for s in action.option_strings) or f"`{action.metavar or action.dest.upper()}`"
    value = _metavar(action)
    notes = []
    if action.required and action.option_strings:
        notes.append("required")
    if action.dest in ranges:
        lo, hi = ranges[action.dest]
        notes.append(f"range {lo:g}–{hi:g}")
    help_text = action.help or ""
    stated = re.search(r" \(default ([^()]*)\)$", help_text)  # the schema's options state their default last
    if stated:
        help_text = help_text[:stated.start()]
        notes.append(f"default {stated.group(1)}")
    elif (action.default not in (None, False, argparse.SUPPRESS) and action.nargs != 0
            and "default" not in help_text.lower()):
        notes.append(f"default {action.default}")
    describe = help_text.rstrip(".") + (f" ({'; '.join(notes)})" if notes else "")
    return f"| {name} | {f'`{value}`' if value else ''} | {_escape(describe.strip())} |"


def _section(path: str, parser: argparse.ArgumentParser, summary: str, level: int) -> list[str]:
    lines = [f"{'#' * level} `{path}`", ""]
    if summary:
        lines += [summary[0].upper() + summary[1:] + ".", ""]
    shown = [a for a in parser._actions
             if not isinstance(a, (argparse._HelpAction, argparse._SubParsersAction))]
    if shown:
        lines += ["| option | value | what |", "|---|---|---|"]
        ranges = _ranges(path.split()[1] if " " in path else "")
        lines += [_row(a, ranges) for a in shown]
        lines.append("")
    exclusive = []
    for group in parser._mutually_exclusive_groups:
        names = " / ".join(f"`{a.option_strings[0]}`" for a in group._group_actions)
        exclusive.append(f"{'Exactly one' if group.required else 'At most one'} of {names}.")
    if exclusive:
        lines += [" ".join(exclusive), ""]
    for name, sub, help_text in _subparsers(parser):
        lines += _section(f"{path} {name}", sub, help_text, level + 1)
    return lines


def render() -> str:
    """docs/cli.md, from the parsers of core/cli.py."""
    from sfumato.cli import build_parser
    parser = build_parser()
    lines = [HEADER]
    commands = _subparsers(parser)
    lines += ["| command | what |", "|---|---|"]
    lines += [f"| [`sfumato {name}`](#sfumato-{name}) | {_escape(help_text)} |" for name, _, help_text in commands]
    lines += ["", "Global options: `--version` (print the version), `-h`, `--help` (on every command).", ""]
    for name, sub, help_text in commands:
        lines += _section(f"sfumato {name}", sub, help_text, 2)
    return "\n".join(lines).rstrip("\n") + "\n"


def test_cli_md_is_what_the_parsers_make():
    expected = render()
    assert CLI_MD.exists(), "docs/cli.md is missing: run `.venv/bin/python -m tests.test_docs > docs/cli.md`"
    assert CLI_MD.read_text(encoding="utf-8") == expected, (
        "docs/cli.md differs from the command line's parsers: run `.venv/bin/python -m tests.test_docs > docs/cli.md`")


def test_every_command_and_option_is_in_cli_md():
    """The generator itself leaves nothing out: every flag of every (sub)command appears."""
    from sfumato.cli import build_parser
    text = render()

    def walk(parser):
        for action in parser._actions:
            for flag in action.option_strings:
                assert f"`{flag}`" in text, flag
        for name, sub, _ in _subparsers(parser):
            assert name in text, name
            walk(sub)
    walk(build_parser())


def test_the_readme_and_docs_link_only_to_files_that_exist():
    """Relative links (docs, pictures) in README.md, CHANGELOG.md and docs/*.md point at files in the tree."""
    missing = []
    for page in [ROOT / "README.md", ROOT / "CHANGELOG.md", *sorted((ROOT / "docs").glob("*.md"))]:
        if not page.exists():
            continue
        for target in re.findall(r"\]\(([^)#\s]+)", page.read_text(encoding="utf-8")):
            if "://" not in target and not (page.parent / target).exists():
                missing.append(f"{page.relative_to(ROOT)} -> {target}")
    assert not missing, f"links to missing files: {missing}"


def test_the_readme_stays_a_short_guide():
    """Issue 34: a README a newcomer reads in five minutes, GIMP within its first ~100 lines, and the two
    commands it gives are the ones CI runs."""
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 200, f"README.md has {len(lines)} lines; move the detail to docs/"
    gimp = next(i for i, line in enumerate(lines) if line.startswith("## ") and "GIMP" in line)
    assert gimp < 100, f"the GIMP section starts at line {gimp + 1}"
    text = "\n".join(lines)
    assert "make demo" in text and "make test" in text
    assert "make test" in (ROOT / ".ci" / "run").read_text()


if __name__ == "__main__":
    sys.stdout.write(render())
