"""Folders the other commands write in, held like demo/backtest's ``--out`` (round 42, part HOLD42).

``twin archive compact`` and ``twin archive check --repair`` wrote, deleted and moved files in
``--archive`` by name: the folder renamed away and a link to another folder (a copy of the archive,
another archive) put at its name mid-way had the merged file written, the sources deleted and the bad
files moved there. Now the archive is held from its checks to the last file (``held_folder``). And the
checks of ``twin demo``/``twin backtest`` on ``--out`` (a system folder, the home folder, inside an
archive table folder) looked at its name before the hold: a link put there in between was followed
(``--out`` may be a link) and written into; now the held folder is checked again (``held_place``)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from flows.cli.main import main
from tests.flows.archive_fixtures import small_archive
from tests.flows.test_cli_errors import one_error_line
from tests.flows.test_hostile_held_out import _files


def _swap_on_call(monkeypatch: pytest.MonkeyPatch, target: str, folder: Path, victim: Path,
                  after: bool = False) -> list[Any]:
    """When ``target`` (module.attribute) is first called: ``folder`` renamed to ``<folder>.moved`` (if
    there) and a link to ``victim`` put at its name; then the real call (``after``: the real call
    first, a check passed, then the swap)."""
    module, name = target.rsplit(".", 1)
    import importlib

    real: Callable[..., Any] = getattr(importlib.import_module(module), name)
    calls: list[Any] = []

    def swapping(*args: Any, **kwargs: Any) -> Any:
        got = real(*args, **kwargs) if after else None
        if not calls:
            if os.path.lexists(folder):  # (a demo's --out is made after its checks)
                os.rename(folder, f"{folder}.moved")
            folder.symlink_to(victim)
        calls.append(args)
        return got if after else real(*args, **kwargs)

    monkeypatch.setattr(target, swapping)
    return calls


def _two_runs(root: Path) -> Path:
    """An archive whose 2026-01-01 folders each hold two runs' files (a compaction merges them)."""
    small_archive(root, run_id="20260101T000000-aaaaaaaa")
    return small_archive(root, run_id="20260101T000000-bbbbbbbb")


def test_compact_with_the_archive_swapped_for_a_link_mid_way_touches_nothing_there(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """On e838b3a: the copy's date folders merged (a file written there, its sources deleted)."""
    archive = _two_runs(tmp_path / "a")
    victim = tmp_path / "copy"
    shutil.copytree(archive, victim)  # a copy: the same names, as a backup of the archive has
    before = _files(victim)
    calls = _swap_on_call(monkeypatch, "flows.archive.compact.compact_date", archive, victim)
    assert main(["archive", "compact", "--archive", str(archive), "--before", "2026-02-01"]) == 0
    assert calls
    assert _files(victim) == before
    merged = _files(tmp_path / "a.moved")
    assert len([n for n in merged if n.startswith("features/")]) == 1  # both runs' files now one
    out = capsys.readouterr().out
    assert f"archive {archive}: 2 date folders compacted" in out and "/proc/self" not in out


def test_check_repair_with_the_archive_swapped_for_a_link_moves_nothing_there(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """On e838b3a: the copy's bad file moved into the copy's _quarantine/."""
    archive = small_archive(tmp_path / "a")
    (archive / "features" / "date=2026-01-01" / "part-bad.parquet").write_bytes(b"")
    victim = tmp_path / "copy"
    shutil.copytree(archive, victim)
    before = _files(victim)
    _swap_on_call(monkeypatch, "flows.archive.quarantine.quarantine", archive, victim)
    assert main(["archive", "check", "--archive", str(archive), "--repair"]) == 0
    assert _files(victim) == before
    assert "_quarantine/features/date=2026-01-01/part-bad.parquet" in _files(tmp_path / "a.moved")
    out = capsys.readouterr().out
    assert f"archive {archive}: 1 file moved into _quarantine/" in out and "/proc/self" not in out


def _demo(out: Path) -> int:
    return main(["demo", "--assets", "1", "--days", "1", "--seed", "1", "--out", str(out), "--no-progress"])


def test_a_demo_s_out_swapped_after_its_checks_for_a_link_to_the_home_folder_writes_nothing_there(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """On e838b3a: the demo's whole archive, dead letters and demo.png written into the home folder
    (refused by name a moment before)."""
    home = tmp_path / "home"
    home.mkdir()
    (home / ".bashrc").write_text("keep\n")
    monkeypatch.setenv("HOME", str(home))
    out = tmp_path / "out"
    _swap_on_call(monkeypatch, "flows.cli.run_checks.not_writable", out, home)  # the CLI's last check
    assert _demo(out) == 2
    line = one_error_line(capsys.readouterr().err)
    assert line == (f"twin: error: --out {out}: now leads to the home folder ({home}), not written there: "
                    "replaced since it was checked; name a folder of its own")
    assert sorted(os.listdir(home)) == [".bashrc"]


def test_a_demo_s_out_swapped_for_a_link_into_an_archive_table_writes_nothing_there(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """On e838b3a: the demo's tables written among the other archive's ``features`` files."""
    victim = small_archive(tmp_path / "other")
    before = _files(victim)
    out = tmp_path / "out"
    _swap_on_call(monkeypatch, "flows.cli.run_checks.not_writable", out, victim / "features")
    assert _demo(out) == 2
    line = one_error_line(capsys.readouterr().err)
    assert line.startswith(f"twin: error: --out {out}: now leads inside the archive table folder "
                           f"{victim / 'features'}, not written there")
    assert _files(victim) == before


def test_a_backtest_s_out_swapped_after_its_checks_for_a_link_to_the_home_folder_writes_nothing_there(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """On e838b3a: scores.parquet, alerts.parquet, report.html, figures/ and archive/ in the home folder."""
    from tests.flows.test_scores_file import _fleet_csv

    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    out = tmp_path / "out"
    out.mkdir()
    _swap_on_call(monkeypatch, "flows.cli.main.writable_dir", out, home, after=True)
    csv = _fleet_csv(tmp_path / "fleet.csv", n=60)
    assert main(["backtest", str(csv), "--out", str(out), "--no-progress"]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert line.startswith(f"twin: error: --out {out}: now leads to the home folder ({home})"), line
    assert os.listdir(home) == []


def test_simulate_s_file_whose_folder_is_swapped_mid_write_is_written_whole_where_it_began(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``--write-metadata``'s folder swapped for a link between the temporary's write and its rename.
    On e838b3a: ``cannot write it (No such file or directory)`` and the temporary left in the moved
    folder (hidden, for ever); the other folder untouched either way."""
    from flows.cli.kafka_commands import write_fleet_metadata
    from twin_models.simulator.fleet import FleetConfig

    folder, victim = tmp_path / "d", tmp_path / "victim"
    folder.mkdir()
    victim.mkdir()
    (victim / "keep.txt").write_text("keep")
    _swap_on_call(monkeypatch, "flows.app.out_dir.replace_synced", folder, victim)
    write_fleet_metadata(FleetConfig(n_assets=2, days=1.0, seed=1), str(folder / "assets.json"))
    assert os.listdir(victim) == ["keep.txt"]
    assert os.listdir(f"{folder}.moved") == ["assets.json"]
