"""Historical telemetry and asset metadata from files: ``twin replay`` and ``twin backtest``.

- :func:`read_records` (from :mod:`flows.dataflow.sources.readers`): one CSV/Parquet file -> records in
  event-time order (formats: ``nab``, ``scalar_table``, ``waveform``, ``events``).
- :func:`merge_files`: many files merged into one event-time ordered stream.
- :class:`FileReplaySource`: that stream as a resumable Bytewax source of wire-encoded
  :class:`RawRecord` (what a Kafka producer would publish), for backtests through the dataflow.
- :func:`count_records`: a cheap upper bound of the records, for progress bars.
- :func:`read_metadata`: asset metadata (TOML or JSON) as a :class:`MetadataCatalog`.
"""

from __future__ import annotations

import heapq
import itertools
import json
import logging
import tomllib
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from bytewax.inputs import FixedPartitionedSource

from flows.codec import metadata_from_dict
from flows.dataflow.admission import check_metadata
from flows.dataflow.items import RawRecord
from flows.dataflow.sources.readers import (
    FORMATS,
    SCALAR_FORMATS,
    FileFormatError,
    ReadStats,
    Telemetry,
    estimate_records,
    file_format,
    read_pieces,
    read_records,
)
from flows.dataflow.sources.readers.source import regular_file
from flows.dataflow.sources.replayable import ReplayPartition
from twin_models.records import AssetMetadata

__all__ = [
    "FORMATS",
    "FileFormatError",
    "FileReplaySource",
    "MetadataCatalog",
    "ReadStats",
    "count_records",
    "estimate_records",
    "merge_files",
    "merge_tagged",
    "read_metadata",
    "read_records",
]

log = logging.getLogger(__name__)

PARTITION = "files"
DEFAULTS_KEY = "defaults"
ASSETS_KEY = "assets"
MAX_METADATA_BYTES = 64 * 1024 * 1024
"""The largest asset metadata file read (~1 KB an asset: some 60,000 assets). Round 49: a file had
no limit and was read whole, then parsed: a 1 GB one (a sparse file) took 2.2 GB of memory before
its first character was found not to be JSON, a 10 GB one more than the machine has (a config file
has had its own limit since round 31: :data:`flows.cli.config_file.MAX_BYTES`)."""


# --------------------------------------------------------------------------- metadata


class MetadataCatalog(Mapping[str, AssetMetadata]):
    """Asset metadata read from a file: the listed assets, plus optional defaults.

    As a mapping it holds the assets the file lists. :meth:`get` also answers for assets the file
    does not list, when it has defaults: their metadata is the defaults with that ``asset_id``. The
    dataflow looks metadata up with ``get``, so defaults reach every asset it sees.
    """

    def __init__(self, assets: Mapping[str, AssetMetadata], defaults: Mapping[str, Any] | None = None,
                 source: str = "") -> None:
        """``defaults`` is a metadata document without ``asset_id`` (already checked)."""
        self._assets = dict(assets)
        self.defaults = None if defaults is None else dict(defaults)
        self.source = source
        self._derived: dict[str, AssetMetadata] = {}

    def __getitem__(self, asset_id: str) -> AssetMetadata:
        return self._assets[asset_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._assets)

    def __len__(self) -> int:
        return len(self._assets)

    def get(self, asset_id: str, default: Any = None) -> Any:
        """The asset's metadata: listed, else the defaults for it, else ``default``."""
        meta = self._assets.get(asset_id)
        if meta is not None:
            return meta
        if self.defaults is None:
            return default
        derived = self._derived.get(asset_id)
        if derived is None:
            derived = check_metadata(metadata_from_dict({**self.defaults, "asset_id": asset_id}))
            self._derived[asset_id] = derived
        return derived

    def __repr__(self) -> str:
        return f"MetadataCatalog({len(self)} assets, defaults={self.defaults is not None}, {self.source!r})"


class _RepeatedKey(ValueError):
    """A JSON object naming a key twice."""


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object's pairs -> dict, refusing a repeated key. ``json`` keeps the last silently,
    so ``{"pump-1": {...}, "pump-1": {...}}`` dropped the first asset (and a repeated field its
    first value), where TOML refuses both."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _RepeatedKey(key)
        out[key] = value
    return out


def _load_document(path: Path) -> Any:
    """A TOML or JSON file, parsed (by its extension)."""
    suffix = path.suffix.lower()
    if suffix not in (".toml", ".json"):
        msg = f"metadata files are .toml or .json, not {suffix or 'extension-less'}"
        raise FileFormatError(msg, path=path)
    regular_file(path)
    try:
        with path.open("rb") as f:
            data = f.read(MAX_METADATA_BYTES + 1)
        if len(data) > MAX_METADATA_BYTES:
            msg = f"too large (over {MAX_METADATA_BYTES // 2**20} MiB; a fleet's metadata is ~1 KB an asset)"
            raise FileFormatError(msg, path=path)
        text = data.decode("utf-8-sig")  # a BOM (Notepad) is dropped
        return tomllib.loads(text) if suffix == ".toml" else json.loads(text, object_pairs_hook=_unique_keys)
    except _RepeatedKey as exc:
        msg = (f"invalid JSON: key {exc.args[0]!r} appears twice in one object "
               "(an asset or field listed twice?)")
        raise FileFormatError(msg, path=path) from None
    except json.JSONDecodeError as exc:
        msg = f"invalid JSON: {exc.msg} (column {exc.colno})"
        raise FileFormatError(msg, path=path, line=exc.lineno) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        msg = f"invalid {suffix[1:].upper()}: {exc}"
        raise FileFormatError(msg, path=path) from None
    except RecursionError:  # both parsers recurse per nested array or table
        msg = f"invalid {suffix[1:].upper()}: arrays or tables nested too deeply"
        raise FileFormatError(msg, path=path) from None


def _entries(path: Path, doc: Any) -> tuple[list[tuple[str, Any]], Any]:
    """(asset_id, document) pairs and the defaults, from a mapping or list layout."""
    if isinstance(doc, list):
        doc = {ASSETS_KEY: doc}
    if not isinstance(doc, dict):
        msg = f"expected a table of assets or a list of asset objects, got {type(doc).__name__}"
        raise FileFormatError(msg, path=path)
    defaults = doc.get(DEFAULTS_KEY)
    if isinstance(doc.get(ASSETS_KEY), list):
        pairs: list[tuple[str, Any]] = []
        for i, d in enumerate(doc[ASSETS_KEY]):
            aid = d.get("asset_id") if isinstance(d, dict) else None
            if not isinstance(aid, str):
                msg = f"asset entry {i} has no asset_id (text)"
                raise FileFormatError(msg, path=path)
            pairs.append((aid, d))
        unknown = [k for k in doc if k not in (ASSETS_KEY, DEFAULTS_KEY)]
        if unknown:
            msg = f"unexpected top-level key(s) {', '.join(map(repr, unknown))} beside {ASSETS_KEY!r}"
            raise FileFormatError(msg, path=path)
        return pairs, defaults
    return [(k, v) for k, v in doc.items() if k != DEFAULTS_KEY], defaults


def _asset_metadata(path: Path, asset_id: str, entry: Any, defaults: Mapping[str, Any]) -> AssetMetadata:
    """One asset's document merged over the defaults (shallow) -> AssetMetadata."""
    if not isinstance(entry, dict):
        msg = f"asset {asset_id!r}: expected a table/object, got {type(entry).__name__}"
        raise FileFormatError(msg, path=path)
    if entry.get("asset_id", asset_id) != asset_id:
        msg = f"asset {asset_id!r}: its asset_id field says {entry['asset_id']!r}"
        raise FileFormatError(msg, path=path)
    try:
        return check_metadata(metadata_from_dict({**defaults, **entry, "asset_id": asset_id}))
    except ValueError as exc:
        raise FileFormatError(str(exc), path=path) from None


def _check_defaults(path: Path, defaults: Any) -> dict[str, Any] | None:
    """The defaults entry: a metadata document without asset_id that validates on its own."""
    if defaults is None:
        return None
    if not isinstance(defaults, dict) or "asset_id" in defaults:
        msg = f"{DEFAULTS_KEY!r} must be a table/object without asset_id"
        raise FileFormatError(msg, path=path)
    try:
        check_metadata(metadata_from_dict({**defaults, "asset_id": DEFAULTS_KEY}))
    except ValueError as exc:
        raise FileFormatError(str(exc), path=path) from None
    return defaults


def read_metadata(path: str | Path) -> MetadataCatalog:
    """Asset metadata from a TOML or JSON file, as a :class:`MetadataCatalog`.

    Layouts: a table keyed by asset id (``[pump-1]`` / ``{"pump-1": {...}}``), or a list of objects
    with ``asset_id`` (a JSON list, or ``[[assets]]`` / ``{"assets": [...]}``). Fields are those of
    ``schemas/asset_metadata.v2.json`` (v1 documents are valid v2 ones). An optional ``[defaults]`` /
    ``"defaults"`` entry (the same
    fields, no asset_id) is applied under every listed asset (shallow: an asset's ``bearing``
    replaces the default ``bearing`` as a whole) and, through ``get``, to every unlisted asset.
    Errors (:class:`FileFormatError`) name the file and the asset.
    """
    p = Path(path)
    pairs, raw_defaults = _entries(p, _load_document(p))
    defaults = _check_defaults(p, raw_defaults)
    assets: dict[str, AssetMetadata] = {}
    for asset_id, entry in pairs:
        if asset_id in assets:
            msg = f"asset {asset_id!r} is listed twice"
            raise FileFormatError(msg, path=p)
        assets[asset_id] = _asset_metadata(p, asset_id, entry, defaults or {})
    return MetadataCatalog(assets, defaults, str(p))


# --------------------------------------------------------------------------- merged stream


Tagged = tuple[str, Telemetry]
PathSpec = str | Path | tuple[str | Path, dict[str, Any]]
"""A file, or ``(file, options)`` whose options override the shared ones for that file
(e.g. an events file next to inputs read with ``fmt="nab"``)."""


def _split(spec: PathSpec, kw: dict[str, Any]) -> tuple[str | Path, dict[str, Any]]:
    if isinstance(spec, tuple):
        path, extra = spec
        return path, {**kw, **extra}
    return spec, kw


def _tagged(path: str | Path, stats: dict[str, ReadStats] | None, kw: dict[str, Any]) -> Iterator[Tagged]:
    """(file name, record) of one file, in its event-time order."""
    st = ReadStats()
    if stats is not None:
        stats[str(path)] = st
    name = Path(path).name
    for rec in read_records(path, stats=st, **kw):
        yield name, rec


def merge_tagged(paths: Iterable[PathSpec], *, stats: dict[str, ReadStats] | None = None,
                 **kw: Any) -> Iterator[Tagged]:
    """Like :func:`merge_files`, but yields ``(file name, record)``."""
    streams = [_tagged(path, stats, opts) for path, opts in (_split(p, kw) for p in paths)]
    return heapq.merge(*streams, key=lambda item: item[1].timestamp)


def merge_files(paths: Iterable[PathSpec], *, stats: dict[str, ReadStats] | None = None,
                **kw: Any) -> Iterator[Telemetry]:
    """Every file's records merged in event-time order; equal times keep the order of ``paths``.

    ``kw`` goes to :func:`read_records` for every file (``fmt``, ``sep``, ``ignore_columns``,
    ``asset_id``). ``stats``, if given, receives a :class:`ReadStats` per path. Every file is opened
    (and a CSV/table file read and checked) before the first record is yielded, so a bad file
    stops a replay before it publishes anything.
    """
    return (rec for _, rec in merge_tagged(paths, stats=stats, **kw))


def count_records(paths: Iterable[PathSpec], **kw: Any) -> int:
    """Upper bound of the records :func:`merge_files` yields (rows x channels, from Parquet
    metadata and line counts; empty cells are counted), for progress bars and ETAs.
    """
    kw = {k: v for k, v in kw.items() if k != "stats"}
    return sum(estimate_records(path, **extra) for path, extra in (_split(p, kw) for p in paths))


# --------------------------------------------------------------------------- Bytewax source


class FileReplaySource(FixedPartitionedSource[RawRecord, int]):
    """Telemetry files replayed into the dataflow in event-time order, as one partition.

    Records are wire-encoded (binary waveform frames, JSON scalars and events) with the file name
    as ``source``, so the dataflow's decode step and dead letters behave as with Kafka. Resumable:
    the state is the number of records emitted, skipped (read, not encoded) on resume. ``progress``
    is called with the size of every batch; :func:`count_records` gives the total.

    ``batch`` records go to the dataflow at a time: 2048 (was 256) lets the decode step carry a
    large fleet's scalars in blocks of many samples (100 assets at 1 Hz: ~20 per block, not ~2),
    which about halves a scalar backtest's CPU (``benchmarks/RESULTS.md``, issue 10, SCALAR2).
    """

    def __init__(self, paths: Iterable[PathSpec], *, batch: int = 2048,
                 progress: Callable[[int], None] | None = None, **kw: Any) -> None:
        """``kw`` goes to :func:`read_records` for every file."""
        self.paths = list(paths)
        self.kw = kw
        self.batch = batch
        self.hold: Callable[[], float] | None = None  # set by the flow: the fleet board's hold
        self.progress = progress
        self._opened: Iterator[tuple[str, Any]] | None = None

    def list_parts(self) -> list[str]:
        """One partition: the merged, ordered stream of all files."""
        return [PARTITION]

    def build_part(self, step_id: str, for_part: str, resume_state: int | None) -> ReplayPartition:
        """Open the files, skipping ``resume_state`` records already emitted.

        A single scalar table is handed on as per-asset column pieces (:mod:`.readers.pieces`):
        the same samples without one object per row. Several files are merged record by record
        (in event-time order across files)."""
        opened, self._opened = self._opened, None
        items = opened if opened is not None and not resume_state else self._items()
        return ReplayPartition(items, resume_state, self.batch, self.progress, hold=self.hold)

    def open(self) -> None:
        """Open and check every file now, so that a bad file stops a run before it writes anything;
        the first partition built without a resume state goes on from there (not reading the
        files a second time: a scalar table is converted and checked as a whole before its first
        record)."""
        items = self._items()
        first = next(items, None)
        self._opened = items if first is None else itertools.chain([first], items)

    def _items(self) -> Iterator[tuple[str, Any]]:
        pieces = self._pieces()
        return pieces if pieces is not None else merge_tagged(self.paths, **self.kw)

    def _pieces(self) -> Iterator[tuple[str, Any]] | None:
        """``(file name, piece or record)`` of the one scalar table replayed, else None."""
        if len(self.paths) != 1:
            return None
        path, shared = _split(self.paths[0], self.kw)
        opts = dict(shared)
        stats: dict[str, ReadStats] | None = opts.pop("stats", None)
        if file_format(path, **opts) not in SCALAR_FORMATS:
            return None
        st = ReadStats()
        if stats is not None:
            stats[str(path)] = st
        name = Path(path).name
        return ((name, piece) for piece in read_pieces(path, stats=st, **opts))
