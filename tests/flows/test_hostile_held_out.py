"""``--out`` itself swapped for a link mid-run (round 41, part OUTPUTS41). Round 40 held ``archive/``,
``figures/``, the demo's archive and ``followed/`` while their flows ran; the files written into
``--out`` itself went by path: ``scores.parquet``, ``alerts.parquet``, ``report.html``, the dead
letters, ``demo.png`` and the manifest landed in the folder a link put at ``--out``'s name pointed
to, and a ``--fresh`` run deleted that folder's files. Now ``--out`` is held from before anything is
deleted or written in it to its last file, and every line still names ``--out``, never ``/proc``."""

from __future__ import annotations

import contextlib
import io
import json
import os
from pathlib import Path
from typing import Any

import pytest

from flows.app import backtest, demo
from flows.app.out_lock import MANIFEST
from flows.archive.layout import WriteFailed
from flows.cli.main import main
from flows.config.pipeline import load_config
from tests.flows.test_scores_file import CONFIG, _fleet_csv


def _files(folder: Path) -> dict[str, bytes]:
    """Every file below ``folder`` (relative name -> bytes)."""
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _swap_when_the_sinks_are_built(monkeypatch: pytest.MonkeyPatch, module: Any, out: Path,
                                   victim: Path) -> list[Path]:
    """When ``module`` builds its sinks (the flow about to run, ``--out`` already checked): ``out``
    renamed to ``out.moved`` and a link to ``victim`` put at its name. The dead letters' paths given."""
    real = module.local_outputs
    given: list[Path] = []

    def swapping(*args: Any, **kwargs: Any) -> Any:
        given.append(kwargs["dead_letter_file"])
        if len(given) == 1:
            os.rename(out, f"{out}.moved")
            out.symlink_to(victim)
        return real(*args, **kwargs)

    monkeypatch.setattr(module, "local_outputs", swapping)
    return given


def _cfg(tmp_path: Path) -> Any:
    (tmp_path / "bt.toml").write_text(CONFIG)
    return load_config(tmp_path / "bt.toml")


def _earlier_backtest(tmp_path: Path, victim: Path) -> dict[str, bytes]:
    """``victim``: another backtest's --out (its files twinflow's by its manifest); its files."""
    backtest.run_backtest([_fleet_csv(tmp_path / "other.csv", n=120)], victim, _cfg(tmp_path), progress=False)
    return _files(victim)


def test_a_backtest_s_out_swapped_for_a_link_mid_run_gets_nothing_written_or_deleted(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """On ac13d97: scores.parquet, alerts.parquet, report.html, figures/, the dead letters and the
    manifest written into the link's folder (another backtest's, whose files --fresh deleted)."""
    victim = tmp_path / "victim"
    before = _earlier_backtest(tmp_path, victim)
    out = tmp_path / "out"
    given = _swap_when_the_sinks_are_built(monkeypatch, backtest, out, victim)
    res = backtest.run_backtest([_fleet_csv(tmp_path / "fleet.csv", n=200)], out, _cfg(tmp_path),
                                progress=False, fresh=True)
    assert _files(victim) == before  # nothing written, replaced nor deleted there
    assert str(given[0]).startswith("/proc/self/fd/")
    assert res.out == out  # what the summary prints
    moved = Path(f"{out}.moved")
    written = _files(moved)
    assert {"scores.parquet", "alerts.parquet", "report.html", "dead_letters.jsonl", MANIFEST} <= set(written)
    assert any(name.startswith("figures/") for name in written)
    listed = json.loads(written[MANIFEST])["files"]
    assert {"scores.parquet", "alerts.parquet", "report.html", "dead_letters.jsonl"} <= set(listed)
    assert "/proc/" not in written["report.html"].decode()


def test_a_demo_s_out_swapped_for_a_link_mid_run_gets_nothing_written(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """On ac13d97: the dead letters, demo.png and the manifest written into the link's folder."""
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "demo.png").write_text("keep")
    out = tmp_path / "out"
    _swap_when_the_sinks_are_built(monkeypatch, demo, out, victim)
    text = io.StringIO()
    with contextlib.redirect_stdout(text):
        assert main(["demo", "--assets", "3", "--days", "4", "--seed", "1", "--no-progress", "--json",
                     "--out", str(out)]) == 0
    assert _files(victim) == {"demo.png": b"keep"}
    written = _files(Path(f"{out}.moved"))
    assert {"demo.png", "dead_letters.jsonl", MANIFEST} <= set(written)
    assert {"demo.png", "dead_letters.jsonl"} <= set(json.loads(written[MANIFEST])["files"])
    assert json.loads(text.getvalue())["plot"] == str(out / "demo.png")  # the name given, not /proc


def test_a_failed_output_write_and_the_stop_s_note_name_out_not_proc(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A full disk at alerts.parquet: the error names OUT/alerts.parquet, the note what OUT keeps
    (both built from the held folder's path since round 41)."""
    from flows.app import out_dir

    real = out_dir.replace_file

    def full(path: Path, write: Any) -> Path:
        if Path(path).name != "alerts.parquet":
            return real(path, write)

        def cut(tmp: Path) -> None:
            tmp.write_bytes(b"PAR1")  # a part of the file, then the disk is full
            raise OSError(28, "No space left on device")

        return real(path, cut)

    monkeypatch.setattr(backtest, "replace_file", full)
    out = tmp_path / "out"
    with pytest.raises(WriteFailed) as got:
        backtest.run_backtest([_fleet_csv(tmp_path / "fleet.csv", n=200)], out, _cfg(tmp_path),
                              progress=False, report=False)
    assert str(got.value) == f"cannot write {out / 'alerts.parquet'}: No space left on device"
    notes = got.value.__notes__
    assert len(notes) == 1 and notes[0].startswith(f"--out {out} keeps archive/ (")
    assert "/proc" not in notes[0]
    assert "scores.parquet" in notes[0] and "not written: alerts.parquet" in notes[0]
    assert not (out / "alerts.parquet").exists()  # no torn file at the name, no temporary beside it
    assert [p.name for p in out.iterdir() if p.name.startswith(".alerts")] == []


def test_a_fresh_refusal_in_the_held_out_names_out_not_proc(tmp_path: Path) -> None:
    """``--fresh``'s one line, built from the held folder's path, names --out."""
    out = tmp_path / "out"
    (out / "archive" / "features").mkdir(parents=True)
    (out / "archive" / "features" / "mine.txt").write_text("a user's file")
    with pytest.raises(ValueError, match="--fresh refused") as got:
        backtest.run_backtest([_fleet_csv(tmp_path / "fleet.csv", n=50)], out, _cfg(tmp_path),
                              progress=False, report=False, fresh=True)
    assert str(got.value).startswith(f"--fresh refused: {out / 'archive' / 'features' / 'mine.txt'} was not")
    assert (out / "archive" / "features" / "mine.txt").read_text() == "a user's file"


def test_the_mixing_warning_names_out_not_proc(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    for seed, name in ((1, "a.csv"), (2, "b.csv")):
        backtest.run_backtest([_fleet_csv(tmp_path / name, n=60 + seed)], out, _cfg(tmp_path),
                              progress=False, report=False)
    err = capsys.readouterr().err
    assert f"twin: warning: {out} holds data of" in err and "/proc" not in err
