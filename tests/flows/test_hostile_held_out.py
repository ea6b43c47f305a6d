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


def test_a_link_put_at_the_dead_letters_name_before_the_run_is_not_written_through(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The sink removes an earlier run's file when the flow is built and creates its own when the
    flow runs: on ac13d97 it opened the name ``"wb"``, so a link put there in between had the
    file it points to truncated and filled (outside --out)."""
    from flows.dataflow.sinks import jsonl

    victim = tmp_path / "victim.txt"
    victim.write_text("a user's file\n")
    out = tmp_path / "out"
    real = jsonl.JsonlSink.build

    def planting(self: Any, *args: Any) -> Any:
        if not self.path.is_symlink():
            self.path.symlink_to(victim)  # the flow built (the earlier file removed), not yet run
        return real(self, *args)

    monkeypatch.setattr(jsonl.JsonlSink, "build", planting)
    rows = "timestamp,asset_id,value\n" + "".join(f"2099-01-01 00:{i:02d}:00,p1,1.0\n" for i in range(30))
    (tmp_path / "future.csv").write_text("timestamp,asset_id,value\n2024-01-01 00:00:00,p1,1.0\n"
                                         + rows.split("\n", 1)[1])
    backtest.run_backtest([tmp_path / "future.csv"], out, _cfg(tmp_path), progress=False, report=False)
    assert victim.read_text() == "a user's file\n"
    dead = out / "dead_letters.jsonl"
    assert not dead.is_symlink() and dead.read_text().count("\n") == 30


def test_a_reader_can_tell_a_torn_last_dead_letter_line(tmp_path: Path) -> None:
    """The rule for the appended dead-letter files: one record a line, each ending in ``\\n``, never
    a line break inside one (raw bytes, detail and source with ``\\n``, ``\\r``, U+2028 stay on it);
    a write that fails is cut back to whole lines (round 26). So what a kill -9 or a power loss can
    leave torn is the last line only, and it is the one not ending in ``\\n``: a file cut at any
    byte reads as the records before the cut, whole, plus at most that one piece."""
    from datetime import UTC, datetime

    from flows.app.outputs import dead_letter_bytes
    from flows.dataflow.items import DeadLetter
    from flows.dataflow.sinks.jsonl import JsonlSink

    letters = [DeadLetter("bad_record", f"line\nbreak\r{i}\u2028", f"file:a\nb{i}.csv",
                          b"x\ny\r\n\xff\x00" * (i + 1), datetime(2026, 1, 1, tzinfo=UTC)) for i in range(5)]
    path = tmp_path / "dead_letters.jsonl"
    part = JsonlSink(path, dead_letter_bytes).build("s", 0, 1)
    part.write_batch(letters[:2])
    part.write_batch(letters[2:])
    part.close()
    data = path.read_bytes()
    assert data.count(b"\n") == 5 and data.endswith(b"\n")
    whole = [json.loads(line) for line in data.splitlines()]
    assert [d["detail"] for d in whole] == [d.detail for d in letters]
    for cut in range(len(data) + 1):
        head = data[:cut]
        lines = head.split(b"\n")
        complete, torn = lines[:-1], lines[-1]  # the torn piece: what follows the last \n
        assert [json.loads(line) for line in complete] == whole[:len(complete)]
        assert (torn == b"") == (cut == 0 or head.endswith(b"\n"))


def test_the_manifest_lists_a_file_only_once_its_bytes_are_synced(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The dead letters are appended and were never synced: after a power loss they could be shorter
    than the manifest (synced) said, and --fresh then refused the folder as not twinflow's."""
    from flows.app import out_manifest
    from flows.archive import layout

    synced: list[Path] = []
    real = layout.sync_file

    def counting(path: Any) -> None:
        synced.append(Path(path))
        real(path)

    monkeypatch.setattr(layout, "sync_file", counting)
    (tmp_path / "dead_letters.jsonl").write_text('{"reason": "x"}\n')
    out_manifest.record_written(tmp_path, [tmp_path / "dead_letters.jsonl"])
    assert tmp_path / "dead_letters.jsonl" in synced
    assert synced.index(tmp_path / "dead_letters.jsonl") < len(synced) - 1  # before the manifest's own


def test_the_lock_warning_in_a_held_out_names_the_folder_not_proc(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from flows.app.out_held import held_folder
    from flows.app.out_lock import LOCK, held

    out = tmp_path / "out-lockwarn"
    with held_folder(out, lambda: None) as at:
        (at / LOCK).mkdir()  # not a file: the lock cannot be taken, the warning names it
        with held(at):
            pass
    err = capsys.readouterr().err
    assert f"lock {out.resolve() / LOCK} was not taken" in err and "/proc" not in err


def test_an_input_the_held_out_would_overwrite_is_refused_though_out_was_swapped_after_the_check(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Round 43b (TIDY43b): the inputs were compared with --out by name before the hold; a link to the
    input's folder put at the name between the two had the run hold that folder and replace the input
    ``scores.parquet`` by its own scores (the user's data gone, no error; seen on 23a70f6). Compared
    again on the hold."""
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    src = tmp_path / "data"
    src.mkdir()
    data = src / "scores.parquet"
    pq.write_table(pcsv.read_csv(_fleet_csv(tmp_path / "fleet.csv", n=200)), data)
    before = data.read_bytes()
    out = tmp_path / "out"
    real = backtest.missing_top

    def swapping(folder: Path) -> Any:  # after the check by name, before the hold
        if not os.path.lexists(out):
            out.symlink_to(src)
        return real(folder)

    monkeypatch.setattr(backtest, "missing_top", swapping)
    with pytest.raises(ValueError, match="is a file the backtest writes or --fresh deletes") as caught:
        backtest.run_backtest([data], out, _cfg(tmp_path), progress=False, report=False)
    assert f"in --out {out}:" in str(caught.value)  # the name as given, never /proc/self/fd
    assert data.read_bytes() == before
