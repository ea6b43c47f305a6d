"""Names that are not UTF-8 (round 24, HOSTILE24): a byte such as 0xff in an archive folder's name
or in a ``TWIN_*`` value (Python keeps it as a lone surrogate, ``\\udcff``).

On main an archive whose folder name held one had every good file listed as "unreadable Parquet"
(Arrow opens no such path), so ``twin archive check --repair`` moved them all into the quarantine
and ``twin sql`` found no table; ``TWIN_KAFKA__BROKERS`` holding one was an internal error of
librdkafka's client (SystemError, exit 1)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from flows.cli.main import main
from flows.config.pipeline import ConfigError, load_config
from tests.flows.archive_fixtures import small_archive

NOT_UTF8 = os.fsdecode(b"arch\xffive")


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*.parquet"))


@pytest.mark.parametrize("argv", [["archive", "check", "--repair"], ["archive", "check"],
                                  ["archive", "compact"], ["sql", "SELECT count(*) FROM features"],
                                  ["explain", "a1"]],
                         ids=["repair", "check", "compact", "sql", "explain"])
def test_an_archive_folder_named_in_bytes_that_are_not_utf8_is_refused_and_left_as_it_is(
        tmp_path: Path, argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / NOT_UTF8
    os.rename(small_archive(tmp_path / "plain"), root)
    files = _files(root)
    assert len(files) == 2
    assert main([*argv, "--archive", str(root)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "arch\\udcffive has a name that is not UTF-8: Parquet files cannot be opened there" in err
    assert _files(root) == files  # nothing moved into _quarantine, nothing merged
    assert not (root / "_quarantine").exists()


def test_a_demo_into_a_folder_named_in_bytes_that_are_not_utf8_writes_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / NOT_UTF8
    with pytest.raises(SystemExit) as stop:  # refused while the arguments are parsed (CLEAN25: naming --out)
        main(["demo", "--assets", "1", "--days", "0.05", "--out", str(out)])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "argument --out: " in err and "arch\\xffive is not UTF-8 text" in err
    assert not out.exists()


@pytest.mark.parametrize("name", ["TWIN_KAFKA__BROKERS", "TWIN_KAFKA__LIBRDKAFKA__CLIENT_ID",
                                  "TWIN_METRICS__FEATURES"])
def test_a_setting_holding_a_byte_that_is_not_utf8_is_refused_when_loaded(name: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(env={name: "h\udcff:1"})
    assert str(err.value).startswith(f"{name}: config ")  # round 26: the variable, not only the setting
    assert "'h\\udcff:1' is not UTF-8 text" in str(err.value)


def test_brokers_not_utf8_are_one_line_not_an_internal_error(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("TWIN_KAFKA__BROKERS", "h\udcff:1")
    assert main(["topics", "describe", "--connect-timeout", "1"]) == 2
    err = capsys.readouterr().err
    assert err == "twin: error: TWIN_KAFKA__BROKERS: config kafka.brokers: 'h\\udcff:1' is not UTF-8 text\n"


@pytest.mark.parametrize("argv", [["sql", "SELECT 1"], ["archive", "check"]])
def test_an_archive_dir_variable_not_utf8_is_named(argv: list[str], monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """Round 26: ``TWIN_ARCHIVE_DIR`` with a byte that is not UTF-8 was told as "config archive_dir", a
    setting the user had put in no config file."""
    monkeypatch.setenv("TWIN_ARCHIVE_DIR", "/tmp/arch\udcffive")
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err == ("twin: error: TWIN_ARCHIVE_DIR: config archive_dir: '/tmp/arch\\udcffive' "
                   "is not UTF-8 text\n")
