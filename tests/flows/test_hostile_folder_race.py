"""A table or date folder swapped for a link while the sink writes: never written through (round 49,
part DIRFD49).

Round 49's hostile pass (HOSTILE49) left it: the sink looked at a part's folders (``lstat``) and then
wrote the part by path, so a table or date folder swapped for a symbolic link to a folder outside the
archive between the look and the write had the part written (and renamed) there. Now the folders are
opened from the archive down without following a link and the part is made, synced and renamed in
the date folder so opened (:class:`flows.archive.held_folders.HeldFolders`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from flows.archive import held_folders, layout
from flows.dataflow.sinks.archive_files import write_file
from flows.dataflow.sinks.archive_writer import ArchiveWriteError

NAME = "part-r-w0-000001"
DATE = "2026-01-01"


def _alerts() -> pa.Table:
    return pa.table({"asset_id": ["p1"], "time": pa.array([0], pa.timestamp("us", tz="UTC"))})


def _swapped(folder: Path, aside: Path, outside: Path) -> None:
    """``folder`` moved to ``aside`` and a link to ``outside`` put at its name: what a user who can
    write in the archive can do at any moment."""
    folder.rename(aside)
    folder.symlink_to(outside, target_is_directory=True)


@pytest.fixture
def archive(tmp_path: Path) -> tuple[Path, Path]:
    """An archive with the day's folder made (an earlier part in it), and an empty folder outside."""
    write_file(tmp_path / "a", "alerts", DATE, _alerts(), "part-r-w0-000000", "r")
    (outside := tmp_path / "outside").mkdir()
    (outside / f"date={DATE}").mkdir()  # what the swapped table folder's link leads to
    return tmp_path / "a", outside


def _between_look_and_write(monkeypatch: pytest.MonkeyPatch, swap: Any) -> None:
    """``swap()`` runs once, when the part's temporary name is cleared: after the sink made sure of the
    part's folders, before the part is made."""
    real = layout.clear_temporary

    def clear(path: Any, **fds: Any) -> None:
        if not swapped:
            swapped.append(True)
            swap()
        real(path, **fds)

    swapped: list[bool] = []
    monkeypatch.setattr(layout, "clear_temporary", clear)


def _outside_files(outside: Path) -> list[str]:
    return sorted(p.name for p in outside.rglob("*"))


def test_a_date_folder_swapped_for_a_link_before_the_parts_write_is_not_written_through(
        archive: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    root, outside = archive
    folder = root / "alerts" / f"date={DATE}"
    aside = root / "alerts" / "moved"
    _between_look_and_write(monkeypatch, lambda: _swapped(folder, aside, outside / f"date={DATE}"))
    with pytest.raises(ArchiveWriteError, match="was moved or removed while this write was in it"):
        write_file(root, "alerts", DATE, _alerts(), NAME, "r")  # round 50: not in the archive, said
    assert _outside_files(outside) == [f"date={DATE}"]  # the base: the part written and renamed there
    # written in the folder the sink opened, wherever it was moved to (its own: the archive's)
    assert sorted(p.name for p in aside.iterdir()) == ["part-r-w0-000000.parquet", f"{NAME}.parquet"]
    assert pq.read_table(aside / f"{NAME}.parquet").num_rows == 1


def test_a_table_folder_swapped_for_a_link_before_the_parts_write_is_not_written_through(
        archive: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    root, outside = archive
    aside = root / "moved"
    _between_look_and_write(monkeypatch, lambda: _swapped(root / "alerts", aside, outside))
    with pytest.raises(ArchiveWriteError, match="was moved or removed while this write was in it"):
        write_file(root, "alerts", DATE, _alerts(), NAME, "r")
    assert _outside_files(outside) == [f"date={DATE}"]  # the base: the part in outside/date=.../
    assert sorted(p.name for p in (aside / f"date={DATE}").iterdir()) == [
        "part-r-w0-000000.parquet", f"{NAME}.parquet"]


def test_a_table_folder_swapped_for_a_link_after_its_check_stops_the_write_naming_it(
        archive: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """Swapped right after the sink's look at it (``linked_table``): the folder's open, which follows
    no link, finds the link and the write stops in one line naming the folder."""
    root, outside = archive
    real = held_folders.linked_table

    def checked_then_swapped(table_dir: Path) -> Any:
        found = real(table_dir)
        if table_dir.is_dir() and not table_dir.is_symlink():
            _swapped(table_dir, root / "moved", outside)
        return found

    monkeypatch.setattr(held_folders, "linked_table", checked_then_swapped)
    with pytest.raises(ArchiveWriteError) as err:  # the base: no error, the part written outside
        write_file(root, "alerts", DATE, _alerts(), NAME, "r")
    assert _outside_files(outside) == [f"date={DATE}"]
    assert str(err.value) == (f"cannot write the archive: the archive's table folder {root / 'alerts'} is a "
                              f"symbolic link (to {outside}): not followed (a table folder must be a folder "
                              "inside the archive; remove the link)")
    assert "\n" not in str(err.value)


def test_a_link_at_a_new_date_folders_name_is_refused_naming_it(tmp_path: Path) -> None:
    """A date folder that is a link when the write comes (made since the run's start check): refused
    as before, now by the open that follows no link (the message unchanged)."""
    (outside := tmp_path / "outside").mkdir()
    (tmp_path / "a" / "alerts").mkdir(parents=True)
    (tmp_path / "a" / "alerts" / f"date={DATE}").symlink_to(outside, target_is_directory=True)
    with pytest.raises(ArchiveWriteError) as err:
        write_file(tmp_path / "a", "alerts", DATE, _alerts(), NAME, "r")
    assert str(err.value) == (f"cannot write the archive: {tmp_path / 'a' / 'alerts' / f'date={DATE}'} is a "
                              "symbolic link (not written through; remove it)")
    assert list(outside.iterdir()) == []


@pytest.mark.parametrize("what", ["date", "table"])
def test_a_folder_moved_out_of_the_archive_while_written_in_stops_the_write_naming_it(
        archive: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, what: str) -> None:
    """Round 50 (HOSTILE50): a date (or table) folder moved away (``mv`` to cold storage) while a write
    is in it: the part followed it out of the archive and the write said nothing, the rows missing
    from every query of the run that wrote them. Now the write fails naming the folder (the run stops
    and a resume writes the rows again)."""
    root, _outside = archive
    folder = root / "alerts" / f"date={DATE}" if what == "date" else root / "alerts"
    _between_look_and_write(monkeypatch, lambda: folder.rename(tmp_path / "cold"))
    with pytest.raises(ArchiveWriteError) as err:  # the base: no error
        write_file(root, "alerts", DATE, _alerts(), NAME, "r")
    assert str(err.value) == (f"cannot write the archive: {folder} was moved or removed while this write was "
                              f"in it (its part {NAME}.parquet went with it, not in the archive)")
    assert not list(root.rglob(f"{NAME}.parquet"))  # what the error says


def test_a_write_whose_folders_stayed_put_succeeds_and_closes_them(archive: tuple[Path, Path]) -> None:
    root, _outside = archive
    fds = len(list(Path("/proc/self/fd").iterdir()))
    for i in range(50):
        write_file(root, "alerts", f"2026-02-{i % 28 + 1:02d}", _alerts(), f"part-r-w0-{i + 1:06d}", "r")
    assert len(list(Path("/proc/self/fd").iterdir())) == fds
    assert len(list(root.rglob("*.parquet"))) == 51


def test_a_write_of_more_dates_than_descriptors_left_is_written(tmp_path: Path) -> None:
    """Round 50 (HOSTILE50): every date folder of a write was held open until its commit, so a write
    of more dates than descriptors left failed, "Too many open files" (a backtest of a 4-year CSV
    under a 1,024 limit); now at most ``MAX_DATES_HELD`` at a time."""
    import os
    import resource

    from flows.dataflow.sinks.archive_files import MAX_DATES_HELD, write_tables

    n = 4 * MAX_DATES_HELD
    files = {f"{2000 + i // 336}-{i % 336 // 28 + 1:02d}-{i % 28 + 1:02d}": _alerts() for i in range(n)}
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (len(os.listdir("/proc/self/fd")) + MAX_DATES_HELD + 40, hard))
    try:
        written = write_tables(tmp_path / "a", "alerts", files, NAME, "r")  # the base: Too many open files
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert written == n
    assert len(list((tmp_path / "a" / "alerts").glob(f"date=*/{NAME}.parquet"))) == n


def test_what_a_restart_needs_is_named_by_the_failure(
        archive: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Round 50: `twin run` stopped on every archive failure with "restart ... once the archive's disk
    has room and is writable", also when a folder had been moved away mid-write (the disk was fine)
    or the open-files limit was reached. The remedy now follows the failure."""
    import errno
    import os
    import resource

    root, _outside = archive
    folder = root / "alerts" / f"date={DATE}"
    _between_look_and_write(monkeypatch, lambda: folder.rename(tmp_path / "cold"))
    with pytest.raises(ArchiveWriteError) as moved:
        write_file(root, "alerts", DATE, _alerts(), NAME, "r")
    assert moved.value.remedy() == "once the folder it names is back in the archive as a plain folder"
    monkeypatch.undo()

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (len(os.listdir("/proc/self/fd")) + 1, hard))
    try:
        with pytest.raises(ArchiveWriteError) as limited:
            write_file(tmp_path / "b", "alerts", DATE, _alerts(), NAME, "r")
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert limited.value.errno == errno.EMFILE, limited.value
    assert limited.value.remedy() == "with a higher open-files limit (`ulimit -n`)"
    full = ArchiveWriteError(errno.ENOSPC, "cannot write the archive in X: No space left on device")
    assert full.remedy() == "once the archive's disk has room and is writable"
