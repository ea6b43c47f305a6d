"""A table or date folder swapped for a link while ``twin archive compact`` merges it: nothing written,
renamed or deleted through the link (round 50, part COMPACT50).

Round 49 (DIRFD49) held the sink's folders; compaction still looked at the archive (its scan) and then
wrote the merged file, renamed it and deleted the files it merged by path: a date folder swapped for a
link to an outside folder between the look and the write had the merged file written there and the
outside folder's files of the merged files' names deleted. Now compaction opens the table and date
folders from the archive down without following a link (:class:`flows.archive.held_folders.HeldFolders`)
and makes every step by name in the folder so opened; a folder not at its name any more stops it in
one line naming that folder.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from flows.archive import compact
from flows.archive.compact import CompactionStopped, compact_archive
from flows.archive.files import scan_table
from flows.archive.layout import WriteFailed
from flows.archive.quarantine import quarantine
from flows.cli.main import main
from tests.flows.test_archive_compact import BEFORE, _archive

DAY = "date=2026-01-01"


def _outside(tmp_path: Path, root: Path) -> Path:
    """A folder outside the archive holding a copy of the ``features`` table (the first day's files by
    the same names): what a compaction going through a link would write to and delete from."""
    outside = tmp_path / "outside"
    shutil.copytree(root / "features", outside / "features")
    return outside


def _contents(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _swapped(folder: Path, to: Path) -> None:
    """``folder`` moved aside (``<name>-moved``) and a link to ``to`` put at its name."""
    folder.rename(folder.with_name(folder.name + "-moved"))
    folder.symlink_to(to, target_is_directory=True)


def _once_after(monkeypatch: pytest.MonkeyPatch, name: str, swap: Callable[[], None]) -> None:
    """``swap()`` once, right after compaction's first call of ``compact.<name>`` returns."""
    real = getattr(compact, name)

    def then_swap(*args: Any, **kwargs: Any) -> Any:
        out = real(*args, **kwargs)
        if not done:
            done.append(True)
            swap()
        return out

    done: list[bool] = []
    monkeypatch.setattr(compact, name, then_swap)


@pytest.fixture
def archive(tmp_path: Path) -> tuple[Path, Path, dict[str, bytes]]:
    root = _archive(tmp_path / "a")
    outside = _outside(tmp_path, root)
    return root, outside, _contents(outside)


def test_a_date_folder_swapped_for_a_link_before_the_merge_is_refused_naming_it(
        archive: tuple[Path, Path, dict[str, bytes]], monkeypatch: pytest.MonkeyPatch) -> None:
    """Swapped after the scan (the look), before the merged file's write: the base wrote the merged
    file into the outside folder, renamed it there and deleted the outside files of its sources' names."""
    root, outside, before = archive
    folder = root / "features" / DAY
    _once_after(monkeypatch, "merged_schema", lambda: _swapped(folder, outside / "features" / DAY))
    with pytest.raises(CompactionStopped) as err:
        compact_archive(root, BEFORE, "part-compact-x")
    assert _contents(outside) == before  # nothing written, renamed or deleted there
    assert str(err.value).startswith(f"cannot compact the archive: {folder} is a symbolic link (not written "
                                     "through; remove it)")
    assert "\n" not in str(err.value)
    assert not err.value.done
    moved = folder.with_name(f"{DAY}-moved")
    assert not [p for p in moved.rglob("*") if "compact" in p.name]  # the archive's folder as it was


def test_a_table_folder_swapped_for_a_link_before_the_merge_is_refused_naming_it(
        archive: tuple[Path, Path, dict[str, bytes]], monkeypatch: pytest.MonkeyPatch) -> None:
    root, outside, before = archive
    table = root / "features"
    _once_after(monkeypatch, "merged_schema", lambda: _swapped(table, outside / "features"))
    with pytest.raises(CompactionStopped) as err:
        compact_archive(root, BEFORE, "part-compact-x")
    assert _contents(outside) == before
    assert str(err.value).startswith(f"cannot compact the archive: the archive's table folder {table} is a "
                                     f"symbolic link (to {outside / 'features'}): not followed")


def test_a_date_folder_swapped_between_the_rename_and_the_deletions_deletes_nothing_outside(
        archive: tuple[Path, Path, dict[str, bytes]], monkeypatch: pytest.MonkeyPatch) -> None:
    """The most dangerous step: the base deleted the outside folder's files of the merged files' names.
    Now they go by name in the folder merged (the archive's own, wherever it was moved) and the
    compaction stops naming the folder that is not at its name any more."""
    root, outside, before = archive
    folder = root / "features" / DAY
    moved = folder.with_name(f"{DAY}-moved")
    sources = sorted(p.name for p in folder.rglob("*.parquet"))
    _once_after(monkeypatch, "replace_synced", lambda: _swapped(folder, outside / "features" / DAY))
    with pytest.raises(CompactionStopped) as err:
        compact_archive(root, BEFORE, "part-compact-x")
    assert _contents(outside) == before
    assert str(err.value).startswith(f"cannot compact the archive: {folder} was replaced by a symbolic link")
    left = sorted(p.name for p in moved.rglob("*.parquet"))
    assert "part-compact-x.parquet" in left and "part-legacy.parquet" in left  # merged: its sources gone
    assert len(left) == 2 < len(sources)


def test_a_date_folder_swapped_after_the_merge_is_not_committed_and_named(
        archive: tuple[Path, Path, dict[str, bytes]], monkeypatch: pytest.MonkeyPatch) -> None:
    """Swapped while the merged file was written: it is not renamed in (the base tried the rename through
    the link and left its temporary file behind in the archive's folder), the folder is named."""
    root, outside, before = archive
    folder = root / "features" / DAY
    moved = folder.with_name(f"{DAY}-moved")
    files = _contents(folder)
    _once_after(monkeypatch, "write_merged", lambda: _swapped(folder, outside / "features" / DAY))
    with pytest.raises(CompactionStopped) as err:
        compact_archive(root, BEFORE, "part-compact-x")
    assert _contents(outside) == before
    assert _contents(moved) == files  # left as it was: no merged file, no temporary file
    assert str(err.value).startswith(f"cannot compact the archive: {folder} was replaced by a symbolic link "
                                     f"while features {date(2026, 1, 1)} was merged")


def test_the_command_says_it_in_one_line_naming_the_folder_as_given(
        archive: tuple[Path, Path, dict[str, bytes]], monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    root, outside, before = archive
    folder = root / "features" / DAY
    _once_after(monkeypatch, "merged_schema", lambda: _swapped(folder, outside / "features" / DAY))
    code = main(["archive", "compact", "--archive", str(root), "--before", BEFORE.isoformat()])
    err = capsys.readouterr().err
    assert code == 2  # noqa: PLR2004 - the command's error exit
    assert _contents(outside) == before
    lines = [line for line in err.splitlines() if "symbolic link" in line]
    assert len(lines) == 1 and f"{folder} is a symbolic link" in lines[0], err
    assert "/proc/self/fd" not in err


def test_left_behind_sources_in_a_folder_swapped_for_a_link_are_not_deleted_through_it(
        archive: tuple[Path, Path, dict[str, bytes]], monkeypatch: pytest.MonkeyPatch) -> None:
    """A compaction stopped after its rename leaves its sources (superseded), which the next one deletes
    first: a date folder swapped for a link after that compaction's scan had the outside folder's files of
    those names deleted on the base."""
    root, outside, before = archive
    folder = root / "features" / DAY
    with monkeypatch.context() as m:  # the first compaction stopped before deleting its sources
        m.setattr(compact.HeldFolders, "unlink", lambda self, path: None)
        compact_archive(root, BEFORE, "part-compact-x")
    _once_after(monkeypatch, "scan_table", lambda: _swapped(folder, outside / "features" / DAY))
    with pytest.raises(OSError) as err:  # the base: no error, 7 files deleted outside
        compact_archive(root, BEFORE, "part-compact-y")
    assert _contents(outside) == before
    assert isinstance(err.value, compact.FolderReplaced)
    assert str(err.value) == (f"cannot compact the archive: {folder} is a symbolic link (not written "
                              "through; remove it)")


def test_the_files_merged_are_read_in_the_folder_held_not_through_a_link_put_at_its_name(
        archive: tuple[Path, Path, dict[str, bytes]], monkeypatch: pytest.MonkeyPatch) -> None:
    """A date folder swapped for a link while its files are read, and put back before the merged file is
    committed: the files read are the folder's own (the base read them through the link: here an empty
    outside folder, so the base failed with ``cannot read ...``; a folder of other files would have had
    their rows merged into the archive)."""
    root, outside, _ = archive
    folder = root / "features" / DAY
    moved = folder.with_name(f"{DAY}-moved")
    (empty := outside / "empty").mkdir()
    rows = sum(pq.read_metadata(p).num_rows for p in folder.rglob("*.parquet")
               if p.name != "part-legacy.parquet")  # no bookkeeping: left alone
    real = compact.write_merged

    def swapped_while_read(*args: Any, **kwargs: Any) -> Any:
        if done:
            return real(*args, **kwargs)
        done.append(True)
        _swapped(folder, empty)
        try:
            return real(*args, **kwargs)
        finally:
            folder.unlink()
            moved.rename(folder)

    done: list[bool] = []
    monkeypatch.setattr(compact, "write_merged", swapped_while_read)
    merged, _ = compact_archive(root, BEFORE, "part-compact-x")
    assert list(empty.iterdir()) == []
    assert (merged[0].date, merged[0].rows) == (date(2026, 1, 1), rows)
    assert pq.read_metadata(folder / "part-compact-x.parquet").num_rows == rows


def test_repair_moves_nothing_out_of_a_folder_swapped_for_a_link_after_the_check(tmp_path: Path) -> None:
    """``twin archive check --repair`` moves a bad file aside by name in its folder held: the base moved the
    outside folder's file of that name into the archive's ``_quarantine/`` (out of where it was)."""
    root = _archive(tmp_path / "a")
    folder = root / "features" / DAY
    (folder / "junk.parquet").write_bytes(b"not parquet")
    outside = _outside(tmp_path, root)
    before = _contents(outside)
    bad = [b for b in scan_table(root, "features").bad if b.path.name == "junk.parquet"]
    assert len(bad) == 1
    _swapped(folder, outside / "features" / DAY)  # after the check, before the move
    with pytest.raises(WriteFailed) as err:  # the base: no error, the outside file moved into the archive
        quarantine(root, bad)
    assert _contents(outside) == before
    assert str(err.value) == (f"cannot move the archive's files aside: {folder} is a symbolic link (not "
                              "written through; remove it)")
    assert (folder.with_name(f"{DAY}-moved") / "junk.parquet").read_bytes() == b"not parquet"
