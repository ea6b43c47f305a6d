"""What earlier runs left in an archive, said in one warning line before a run writes there.

Why (issue 10, round 31): the views keep the newest write of each key (asset and window for
``features``/``twin_state``), whichever run wrote it. A run into an archive that holds another
run's rows for the same assets and dates therefore replaces those rows in every query and leaves
the rest of the other run's rows mixed in, silently: README's quickstart once wrote ``twin run``
into the demo's archive and replaced 1,876 of its rows. ``twin run`` said nothing; ``twin demo``
and ``twin backtest`` said "holds data of N earlier runs", naming neither the runs nor what they
cover.

Cheap: the run ids and dates come from the files' names and folders (``part-<run>-w<k>-<seq>``
under ``date=YYYY-MM-DD/``), no file is read for them; the assets from the ``asset_id`` column of
the ``features`` files alone (one dictionary-encoded column, not the rows; an older-layout file's
``asset_id=`` folder gives it). A file that cannot be read is left out here: the queries report it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from flows.archive.files import COMPACTED_NAME, printable
from flows.archive.short_paths import short_word
from twin_models.text import counted, first_few

__all__ = ["ASSET_TABLE", "EarlierRows", "NamedFiles", "compacted_runs", "earlier_rows", "files_by_name",
           "mixing_warning"]

ASSET_TABLE = "features"
"""The table whose files give the assets: every window of every asset has a row there."""
_DATE = re.compile(r"^date=(\d{4}-\d{2}-\d{2})$")
_ASSET = re.compile(r"^asset_id=(.+)$")
THREADS = 8
"""Threads reading the files' columns (as :func:`flows.archive.files.scan_table`'s footers)."""
SHOWN = 3
"""Run ids named in the line (then "and N more")."""
ASSET_FILES_MAX = 256
"""The most ``features`` files read for the assets (the newest dates'; then "at least N assets"): a
live run writes a file per flush, a year of them is tens of thousands (~1.4 ms each), and the line
is said before the run starts."""


@dataclass
class EarlierRows:
    """The runs whose files an archive holds, and the assets and dates their rows cover."""

    runs: set[str] = field(default_factory=set)
    dates: set[str] = field(default_factory=set)
    assets: set[str] = field(default_factory=set)
    assets_partial: bool = False
    """Only the newest :data:`ASSET_FILES_MAX` files were read for :attr:`assets`."""


def _values(path: Path, column: str) -> list[str]:
    """The distinct values of one text column of a file; none if it cannot be read or the column
    is not text (a foreign file's ``run_id`` of numbers, lists or structs: ``unique`` has no kernel
    for some, and a number among the run ids broke the line's sort)."""
    try:
        file = pq.ParquetFile(path)
        kind = file.schema_arrow.field(column).type
        if pa.types.is_dictionary(kind):
            kind = kind.value_type
        if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
            return []
        values = pc.unique(file.read(columns=[column]).column(column)).to_pylist()
    except (OSError, KeyError, ValueError, pa.ArrowException):
        return []
    return [v for v in values if v is not None]


def _assets_of(path: Path) -> list[str]:
    if (m := _ASSET.match(path.parent.name)) is not None:  # older layout: the folder gives it
        return [m.group(1)]
    return _values(path, "asset_id")


@dataclass
class NamedFiles:
    """An archive's table files by their names (:func:`files_by_name`)."""

    files: list[Path] = field(default_factory=list)
    """Every complete file twinflow named (a run's part, a compacted file), in the order given."""
    named_runs: set[str] = field(default_factory=set)
    """The run ids the parts' names give."""
    compacted: list[Path] = field(default_factory=list)
    """Compacted files: rows of many runs, named by none (their ``run_id`` column names them)."""
    unfinished_runs: set[str] = field(default_factory=set)
    """The runs of parts that never completed (hidden, ``.tmp``): no rows, but a stopped run's output."""
    _compacted_runs: set[str] | None = field(default=None, repr=False)

    def runs(self) -> set[str]:
        """Every run: the names' and the compacted files' ``run_id`` columns (read in threads, once:
        round 36, ``prepare_out``'s rerun check and then its warning read each compacted file twice)."""
        if self._compacted_runs is None:
            self._compacted_runs = compacted_runs(self.compacted)
        return self.named_runs | self._compacted_runs


def files_by_name(files: Iterable[Path], part: re.Pattern[str]) -> NamedFiles:
    """The one classification of the archive's file names (``earlier_rows``' and
    :func:`flows.app.out_dir.earlier_runs`'; round 32, LOOSE32: each had its own loop): a run's
    part by ``part`` (its group ``run``), a compacted file by its name; a hidden or ``.tmp`` file (a
    write that never completed) gives only its run, if ``part`` names one; a file twinflow did not
    name is left out, and so is a symbolic link (the views never follow one)."""
    got = NamedFiles()
    for p in files:
        if p.name.startswith(".") or p.name.endswith(".tmp"):  # a write that never completed
            if (m := part.match(p.name)) is not None:
                got.unfinished_runs.add(m.group("run"))
            continue
        if p.is_symlink():
            continue  # never followed by the views (listing.LINK): read, it was a file outside (HOSTILE32)
        if (m := part.match(p.name)) is not None:
            got.named_runs.add(m.group("run"))
        elif COMPACTED_NAME.match(p.name):
            got.compacted.append(p)
        else:
            continue  # not twinflow's
        got.files.append(p)
    return got


def earlier_rows(archive: str | Path, files: Iterable[Path] | NamedFiles, part: re.Pattern[str],
                 ) -> EarlierRows:
    """What ``files`` (the archive's table files, or their :func:`files_by_name` when the caller
    classified them already: its compacted files' runs are not read again) hold: run ids by ``part``
    (its group ``run``) on the file name (a compacted file's from its ``run_id`` column), dates by
    the ``date=`` folder, assets from the :data:`ASSET_TABLE` files only (at most
    :data:`ASSET_FILES_MAX` of them)."""
    got = EarlierRows()
    root = Path(archive)
    base = root.parts
    named = files if isinstance(files, NamedFiles) else files_by_name(files, part)
    with_assets = []
    for p in named.files:  # (table, folders..., name) below the archive; no relative_to (round 34:
        # called twice a file, it was half of the line's cost on an archive of 50,000 files)
        rel = p.parts[len(base):] if p.parts[:len(base)] == base else p.relative_to(root).parts
        got.dates.update(d.group(1) for f in rel[1:-1] if (d := _DATE.match(f)) is not None)
        if rel[0] == ASSET_TABLE:
            with_assets.append(p)
    # the file reads in threads, as the views' footer reads (Arrow releases the GIL)
    got.runs = named.runs()
    if len(with_assets) > ASSET_FILES_MAX:  # the newest dates' (paths sort by date=, then name)
        with_assets = sorted(with_assets, reverse=True)[:ASSET_FILES_MAX]
        got.assets_partial = True
    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        for assets in pool.map(_assets_of, with_assets):
            got.assets.update(assets)
    return got


def compacted_runs(paths: Iterable[Path]) -> set[str]:
    """The run ids in the ``run_id`` column of compacted files (``twin archive compact``'s), read in
    threads; a file that cannot be read gives none."""
    runs: set[str] = set()
    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        for got in pool.map(lambda p: _values(p, "run_id"), paths):
            runs.update(got)
    return runs


def mixing_warning(where: str, rows: EarlierRows, remedy: str) -> str | None:
    """One line: ``where`` (the folder, as the user named it) holds rows of these runs for so many
    assets over so many dates, what the views then do, and ``remedy``; None for no earlier run."""
    if not rows.runs:
        return None
    runs = sorted(rows.runs)
    # a compacted file's run_id column is any text: a run id of 100,000 characters made a line of as many
    named = first_few(runs, SHOWN, show=short_word)
    dates = sorted(rows.dates)
    span = "" if not dates else f" ({dates[0]}{'..' + dates[-1] if len(dates) > 1 else ''})"
    least = "at least " if rows.assets_partial else ""
    cover = f"{least}{counted(len(rows.assets), 'asset')} over {counted(len(dates), 'date')}{span}"
    where = printable(short_word(where))  # a path of thousands: its two ends (round 33)
    return (f"twin: warning: {where} holds data of {counted(len(runs), 'earlier run')} "
            f"({printable(named)}) for {cover}; results will be mixed (the views keep the newest write "
            f"of each asset and window, whichever run wrote it): {remedy}")
