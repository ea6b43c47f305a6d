"""One place gives a held folder's name back in the lines a command prints (round 43, TIDY43):
:func:`~flows.app.out_held.as_given`, the error lines (``print_error``) and an exception leaving a
hold; the commands passed the name they were given down by hand before (``shown``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.app.out_held import as_given, held_folder
from flows.cli.args import print_error


def test_nested_holds_are_named_as_given_and_no_longer_once_closed(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with held_folder(out, lambda: None) as at:
        with held_folder(at / "archive", lambda: None) as archive_at:
            assert str(at) != str(out) and str(archive_at).startswith("/proc/self/fd/")
            line = f"cannot write {archive_at / 'features'} nor {at / 'scores.parquet'}"
            assert as_given(line) == f"cannot write {out / 'archive/features'} nor {out / 'scores.parquet'}"
            assert as_given(archive_at) == str(out / "archive")
            longer = f"{at}9"  # another number (fd 39 is not fd 3)
            assert as_given(f"{at}/x {longer}") == f"{out}/x {longer}"
        assert as_given(f"{archive_at}") == str(archive_at)  # closed: its number may be another file's now
        assert as_given(at) == str(out)
    assert as_given(at) == str(at)


def test_an_error_line_and_an_exception_leaving_a_hold_name_the_folder_as_given(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    with pytest.raises(ValueError, match="^bad ") as caught, held_folder(out, lambda: None) as at:
        with held_folder(at / "archive", lambda: None) as archive_at:
            print_error(f"{archive_at} is full")
            msg = f"bad {archive_at / 'x.parquet'}"
            raise ValueError(msg)
    assert capsys.readouterr().err == f"twin: error: {out / 'archive'} is full\n"
    assert str(caught.value) == f"bad {out / 'archive' / 'x.parquet'}"
