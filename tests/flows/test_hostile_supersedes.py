"""A planted file claiming to be a compaction of the archive's files (round 24, HOSTILE24).

A compacted file names the files it merged in its Parquet metadata; the readers leave those out
and ``twin archive compact`` deletes them. On main a planted file naming the good files hid their
rows from every query and made the next compaction delete them; a claim that was not a list of
names stopped every reader with a traceback."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from flows.archive.compact import compact_archive
from flows.archive.files import SUPERSEDES, scan_table
from flows.archive.query import query
from flows.cli.main import main
from flows.dataflow.sinks.archive import write_rows
from tests.flows.archive_fixtures import T0, feature_rows

VIEW = "SELECT asset_id, window_start, \"vib.rms\" FROM features ORDER BY 1, 2"
FOLDER = "date=2026-01-01"


def _archive(root: Path) -> tuple[Path, list[str]]:
    """features of two runs (two files in one date folder) and their names, relative to the table."""
    write_rows(root, "features", feature_rows(windows=2), "part-r1-w0-000000", "20260101T000000-aaaaaaaa")
    later = [r for r in feature_rows(windows=5, rms=2.0) if r["window_start"] >= T0 + timedelta(hours=2)]
    write_rows(root, "features", later, "part-r2-w0-000000", "20260102T000000-bbbbbbbb")
    names = sorted(str(p.relative_to(root / "features")) for p in (root / "features").rglob("*.parquet"))
    assert len(names) == 2
    return root, names


def _plant(root: Path, data: pa.Table, claim: bytes) -> Path:
    path = root / "features" / FOLDER / "part-zz-planted.parquet"
    pq.write_table(data.replace_schema_metadata({SUPERSEDES: claim}), path)
    return path


def _good_files(root: Path) -> list[str]:
    return sorted(p.name for p in (root / "features").rglob("part-r*.parquet"))


def _one_row_of_the_table(root: Path) -> pa.Table:
    """A file the table's own schema: one row of a good file (as a copy of one would be)."""
    first = next((root / "features" / FOLDER).glob("part-r1*.parquet"))
    return pq.read_table(first).slice(0, 1).replace_schema_metadata(None)


@pytest.mark.parametrize("kind", ["foreign_schema", "right_schema_fewer_rows", "right_schema_other_rows"])
def test_a_planted_claim_to_have_merged_the_good_files_hides_and_deletes_nothing(
        tmp_path: Path, kind: str, capsys: pytest.CaptureFixture[str]) -> None:
    root, names = _archive(tmp_path / "a")
    view = query(root, VIEW)
    assert len(view[1]) == 10  # 4 rows of run 1, 6 of run 2
    data = pa.table({"x": [1, 2, 3]}) if kind == "foreign_schema" else _one_row_of_the_table(root)
    if kind == "right_schema_other_rows":  # 12 rows, more than the 10 it names: run 1's rows thrice
        first = pq.read_table(next((root / "features" / FOLDER).glob("part-r1*.parquet")))
        data = pa.concat_tables([first.replace_schema_metadata(None)] * 3)
    planted = _plant(root, data, json.dumps(names).encode())
    tf = scan_table(root, "features")
    assert tf.superseded == []
    assert [b.path for b in tf.bad] == [planted]
    if kind != "foreign_schema":
        lacks = 9 if kind == "right_schema_fewer_rows" else 6  # all but its one row; run 2's 6 rows
        assert f"names 2 files as merged into it but lacks {lacks} of their rows" in tf.bad[0].reason
    assert query(root, VIEW) == view  # the planted file is left out, the good files read
    assert main(["archive", "check", "--archive", str(root)]) == 1
    assert "part-zz-planted.parquet" in capsys.readouterr().out
    assert compact_archive(root, T0.date().replace(day=3), "part-compact-x")[1] == 0
    assert query(root, VIEW) == view  # compaction merged the good files, deleted none unmerged
    assert len(list((root / "features").rglob("*.parquet"))) == 2  # the merged file and the planted one


@pytest.mark.parametrize("claim", [b"{", b"5", b"null", b'{"a": 1}', b"[1, 2]", b'"x"',
                                   b'["../../../etc/passwd"]',
                                   b'["date=2026-01-02/part-r1-w0-000000.parquet"]',
                                   b'["/abs/part.parquet"]', b"[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]"],
                         ids=["bad_json", "number", "null", "object", "ints", "text", "dotdot", "other_date",
                              "absolute", "nested"])
def test_a_claim_that_is_not_a_list_of_the_folder_s_files_is_a_bad_file_not_a_crash(
        tmp_path: Path, claim: bytes, capsys: pytest.CaptureFixture[str]) -> None:
    root, _names = _archive(tmp_path / "a")
    view = query(root, VIEW)
    planted = _plant(root, _one_row_of_the_table(root), claim)
    tf = scan_table(root, "features")
    reason = ("foreign file: its compaction metadata (twin.compacted_from) is not a list of the files of "
              "its date folder")
    assert [(b.path, b.reason) for b in tf.bad] == [(planted, reason)]
    assert query(root, VIEW) == view
    assert main(["sql", "SELECT count(*) AS n FROM features", "--archive", str(root), "--format", "csv"]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines() == ["n", "10"]
    assert "part-zz-planted.parquet" in err and "Traceback" not in err


def test_a_real_compaction_s_claim_still_holds(tmp_path: Path) -> None:
    """The compacted file of a compaction stopped before its deletes supersedes its sources."""
    root, _names = _archive(tmp_path / "a")
    view = query(root, VIEW)
    files = scan_table(root, "features").files
    from flows.archive.merge import merged_schema, write_merged
    write_merged("features", files, merged_schema(files), tmp_path / "merged.parquet", {})
    data = pq.read_table(tmp_path / "merged.parquet")
    sources = [str(f.path.relative_to(root / "features")) for f in files]
    _plant(root, data, json.dumps(sources).encode())  # as compact_date writes it, sources kept
    tf = scan_table(root, "features")
    assert sorted(p.name for p in tf.superseded) == _good_files(root) and tf.bad == []
    assert query(root, VIEW) == view
    assert compact_archive(root, T0.date().replace(day=3), "part-compact-y")[1] == 2
    assert _good_files(root) == []
    assert query(root, VIEW) == view


def test_one_planted_file_of_another_column_type_named_to_sort_first_leaves_out_only_itself(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """On main the first file in path order set each column's type: a planted one-row ``a.parquet``
    whose ``vib.rms`` is text left every good file out ("incompatible schema": the views held its
    one row) and ``archive check --repair`` moved the good files into the quarantine."""
    root, names = _archive(tmp_path / "a")
    view = query(root, VIEW)
    one = _one_row_of_the_table(root)
    one = one.set_column(one.schema.get_field_index("vib.rms"), "vib.rms", pa.array(["oops"]))
    planted = root / "features" / FOLDER / "a.parquet"
    pq.write_table(one, planted)
    tf = scan_table(root, "features")
    assert [b.path for b in tf.bad] == [planted]
    assert sorted(str(f.path.relative_to(root / "features")) for f in tf.files) == names
    assert query(root, VIEW) == view
    assert main(["archive", "check", "--archive", str(root), "--repair"]) == 0
    assert "moved features/date=2026-01-01/a.parquet -> _quarantine/" in capsys.readouterr().out
    assert _good_files(root) == sorted(Path(n).name for n in names)
    assert query(root, VIEW) == view
