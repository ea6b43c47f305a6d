"""Compaction's streamed merge (round 39, :mod:`flows.archive.merge`) when the system, not the file,
fails a read (round 40, part HOSTILE40): too many open files (a low ``ulimit -n`` against the
merge's fan-in of 16 open parts), a part removed after the folder was listed. Both were reported as
"cannot be read (corrupt data pages: ...)" with the advice to move the (sound) file aside with
``twin archive check --pages --repair``; now one line names the file and the system's reason, the
folder is left as it was."""

from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path

import pytest

from flows.archive import merge
from flows.cli.main import main
from flows.dataflow.sinks.archive import write_rows
from tests.flows.test_compact_stream import _rows

ROOT = Path(__file__).resolve().parents[2]
COMPACT = "import sys\nfrom flows.cli.main import main\nsys.exit(main(sys.argv[1:]))\n"


def _parts(root: Path, parts: int, assets: int, windows: int) -> Path:
    for p in range(parts):
        write_rows(root, "features", _rows(assets, windows, seed=p), f"part-r{p}-w0-{p:06d}", f"r{p}")
    return root / "features" / "date=2026-01-01"


def test_too_many_open_files_is_named_not_called_corrupt(tmp_path: Path) -> None:
    folder = _parts(tmp_path / "a", 20, 50, 100)  # 5,000 rows a part: streamed, so held open
    before = sorted(p.name for p in folder.iterdir())

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (20, 20))

    done = subprocess.run([sys.executable, "-c", COMPACT, "archive", "compact", "--archive",
                           str(tmp_path / "a"), "--before", "2026-01-03"], capture_output=True, text=True,
                          timeout=300, cwd=ROOT, preexec_fn=limit)
    assert done.returncode == 2, done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert f"cannot read {folder}/part-r" in line and line.endswith(
        ".parquet: Too many open files; that folder is left as it was"), line
    assert "corrupt" not in line and "--repair" not in line
    assert sorted(p.name for p in folder.iterdir()) == before


def test_a_part_removed_after_the_listing_is_named_not_called_corrupt(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    folder = _parts(tmp_path / "a", 5, 7, 13)
    victim = sorted(folder.iterdir())[-1]
    source = merge._source

    def removed(f, *args):  # type: ignore[no-untyped-def]
        if f.path.name == victim.name:  # held since round 42: read through /proc/self/fd
            victim.unlink()  # listed, then gone before it is read
        return source(f, *args)

    monkeypatch.setattr(merge, "_source", removed)
    assert main(["archive", "compact", "--archive", str(tmp_path / "a"), "--before", "2026-01-03"]) == 2
    err = capsys.readouterr().err
    assert f"cannot read {victim}: No such file or directory; that folder is left as it was" in err
    assert "corrupt" not in err and "--repair" not in err
    assert len(list(folder.iterdir())) == 4  # the other parts, nothing written
