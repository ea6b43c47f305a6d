"""An archive's audit table whose every file is left out (round 40, part HOSTILE40b): a ``timestamp``
rewritten as a DATE column, or bytes that are no Parquet file. ``twin commands list --archive`` said
the file in a warning, then "twin: error: bad query: Catalog Error: Table with name audit does not
exist!" (exit 2), as if the command had written a query; ``twin sql`` on the table too. Now the
error line names the files and why (the list: that one line only), exit 2; a table with a readable
file besides keeps its warning and its entries."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from flows.cli.main import main
from tests.flows.test_command_path import approve, mode, rec, run


def _audit(root: Path, runs: int = 1) -> list[Path]:
    for _ in range(runs):
        run([rec(), approve()], mode("approve"), send=True, archive=root)
    return sorted((root / "audit").rglob("*.parquet"))


def _as_date(path: Path) -> None:
    data = pq.read_table(path)
    i = data.column_names.index("timestamp")
    pq.write_table(data.set_column(i, "timestamp", data.column(i).cast(pa.date32())), path)


@pytest.mark.parametrize(("spoil", "reason"), [
    (_as_date, "incompatible schema: 'timestamp' is date32[day]"),
    (lambda p: p.write_bytes(b"no parquet file"), "unreadable Parquet: Parquet magic bytes not found"),
])
def test_an_audit_table_without_a_readable_file_is_one_line_naming_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], spoil: object, reason: str) -> None:
    root = tmp_path / "a"
    (path,) = _audit(root)
    spoil(path)  # type: ignore[operator]
    assert main(["commands", "list", "--all", "--archive", str(root)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    (line,) = err.splitlines()
    assert line.startswith(f"twin: error: the archive's audit table has no readable file: 1 left out: "
                           f"{path.relative_to(root)} ({reason}")
    assert line.endswith(f"(see `twin archive check --archive {root}`; --repair moves them into "
                         "_quarantine/)")
    assert "Catalog Error" not in err
    # twin sql on the table: the same line (after the readers' warning)
    assert main(["sql", "SELECT count(*) FROM Audit", "--archive", str(root)]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].startswith("twin: warning: skipped 1 unreadable or foreign archive file")
    assert lines[1:] == [line]


def test_an_audit_table_with_a_readable_file_besides_still_lists_it_and_warns(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "a"
    first, second = _audit(root, 2)
    assert main(["commands", "list", "--all", "--archive", str(root)]) == 0
    listed = capsys.readouterr().out
    _as_date(second)
    assert main(["commands", "list", "--all", "--archive", str(root)]) == 0
    out, err = capsys.readouterr()
    assert out == listed  # the second run's entries re-write the first's
    (line,) = err.splitlines()
    assert line.startswith(f"twin: warning: skipped 1 unreadable or foreign archive file: "
                           f"{second.relative_to(root)} (incompatible schema: 'timestamp' is date32[day])")
    assert first.exists()
