"""``figures/`` swapped for a link while a backtest's report draws its plots (round 40, part
HOSTILE40): the plots after the swap were written, and files of their names replaced, in the folder
the link points to, outside --out (round 39 checked the folder before the run and before the report
only). Now the folder is held open from the check on and every plot is written into it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from flows.app import backtest, report_html
from flows.config.pipeline import load_config
from tests.flows.test_scores_file import CONFIG, _fleet_csv


def test_figures_swapped_for_a_link_mid_report_is_never_written_through(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "pump-b.png").write_text("keep")  # a file of a plot's name there
    out = tmp_path / "out"
    real = report_html.plot_asset
    drawn: list[str] = []

    def swapping(*args: Any) -> Path:
        png = real(*args)
        drawn.append(png.name)
        if len(drawn) == 1:  # after the first plot: figures/ moved aside, a link put in its place
            os.rename(out / "figures", out / "figures.moved")
            (out / "figures").symlink_to(victim)
        return png

    monkeypatch.setattr(report_html, "plot_asset", swapping)
    (tmp_path / "bt.toml").write_text(CONFIG)
    backtest.run_backtest([_fleet_csv(tmp_path / "fleet.csv", n=200)], out, load_config(tmp_path / "bt.toml"),
                          progress=False)
    assert drawn == ["pump-a.png", "pump-b.png", "pump-c.png"]
    assert sorted(os.listdir(victim)) == ["pump-b.png"] and (victim / "pump-b.png").read_text() == "keep"
    assert sorted(os.listdir(out / "figures.moved")) == drawn  # every plot in the folder checked


def test_a_link_put_there_between_the_check_and_the_open_is_refused(tmp_path: Path) -> None:
    from flows.app.out_held import held_folder

    folder = tmp_path / "figures"
    calls: list[int] = []

    def refuse() -> None:
        calls.append(1)
        if len(calls) == 1:  # the check passes, then the link is put there
            folder.symlink_to(tmp_path)
        elif folder.is_symlink():
            msg = "figures is a symbolic link"
            raise ValueError(msg)

    with pytest.raises(ValueError, match="figures is a symbolic link"), held_folder(folder, refuse):
        pass
    assert len(calls) == 2


def test_a_failed_write_in_the_held_folder_names_it_not_proc(tmp_path: Path) -> None:
    from flows.app.out_dir import replace_file
    from flows.app.out_held import held_folder
    from flows.archive.layout import WriteFailed

    def full(tmp: Path) -> None:
        raise OSError(28, "No space left on device")

    with pytest.raises(WriteFailed) as got, held_folder(tmp_path / "figures", lambda: None) as drawn:
        assert str(drawn).startswith("/proc/self/fd/")
        replace_file(drawn / "a.png", full)
    assert str(got.value) == f"cannot write {tmp_path / 'figures' / 'a.png'}: No space left on device"


def test_archive_swapped_for_a_link_mid_run_is_never_written_through(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Round 40, part HOSTILE40b: ``archive/`` is held as ``figures/`` is (6 parts were written
    outside --out through a link put at ``archive`` before the first flush)."""
    from flows.dataflow.sinks import archive_files

    victim = tmp_path / "victim"
    victim.mkdir()
    out = tmp_path / "out"
    real = archive_files.put_files
    calls: list[str] = []

    def swapping(root: Path, table: str, *args: Any) -> None:
        calls.append(table)
        if len(calls) == 1:  # before the first part: archive/ moved aside, a link put in its place
            if (out / "archive").exists():  # (before round 40 the first part made it)
                os.rename(out / "archive", out / "archive.moved")
            (out / "archive").symlink_to(victim)
        real(root, table, *args)

    monkeypatch.setattr(archive_files, "put_files", swapping)
    (tmp_path / "bt.toml").write_text(CONFIG)
    backtest.run_backtest([_fleet_csv(tmp_path / "fleet.csv", n=200)], out, load_config(tmp_path / "bt.toml"),
                          progress=False, report=False)
    assert len(calls) >= 3
    assert os.listdir(victim) == []
    moved = out / "archive.moved"
    parts = sorted(p.relative_to(moved).parts[0] for p in moved.rglob("*.parquet"))
    assert len(parts) == len(calls) and {"features", "twin_state"} <= set(parts)


def test_an_archive_write_failure_in_the_held_archive_names_it_not_proc(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from flows.dataflow.sinks import archive_files
    from flows.dataflow.sinks.archive_writer import ArchiveWriteError

    out = tmp_path / "out"
    real = archive_files.put_files

    def planting(root: Path, table: str, *args: Any) -> None:
        assert str(root).startswith("/proc/self/fd/")
        if not (out / "archive" / table).exists():  # a link planted at the table's folder mid-run
            (out / "archive" / table).symlink_to(tmp_path)
        real(root, table, *args)

    monkeypatch.setattr(archive_files, "put_files", planting)
    (tmp_path / "bt.toml").write_text(CONFIG)
    with pytest.raises(BaseException) as got:  # noqa: PT011 - the engine's error, its chain checked
        backtest.run_backtest([_fleet_csv(tmp_path / "fleet.csv", n=200)], out,
                              load_config(tmp_path / "bt.toml"), progress=False, report=False)
    chain, seen = [], got.value
    while seen is not None:
        chain.append(seen)
        seen = seen.__cause__ or seen.__context__
    (failed,) = [e for e in chain if isinstance(e, ArchiveWriteError)]
    text = str(failed)
    assert text.startswith(f"cannot write the archive: the archive's table folder {out / 'archive'}/"), text
    assert "/proc/" not in text
