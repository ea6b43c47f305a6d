"""The what-if basis of an asset from the Parquet archive (``twin whatif --archive``).

The asset's newest snapshot (at or before ``as_of``) names its life and the time the answer
starts from; the newest damage checkpoint of that life (table ``damage_state``, written by the
twin step every few event-time hours, :mod:`flows.dataflow.whatif_steps`) gives the damage state,
which :func:`twin_models.whatif.run_whatif` moves forward to that time under the recent usage. A
life without a checkpoint has no damage evidence: the answer says so. The checkpoint's columns
are plain numbers and JSON text, read with the archive's sandboxed DuckDB views and checked
value by value (:func:`twin_models.whatif_checkpoint.basis_from_checkpoint`); nothing is ever
unpickled.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from twin_models.records import DamageCheckpoint
from twin_models.rul.relation import IndicatorRelation
from twin_models.whatif import WhatIfBasis
from twin_models.whatif_checkpoint import basis_from_checkpoint

if TYPE_CHECKING:
    import duckdb

    from flows.archive.asset_bounds import Bound
    from flows.archive.asset_rows import Bounds
    from flows.archive.query import SkipHandler

__all__ = ["archive_basis"]

_SNAPSHOT = ("SELECT timestamp, life_id, damage FROM twin_state WHERE asset_id = ? AND timestamp <= ? "
             "ORDER BY timestamp DESC LIMIT 1")
_CHECKPOINT = ("SELECT * FROM damage_state WHERE asset_id = ? AND life_id = ? AND timestamp <= ? "
               "ORDER BY timestamp DESC LIMIT 1")
_FAR = datetime(9999, 1, 1, tzinfo=UTC)
_VIEWS = "SELECT view_name FROM duckdb_views() WHERE NOT internal"


def _numbers(asset: str, name: str, text: Any) -> dict[str, float]:
    """A JSON-text column holding an object of numbers (null = not finite, left out)."""
    try:
        doc = json.loads(text)
    except (TypeError, ValueError, RecursionError):  # RecursionError: [[[[... (round 36: internal error)
        doc = None
    if not isinstance(doc, dict) or not all(isinstance(k, str) for k in doc):
        msg = f"damage checkpoint of {asset!r} in the archive: {name} is not a JSON object of numbers"
        raise ValueError(msg)
    out = {}
    for k, v in doc.items():
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            msg = f"damage checkpoint of {asset!r} in the archive: {name}.{k} is {v!r}, not a number"
            raise ValueError(msg)
        out[k] = float(v)
    return out


def _checkpoint(row: dict[str, Any]) -> DamageCheckpoint:
    asset = str(row["asset_id"])
    arrays = {}
    for k in ("d", "log_k", "q", "gamma", "linear", "fail_level", "logw"):
        values = row[k]
        if not isinstance(values, list) or not all(isinstance(v, int | float) for v in values):
            msg = f"damage checkpoint of {asset!r} in the archive: {k} is not a list of numbers"
            raise ValueError(msg)
        arrays[k] = tuple(float(v) for v in values)
    numbers = {k: float(row[k]) if isinstance(row[k], int | float) else math.nan
               for k in ("health_baseline", "health_threshold")}
    return DamageCheckpoint(asset, row["timestamp"], int(row["life_id"]), row["defect"],
                            str(row["health_feature"] or ""), numbers["health_baseline"],
                            numbers["health_threshold"], _numbers(asset, "scalars", row["scalars"]),
                            _numbers(asset, "prior", row["prior"]),
                            _numbers(asset, "relation", row["relation"]),
                            **arrays)


def archive_basis(root: str | Path, asset_id: str,
                  as_of: datetime | None = None) -> tuple[WhatIfBasis, datetime]:
    """The asset's what-if basis and the time of its newest snapshot at or before ``as_of``.

    ``ValueError`` (one line) when the archive holds no snapshot of the asset by then, or a
    snapshot with damage but no checkpoint (an archive written before the checkpoints)."""
    from flows.archive.query import once_more_if_changed, warn_once

    skipped = warn_once(root)  # one warning, even when the archive is listed a second time
    return once_more_if_changed(lambda: _archive_basis(root, asset_id, as_of, skipped))


def _checkpoint_bound(con: duckdb.DuckDBPyConnection, asset_id: str, as_of: datetime | None) -> Bound:
    """The ``damage_state`` rows :data:`_CHECKPOINT` reaches: the snapshot's life, at or before its time,
    the newest (its key holds both); none without a snapshot (the command stops before asking)."""
    from flows.archive.asset_bounds import Bound

    if "twin_state" not in {r[0] for r in con.execute(_VIEWS).fetchall()}:
        return Bound(column="timestamp", none=True)
    got = con.execute(_SNAPSHOT, [asset_id, as_of or _FAR]).fetchall()  # fetched whole: the connection free
    if not got:
        return Bound(column="timestamp", none=True)
    snap = got[0]
    at, life = snap[0], snap[1]
    if not isinstance(at, datetime) or not isinstance(life, int):  # another writer's values: all kept
        return Bound(column="timestamp")
    return Bound(column="timestamp", high=at, life=life, newest=True)


def _archive_basis(root: str | Path, asset_id: str, as_of: datetime | None,
                   on_skip: SkipHandler) -> tuple[WhatIfBasis, datetime]:
    """:func:`archive_basis`, one listing of the archive's files."""
    import duckdb

    from flows.archive.asset_bounds import Bound
    from flows.archive.query import ArchiveError, changed_during, connect

    # one listing, the asset's rows read in it: the queries open no file again (round 41, SCAN41b),
    # only the rows they reach (round 42, SCAN42): the windows up to as_of, one checkpoint's writes
    bounds: Bounds = {"twin_state": Bound(high=as_of),
                      "damage_state": lambda c: _checkpoint_bound(c, asset_id, as_of)}
    con = connect(root, tables=("twin_state", "damage_state"), on_skip=on_skip, asset=asset_id,
                  columns={"twin_state": ("timestamp", "life_id", "damage")}, bounds=bounds)
    try:
        listed = con.execute(_VIEWS).fetchall()
        views = {r[0] for r in listed}
        if "twin_state" not in views:
            msg = f"no twin state in the archive {root}"
            raise ArchiveError(msg)
        snap = con.execute(_SNAPSHOT, [asset_id, as_of or _FAR]).fetchone()
        if snap is None:
            when = f" at or before {as_of.isoformat()}" if as_of else ""
            msg = f"no twin state of asset {asset_id!r} in the archive {root}{when}"
            raise ArchiveError(msg)
        at, life, damage = snap
        row = None
        if "damage_state" in views:
            cur = con.execute(_CHECKPOINT, [asset_id, life, at])
            got = cur.fetchone()
            row = None if got is None else dict(zip([d[0] for d in cur.description], got, strict=True))
    except duckdb.Error as exc:
        if (changed := changed_during(exc)) is not None:  # a compaction removed a file meanwhile
            raise changed from None
        raise
    finally:
        con.close()
    if row is None:
        if damage is not None:
            msg = (f"asset {asset_id!r} has damage evidence at {at.isoformat()} but the archive {root} "
                   "holds no damage checkpoint of that life (written before what-if checkpoints)")
            raise ArchiveError(msg)
        return WhatIfBasis(asset_id, int(life), None, None, "", 0.0, 1.0, IndicatorRelation()), at
    return basis_from_checkpoint(_checkpoint(row)), at
