"""``twin commands list --archive`` on an audit table whose columns hold types no audit entry has
(round 40, part HOSTILE40): a planted or rewritten file with a DECIMAL ``sequence``, a BLOB ``actor``
or an INTERVAL ``expires_at``. Each row is refused with the column named (one warning line), as the
topic's reader refuses a message; it was ``twin: internal error: TypeError: Object of type Decimal is
not JSON serializable``, exit 1, for the whole list."""

from __future__ import annotations

import decimal
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from flows.cli.main import main
from tests.flows.test_command_path import approve, mode, rec, run


@pytest.mark.parametrize(("column", "kind", "values"), [
    ("sequence", "Decimal", lambda n: pa.array([decimal.Decimal(i) for i in range(n)], pa.decimal128(10, 0))),
    ("actor", "bytes", lambda n: pa.array([b"twinflow"] * n, pa.binary())),
    ("expires_at", "timedelta", lambda n: pa.array([timedelta(hours=1)] * n, pa.duration("s"))),
])
def test_an_audit_column_of_a_foreign_type_refuses_its_rows_naming_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], column: str, kind: str, values: object) -> None:
    got = run([rec(), approve()], mode("approve"), send=True, archive=tmp_path / "a")
    assert len(got.audit) == 3
    (path,) = (tmp_path / "a" / "audit").rglob("*.parquet")
    data = pq.read_table(path)
    i = data.column_names.index(column)
    pq.write_table(data.set_column(i, column, values(data.num_rows)), path)  # type: ignore[operator]
    assert main(["commands", "list", "--all", "--archive", str(tmp_path / "a")]) == 0
    out, err = capsys.readouterr()
    assert out == "no commands in the audit log\n"
    assert err == (f"twin: warning: 3 entries of the archive's audit table in {tmp_path / 'a'} left out (not "
                   f"audit entries: schema_violation 3; first: {column} must be a JSON value, got {kind})\n")
