"""A ``--config`` file is read and parsed once per command (round 31, LOOSE31): the file check
(``flows.cli.input_files``) parsed it, then each settings load parsed it again. The settings and
the errors are the same."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from flows.cli.main import main
from tests.flows.archive_fixtures import small_archive


def _counting(monkeypatch: pytest.MonkeyPatch, text: str) -> list[int]:
    """Count the parses of ``text`` (the config's; the TWIN_* values are parsed by tomllib too)."""
    real, seen = tomllib.loads, [0]

    def loads(s: str, **kw: Any) -> dict[str, Any]:
        seen[0] += s.lstrip("\ufeff") == text
        return real(s, **kw)

    monkeypatch.setattr(tomllib, "loads", loads)
    return seen


def test_a_config_file_is_parsed_once_and_its_settings_apply(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    archive = small_archive(tmp_path / "a")
    text = f"[pipeline]\narchive_dir = {str(archive)!r}\n"
    cfg = tmp_path / "c.toml"
    cfg.write_text(text)
    seen = _counting(monkeypatch, text)
    assert main(["sql", "SELECT count(*) AS n FROM features", "--config", str(cfg), "--format", "csv"]) == 0
    assert capsys.readouterr().out.splitlines() == ["n", "6"]  # the file's archive_dir
    assert seen == [1]  # was 2: the check's parse, then the load's


def test_an_edited_config_file_is_read_afresh_and_a_bad_one_still_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from flows.cli.config_file import load_settings

    cfg = tmp_path / "c.toml"
    cfg.write_text("[pipeline]\narchive_dir = 'one'\n")
    assert load_settings(str(cfg)).archive_dir == "one"
    cfg.write_text("[pipeline]\narchive_dir = 'second'\n")
    assert load_settings(str(cfg)).archive_dir == "second"
    cfg.write_text("[pipeline]\narchive_dir = \n")
    assert main(["sql", "SELECT 1", "--config", str(cfg)]) == 2
    assert capsys.readouterr().err.startswith(f"twin: error: --config {cfg}: not valid TOML: ")


def test_a_config_file_too_large_is_refused_without_reading_it_whole(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Round 32 (HOSTILE32): a 3 GB --config was read whole (29 s, 6.3 GB of memory) before its
    first line was found not to be TOML; now what is past MAX_BYTES is one line, read no further."""
    from flows.cli import config_file

    cfg = tmp_path / "c.toml"
    with cfg.open("wb") as f:  # sparse: a valid TOML comment, then zeros past the bound
        f.write(b"# settings\n")
        f.truncate(config_file.MAX_BYTES + 1)
    assert main(["sql", "SELECT 1", "--config", str(cfg)]) == 2
    assert capsys.readouterr().err == (f"twin: error: --config {cfg}: too large (over 16 MiB; a config "
                                       "file is a few KB of TOML)\n")
