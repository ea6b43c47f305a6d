"""What serializing a twin snapshot's JSON parts once would save, and how near 0.8x the ``twin_state``
sink could come with its conversion handed over (issue 10, round 47, part ARCH47).

Run: ``.venv/bin/python benchmarks/bench_archive_share.py --records FILE [--fleet ASSETS] [--rounds N]``
(``FILE``: the flushes ``bench_archive_tables.py --save-records`` wrote; ``--fleet``: its 100-asset
day, :func:`bench_archive_tables.fleet_day`, in the sink's default flushes). Three parts, CPU seconds,
alternated (the order rotates each round), medians; final line JSON:

- ``repeats`` (a memo's hit rate): for each JSON text column (``context``, ``top_features``,
  ``lineage``, ``data_quality``) and ``evidence``, the share of rows whose value equals the same
  asset's previous one (in arrival order) and the share of distinct values per flush.
- ``serialize_once``: per snapshot, what ``twin run`` does twice today (its Kafka state message,
  ``codec.encode_json``, and the archive's four JSON columns, the forms' ``column`` over the flush)
  against a route that makes each snapshot's ``context``, ``top_features`` and ``lineage`` compact
  bytes ONCE (:func:`shared_parts`: orjson; the lineage the archive's own text), embeds them in the message
  as ``orjson.Fragment`` and derives the archive's texts from them (spaced by ``bytes.replace``, the
  lineage as it is). Both routes' messages and texts are compared (``identical``: must be true); each
  consumer's part is timed on its own (``kafka_us``, ``archive_us``), so where the cost moves shows.
- ``bounds``: the sink's write (:func:`bench_archive_tables.measure`, against the same floor) as it is
  (``sink``), with the four JSON columns handed over made (``texts_given``: what the sink would pay if
  ``serialize_once``'s texts came with the records; looked up by record, one C-level ``map``), and
  with every column of the files handed over as the Arrow arrays the sink makes (``arrays_given``:
  left are the sort, the bookkeeping columns, the Parquet encode and the part syncs; a date of fewer
  than ``archive_columns.SMALL`` rows still converts). The files are the same in all three
  (``tests/unit/test_bench_archive_share.py``).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import pickle
import statistics
import sys
import tempfile
from collections.abc import Callable, Iterator
from itertools import chain
from operator import itemgetter
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_archive  # noqa: E402 - app_heap, cpu, flows_tree
import bench_archive_tables  # noqa: E402 - fleet_day, cut, default_batch_rows, measure

TABLE = "twin_state"
TEXTS = ("top_features", "context", "lineage", "data_quality")
"""The twin_state archive's JSON text columns."""
SHARED = ("top_features", "context", "lineage")
"""The parts :func:`shared_parts` serializes once (``data_quality``: already kept per value on both sides)."""


def _columns() -> dict[str, Callable[[list[Any]], list[Any]]]:
    from flows.codec.record_fields import TWIN_SNAPSHOT

    return {name: column for name, column in TWIN_SNAPSHOT._many if name in TEXTS}


def repeats(flushes: list[list[Any]]) -> dict[str, dict[str, float]]:
    """For each JSON column and ``evidence``: ``same_as_previous`` (share of rows equal to their
    asset's previous value, arrival order) and ``distinct`` (distinct values / rows, per flush)."""
    out = {}
    for name in (*TEXTS, "evidence"):
        same, distinct, rows = 0, 0, 0
        last: dict[str, Any] = {}
        for flush in flushes:
            keys = [_key(getattr(r, name)) for r in flush]
            distinct += len(set(keys))
            rows += len(flush)
            for r, k in zip(flush, keys, strict=True):
                same += r.asset_id in last and last[r.asset_id] == k
                last[r.asset_id] = k
        rows = max(rows, 1)
        out[name] = {"same_as_previous": round(same / rows, 4), "distinct": round(distinct / rows, 4)}
    return out


def _key(v: Any) -> Any:
    """A hashable value equal for equal texts (a context dict by its items in order)."""
    return tuple(v.items()) if isinstance(v, dict) else v


def base_route(recs: list[Any]) -> tuple[list[bytes], dict[str, list[Any]]]:
    """Today: each snapshot's Kafka message, and the archive's JSON columns of the flush."""
    from flows.codec import encode_json

    columns = _columns()
    return [encode_json(r) for r in recs], {name: columns[name](recs) for name in TEXTS}


def shared_parts(recs: list[Any]) -> tuple[list[bytes], list[tuple[bytes, bytes, bytes] | None]]:
    """The shared route's producer side: each snapshot's message with its ``context``,
    ``top_features`` and ``lineage`` made compact bytes once and embedded as ``orjson.Fragment``;
    those bytes kept for the archive (None: a snapshot the route does not vouch for, written the
    base way by both consumers)."""
    from flows.codec import encode_json
    from flows.codec import json_message as jm
    from flows.codec.json_columns import floats_in_range
    from flows.codec.record_fields import TWIN_SNAPSHOT, lineage_texts

    others = tuple((f.name, jm._FAST_FORMS[id(f.form)]) for f in TWIN_SNAPSHOT.fields if f.name not in SHARED)
    order = [f.name for f in TWIN_SNAPSHOT.fields]
    fragment = orjson.Fragment
    first, second = itemgetter(0), itemgetter(1)
    messages: list[bytes] = []
    kept: list[tuple[bytes, bytes, bytes] | None] = []

    lineages = lineage_texts([r.lineage for r in recs])  # the archive's own, made for the flush at once

    for r, lin in zip(recs, lineages, strict=True):
        try:
            ctx, top = r.context, r.top_features
            floats, zs = list(ctx.values()), list(map(second, top))
            # the base encoder's own checks (its _map, _pairs); the names' plainness: the archive's (batched)
            if type(ctx) is not dict or not set(map(type, floats)) <= {float} \
                    or not set(map(type, zs)) <= {float} or not set(map(len, top)) <= {2} \
                    or not set(map(type, map(first, top))) <= {str}:
                raise TypeError
            floats += zs
            parts = orjson.dumps(ctx), orjson.dumps(top), lin.encode()  # a non-str key, None lineage: raise
            doc = {name: value(getattr(r, name), floats) for name, value in others}
            doc["context"], doc["top_features"], doc["lineage"] = map(fragment, parts)
            if not floats_in_range(floats):
                raise TypeError
            out = orjson.dumps({name: doc[name] for name in order}, option=jm._OPTS)
            if not out.isascii() or b"\x7f" in out:
                raise TypeError
        except Exception:  # noqa: BLE001 - anything unusual: both consumers the base way
            messages.append(encode_json(r))
            kept.append(None)
            continue
        messages.append(out)
        kept.append(parts)
    return messages, kept


def shared_texts(recs: list[Any], kept: list[tuple[bytes, bytes, bytes] | None]) -> dict[str, list[Any]]:
    """The shared route's archive side: the JSON columns from the bytes kept (``context`` and
    ``top_features`` given json's spaces, the lineage as is); a snapshot without them, and
    ``data_quality``, as the archive writes them today."""
    from flows.codec.json_columns import _plain_texts
    from flows.codec.record_fields import LINEAGE, NUMBER_MAP, PAIRS

    ctx_text, top_text, lin_text = NUMBER_MAP.to_archive, PAIRS.to_archive, LINEAGE.to_archive
    assert ctx_text is not None and top_text is not None and lin_text is not None
    made = [p for p in kept if p is not None]
    vouched = [r for r, p in zip(recs, kept, strict=True) if p is not None]
    names = chain(chain.from_iterable(r.context for r in vouched),
                  map(itemgetter(0), chain.from_iterable(r.top_features for r in vouched)))
    if not _plain_texts(names):  # a key or name json and a bytes.replace would write apart: the base way
        kept, made = [None] * len(recs), []
    if len(made) == len(recs):  # the usual flush: three comprehensions
        ctx = [c.replace(b":", b": ").replace(b",", b", ").decode() for c, _, _ in made]
        top = [t.replace(b",", b", ").decode() for _, t, _ in made]
        lin = [g.decode() for _, _, g in made]  # (kept as bytes: a message's part)
    else:
        ctx, top, lin = [], [], []
        for r, parts in zip(recs, kept, strict=True):
            if parts is None:
                ctx.append(ctx_text(r.context))
                top.append(top_text(r.top_features))
                lin.append(lin_text(r.lineage))
            else:
                c, t, g = parts
                ctx.append(c.replace(b":", b": ").replace(b",", b", ").decode())
                top.append(t.replace(b",", b", ").decode())
                lin.append(g.decode())
    quality = _columns()["data_quality"](recs)
    return {"top_features": top, "context": ctx, "lineage": lin, "data_quality": quality}


def serialize_once(flushes: list[list[Any]], rounds: int) -> dict[str, Any]:
    """Both routes over every flush, alternated ``rounds`` times: us per snapshot of each part."""
    from flows.codec import encode_json

    columns = _columns()
    identical = True
    for recs in flushes:
        messages, texts = base_route(recs)
        shared, kept = shared_parts(recs)
        identical &= messages == shared and texts == shared_texts(recs, kept)
    vouched = sum(p is not None for recs in flushes for p in shared_parts(recs)[1])
    n = sum(map(len, flushes))

    def base() -> tuple[float, float]:
        t = bench_archive.cpu()
        for recs in flushes:
            [encode_json(r) for r in recs]
        k = bench_archive.cpu()
        for recs in flushes:
            [columns[name](recs) for name in TEXTS]
        return k - t, bench_archive.cpu() - k

    def shared() -> tuple[float, float]:
        t = bench_archive.cpu()
        made = [shared_parts(recs)[1] for recs in flushes]
        k = bench_archive.cpu()
        for recs, kept in zip(flushes, made, strict=True):
            shared_texts(recs, kept)
        return k - t, bench_archive.cpu() - k

    times: dict[str, list[tuple[float, float]]] = {"base": [], "shared": []}
    jobs = {"base": base, "shared": shared}
    for k in range(rounds):
        for name in list(jobs)[k % 2:] + list(jobs)[:k % 2]:
            gc.collect()
            times[name].append(jobs[name]())
    out: dict[str, Any] = {"snapshots": n, "identical": identical, "vouched": round(vouched / max(n, 1), 4)}
    for name, v in times.items():
        kafka, archive = (statistics.median(x[i] for x in v) * 1e6 / n for i in (0, 1))
        out[name] = {"kafka_us": round(kafka, 2), "archive_us": round(archive, 2),
                     "both_us": round(statistics.median(sum(x) for x in v) * 1e6 / n, 2)}
    out["saved_us"] = round(out["base"]["both_us"] - out["shared"]["both_us"], 2)
    return out


@contextlib.contextmanager
def handed(flushes: list[list[Any]], what: str) -> Iterator[None]:
    """The sink with part of its conversion handed over, for these flushes' records only:
    ``texts``, the four JSON columns made (the forms' own columns, looked up by record); ``arrays``,
    each date's file columns as the Arrow arrays the sink makes of them (``archive_pending._chunk``'s).
    ``none``: the sink as it is."""
    from flows.codec.record_fields import TWIN_SNAPSHOT
    from flows.dataflow.sinks import archive_pending
    from flows.dataflow.sinks.archive_columns import date_groups

    many, chunk = TWIN_SNAPSHOT._many, archive_pending._chunk
    if what == "texts":
        columns = _columns()
        made: dict[str, dict[int, Any]] = {name: {} for name in TEXTS}
        for recs in flushes:
            for name in TEXTS:
                made[name].update(zip(map(id, recs), columns[name](recs), strict=True))

        def given(texts: dict[int, Any]) -> Callable[[list[Any]], list[Any]]:
            return lambda recs: list(map(texts.__getitem__, map(id, recs)))

        TWIN_SNAPSHOT._many = tuple((name, given(made[name]) if name in TEXTS else column)
                                    for name, column in many)
    elif what == "arrays":
        arrays = {(id(part[0]), len(part)): chunk(TABLE, part)
                  for recs in flushes for part in date_groups(TABLE, recs).values()}
        archive_pending._chunk = lambda table, recs: arrays[(id(recs[0]), len(recs))]  # type: ignore[assignment]
    elif what != "none":
        raise ValueError(what)
    try:
        yield
    finally:
        TWIN_SNAPSHOT._many, archive_pending._chunk = many, chunk  # type: ignore[assignment]


def bounds(flushes: list[list[Any]], rounds: int, work: Path) -> dict[str, Any]:
    """:func:`bench_archive_tables.measure` of the sink as it is and with texts or arrays handed over."""
    out = {}
    bench_archive_tables.measure(TABLE, flushes[:1], work / "warm-up", 1)  # first-use costs (imports, caches)
    for name, what in (("sink", "none"), ("texts_given", "texts"), ("arrays_given", "arrays")):
        with handed(flushes, what):
            fig = bench_archive_tables.measure(TABLE, flushes, work / name, rounds)
        out[name] = {k: fig[k] for k in ("sink_us_per_row", "floor_us_per_row", "rate", "wall_rate")}
    out["rows"], out["files"] = fig["rows"], fig["files"]
    return out


def _not_snapshots(flushes: list[list[Any]]) -> str | None:
    """How many of the flushes' rows are not ``TwinSnapshot`` s and the first one's type, or None
    (round 48, HOSTILE48: a file of other rows was a traceback in the first part)."""
    from twin_models.records import TwinSnapshot

    odd = [r for flush in flushes for r in flush if not isinstance(r, TwinSnapshot)]
    return f"{len(odd)} of them, the first a {type(odd[0]).__name__!r}" if odd else None


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the three parts and print them (last line: JSON)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--records", required=True, help="flushes saved by bench_archive_tables.py --save-records")
    p.add_argument("--fleet", type=int, default=0, metavar="ASSETS",
                   help="a day of ASSETS assets' one-minute rows made of the demo's (bench_archive_tables')")
    p.add_argument("--rounds", type=int, default=5, help="alternated rounds")
    p.add_argument("--app-heap", action="store_true",
                   help="the malloc settings every `twin` command starts with")
    args = p.parse_args(argv)
    if args.rounds < 1 or args.fleet < 0:
        p.exit(2, "bench_archive_share: --rounds must be >= 1 and --fleet >= 0\n")
    try:
        with open(args.records, "rb") as f:
            saved = pickle.load(f)  # noqa: S301 - a file bench_archive_tables.py wrote
        flushes = [list(flush) for flush in saved[TABLE]]
    except Exception as exc:  # noqa: BLE001 - one line whatever the reason
        p.exit(2, f"bench_archive_share: cannot read twin_state flushes from --records {args.records}: "
                  f"{type(exc).__name__}: {exc}\n")
    if not any(flushes):
        p.exit(2, f"bench_archive_share: --records {args.records} holds no twin_state rows\n")
    if (odd := _not_snapshots(flushes)) is not None:  # round 48: a traceback in the first part
        p.exit(2, f"bench_archive_share: --records {args.records}: its twin_state rows are not twin "
                  f"snapshots ({odd}); give the file bench_archive_tables.py --save-records wrote\n")
    heap = bench_archive.app_heap() if args.app_heap else False
    if args.fleet:
        day = bench_archive_tables.fleet_day([r for flush in flushes for r in flush], args.fleet)
        flushes = bench_archive_tables.cut(day, bench_archive_tables.default_batch_rows())
    with tempfile.TemporaryDirectory(prefix="bench-archive-share-") as tmp:
        out = {"benchmark": "archive_share", "tree": str(bench_archive.flows_tree()), "app_heap": heap,
               "fleet": args.fleet, "rounds": args.rounds, "repeats": repeats(flushes),
               "serialize_once": serialize_once(flushes, args.rounds),
               "bounds": bounds(flushes, args.rounds, Path(tmp))}
    out["load_1min"] = round(os.getloadavg()[0], 2)
    once, b = out["serialize_once"], out["bounds"]
    print(f"serialize once: identical {once['identical']}, base {once['base']} us, "
          f"shared {once['shared']} us, saved {once['saved_us']} us per snapshot")
    print("bounds: " + ", ".join(f"{k} {v['rate']}x" for k, v in b.items() if isinstance(v, dict)))
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
