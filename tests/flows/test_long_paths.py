"""A path of thousands of characters in a one-line error (round 32, LOOSE32): the line keeps the
path's two ends around ``...`` (where it starts, the file's name) instead of echoing it whole (a
4,000-character ``--config`` made a 4,067-character line, a too-long ``--out`` one of 8,344)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from flows.archive.short_paths import HEAD_CHARS, MAX_WORD_CHARS, short_word
from flows.cli.main import main

DEEP = "/".join(["d" * 200] * 20)  # 4,019 characters below tmp_path, each part a legal name


def _line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err[:500]
    return err.rstrip("\n")


def _shortened(line: str, path: Path) -> None:
    text = str(path)
    assert text not in line and len(line) < 500, line
    # the word holding it (a quote or a colon beside it) keeps both ends: where it starts, its name
    assert f"{text[:HEAD_CHARS // 2]}" in line and f"...{'d' * 50}" in line and text[-100:] in line, line


@pytest.mark.parametrize(("argv", "flag", "says"), [
    (["demo", "--config", "{p}/twin.toml"], "--config", "no such file"),
    (["backtest", "{p}/data.csv", "--out", "{o}"], "input file", "no such file"),
    (["backtest", "{o}/x.csv", "--metadata", "{p}/meta.json", "--out", "{o}"], "--metadata", "no such file"),
])
def test_a_long_input_path_is_shortened_in_its_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], flag: str, says: str) -> None:
    deep = tmp_path / DEEP
    (tmp_path / "x.csv").write_text("timestamp,asset_id,channel,value\n")
    named = [a.format(p=deep, o=tmp_path) for a in argv]
    assert main(named) == 2
    line = _line(capsys)
    path = next(Path(a) for a in named if a.startswith(str(deep)))
    assert line.startswith(f"twin: error: {flag} ") and line.endswith(f"{path.name}: {says}"), line
    _shortened(line, path)


def test_a_long_archive_path_and_an_argument_error_are_shortened(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    deep = tmp_path / DEEP
    assert main(["sql", "SELECT 1", "--archive", str(deep)]) == 2
    line = _line(capsys)
    assert line.startswith("twin: error: no archive: ") and "does not exist" in line, line
    _shortened(line, deep)
    with pytest.raises(SystemExit) as stop:  # argparse's own error (OneLineParser)
        main(["demo", "--workers", str(deep)])
    assert stop.value.code == 2
    line = _line(capsys)
    assert line.endswith("(see `twin demo --help`)"), line
    _shortened(line, deep)


def test_a_path_of_ordinary_length_is_kept_whole(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / ("x" * 100) / "twin.toml"
    assert len(str(path)) <= MAX_WORD_CHARS
    assert main(["demo", "--config", str(path)]) == 2
    assert _line(capsys) == f"twin: error: --config {path}: no such file"


def test_a_word_keeps_its_two_ends() -> None:
    word = "/very/" + "long/" * 100 + "file.toml"
    short = short_word(word)
    assert len(short) == MAX_WORD_CHARS and short.startswith("/very/long/")
    assert short.endswith("/long/file.toml") and "..." in short
    assert short_word("x" * MAX_WORD_CHARS) == "x" * MAX_WORD_CHARS


# ---------------------------------------------------------------- round 33 (LOOSE33): too long for the OS


@pytest.mark.parametrize("argv", [
    ["demo", "--assets", "1", "--days", "1", "--no-progress", "--out", "{o}"],
    ["backtest", "{t}/x.csv", "--no-progress", "--no-report", "--out", "{o}"],
    ["run", "--archive", "{o}", "--exit-at-end", "--brokers", "127.0.0.1:9", "--connect-timeout", "1"],
])
def test_an_output_path_too_long_for_the_os_is_refused_before_any_work(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    """Round 32 noticed: a demo ran its whole simulation, then failed at its first archive write
    (``[Errno 36] File name too long``); a run waited for its broker first. Now one line at the start,
    from the OS's own limit (PC_PATH_MAX), and nothing is created."""
    (tmp_path / "x.csv").write_text("timestamp,asset_id,channel,value\n2026-01-01T00:00:00Z,a,t,1\n")
    out = tmp_path / DEEP  # a legal path, but the archive's files below it are not
    limit = os.pathconf(tmp_path, "PC_PATH_MAX")
    assert len(str(out)) < limit <= len(str(out)) + 100, "DEEP no longer straddles this OS's PATH_MAX"
    assert main([a.format(o=out, t=tmp_path) for a in argv]) == 2
    line = _line(capsys)
    flag = "--archive" if argv[0] == "run" else "--out"
    assert line.startswith(f"twin: error: {flag} {str(out)[:HEAD_CHARS]}...")
    assert f"over the {limit - 1:,} this OS allows (PC_PATH_MAX): name a shorter folder" in line, line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.csv"]  # not a folder made


def test_a_folder_name_too_long_for_the_file_system_is_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    name_max = os.pathconf(tmp_path, "PC_NAME_MAX")
    out = tmp_path / ("n" * (name_max + 1)) / "out"
    assert main(["demo", "--assets", "1", "--days", "1", "--no-progress", "--out", str(out)]) == 2
    line = _line(capsys)
    said = f"a name in it is {name_max + 1:,} bytes, over the {name_max:,} this file system allows"
    assert said in line, line
    assert list(tmp_path.iterdir()) == []


def test_a_query_s_skipped_files_warning_shortens_long_paths(tmp_path: Path) -> None:
    """Round 32 noticed: ``twin: warning: skipped ...`` printed the archive's path whole."""
    from flows.archive.files import BadFile
    from flows.archive.query import skipped_warning

    root = tmp_path / DEEP
    bad = BadFile(root / "features" / "date=2026-01-01" / ("x" * 250 + ".parquet"), "features", "not Parquet")
    line = skipped_warning(root, [bad])
    assert "\n" not in line and len(line) < 700, len(line)
    assert line.startswith("twin: warning: skipped 1 unreadable or foreign archive file: features/"), line
    assert f"{'x' * 50}.parquet (not Parquet)" in line and "...ddd" in line and str(root) not in line, line
    assert line.endswith(f"{'d' * 60}`)"), line  # the check command's folder: its end kept


def test_the_mixing_warning_shortens_a_long_out_path(tmp_path: Path) -> None:
    from flows.app.archive_runs import EarlierRows, mixing_warning

    where = str(tmp_path / DEEP)
    line = mixing_warning(where, EarlierRows(runs={"r1"}, dates={"2026-01-01"}, assets={"a"}), "use --fresh")
    assert line is not None and where not in line and len(line) < 600, line
    assert line.startswith(f"twin: warning: {where[:HEAD_CHARS]}..."), line
    assert "holds data of 1 earlier run" in line


def test_twin_run_s_undelivered_error_line_is_shortened(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """``twin run: error: cannot write the archive in <folder>: ...`` bypassed print_error's shortening."""
    import flows.app.run as run

    folder = tmp_path / "archive" / "features" / ("date=2026-01-01" + "q" * 240)

    def undelivered(*_: object) -> None:
        msg = f"cannot write the archive in {folder}: No space left on device"
        raise run.OutputUndelivered(msg, "once the disk has room")

    monkeypatch.setattr(run, "run_kafka_flow", undelivered)  # the flow's own failure, no broker asked
    assert main(["run", "--archive", str(tmp_path / "archive"), "--exit-at-end"]) == 1
    line = _line(capsys)
    assert line.startswith("twin run: error: cannot write the archive in ") and str(folder) not in line, line
    assert f"...{'q' * 50}" in line and f"{'q' * 50}: No space left on device; stopped before" in line, line


def _path_of_length(base: Path, total: int) -> Path:
    """A path below ``base`` of exactly ``total`` characters, each name at most 200."""
    rest = total - len(str(base))
    k = -(-rest // 201)
    sizes = [(rest - k) // k + (1 if i < (rest - k) % k else 0) for i in range(k)]
    path = base.joinpath(*("d" * n for n in sizes))
    assert len(str(path)) == total
    return path


def test_archive_compact_refuses_an_archive_whose_merged_files_would_be_too_long(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Round 34 (LOOSE33 left it): ``twin archive compact`` had no path-length check. An archive whose
    files fit the OS's PATH_MAX, but whose merged file's hidden name (50 characters) would not, failed
    at its first merged file; now one line at the start, nothing written, no file touched."""
    from tests.flows.test_archive_compact import _write
    from tests.flows.test_archive_layout import _fleet_features

    limit = os.pathconf(tmp_path, "PC_PATH_MAX")
    built = tmp_path / "a"
    _write(built, _fleet_features()[60:], "part-r2-w0-000000", "r2")
    _write(built, _fleet_features()[100:130], "part-r3-w0-000000", "r3")
    root = _path_of_length(tmp_path, limit - 66)  # features' part files fit, the merged one's does not
    root.parent.mkdir(parents=True)
    built.rename(root)
    before = sorted(str(p.relative_to(root)) for p in root.rglob("*"))
    assert max(len(str(root / f)) for f in before) < limit
    assert main(["archive", "compact", "--archive", str(root), "--before", "2026-01-03"]) == 2
    line = _line(capsys)
    assert line.startswith(f"twin: error: --archive {str(root)[:HEAD_CHARS]}..."), line
    assert (f"the files a compaction writes there would have paths of {len(str(root)) + 83:,} bytes, "
            f"over the {limit - 1:,} this OS allows (PC_PATH_MAX): name a shorter folder") in line, line
    assert sorted(str(p.relative_to(root)) for p in root.rglob("*")) == before


def test_a_recovery_folder_path_too_long_for_the_os_says_its_length_in_words(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Round 45: a folder with no files' tail to add (``--recovery-dir``) was told "its path has of 5,035
    bytes"; now "its path is 5,035 bytes"."""
    rec = tmp_path / DEEP / DEEP[:1000]
    argv = ["run", "--brokers", "127.0.0.1:19999", "--connect-timeout", "1", "--archive", str(tmp_path / "a"),
            "--recovery-dir", str(rec)]
    assert main(argv) == 2
    line = _line(capsys)
    assert f"its path is {len(os.fsencode(str(rec))):,} bytes, over the " in line, line
    assert list(tmp_path.iterdir()) == []
