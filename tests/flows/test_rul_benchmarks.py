"""The C-MAPSS RUL benchmark end to end on a tiny synthetic subset (no dataset needed)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from benchmarks.quality import cmapss


def _unit(rng: np.random.Generator, unit: int, length: int) -> np.ndarray:
    cycles = np.arange(1, length + 1)
    wear = np.exp((cycles - length) / 25.0)
    sensors = 100.0 + rng.normal(0, 0.2, (length, 21)) + wear[:, None] * np.linspace(-3, 3, 21)
    settings = np.column_stack([rng.normal(0, 0.002, length), rng.normal(0, 0.0003, length),
                                np.full(length, 100.0)])
    return np.column_stack([np.full(length, unit), cycles, settings, sensors])


def _write(path: Path, rows: np.ndarray) -> None:
    with gzip.open(path, "wt") as f:
        np.savetxt(f, rows, fmt="%.5f")


def test_cmapss_benchmark_learns_training_lives_before_test_units(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(0)
    # 14 training lives, min_lives = 10: the refit the 10th life starts must land before the
    # test units (its work tickets follow the life; without them it waited for later lives)
    lengths = rng.integers(70, 110, size=14)
    train = np.vstack([_unit(rng, u + 1, int(n)) for u, n in enumerate(lengths)])
    _write(tmp_path / "train_FD001.txt.gz", train)
    full = [int(n) for n in rng.integers(70, 110, size=4)]
    cuts = [n - r for n, r in zip(full, (5, 20, 40, 60), strict=True)]
    _write(tmp_path / "test_FD001.txt.gz",
           np.vstack([_unit(rng, u + 1, n)[:c] for u, (n, c) in enumerate(zip(full, cuts, strict=True))]))
    (tmp_path / "RUL_FD001.txt").write_text("\n".join(str(n - c) for n, c in zip(full, cuts, strict=True)))
    assert cmapss.main(["--data", str(tmp_path), "--subset", "FD001", "--no-progress"]) == 0
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert res["n_units"] == 4 and res["units_without_estimate"] == 0
    assert res["rmse"] < 20.0
    assert set(res) >= {"rmse", "phm08_score", "n_units", "coverage", "seconds"}


def test_cmapss_benchmark_refuses_a_missing_subset(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="train_FD004"):
        cmapss.main(["--data", str(tmp_path), "--subset", "FD004", "--no-progress"])


def _tiny_cmapss(folder: Path) -> None:
    """A small FD001-like subset: 12 training lives, 3 test units."""
    rng = np.random.default_rng(1)
    train = np.vstack([_unit(rng, u + 1, int(n)) for u, n in enumerate(rng.integers(60, 90, size=12))])
    _write(folder / "train_FD001.txt.gz", train)
    full = [int(n) for n in rng.integers(60, 90, size=3)]
    cuts = [n - r for n, r in zip(full, (5, 20, 40), strict=True)]
    _write(folder / "test_FD001.txt.gz",
           np.vstack([_unit(rng, u + 1, n)[:c] for u, (n, c) in enumerate(zip(full, cuts, strict=True))]))
    (folder / "RUL_FD001.txt").write_text("\n".join(str(n - c) for n, c in zip(full, cuts, strict=True)))


def _archive_rows(archive: Path) -> dict[str, list[dict[str, object]]]:
    """Every archive table's rows without the bookkeeping columns (run id, write time), sorted."""
    import pyarrow.parquet as pq

    out: dict[str, list[dict[str, object]]] = {}
    for table in sorted(p.name for p in archive.iterdir() if p.is_dir()):
        rows = [{k: v for k, v in r.items() if k not in ("run_id", "_written_at", "_write_seq")}
                for f in sorted((archive / table).rglob("*.parquet")) for r in pq.read_table(f).to_pylist()]
        out[table] = sorted(rows, key=repr)
    return out


def test_cmapss_backtest_runs_in_one_epoch_with_the_outputs_of_many(  # type: ignore[no-untyped-def]
        tmp_path: Path, capsys, monkeypatch) -> None:
    from datetime import timedelta

    from flows.app import backtest

    _tiny_cmapss(tmp_path)
    runs: dict[str, backtest.BacktestResult] = {}

    def run(epoch: timedelta | None, name: str) -> dict[str, object]:
        def spy(*args, **kwargs):  # type: ignore[no-untyped-def]
            if epoch is not None:
                kwargs["epoch_interval"] = epoch
            runs[name] = backtest.run_backtest(*args, **kwargs)
            return runs[name]

        monkeypatch.setattr(cmapss, "run_backtest", spy)
        assert cmapss.main(["--data", str(tmp_path), "--no-progress", "--out", str(tmp_path / name)]) == 0
        res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        return {k: v for k, v in res.items() if k not in ("seconds", "step_calls")}

    one = run(None, "one")  # the default: BACKTEST_EPOCH
    many = run(timedelta(milliseconds=1), "many")
    assert one == many and one["units_without_estimate"] == 0
    import pyarrow.parquet as pq

    scores = [pq.read_table(tmp_path / name / "scores.parquet") for name in ("one", "many")]
    assert scores[0].equals(scores[1])
    rows = _archive_rows(tmp_path / "one" / "archive")
    assert rows == _archive_rows(tmp_path / "many" / "archive") and len(rows["twin_state"]) > 500

    def snapshots(name: str) -> float:
        value = runs[name].metrics.registry.get_sample_value("twin_snapshot_flush_seconds_count")
        return value or 0.0

    # every epoch's end snapshots the archive sinks (7 tables): many epochs, many snapshots; one, none
    assert snapshots("one") <= 7 < 3 * 7 < snapshots("many")


def test_cmapss_refuses_an_out_of_an_earlier_run_unless_fresh(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    import subprocess
    import sys

    _tiny_cmapss(tmp_path)
    out = tmp_path / "out"
    args = ["--data", str(tmp_path), "--no-progress", "--out", str(out)]
    assert cmapss.main(args) == 0
    capsys.readouterr()
    # a stopped run's leftovers: an archive file of another run, in its temporary name too
    stale = out / "archive" / "twin_state" / "date=2000-01-01"
    stale.mkdir(parents=True, exist_ok=True)
    (stale / ".part-20200101T000000-deadbeef-w0-000000.parquet.tmp").write_bytes(b"half")
    files = sorted(p for p in out.rglob("*") if p.is_file())
    script = Path(cmapss.__file__)
    done = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, check=False)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and "earlier backtest" in done.stderr and "--fresh" in done.stderr
    assert sorted(p for p in out.rglob("*") if p.is_file()) == files  # nothing deleted or written
    # --fresh: the earlier outputs are deleted, a file twinflow did not write is kept
    (out / "notes.txt").write_text("mine")
    assert cmapss.main([*args, "--fresh"]) == 0
    from flows.app.out_dir import earlier_runs

    assert len(earlier_runs(out / "archive")) == 1 and (out / "notes.txt").read_text() == "mine"
    assert not (stale / ".part-20200101T000000-deadbeef-w0-000000.parquet.tmp").exists()


def test_the_fleet_learner_is_not_copied_before_every_call(tmp_path: Path, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The fleet_rul guard keeps a checkpoint and a journal (a few pickles), never a copy per call
    (while refits run, a call costs more than pickling the learner: it was copied before most)."""
    import pickle

    from flows.dataflow import guard
    from twin_models.rul.fleet_learner import FleetLearner

    _tiny_cmapss(tmp_path)
    pickles, copied = [], []
    dumps, applied = pickle.dumps, guard.Undo.applied

    def counting(obj, *args, **kwargs):  # type: ignore[no-untyped-def]
        if isinstance(obj, FleetLearner):
            pickles.append(1)
        return dumps(obj, *args, **kwargs)

    def mode(self, key, item, state, spent_s):  # type: ignore[no-untyped-def]
        if isinstance(state, FleetLearner):
            copied.append(self.journals[key].copy)
        applied(self, key, item, state, spent_s)

    monkeypatch.setattr(guard.pickle, "dumps", counting)
    monkeypatch.setattr(guard.Undo, "applied", mode)
    assert cmapss.main(["--data", str(tmp_path), "--no-progress"]) == 0
    calls = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["step_calls"]["fleet_rul"]["calls"]
    assert len(copied) == calls > 200
    assert not any(copied) and len(pickles) < 0.05 * calls
