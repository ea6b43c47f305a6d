"""A view's columns come from one place (round 31, LOOSE31: ``views.empty_schema`` spelled the
order beside ``_dataset``'s): a table's empty view and its view over files list the same columns,
in the same order (a pure refactor: this held on main too; it guards the one
source)."""

from __future__ import annotations

from pathlib import Path

from flows.archive.query import connect
from flows.archive.views import empty_schema
from tests.flows.archive_fixtures import small_archive


def test_the_empty_view_and_the_view_over_files_have_one_column_order(tmp_path: Path) -> None:
    con = connect(small_archive(tmp_path / "a"))
    full = con.sql("SELECT * FROM alerts LIMIT 0").arrow().schema
    assert full.names == empty_schema("alerts").names
    features = [f.name for f in con.sql("SELECT * FROM features LIMIT 0").arrow().schema]
    named = empty_schema("features").names  # no feature column known in an empty view
    assert [c for c in features if c in named] == [c for c in named if c in features]  # (no 'inputs' here)
    assert features[-4:] == named[-4:] == ["run_id", "_written_at", "date", "asset_id"]
