"""The line of a failed archive write names the temporary files it left (round 42, TIDY42: "(N more
of this write's ...)" and "N temporary file(s) ... are left" now counted as every such line is)."""

from __future__ import annotations

import errno
from pathlib import Path

from flows.dataflow.sinks.archive_files import _write_error

NOSPC = OSError(errno.ENOSPC, "No space left on device")


def _tmp(day: str) -> Path:
    return Path(f"/a/features/date={day}/.part-r-w0-000001.parquet.tmp")


def test_the_failed_files_own_temporary_alone() -> None:
    at = _tmp("2026-01-01")
    line = str(_write_error(at, NOSPC, [at]))
    assert line == (f"cannot write the archive in {at.parent}: No space left on device; its temporary file "
                    f"{at.name} is left there (hidden: never read; remove it once the disk is writable)")


def test_the_failed_files_own_temporary_and_others_counted() -> None:
    at, others = _tmp("2026-01-01"), [_tmp("2026-01-02"), _tmp("2026-01-03")]
    line = str(_write_error(at, NOSPC, [*others, at]))
    assert "is left there (and 2 more of this write's in other date folders) (hidden" in line


def test_others_only_one_and_two() -> None:
    at = _tmp("2026-01-01")
    one = str(_write_error(at, NOSPC, [_tmp("2026-01-02")]))
    assert one.endswith("; 1 temporary file of this write is left in other date folders: "
                        f"{_tmp('2026-01-02')} (hidden: never read; remove it once the disk is writable)")
    two = str(_write_error(at, NOSPC, [_tmp("2026-01-02"), _tmp("2026-01-03")]))
    assert two.endswith(f"; 2 temporary files of this write are left in other date folders, e.g. "
                        f"{_tmp('2026-01-02')} (hidden: never read; remove them once the disk is writable)")
