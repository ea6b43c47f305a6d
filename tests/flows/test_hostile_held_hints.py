"""The commands a line tells the user to paste name the archive as given, quoted as one shell word
(round 43, HOSTILE43). A compaction holds its archive open (``/proc/self/fd/N``): its warning's hint
``twin archive check --archive X`` quoted the held path (which needs no quoting) and only then had
the given name put back, so an archive named with a space came out as two words; its refusal's hint
named the archive unquoted at all."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from flows.cli.main import main
from tests.flows.test_hostile_compact_vote import BEFORE, _archive, _files


def _hint(line: str) -> list[str]:
    """The words of the ``twin archive check ...`` command quoted in ``line`` (between backticks)."""
    command = line.split("`twin archive check ", 1)[1].split("`", 1)[0]
    return shlex.split(command)


@pytest.mark.parametrize("name", ["my archive", "it's here", "a;b $(c)"])
def test_the_compact_warning_s_hint_quotes_the_archive_as_given(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str) -> None:
    root = tmp_path / name
    odd = _archive(root, "part-z-odd")  # left out for its types; the others merged
    assert main(["archive", "compact", "--archive", str(root), "--before", BEFORE]) == 0
    err = capsys.readouterr().err
    assert err.startswith("twin: warning: skipped 1 unreadable or foreign archive file: "), err
    assert "/proc/self/fd" not in err
    assert _hint(err) == ["--archive", str(root)]  # pasted, it names this very folder
    assert odd.exists()


def test_the_compact_refusal_s_hint_quotes_the_archive_as_given(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "my archive"
    odd = _archive(root, "part-a-odd")  # it would win the vote once merged: the folder is left
    before = _files(odd.parent)
    assert main(["archive", "compact", "--archive", str(root), "--before", BEFORE]) == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line.startswith("twin: error: 1 date folder left as it was: "), line
    assert _hint(line) == ["--archive", str(root), "--pages", "--repair"]
    assert _files(odd.parent) == before
