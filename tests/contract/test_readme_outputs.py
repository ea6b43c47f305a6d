"""README's "Twin levels" print what `twin sql` prints on the archive `make demo` writes.

Each ``$ twin sql "..."`` there is followed by the rows it printed (wrapped lines, ``...`` for a part
left out, ``# ...`` comments). Models and texts change round after round; an example whose printed
rows no longer come out reads as a wrong answer to whoever copies it (round 30 found 4 of 6 stale
by hand). Here each is run on a ``twin demo --sensor-faults 0.625`` archive (`make demo`) and every
part of its printed rows must appear, in order, in what `twin sql` prints.
"""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

from flows.cli.main import main

ROOT = Path(__file__).resolve().parents[2]
LEVELS = (ROOT / "README.md").read_text(encoding="utf-8").split("## Twin levels", 1)[1].split("\n## ", 1)[0]
COMMAND = re.compile(r'\$ twin sql "((?:[^"\\]|\\.)*)"\n(.*?)(?=\n\s*\$ |\n\s*```)', re.S)


def _printed() -> list[tuple[str, list[str]]]:
    """(query, the parts of its printed rows) of each example with printed rows."""
    out = []
    for sql, rows in COMMAND.findall(LEVELS):
        text = " ".join(re.sub(r"\s#\s.*$", "", line) for line in rows.splitlines())
        parts = [" ".join(p.split()) for p in text.split("...")]
        out.append((" ".join(sql.split()), [p for p in parts if p]))
    return out


PRINTED = _printed()


def test_the_printed_examples_are_found() -> None:
    assert len(PRINTED) >= 5 and all(parts for _, parts in PRINTED)


@pytest.fixture(scope="module")
def demo_archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("make-demo")
    with contextlib.redirect_stdout(io.StringIO()):
        code = main(["demo", "--sensor-faults", "0.625", "--out", str(out), "--no-progress", "--json"])
    assert code == 0
    return out


@pytest.mark.parametrize(("sql", "parts"), PRINTED, ids=[s[:60] for s, _ in PRINTED])
def test_readme_twin_levels_print_what_twin_sql_prints(demo_archive: Path, sql: str,
                                                        parts: list[str]) -> None:
    got = io.StringIO()
    with contextlib.redirect_stdout(got), contextlib.redirect_stderr(io.StringIO()):
        assert main(["sql", sql, "--archive", str(demo_archive)]) == 0
    text = " ".join(got.getvalue().split())
    at = 0
    for part in parts:
        found = text.find(part, at)
        assert found >= 0, f"README prints {part!r} for `twin sql \"{sql}\"`; it prints:\n{got.getvalue()}"
        at = found + len(part)
