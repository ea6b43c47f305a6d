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
