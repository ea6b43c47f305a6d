"""Round 50 (LEFT50): a string a query builds (``repeat('x', N)``) is allocated outside DuckDB's
``memory_limit``, so ``twin sql`` could take far more memory than ``--memory-limit`` said (with 64
MiB, 300 MB for one ``repeat``). While the query runs the process's data segment is capped
(:mod:`flows.archive.memory_cap`): past it the allocation fails before any memory is touched, one
line, exit 2, and the cap is lifted when the command is done."""

from __future__ import annotations

import resource
import sys
from pathlib import Path

import pytest

from flows.cli.main import main
from tests.flows.archive_fixtures import small_archive

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_DATA as Linux counts it")


def test_a_huge_string_past_the_cap_is_one_line_and_the_cap_is_lifted(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from flows.archive import memory_cap

    monkeypatch.setattr(memory_cap, "OUTSIDE_MIB", 0)  # the cap: now + 2 x 64 MiB, the room
    monkeypatch.setattr(memory_cap, "PER_CPU_MIB", 0)  # beside DuckDB's buffers taken away
    before = resource.getrlimit(resource.RLIMIT_DATA)
    arch = ["--archive", str(small_archive(tmp_path / "archive")), "--memory-limit", "64", "--format", "csv"]
    assert main(["sql", "SELECT length(repeat('x', 300000000)) AS n", *arch]) == 2  # 300 MB > 128 MiB
    err = capsys.readouterr().err
    assert err.startswith("twin: error: bad query: Out of Memory Error: ") and err.count("\n") == 1
    assert resource.getrlimit(resource.RLIMIT_DATA) == before
    assert main(["sql", "SELECT length(repeat('x', 1000000)) AS n, (SELECT count(*) FROM alerts) AS a",
                 *arch]) == 0  # what fits still answers
    assert capsys.readouterr().out.splitlines() == ["n,a", "1000000,3"]
    assert resource.getrlimit(resource.RLIMIT_DATA) == before
