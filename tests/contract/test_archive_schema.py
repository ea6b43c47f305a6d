"""schemas/archive/*.v<N>.json: the Parquet archive's declared tables, checked against the files the
engine really writes, the JSON schemas of the same records and the README's column lists."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from flows.archive.query import query
from flows.archive.views import BOOKKEEPING as VIEW_BOOKKEEPING
from flows.codec import archive_schema as arch
from flows.codec.command_fields import ARCHIVE_MAPPINGS as MAPPINGS
from flows.codec.record_fields import TWIN_SNAPSHOT, Field, RecordMapping
from twin_models.records import TwinSnapshot

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ROOT / "schemas"
README_OMITS: dict[str, set[str]] = {}
"""Columns the README's lists do not name yet (they may be added; nothing else may be missing)."""



def _expected_type(prop: dict[str, Any], defs: dict[str, Any]) -> tuple[str, bool]:
    """(archive Arrow type, nullable) that a JSON schema property maps to."""
    if "$ref" in prop:
        prop = defs[prop["$ref"].removeprefix("#/$defs/")]
    if prop.get("format") == "date-time":
        return "timestamp[us, tz=UTC]", False
    if "enum" in prop:
        return "string", False
    types = prop["type"] if isinstance(prop["type"], list) else [prop["type"]]
    main_type = next(t for t in types if t != "null")
    if main_type == "array" and prop.get("items") == {"type": "number"}:  # particle arrays
        return "list<element: double>", "null" in types
    arrow = {"string": "string", "number": "double", "integer": "int64", "boolean": "bool",
             "array": "string", "object": "string"}[main_type]  # arrays/objects: JSON or joined text
    return arrow, "null" in types


def test_published_files_are_the_declared_schema() -> None:
    """A change to the field tables needs the published files regenerated (and reviewed):
    ``python -m flows.codec.archive_schema schemas/archive``."""
    files = sorted(p.name for p in (SCHEMAS / "archive").glob("*.json"))
    versions = {t: arch.mapping(t).version for t in arch.TABLES}  # older versions stay as published
    assert files == sorted(f"{t}.v{v}.json" for t, n in versions.items() for v in range(1, n + 1))
    for table in arch.TABLES:
        text = (SCHEMAS / "archive" / f"{table}.v{versions[table]}.json").read_text()
        assert text == arch.dump(table), table
        assert json.loads(text) == arch.schema_doc(table)


@pytest.mark.parametrize("m", MAPPINGS, ids=lambda m: m.table)
def test_fields_are_the_records_fields_in_order(m: RecordMapping) -> None:
    """A field added to a record without its row in the table (JSON form + archive column) fails."""
    assert [f.name for f in m.fields] == [f.name for f in dataclasses.fields(m.record)]


@pytest.mark.parametrize("m", MAPPINGS, ids=lambda m: m.table)
def test_archive_and_json_schema_agree_on_names_and_types(m: RecordMapping) -> None:
    doc = json.loads((SCHEMAS / f"{m.schema}.v{m.version}.json").read_text())
    props, defs = doc["properties"], doc.get("$defs", {})
    named = {c.name: c for c in arch.file_columns(m.table)}
    from_fields = set(named) | {"asset_id"} | ({m.open_field.name} if m.open_field else set())
    assert from_fields == set(props)  # every JSON property is a column (or the partition / open ones)
    for name, col in named.items():
        assert (col.arrow, col.nullable) == _expected_type(props[name], defs), name
    if m.open_field is not None:
        values = props[m.open_field.name]["additionalProperties"]
        assert (arch.open_columns(m.table).arrow, True) == _expected_type(values, defs)  # type: ignore[union-attr]


@pytest.mark.parametrize("m", MAPPINGS, ids=lambda m: m.table)
def test_an_archive_column_describes_every_value_its_json_schema_allows(m: RecordMapping) -> None:
    """An analyst reads the archive's column descriptions: each names every value its JSON schema's
    enum allows (round 50: alerts' and data_quality's ``check`` left out ``drift``)."""
    props = json.loads((SCHEMAS / f"{m.schema}.v{m.version}.json").read_text())["properties"]
    for col in arch.file_columns(m.table):
        values = [v for v in props[col.name].get("enum", ()) if v]
        missing = [v for v in values if not re.search(rf"\b{re.escape(v)}\b", col.description)]
        assert not missing, (m.table, col.name, missing)


def test_a_new_record_field_without_an_archive_column_is_refused() -> None:
    fields = (*TWIN_SNAPSHOT.fields, Field("new_score", TWIN_SNAPSHOT.fields[4].form, "new"))
    columns = tuple(c.name for c in TWIN_SNAPSHOT.columns)
    with pytest.raises(ValueError, match="archive columns of 'twin_state'"):
        RecordMapping(TwinSnapshot, "twin_snapshot", "twin_state", fields, columns=columns,
                      date_of="window_start", owner=str)


def _declared(table: str) -> list[tuple[str, str]]:
    return [(c.name, c.arrow) for c in arch.file_columns(table)]


def _bookkeeping() -> list[tuple[str, str]]:
    return [(c.name, c.arrow) for c in arch.BOOKKEEPING]


@pytest.mark.parametrize("table", arch.TABLES)
def test_written_files_have_exactly_the_declared_schema(archive: Path, table: str) -> None:
    files = sorted((archive / table).rglob("*.parquet"))
    assert files, f"the demo wrote no {table} file"
    spread = arch.open_columns(table)
    for path in files:
        got = pq.read_table(path)
        assert (got.schema.field(0).name, str(got.schema.field(0).type)) == ("asset_id", "string"), path
        cols = [(f.name, str(f.type)) for f in got.schema][1:]
        n = len(_declared(table))
        assert cols[:n] == _declared(table), path
        assert cols[len(cols) - 3:] == _bookkeeping(), path
        middle = cols[n:len(cols) - 3]
        if spread is None:
            assert middle == [], path
        else:
            assert middle and all(t == spread.arrow for _, t in middle), path
        for spec in (*arch.file_columns(table), *arch.BOOKKEEPING):
            if not spec.nullable:
                assert got.column(spec.name).null_count == 0, (path, spec.name)
        assert re.fullmatch(r"date=\d{4}-\d{2}-\d{2}", path.parts[-2]), path
        assert path.parent.parent == archive / table, path


@pytest.mark.parametrize("table", arch.TABLES)
def test_views_show_the_declared_columns(archive: Path, table: str) -> None:
    cols, _ = query(archive, f"SELECT * FROM {table} LIMIT 0")
    named = [c.name for c in arch.file_columns(table)]
    visible = [c.name for c in arch.BOOKKEEPING if c.name != "_write_seq"]
    partitions = [c.name for c in arch.PARTITIONS]
    assert cols[:len(named)] == named
    assert cols[len(cols) - 4:] == visible + partitions
    if arch.open_columns(table) is None:
        assert len(cols) == len(named) + len(visible) + len(partitions)


def test_the_read_side_agrees_on_the_bookkeeping_columns() -> None:
    assert [(f.name, str(f.type)) for f in VIEW_BOOKKEEPING] == _bookkeeping()
    assert pa.schema(VIEW_BOOKKEEPING).names == [c.name for c in arch.BOOKKEEPING]


def _readme_columns() -> dict[str, list[str]]:
    """The README's column list of each view ("Querying the archive")."""
    text = (ROOT / "README.md").read_text().split("## Querying the archive", 1)[1].split("\n## ", 1)[0]
    out = {}
    for table, body in re.findall(r"^- `(\w+)`: (.*?)(?=^- |^\s*$)", text, re.S | re.M):
        body = body.split("then one column per", 1)[0]
        words = body.replace("\n", " ").split(",")
        out[table] = [re.sub(r"\s*\(.*", "", w).strip().rstrip(".;") for w in words]
    return {t: [c for c in cols if c] for t, cols in out.items()}


def test_readme_lists_the_archive_columns() -> None:
    readme = _readme_columns()
    assert set(readme) == set(arch.TABLES)
    for table, listed in readme.items():
        declared = [c.name for c in (*arch.PARTITIONS, *arch.file_columns(table))]
        assert set(listed) <= set(declared), (table, set(listed) - set(declared))
        assert set(declared) - set(listed) <= README_OMITS.get(table, set()), table
        # README says `SELECT *` gives them in its order, the partition columns last
        partitions = {c.name for c in arch.PARTITIONS}
        own = [c.name for c in arch.file_columns(table)]
        assert [c for c in listed if c not in partitions] == [c for c in own if c in listed], table
