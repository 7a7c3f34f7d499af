"""bench/ab_sheets.py: blind sheets hide which method is where, and answers are scored against the key."""
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
import ab_sheets  # noqa: E402


def _fills(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    for i in range(6):
        kind = "box" if i < 3 else "object"
        Image.fromarray(np.full((20, 30, 3), 200, np.uint8)).save(a / f"{kind}-p{i}.png")  # A: light
        Image.fromarray(np.full((20, 30, 3), 40, np.uint8)).save(b / f"{kind}-p{i}.png")   # B: dark
    Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(a / "box-only_in_a.png")  # no pair: left out
    return a, b


def test_sheets_put_each_pair_side_by_side_in_random_order_and_keep_the_key_apart(tmp_path):
    a, b = _fills(tmp_path)
    out, key = tmp_path / "sheets", tmp_path / "keys" / "pair.json"
    assert ab_sheets.make(a, b, out, key, seed=3) == 6
    entries = json.loads(key.read_text())["sheets"]
    assert sorted(p.name for p in out.iterdir()) == [f"{i:02d}.png" for i in range(1, 7)]  # nothing else for judges
    sides = set()
    for e in entries:
        sheet = np.asarray(Image.open(out / f"{e['sheet']}.png"))
        assert sheet.shape == (20 + ab_sheets.LABEL, 2 * 30 + ab_sheets.GAP, 3)
        left_is_light = sheet[ab_sheets.LABEL + 5, 5, 0] == 200
        assert left_is_light == (e["left"] == "A")  # the key says what the sheet shows
        sides.add(e["left"])
    assert sides == {"A", "B"}  # not always the same side
    with pytest.raises(SystemExit, match="outside"):
        ab_sheets.make(a, b, out, out / "key.json")


def test_answers_are_scored_against_the_key(tmp_path, capsys):
    a, b = _fills(tmp_path)
    key = tmp_path / "key.json"
    ab_sheets.make(a, b, tmp_path / "sheets", key, seed=1)
    entries = json.loads(key.read_text())["sheets"]
    # the judge picks A on every box sheet, B on two object sheets, cannot tell on the third
    lines, tie_done = [], False
    for e in entries:
        a_side = "L" if e["left"] == "A" else "R"
        b_side = "R" if a_side == "L" else "L"
        if e["kind"] == "box":
            said = a_side
        elif not tie_done:
            said, tie_done = "=", True
        else:
            said = b_side
        lines.append(f"{e['sheet']} {said}")
    answers = tmp_path / "answers.txt"
    answers.write_text("\n".join(lines) + "\n")
    counts = ab_sheets.score(key, answers)
    assert counts["box"] == {"A": 3, "B": 0, "=": 0}
    assert counts["object"] == {"A": 0, "B": 2, "=": 1}
    assert counts["all"] == {"A": 3, "B": 2, "=": 1}
    # bare answers, one a line in sheet order, read the same
    answers.write_text("\n".join(line.split()[1] for line in sorted(lines)) + "\n")
    assert ab_sheets.score(key, answers)["all"] == {"A": 3, "B": 2, "=": 1}
    answers.write_text("01 X\n")
    with pytest.raises(SystemExit, match="L, R or ="):
        ab_sheets.score(key, answers)
