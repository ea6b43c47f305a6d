"""`twin explain` and `twin whatif` over views of one asset's rows, read as the files are listed
(round 41, SCAN41b: each query of theirs re-read every file's footer), give what the file views give.

The reference is the same code over the file views (:func:`flows.archive.query.connect` without an
asset, as before), on a demo archive whose ``twin_state`` and ``features`` files are split into many
small parts, one date's merged into one file of many row groups (the statistics that skip row groups).
"""

from __future__ import annotations

import contextlib
import io
import pickle
import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from flows.app import explain as explain_module
from flows.app.whatif_archive import archive_basis
from flows.archive import query
from flows.cli.main import main

PART_ROWS = 5


def _split(root: Path, table: str) -> int:
    """Each file of ``table`` as parts of :data:`PART_ROWS` rows; the first date's rows in one file of
    row groups of 16 rows, sorted by asset. The number of files written."""
    written = 0
    dates = sorted(p for p in (root / table).iterdir() if p.is_dir())
    for n, folder in enumerate(dates):
        files = sorted(folder.glob("*.parquet"))
        if n == 0:
            rows = pa.concat_tables([pq.read_table(f) for f in files], promote_options="permissive")
            order = [("asset_id", "ascending"), ("window_start", "ascending")]
            rows = rows.take(pc.sort_indices(rows, order))
            for f in files:
                f.unlink()
            pq.write_table(rows, folder / "part-merged-w0-000000.parquet", row_group_size=16)
            written += 1
            continue
        for f in files:
            rows = pq.read_table(f)
            f.unlink()
            for k in range(0, rows.num_rows, PART_ROWS):
                pq.write_table(rows.slice(k, PART_ROWS), folder / f"{f.stem}-s{k:05d}.parquet")
                written += 1
    return written


@pytest.fixture(scope="module")
def many(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A demo archive (3 assets, 8 days: alerts raised, checkpoints written), its windows in many parts."""
    out = tmp_path_factory.mktemp("demo") / "a"
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["demo", "--assets", "3", "--days", "8", "--seed", "5", "--out", str(out),
                     "--no-progress", "--json"]) == 0
    for table in ("twin_state", "features"):
        assert _split(out, table) > 50  # noqa: PLR2004 - many parts
    return out


def _file_views(*args: Any, asset: str | None = None, columns: Any = None, **kw: Any) -> Any:
    """:func:`query.connect` as before: every view over the files, whatever asset is asked."""
    if asset is not None:
        ASKED.append(asset)
    return _CONNECT(*args, **kw)


_CONNECT = query.connect
ASKED: list[str] = []
"""The assets the commands asked views of (the reference ignores them): they do ask."""


def test_explain_gives_what_the_file_views_give(many: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _, rows = query.query(many, "SELECT DISTINCT alert_id FROM alerts ORDER BY 1")
    assert len(rows) >= 2  # noqa: PLR2004
    new = {a: explain_module.explain(many, a) for (a,) in rows}
    monkeypatch.setattr(explain_module, "connect", _file_views)
    ASKED.clear()
    old = {a: explain_module.explain(many, a) for (a,) in rows}
    assert len(ASKED) == len(rows)
    assert new == old
    assert any(d["windows"] and any(f["baseline"] is not None for f in d["top_features"])
               for d in new.values())
    render = explain_module.render
    assert [render(d) for d in new.values()] == [render(d) for d in old.values()]


def test_whatif_basis_is_what_the_file_views_give(many: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _, rows = query.query(many, "SELECT asset_id, min(timestamp), max(timestamp) FROM twin_state GROUP BY 1 "
                                "ORDER BY 1")
    asked = [(a, None) for a, _, _ in rows] + [(a, lo + (hi - lo) / 2) for a, lo, hi in rows]
    new = [archive_basis(many, a, when) for a, when in asked]
    monkeypatch.setattr(query, "connect", _file_views)
    ASKED.clear()
    old = [archive_basis(many, a, when) for a, when in asked]
    assert ASKED == [a for a, _ in asked]
    # numpy arrays in the damage state, a relation object without __eq__: compared as their bytes
    assert [pickle.dumps(b) for b in new] == [pickle.dumps(b) for b in old]
    assert any(b.state is not None for b, _ in new)  # a checkpoint read, not only "no damage"


def _rows(con: Any, sql: str, asset: str) -> tuple[list[str], str]:
    """The column names and the rows' repr (a NaN equals a NaN)."""
    cur = con.execute(sql, [asset])
    return [d[0] for d in cur.description], repr(cur.fetchall())


def test_an_asset_view_holds_the_file_view_rows_of_that_asset(many: Path) -> None:
    _, assets = query.query(many, "SELECT DISTINCT asset_id FROM twin_state ORDER BY 1")
    for (asset,) in [*assets, ("no-such-asset",)]:
        for table in ("twin_state", "features", "damage_state"):
            files = _CONNECT(many, (table,))
            mine = _CONNECT(many, (table,), asset=asset)
            cols = ["window_start", "life_id"] if table == "twin_state" else None
            narrow = _CONNECT(many, (table,), asset=asset, columns={table: cols} if cols else None)
            try:
                sql = f"SELECT * FROM {table} WHERE asset_id = ? ORDER BY ALL"  # noqa: S608
                want = _rows(files, sql, asset)
                assert _rows(mine, sql, asset) == want
                picked = ", ".join(f'"{c}"' for c in cols or want[0])
                some = f"SELECT {picked} FROM {table} WHERE asset_id = ? ORDER BY ALL"  # noqa: S608
                assert _rows(narrow, some, asset) == _rows(files, some, asset)
                assert asset == "no-such-asset" or table == "damage_state" or want[1] != "[]"
            finally:
                for c in (files, mine, narrow):
                    c.close()


def test_a_file_whose_rows_cannot_be_read_is_one_line(many: Path, tmp_path: Path) -> None:
    copy = tmp_path / "a"
    shutil.copytree(many, copy)
    merged = next((copy / "twin_state").glob("*/part-merged-*.parquet"))
    data = bytearray(merged.read_bytes())
    data[200:260] = b"\xff" * 60  # the first row group's pages; the footer intact
    merged.write_bytes(bytes(data))
    asset = pq.read_table(many / merged.relative_to(copy), columns=["asset_id"])["asset_id"][0].as_py()
    with pytest.raises(query.ArchiveError, match=r"cannot be read .*twin archive check .*--pages --repair"):
        archive_basis(copy, asset)


def test_older_layout_files_mixed_in_give_the_same_rows(many: Path, tmp_path: Path) -> None:
    """Every file of each asset-keyed table's second date folder as the pre-issue-10 writer made it (one
    file per asset under ``asset_id=<quoted id>/``, no ``asset_id`` column), beside current files."""
    copy = tmp_path / "a"
    shutil.copytree(many, copy)
    moved = 0
    for table in ("twin_state", "features", "damage_state"):
        folders = sorted(p for p in (copy / table).iterdir() if p.is_dir())
        for path in sorted(folders[1].glob("*.parquet")) if len(folders) > 1 else []:
            rows = pq.read_table(path)
            path.unlink()
            for asset in rows["asset_id"].unique().to_pylist():
                part = rows.filter(pc.equal(rows["asset_id"], asset)).drop_columns(["asset_id"])
                folder = path.parent / f"asset_id={quote(asset, safe='')}"
                folder.mkdir(exist_ok=True)
                pq.write_table(part, folder / path.name)
                moved += 1
    assert moved > 10  # noqa: PLR2004
    _same_as_file_views(copy)


_VIEW_SQL = "SELECT sql FROM duckdb_views() WHERE view_name = ?"


def _same_as_file_views(root: Path, *, windowless: bool = False) -> None:
    """Each asset's view of each asset-keyed table holds the file views' rows of that asset (and, when
    ``windowless``, its SQL holds no window: the newest writes were picked by Arrow)."""
    _, assets = query.query(root, "SELECT DISTINCT asset_id FROM twin_state ORDER BY 1")
    for (asset,) in assets:
        for table in ("twin_state", "features", "damage_state"):
            files, mine = _CONNECT(root, (table,)), _CONNECT(root, (table,), asset=asset)
            try:
                sql = f"SELECT * FROM {table} WHERE asset_id = ? ORDER BY ALL"  # noqa: S608
                assert _rows(mine, sql, asset) == _rows(files, sql, asset)
                (body,) = mine.execute(_VIEW_SQL, [table]).fetchone()
                assert not windowless or "row_number" not in body.lower()
            finally:
                files.close()
                mine.close()


def _rewrite(rows: pa.Table, seq: Any, scale: float) -> pa.Table:
    """``rows`` written again: ``_write_seq`` set to ``seq`` (a number added, or None: unknown) and the
    numbers scaled (a later write that differs)."""
    cols = {}
    for name in rows.column_names:
        col = rows[name]
        if name == "_write_seq":
            col = pa.nulls(len(col), col.type) if seq is None else pc.add(col, seq)
        elif pa.types.is_floating(col.type):
            col = pc.multiply(col, scale)
        cols[name] = col
    return pa.table(cols)


def test_keys_written_again_give_the_file_views_newest_write(many: Path, tmp_path: Path) -> None:
    """Round 43 (MEM43): an asset view keeps each key's newest write by Arrow, once, and not by DuckDB's
    window at each query. Keys written again in later files (a resumed run): a higher ``_write_seq``
    wins over a lower, a known one over an unknown (nulls last), the later path among equals; the asset
    views give the file views' rows, and hold no window."""
    copy = tmp_path / "a"
    shutil.copytree(many, copy)
    for table in ("twin_state", "features", "damage_state"):
        folder = sorted(p for p in (copy / table).iterdir() if p.is_dir())[-1]
        first = pq.read_table(sorted(folder.glob("*.parquet"))[0])
        # newer, older, unknown and equal writes of the same keys, each in a file named later
        for name, seq, scale in (("zz-newer", 10**9, 2.0), ("zz-older", -(10**9), 3.0),
                                 ("zz-unknown", None, 5.0), ("zz-equal", 0, 7.0)):
            pq.write_table(_rewrite(first, seq, scale), folder / f"part-{name}.parquet")
    _same_as_file_views(copy, windowless=True)
    sql = "SELECT sum(health_index) FROM twin_state"  # the newer write (numbers doubled) is what they show
    assert query.query(copy, sql)[1][0][0] > query.query(many, sql)[1][0][0]


def test_a_key_arrow_cannot_sort_keeps_the_window() -> None:
    """Another writer's key column of a type Arrow cannot sort: the view keeps DuckDB's window, and the
    newest write still."""
    import duckdb

    from flows.archive.views import RANK, add_view_over
    rows = pa.table({"asset_id": ["a", "a", "a"],
                     "life_id": pa.array([[1], [1], [2]], pa.list_(pa.int64())),
                     "timestamp": pa.array([0, 0, 0], pa.timestamp("us", "UTC")),
                     "x": [1.0, 2.0, 3.0], "_write_seq": pa.array([1, 2, None], pa.int64()),
                     RANK: pa.array([0, 0, 1], pa.int64())})
    con = duckdb.connect()
    add_view_over(con, "damage_state", rows)
    got = con.execute("SELECT life_id, x FROM damage_state ORDER BY x").fetchall()
    assert got == [([1], 2.0), ([2], 3.0)]
    (body,) = con.execute(_VIEW_SQL, ["damage_state"]).fetchone()
    assert "row_number" in body.lower()


LONG_BACK, OTHER_BACK = timedelta(days=90), timedelta(days=200)


def _shifted(rows: pa.Table, back: timedelta, life: int | None = None, scale: float = 1.0) -> pa.Table:
    """``rows`` moved ``back`` in event time (every time column), their numbers times ``scale``, in
    ``life`` when given."""
    cols = {}
    for name, col in zip(rows.column_names, rows.columns, strict=True):
        kind = col.type
        if pa.types.is_timestamp(kind):  # DuckDB's zone Etc/UTC back to the writer's UTC
            col = col.cast(pa.timestamp(kind.unit, "UTC"))
            col = col if name == "_written_at" else pc.subtract(col, pa.scalar(back, pa.duration(kind.unit)))
        elif pa.types.is_floating(kind) and scale != 1.0:
            col = pc.multiply(col, scale)
        elif name == "life_id" and life is not None:
            col = pa.array([life] * rows.num_rows, kind)
        cols[name] = col
    return pa.table(cols)


def _prepend(root: Path, table: str, rows: pa.Table, back: timedelta, life: int | None, scale: float) -> None:
    moved = _shifted(rows, back, life, scale)
    first = pc.min(moved["timestamp" if table == "damage_state" else "window_start"]).as_py()
    folder = root / table / f"date={first.date().isoformat()}"
    folder.mkdir(exist_ok=True)
    pq.write_table(moved, folder / f"part-long{int(back.days)}-w0-000000.parquet")


def test_an_alert_late_in_a_long_life(many: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The last alert's life made 90 days longer (its windows before the episode copied 90 days back,
    the features tripled: the baseline moves), and an older life 200 days back: `twin explain` and
    `twin whatif` give what the file views give, holding neither the older life nor any ``lineage``
    before the episode (a look-back shorter than the life, or ``started_at`` as the lower bound, fails)."""
    _, found = query.query(many, "SELECT alert_id, asset_id, started_at FROM alerts WHERE status = 'raised' "
                                 "ORDER BY timestamp DESC LIMIT 1")
    alert, asset, started = found[0]
    copy = tmp_path / "a"
    shutil.copytree(many, copy)
    for table in ("twin_state", "features", "damage_state"):  # the life's checkpoints: all of them
        key = "timestamp < '9999-01-01'" if table == "damage_state" else "window_start < ?"
        sql = f"SELECT * EXCLUDE (date) FROM {table} WHERE asset_id = ? AND {key}"  # noqa: S608
        with query.connect(many, (table,)) as con:
            rows = con.sql(sql, params=[asset] + [started] * (table != "damage_state")).to_arrow_table()
        assert rows.num_rows
        _prepend(copy, table, rows, LONG_BACK, None, 3.0 if table == "features" else 1.0)
        _prepend(copy, table, rows, OTHER_BACK, 99, 5.0 if table == "features" else 1.0)
    held: list[tuple[int, int]] = []

    def spy(*args: Any, **kw: Any) -> Any:
        con = _CONNECT(*args, **kw)
        if kw.get("asset") is not None:
            held.append((con.execute("SELECT count(*) FROM features").fetchall()[0][0],
                         con.execute("SELECT count(*) FROM twin_state WHERE lineage IS NOT NULL AND "
                                     "window_start < ?", [started]).fetchall()[0][0]))
        return con

    monkeypatch.setattr(explain_module, "connect", spy)
    new = explain_module.explain(copy, alert)
    monkeypatch.setattr(explain_module, "connect", _file_views)
    assert new == explain_module.explain(copy, alert)
    assert new["skipped_files"] == 0
    assert [f["baseline"] for f in new["top_features"]] != \
        [f["baseline"] for f in explain_module.explain(many, alert)["top_features"]]
    _, total = query.query(copy, f"SELECT count(*) FROM features WHERE asset_id = '{asset}'")
    _, older = query.query(copy, f"SELECT count(*) FROM twin_state WHERE asset_id = '{asset}' "
                                 "AND life_id = 99")  # as many windows of features 200 days back
    assert held[0][1] == 0
    assert held[0][0] <= total[0][0] - older[0][0]
    _, times = query.query(copy, f"SELECT timestamp FROM damage_state WHERE asset_id = '{asset}' "
                                 "ORDER BY timestamp")
    asked = [None, *(t[0] + timedelta(minutes=1) for t in times)]
    monkeypatch.undo()
    bounded = [pickle.dumps(archive_basis(copy, asset, when)) for when in asked]
    monkeypatch.setattr(query, "connect", _file_views)
    assert bounded == [pickle.dumps(archive_basis(copy, asset, when)) for when in asked]
