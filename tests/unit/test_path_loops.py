"""An output folder through a loop of symbolic links (round 34, HOSTILE34): refused at the start in
one line that names the flag and the link. Before: ``twin: error: [Errno 40] Too many levels of
symbolic links: '<path>/features'`` (no flag, a path the user never typed), from deeper in the
command."""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.cli.main import main


@pytest.mark.parametrize("argv", [["demo", "--out"], ["backtest", "in.csv", "--out"]])
@pytest.mark.parametrize("below", ["", "x", "x/y"])
def test_an_output_folder_through_a_symbolic_link_loop_is_one_line_naming_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], below: str) -> None:
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    out = tmp_path / "a" / below if below else tmp_path / "a"
    (tmp_path / "in.csv").write_text("timestamp,value\n2026-01-01T00:00:00,1\n")
    argv = [str(tmp_path / a) if a == "in.csv" else a for a in argv]
    assert main([*argv, str(out)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == [f"twin: error: --out {out}: {tmp_path / 'a'} is a loop of symbolic links (or too many "
                     "of them): name another folder"]
