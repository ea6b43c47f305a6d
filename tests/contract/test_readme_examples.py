"""README's examples against the code: the SQL ones on a real archive (the demo run of ``conftest.archive``):

- every ``twin sql "..."`` example of README and CONTRIBUTING runs (a renamed view or column, or a
  function DuckDB no longer has, leaves an example that fails for whoever copies it);
- the "Plain DuckDB" query, given for ``alerts`` and applied to every table with its key, gives
  exactly the rows of ``twin sql``'s view, also where keys were written again (a resumed run);
- the asset metadata example ("Deploying on an existing cluster") loads and means what it says.
"""

from __future__ import annotations

import contextlib
import io
import re
import shutil
from pathlib import Path

import duckdb
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from flows.archive.query import query
from flows.archive.views import KEYS
from flows.cli.main import main

ROOT = Path(__file__).resolve().parents[2]
DOCS = {name: (ROOT / name).read_text(encoding="utf-8") for name in ("README.md", "CONTRIBUTING.md")}
SQL = re.compile(r'twin sql "((?:[^"\\]|\\.)*)"', re.S)


def _examples() -> list[tuple[str, str]]:
    found = [(doc, re.sub(r"\s+", " ", q.replace('\\"', '"')).strip())
             for doc, text in DOCS.items() for q in SQL.findall(text)]
    return [(doc, q) for doc, q in found if "..." not in q]  # "SELECT ..." names a shape, no query


EXAMPLES = _examples()


def test_the_examples_are_found() -> None:
    assert len(EXAMPLES) >= 10
    assert any("chosen->>'plan'" in q for _, q in EXAMPLES)


@pytest.mark.parametrize(("doc", "sql"), EXAMPLES, ids=[f"{d}:{q[:50]}" for d, q in EXAMPLES])
def test_every_twin_sql_example_runs(archive: Path, doc: str, sql: str) -> None:
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        code = main(["sql", sql, "--archive", str(archive), "--max-rows", "1"])
    assert code == 0, f"{doc}: `twin sql \"{sql}\"` fails: {err.getvalue().strip()}"


def _plain_duckdb_query() -> str:
    """The SQL block under README's "Plain DuckDB" paragraph."""
    text = DOCS["README.md"].split("**Plain DuckDB**", 1)[1]
    return text.split("```sql\n", 1)[1].split("```", 1)[0]


def _for_table(sql: str, root: Path, table: str) -> str:
    assert "PARTITION BY alert_id, sequence" in sql and "'twin-data/alerts/" in sql
    return (sql.replace("PARTITION BY alert_id, sequence", f"PARTITION BY {KEYS[table]}")
            .replace("'twin-data/alerts/", f"'{root}/{table}/"))


def _written_again(archive: Path, tmp: Path) -> Path:
    """A copy of the archive where each table's first file was written again, later, with other
    values (as a resume re-writes its last epoch): the views must show the second write."""
    root = tmp / "archive"
    shutil.copytree(archive, root, ignore=shutil.ignore_patterns("*.png", "*.jsonl", "*.json"))
    for table in KEYS:
        first = sorted((root / table).rglob("part-*.parquet"))[0]
        rows = pq.read_table(first)
        seq = rows.column("_write_seq")
        rows = rows.set_column(rows.schema.get_field_index("_write_seq"), "_write_seq",
                               pc.add(seq, 10**9))
        rows = rows.set_column(rows.schema.get_field_index("run_id"), "run_id",
                               pc.binary_join_element_wise(rows.column("run_id"), "-again", ""))
        again = first.with_name(first.name.replace("-000000", "-900000"))
        assert again != first and not again.exists()
        pq.write_table(rows, again)
    return root


@pytest.mark.parametrize("table", sorted(KEYS))
def test_plain_duckdb_query_gives_the_views_rows(archive: Path, tmp_path: Path, table: str) -> None:
    root = _written_again(archive, tmp_path)
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")  # twin sql's zone (a plain connection's is the machine's)
    plain = con.sql(_for_table(_plain_duckdb_query(), root, table))
    names, view = query(root, f"SELECT * FROM {table}")
    assert sorted(plain.columns) == sorted(names)
    got = plain.select(*[duckdb.ColumnExpression(n) for n in names]).fetchall()
    assert sorted(map(repr, got)) == sorted(map(repr, view))
    assert any(str(r[names.index("run_id")]).endswith("-again") for r in view)  # the rewrite counts


def test_readme_asset_metadata_example_loads(tmp_path: Path) -> None:
    """README's metadata example is a valid file meaning what its comments say."""
    from flows.dataflow.sources.files import read_metadata

    text = DOCS["README.md"].split("**Asset metadata**", 1)[1].split("```toml\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "assets.toml"
    path.write_text(text, encoding="utf-8")
    catalog = read_metadata(path)
    listed, unlisted = catalog.get("m2"), catalog.get("pump-9")
    assert listed.failure_threshold is not None and listed.failure_threshold.feature == "temperature.mean"
    assert unlisted.failure_threshold is not None and unlisted.failure_threshold.feature == "vib.rms"
    assert listed.bearing == unlisted.bearing is not None
    assert [s.channel for s in unlisted.sensors] == ["vib", "temperature", "current"]
