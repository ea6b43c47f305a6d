"""Historical telemetry files -> records, for ``twin replay`` and ``twin backtest``.

Four formats, told apart by their columns (or named with ``fmt``):

- ``nab``: a single-series CSV ``timestamp,value`` (the Numenta Anomaly Benchmark layout); the
  asset is the file stem, the channel ``value``.
- ``scalar_table`` (CSV or Parquet): ``timestamp, [asset_id,] <one column per channel>``; one
  :class:`ScalarSample` per row and channel with a finite value (empty cells and NaN/inf are skipped
  and counted in :class:`ReadStats`). Non-numeric cells are refused unless their column is listed in
  ``ignore_columns``.
- ``waveform`` (Parquet): ``timestamp, [asset_id,] sample_rate_hz, [shaft_speed_hz,] <one
  list<float> column per channel>`` (the layout of the FEMTO files); one :class:`WaveformFrame` per
  row and list column, the channel being the column name.
- ``events`` (CSV or Parquet): ``timestamp, [asset_id,] event, [note]`` with event ``install``,
  ``maintenance`` or ``failure``.

Detection: a Parquet file with a list column is ``waveform``; columns within ``timestamp, asset_id,
event, note`` that include ``event`` are ``events``; exactly ``timestamp, value`` is ``nab``;
anything else with a ``timestamp`` column is a ``scalar_table``. Reserved column names are matched
case-insensitively; a file without an ``asset_id`` column belongs to the asset named by the
``asset_id`` argument, else to the file stem (``pump-1.csv.gz`` -> ``pump-1``).

Timestamps: ISO 8601 text (``2014-02-14 14:30:00``, ``...T14:30:00Z``, ``...+01:00``), numeric epoch
seconds, or Parquet timestamp/date columns. **A timestamp without a zone (NAB's, a Parquet timestamp
without tz) is taken as UTC.** Sub-microsecond digits are dropped.

Order: every file's records come out in event-time order, without holding the file's records in
memory. A CSV/table file is checked in full first (and whether it is in time order seen), then
streamed: kept in compact columns from the check when small (up to ``tables.KEEP_ROWS`` rows),
read a second time when larger; a table out of order is sorted stably (ties keep row then column
order) in bounded runs that are spilled and merged (:mod:`.tables`). Waveform files are streamed in row
batches; each asset's frames must already be in time order (checked up front, from the small
timestamp column, with an error naming the row). A multi-asset file made of per-asset blocks is
merged back into event-time order (:mod:`.waveforms`).

Errors: one line, ``<file> line N, column 'c': <what is wrong>`` (``row N`` for Parquet; the
header is line 1 of a CSV), as :class:`FileFormatError`. Readers are lazy, but every format error
is raised before the first record is yielded.

CSV is parsed by pyarrow's streaming CSV reader (all columns as text, converted per column with
Arrow casts where they agree with the cell rules, cell by cell where they do not): see
:mod:`.batches` and :mod:`.columns`.

Modules: :mod:`.source` (errors, stats, opening a file and its header), :mod:`.layout` (format
detection and channels), :mod:`.cells` (the rules for one cell and timestamp), :mod:`.columns`
(vectorised column conversion), :mod:`.batches` (rows of a CSV/Parquet table, batch by batch, and
line numbers), :mod:`.tables` (scalar and events tables -> records, ordering), :mod:`.waveforms`
(waveform files), :mod:`.api` (:func:`read_records`, :func:`estimate_records`).
"""

from flows.dataflow.sources.readers.api import (
    SCALAR_FORMATS,
    estimate_records,
    file_format,
    read_pieces,
    read_records,
)
from flows.dataflow.sources.readers.cells import MAX_TS, MIN_TS, to_utc
from flows.dataflow.sources.readers.source import FORMATS, FileFormatError, ReadStats
from twin_models.records import Telemetry

__all__ = [
    "FORMATS",
    "MAX_TS",
    "MIN_TS",
    "SCALAR_FORMATS",
    "FileFormatError",
    "ReadStats",
    "Telemetry",
    "estimate_records",
    "file_format",
    "read_pieces",
    "read_records",
    "to_utc",
]
