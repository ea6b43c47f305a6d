"""``twin explain ALERT_ID``: an alert's digital thread, read from the archive only.

What raised the alert (its messages), the windows behind it (from the first bad window,
``started_at``, to the window whose snapshot raised it), their top features with the window's
value against the asset's baseline (the median over its windows of the same life before
``started_at``), the
input ranges of each window (Kafka offsets, file rows, simulator records) and the model and
configuration versions that scored them. Everything goes through the sandboxed, read-only DuckDB
connection of :mod:`flows.archive.query`; an archive written before the digital thread has no
lineage or input columns and is explained without them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from flows.archive.asset_bounds import Bound
from flows.archive.query import ArchiveError, changed_during, connect, folder_problem, once_more_if_changed

__all__ = ["explain", "render", "rendered"]

MAX_WINDOWS = 50
"""Windows listed per alert at most (the latest ones before it was raised)."""


_STATE_COLUMNS = ("window_start", "timestamp", "condition", "anomaly_score", "health_index", "life_id",
                  "verdict", "verdict_confidence", "evidence", "top_features", "lineage")
"""The columns of ``twin_state`` :func:`_windows` and :func:`_feature_values` read."""
_FEATURE_COLUMNS = ("window_start", "window_end", "inputs")
"""The columns of ``features`` they read (with the alert's top features)."""


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any]) -> list[dict[str, Any]]:
    cur = con.execute(sql, list(params))
    names = [d[0] for d in cur.description or ()]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def _json(text: Any) -> Any:
    """A JSON text column's value (None when absent or not JSON: an older archive)."""
    if not isinstance(text, str) or not text:
        return None
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


def _views(con: duckdb.DuckDBPyConnection) -> set[str]:
    return {r[0] for r in con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()}


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _windows(con: duckdb.DuckDBPyConnection, views: set[str], asset: str, start: datetime,
             end: datetime) -> list[dict[str, Any]]:
    """The asset's windows from ``start`` (window_start) to ``end`` (timestamp), with their state,
    lineage and input ranges when the archive holds them."""
    if "twin_state" not in views:
        return []
    states = _rows(con, "SELECT * FROM twin_state WHERE asset_id = ? AND window_start >= ? "
                        "AND timestamp <= ? ORDER BY window_start DESC LIMIT ?",
                   (asset, start, end, MAX_WINDOWS))
    inputs: dict[datetime, Any] = {}
    if "features" in views:
        for row in _rows(con, "SELECT * FROM features WHERE asset_id = ? AND window_start >= ? "
                              "AND window_end <= ?", (asset, start, end)):
            inputs[row["window_start"]] = _json(row.get("inputs"))
    # a time beyond year 9999 (another writer's or a planted row: twinflow's end in 2262) comes as text
    states = [s for s in states if isinstance(s["window_start"], datetime)
              and isinstance(s["timestamp"], datetime)]
    return [{"window_start": s["window_start"].isoformat(), "window_end": s["timestamp"].isoformat(),
             "condition": s["condition"], "anomaly_score": s["anomaly_score"],
             "health_index": s["health_index"], "life_id": s["life_id"],
             # the verdict (issue 12; absent from archives written before it)
             "verdict": s.get("verdict") or "", "verdict_confidence": s.get("verdict_confidence"),
             "evidence": s.get("evidence") or "",
             "top_features": _json(s["top_features"]) or [], "lineage": _json(s.get("lineage")),
             "inputs": inputs.get(s["window_start"])} for s in reversed(states)]


def _feature_values(con: duckdb.DuckDBPyConnection, views: set[str], asset: str, names: list[str],
                    started: datetime, raising: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Each top feature's value in the raising window and its baseline (the median over the
    asset's windows of the same life before ``started``)."""
    if "features" not in views or not names or raising is None:
        return [{"name": n, "value": None, "baseline": None} for n in names]
    columns = {r[0] for r in con.execute("SELECT column_name FROM (DESCRIBE features)").fetchall()}
    out = []
    for name in names:
        if name not in columns:
            out.append({"name": name, "value": None, "baseline": None})
            continue
        col = _quoted(name)
        value = con.execute(f"SELECT {col} FROM features WHERE asset_id = ? AND window_start = ?",  # noqa: S608
                            [asset, datetime.fromisoformat(raising["window_start"])]).fetchone()
        base = con.execute(f"SELECT median({col}) FROM features WHERE asset_id = ? AND window_end <= ? "  # noqa: S608
                           "AND window_start IN (SELECT window_start FROM twin_state WHERE asset_id = ? "
                           "AND life_id = ?)", [asset, started, asset, raising["life_id"]]).fetchone()
        out.append({"name": name, "value": value[0] if value else None,
                    "baseline": base[0] if base else None})
    return out


def explain(root: str | Path, alert_id: str) -> dict[str, Any]:
    """The lineage of ``alert_id`` as a JSON-able dict; :class:`ArchiveError` for a missing or
    unusable archive or an id it does not hold."""
    base, alert_id = Path(root), alert_id.strip()  # pasted from CSV output: no stray \r
    problem = folder_problem(base)
    if problem is not None:
        raise ArchiveError(problem)

    def read() -> dict[str, Any]:
        skipped: list[Any] = []
        con = connect(base, ("alerts", "recommendations", "audit"), on_skip=skipped.extend)
        opened: list[duckdb.DuckDBPyConnection] = [con]

        def of_asset(raised: dict[str, Any], top: list[str]) -> duckdb.DuckDBPyConnection:
            """The asset's windows and features (the columns read of them), its rows read as the
            files are listed: no query of them reads a file again (round 41, SCAN41b: each re-read
            every footer), only those the queries reach (:func:`_bounds`)."""
            columns = {"twin_state": _STATE_COLUMNS, "features": (*_FEATURE_COLUMNS, *top)}
            opened.append(connect(base, ("twin_state", "features"), on_skip=skipped.extend,
                                  asset=raised["asset_id"], columns=columns, bounds=_bounds(raised, top)))
            return opened[-1]

        try:
            doc = _explain(con, of_asset, base, alert_id, skipped)
        except duckdb.Error as exc:
            if (changed := changed_during(exc)) is not None:  # a compaction meanwhile
                raise changed from None
            msg = f"bad archive {base}: {str(exc).splitlines()[0]}"
            raise ArchiveError(msg) from None
        finally:
            for c in opened:
                c.close()
        doc["skipped_files"] = len(skipped)
        return doc

    return once_more_if_changed(read)


def _bounds(raised: dict[str, Any], top: list[str]) -> dict[str, Any]:
    """The rows of the asset's ``twin_state`` and ``features`` the queries reach (round 42, SCAN42: the
    whole history was held), from the alert's ``started_at`` and raise ``timestamp``:

    - the windows that raised it (:func:`_windows`): ``window_start`` from ``started_at`` to the raise
      (a window starts before it ends), every column read;
    - the baseline (:func:`_feature_values`): the features of the raising window's life before
      ``started_at``, and that life's ``twin_state`` windows. The life may have begun arbitrarily far
      back, so its ``twin_state`` rows before ``started_at`` are held with ``window_start`` and
      ``life_id`` only (~24 bytes a window); the life's first window, asked of that view
      (:func:`_life_start`), bounds ``features`` below, whose rows before ``started_at`` hold
      ``window_start``, ``window_end`` and the alert's top features only (not ``inputs``).
    """
    started, end = raised["started_at"], raised["timestamp"]
    return {"twin_state": Bound(high=end, whole_from=started, narrow=("window_start", "life_id")),
            "features": lambda con: Bound(low=_life_start(con, raised["asset_id"], started, end), high=end,
                                          whole_from=started, narrow=("window_start", "window_end", *top))}


def _life_start(con: duckdb.DuckDBPyConnection, asset: str, started: datetime,
                end: datetime) -> datetime | None:
    """The first window of the lives of the asset's windows from ``started`` to ``end`` (the raising
    window's among them), at most ``started`` (None: unbounded, a time beyond years 1-9999)."""
    if "twin_state" not in _views(con):
        return started
    first = con.execute("SELECT min(window_start) FROM twin_state WHERE asset_id = ? AND life_id IN "
                        "(SELECT life_id FROM twin_state WHERE asset_id = ? AND window_start >= ? "
                        "AND timestamp <= ?)", [asset, asset, started, end]).fetchall()[0]
    if first[0] is None:
        return started
    try:
        return min(first[0], started) if isinstance(first[0], datetime) else None
    except TypeError:  # a time without its zone (another writer's column type): not bounded
        return None


_NEEDED = ("asset_id", "kind", "sequence", "severity", "started_at", "status", "timestamp")
"""Columns of an alert message the lineage cannot do without (the writer never leaves them null;
before round 23 a row lacking ``started_at`` stopped `twin explain` with an internal error)."""


def _explain(con: duckdb.DuckDBPyConnection,
             of_asset: Callable[[dict[str, Any], list[str]], duckdb.DuckDBPyConnection],
             base: Path, alert_id: str, skipped_files: list[Any]) -> dict[str, Any]:
    """The lineage: the alert's messages and recommendations on ``con``, its asset's windows and
    features on ``of_asset(asset, top features)``."""
    views = _views(con)
    messages = _rows(con, "SELECT * FROM alerts WHERE alert_id = ? ORDER BY sequence", (alert_id,)) \
        if "alerts" in views else []
    if not messages:
        skipped = len(skipped_files)
        left = f" ({skipped} unreadable or foreign files left out: see `twin archive check`)" * bool(skipped)
        msg = f"unknown alert id {alert_id!r}: not in the archive {base}{left}"
        raise ArchiveError(msg)
    for m in messages:  # a file of another writer (or planted) may hold rows lacking them
        if (gone := next((c for c in _NEEDED if m.get(c) is None), None)) is not None:
            msg = (f"the archive {base} holds a message of alert {alert_id!r} (sequence "
                   f"{m.get('sequence')}) without {gone}: not written by twinflow? "
                   f"(see `twin archive check`)")
            raise ArchiveError(msg)
        if (odd := next((c for c in ("started_at", "timestamp") if not isinstance(m[c], datetime)), None)):
            msg = (f"the archive {base} holds a message of alert {alert_id!r} (sequence {m['sequence']}) "
                   f"whose {odd} {m[odd]} is outside years 1-9999: not written by twinflow? "
                   f"(see `twin archive check`)")
            raise ArchiveError(msg)
    raised = messages[0]
    asset, started = raised["asset_id"], raised["started_at"]
    pairs = _pairs(_json(raised["top_features"]))
    top = [str(p[0]) for p in pairs]
    asset_con = of_asset(raised, top)
    asset_views = _views(asset_con)
    windows = _windows(asset_con, asset_views, asset, started, raised["timestamp"])
    raising = windows[-1] if windows else None
    zs = {str(p[0]): p[1] for p in pairs}
    features = _feature_values(asset_con, asset_views, asset, top, started, raising)
    for f in features:
        f["z"] = zs.get(f["name"])
    return {
        "alert_id": alert_id, "asset_id": asset, "kind": raised["kind"], "started_at": started.isoformat(),
        "messages": [{"sequence": m["sequence"], "status": m["status"], "severity": m["severity"],
                      "timestamp": m["timestamp"].isoformat(), "explanation": m["explanation"],
                      "verdict": m.get("verdict") or "", "lineage": _json(m.get("lineage"))}
                     for m in messages],
        "windows": windows, "top_features": features, "lineage": _json(raised.get("lineage")),
        "recommendations": _recommendations(con, views, alert_id),
    }


def _pairs(doc: Any) -> list[list[Any]]:
    """The ``[name, z]`` pairs of an alert's top features; other entries left out (another writer's
    text: round 36, ``[1, 2]`` ended ``twin explain`` in an internal error, ``--json`` too)."""
    return [p for p in doc if isinstance(p, list) and len(p) == 2] if isinstance(doc, list) else []


def _recommendations(con: duckdb.DuckDBPyConnection, views: set[str], alert_id: str) -> list[dict[str, Any]]:
    """The prescriptions made for the alert (the what-if options behind each) and what the
    command path did with them (its audit entries)."""
    if "recommendations" not in views:
        return []
    recs = _rows(con, "SELECT recommendation_id, timestamp, explanation, expected_saving, currency, "
                 "chosen, options FROM recommendations WHERE alert_id = ? ORDER BY timestamp",
                 (alert_id,))
    out = []
    for r in recs:
        audit = _rows(con, "SELECT action, command_id, value, reason FROM audit WHERE recommendation_id = ? "
                      "ORDER BY timestamp, sequence", (r["recommendation_id"],)) if "audit" in views else []
        when = r["timestamp"]  # another writer's row: null, or text beyond year 9999
        when = when.isoformat() if isinstance(when, datetime) else None if when is None else str(when)
        out.append({"recommendation_id": r["recommendation_id"], "timestamp": when,
                    "explanation": r["explanation"], "expected_saving": r["expected_saving"],
                    "currency": r["currency"], "chosen": _json(r["chosen"]),
                    "options": _json(r["options"]) or [], "commands": audit})
    return out


def _option(o: dict[str, Any], currency: str) -> str:
    """One what-if option of a recommendation, for a person: a derate holds until the planned
    stop, a planned replacement is at it; ``replace_now``'s time is when the options were computed,
    said on the recommendation's line (:func:`_made_at`), not here (round 34, USER34: ``replace_now
    until 12:00`` under a recommendation of 14:00 read as a deadline already past)."""
    load = f" to {o['load_fraction']:.0%}" if o.get("load_fraction") is not None else ""
    stop = str(o["until"])[:16] if o.get("until") and o["plan"] in ("derate", "replace_planned") else ""
    when = "" if not stop else f" {'until' if o['plan'] == 'derate' else 'at'} the planned stop {stop}"
    return (f"{o['plan']}{load}{when}: P(failure) {o['p_failure']:.0%}, expected cost "
            f"{currency} {o['expected_cost']:,.0f}")


def _made_at(r: dict[str, Any]) -> str:
    """The recommendation's time, and when its options were computed if that was earlier (a
    recommendation made before its alert was raised is restated at the raise, options unchanged)."""
    now = next((str(o["until"]) for o in r["options"] if o.get("plan") == "replace_now" and o.get("until")),
               None)
    when = str(r["timestamp"])
    if now is None or now[:16] == when.replace(" ", "T")[:16]:
        return when
    return f"{when} (restated at the alert's raise; options computed at {now[:16]})"


def _spans(inputs: Any) -> str:
    if not inputs:
        return "(not recorded)"
    return ", ".join(f"{s['source']} {s['first']}..{s['last']}" for s in inputs)


def _num(x: Any) -> str:
    return "n/a" if x is None else f"{x:.4g}"


def _verdict(w: dict[str, Any]) -> str:
    """``  verdict anomalous (0.87)`` of a window (issue 12), '' when it has none."""
    if not w.get("verdict"):
        return ""
    conf = w.get("verdict_confidence")
    return f"  verdict {w['verdict']}" + (f" ({conf:.2f})" if conf is not None else "")


def rendered(doc: dict[str, Any], archive: str | Path) -> str:
    """:func:`render`, or :class:`ArchiveError` in one line when the JSON text columns it reads (a
    message's or window's lineage, the top features, a recommendation's options) are not in the shape
    twinflow writes: a file of another writer, or edited (round 36, HOSTILE36: ``options`` of ``[1, 2]``
    or an option without ``p_failure`` ended in ``twin: internal error``, exit 1). ``--json`` prints
    the document as read."""
    try:
        return render(doc)
    except (KeyError, TypeError, AttributeError, ValueError, IndexError) as exc:
        what = f"{type(exc).__name__}: {exc}"[:200]
        msg = (f"the archive {archive} holds rows of alert {doc.get('alert_id')!r} whose JSON text (lineage, "
               f"top features or what-if options) is not in twinflow's shape ({what}): not written by "
               f"twinflow? (see `twin archive check`; --json prints them as they are)")
        raise ArchiveError(msg) from None


def render(doc: dict[str, Any]) -> str:
    """The lineage as text for a person (:func:`rendered`: the archive's text checked)."""
    lin = doc["lineage"] or {}
    lines = [f"alert {doc['alert_id']}  asset {doc['asset_id']}  kind {doc['kind']}  "
             f"started {doc['started_at']}"]
    lines += [f"  #{m['sequence']} {m['status']:<8} {m['severity']:<8} {m['timestamp']}  {m['explanation']}"
              for m in doc["messages"]]
    if lin:
        lines.append(f"produced by twinflow {lin['version']}, config {lin['config_hash']}; model: life "
                     f"{lin['life_id']}, {lin['learned_windows']} learned windows, fleet model "
                     f"v{lin['fleet_model_version']}")
    else:
        lines.append("produced by: not recorded (archive written before the digital thread)")
    lines.append(f"windows that raised it ({len(doc['windows'])}):")
    lines += [f"  {w['window_start']} .. {w['window_end']}  {w['condition'] or 'n/a':<9} score "
              f"{_num(w['anomaly_score'])}{_verdict(w)}  inputs: {_spans(w['inputs'])}"
              for w in doc["windows"]]
    raising = doc["windows"][-1] if doc["windows"] else {}
    if raising.get("evidence"):
        lines.append(f"evidence of the raising window: {raising['evidence']}")
    lines.append("top features of the raising window (value vs baseline = median of this life before "
                 "the episode):")
    lines += [f"  {f['name']:<40} z {_num(f['z']):>8}  value {_num(f['value']):>10}  baseline "
              f"{_num(f['baseline']):>10}" for f in doc["top_features"]]
    recs = doc.get("recommendations") or []
    lines.append(f"recommendations made for it ({len(recs)}), with the what-if options behind each:")
    for r in recs:
        lines.append(f"  {_made_at(r)}  {r['explanation']}")
        lines += [f"      {_option(o, r['currency'])}" for o in r["options"]]
        lines += [f"      command path: {c['action']} {c['command_id']} value {_num(c['value'])}"
                  f"{'  (' + c['reason'] + ')' if c['reason'] else ''}" for c in r["commands"]]
    if doc.get("skipped_files"):
        lines.append(f"note: {doc['skipped_files']} unreadable or foreign archive files were left out "
                     "(see `twin archive check`)")
    return "\n".join(lines)
