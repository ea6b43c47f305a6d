"""A table listed with a row hook (:data:`~flows.archive.files.RowHook`: ``twin explain``'s asset
views, each file opened once) reports its unreadable files with the very reasons the plain listing
gives (round 43, TIDY43: the two readings had each their own copy of "open this footer or say why")."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pyarrow.parquet as pq

from flows.archive.files import scan_table
from tests.flows.archive_fixtures import small_archive


def _reasons(root: Path, hooked: list[Path] | None) -> dict[str, str]:
    def hook(path: Path, pf: pq.ParquetFile) -> None:
        assert pf.metadata.num_rows > 0
        assert hooked is not None
        hooked.append(path)

    tf = scan_table(root, "features", rows=None if hooked is None else hook)
    return {os.fsencode(b.path.name).decode("latin-1"): b.reason for b in tf.bad}


def test_a_hooked_listing_names_each_bad_file_as_the_plain_one(tmp_path: Path) -> None:
    root = small_archive(tmp_path / "a")
    (good,) = (root / "features").rglob("*.parquet")
    folder = good.parent
    (folder / "part-empty.parquet").write_bytes(b"")
    (folder / "part-csv.parquet").write_text("a,b\n1,2\n")
    (folder / "part-cut.parquet").write_bytes(good.read_bytes()[:-9])
    shutil.copyfile(good, os.path.join(os.fsencode(folder), b"part-\xff.parquet"))
    plain = _reasons(root, None)
    hooked: list[Path] = []
    assert _reasons(root, hooked) == plain
    assert hooked == [good]  # the hook saw the one readable file, and only it
    assert plain["part-\xff.parquet"] == "its name is not UTF-8"
    assert plain["part-csv.parquet"].startswith("unreadable Parquet: Parquet magic bytes not found")
    for name in ("part-empty.parquet", "part-cut.parquet"):
        assert plain[name].startswith("unreadable Parquet: "), plain
    assert len(plain) == 4
