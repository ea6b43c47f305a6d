"""``twin`` with a standard stream closed by the caller (round 34, HOSTILE34): ``twin sql ... 2>&-``
answered ``twin: internal error: AttributeError: 'NoneType' object has no attribute 'flush'`` on
stdout, exit 1 (Python makes a closed stream None); ``>&-`` the same, on stderr. Now a closed stream
is /dev/null: the command runs, what it wrote there is discarded, the exit status is the command's.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

ENTRY = "import sys; from flows.cli.entry import run; sys.exit(run())"


def _twin(args: list[str], closing: str) -> subprocess.CompletedProcess[str]:
    """The console script's entry with ``closing`` (a shell redirection) applied."""
    quoted = " ".join(f"'{a}'" for a in [sys.executable, "-c", ENTRY, *args])
    return subprocess.run(["bash", "-c", f"exec {quoted} {closing}"], capture_output=True, text=True,
                          timeout=120, check=False)


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    folder = tmp_path / "archive" / "alerts" / "date=2026-01-01"
    folder.mkdir(parents=True)
    name = "part-20260101T000000-0123abcd-w000-000000.parquet"
    pq.write_table(pa.table({"asset_id": ["a"]}), folder / name)
    return tmp_path / "archive"


@pytest.mark.parametrize("closing", ["2>&-", ">&-", "<&-", ">&- 2>&- <&-"])
def test_a_query_with_a_closed_stream_runs(archive: Path, closing: str) -> None:
    got = _twin(["sql", "SELECT 41 + 1 AS answer", "--archive", str(archive)], closing)
    assert got.returncode == 0, (got.stdout, got.stderr)
    assert "internal error" not in got.stdout + got.stderr
    assert ("42" in got.stdout) == (not closing.startswith(">&-"))  # stdout closed: nothing there


def test_a_refused_query_with_stderr_closed_is_still_exit_2(archive: Path) -> None:
    got = _twin(["sql", "SELECT * FROM no_such_table", "--archive", str(archive)], "2>&-")
    assert got.returncode == 2 and got.stdout == ""
