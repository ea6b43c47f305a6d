"""The folders a command writes below ``--out`` (a backtest's ``archive`` and ``figures``, a demo's
``followed``) as symbolic links or files, round 39 (HOSTILE39). On f313d9d:

- ``bt/archive`` linked to another output folder's archive: ``twin backtest --fresh`` deleted that
  folder's archive files (outside --out) and wrote its own run there;
- ``bt/figures`` linked to another folder: the plots overwrote its files of the same names;
- ``bt/figures`` a file: the whole run, then ``twin: error: [Errno 17] File exists``, exit 2;
- ``demo/followed`` linked: found after the first pass, and ``--fresh`` deleted through it.
Now each is one line before any work, exit 2, nothing written nor deleted.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.flows.test_cli_errors import fails, twin

T0 = datetime(2024, 1, 1, tzinfo=UTC)
DEMO = ("--assets", "2", "--days", "2", "--no-progress")


def _waves(path: Path, assets: list[str], per: int = 12) -> Path:
    noise = np.random.default_rng(2).normal(0, 1, 1024).astype(np.float32)
    n = len(assets) * per
    pq.write_table(pa.table({
        "timestamp": pa.array([T0 + timedelta(minutes=i // len(assets)) for i in range(n)],
                              pa.timestamp("us", "UTC")),
        "asset_id": [assets[i % len(assets)] for i in range(n)],
        "sample_rate_hz": [25600.0] * n,
        "vib": pa.array([(noise * (1 + i % len(assets))).tolist() for i in range(n)], pa.list_(pa.float32())),
    }), path)
    return path


@pytest.fixture
def waves(tmp_path: Path) -> Path:
    return _waves(tmp_path / "w.parquet", ["brg-1"], per=6)


def test_fresh_never_deletes_another_folders_archive_through_a_linked_archive(tmp_path: Path,
                                                                              waves: Path) -> None:
    other = tmp_path / "other"
    rc, _, err = twin("backtest", str(waves), "--out", str(other), "--no-progress", "--no-report")
    assert rc == 0, err
    before = sorted(p.relative_to(other) for p in (other / "archive").rglob("*.parquet"))
    out = tmp_path / "bt"
    out.mkdir()
    (out / "archive").symlink_to(other / "archive")
    line = fails("backtest", str(waves), "--out", str(out), "--fresh", "--no-progress")
    assert line == (f"twin: error: --out {out}: archive is a symbolic link (to {other / 'archive'}); "
                    "twinflow writes its archive folder there and never writes or deletes through a link: "
                    "remove it or choose another --out")
    assert sorted(p.relative_to(other) for p in (other / "archive").rglob("*.parquet")) == before != []
    assert sorted(p.name for p in out.iterdir()) == ["archive"]


def test_a_linked_figures_folder_is_not_written_through(tmp_path: Path, waves: Path) -> None:
    victim = tmp_path / "pictures"
    victim.mkdir()
    (victim / "brg-1.png").write_bytes(b"mine")
    out = tmp_path / "bt"
    out.mkdir()
    (out / "figures").symlink_to(victim)
    line = fails("backtest", str(waves), "--out", str(out), "--no-progress")
    assert "figures is a symbolic link (to " in line
    assert [p.name for p in victim.iterdir()] == ["brg-1.png"]
    assert (victim / "brg-1.png").read_bytes() == b"mine"
    assert not (out / "scores.parquet").exists()  # refused before the run
    rc, _, err = twin("backtest", str(waves), "--out", str(out), "--no-progress", "--no-report")
    assert rc == 0, err  # no report: the folder is not written


def test_a_file_named_figures_is_refused_before_the_run(tmp_path: Path, waves: Path) -> None:
    out = tmp_path / "bt"
    out.mkdir()
    (out / "figures").write_text("notes")
    line = fails("backtest", str(waves), "--out", str(out), "--no-progress")
    assert line.endswith(f"--out {out}: figures is a regular file, not a folder; twinflow writes its figures "
                         "folder there: move it away or choose another --out")
    assert not (out / "scores.parquet").exists() and (out / "figures").read_text() == "notes"


def test_a_linked_followed_folder_is_refused_before_the_demo_runs(tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    (other / "keep.txt").write_text("k")
    out = tmp_path / "demo"
    out.mkdir()
    (out / "followed").symlink_to(other)
    line = fails("demo", *DEMO, "--out", str(out), "--follow-plans", "--fresh")
    assert "followed is a symbolic link (to " in line
    assert sorted(p.name for p in out.iterdir()) == ["followed"] and (other / "keep.txt").exists()
