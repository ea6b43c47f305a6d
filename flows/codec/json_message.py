"""The Kafka messages of feature vectors, twin snapshots and alerts written by orjson, byte for byte
the text of ``json.dumps(to_json(rec), separators=(",", ":"), allow_nan=False)`` (issue 10, round 30).

``twin run`` sends every snapshot, alert and feature vector as that compact JSON document; built
field by field (a Python call each, two timestamps formatted per record) and written by ``json``'s
encoder (CPython's float ``repr`` is slow) it cost ~35 us a snapshot. Here each field of the three
tables is turned into its JSON value by the same form functions (:mod:`flows.codec.record_fields`),
collecting every float of the document on the way, and orjson writes the document only where its
text is provably json's:

- numbers: every float in the fast range of :mod:`flows.codec.json_columns` (0, or finite with
  ``1e-4 <= |x| < 1e16``: the rule the archive's JSON columns use); ints, bools and None are written
  alike by both; an int beyond 64 bits makes orjson raise;
- text: every string ASCII but DEL (0x7f), checked on orjson's output (a non-ASCII character is
  written as UTF-8 by orjson, escaped by json); for each of the characters 0-0x7e both write the
  same text (:data:`TEXT_MATCHES`, checked at import over all of them). Only exact ``str`` values
  reach orjson where a form passes its value on unchanged (TEXT, a lineage's names, data quality);
  orjson refuses ``str``/``int``/``dict`` subclasses, dataclasses and datetimes (its passthrough
  options, no ``default``);
- structure: the same dicts and lists in the same order; ``top_features`` and ``context`` values as
  the forms write them.

A record that fails any check, or on which any form raises, is written by the former route
(:meth:`RecordMapping.to_json` and ``json.dumps``): its bytes, or its ``ValueError`` naming the field,
are the former ones. ``tests/unit/test_json_message.py`` holds the two routes equal on hostile values.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from datetime import UTC, datetime
from operator import attrgetter
from typing import Any

import orjson

from flows.codec.fields import format_timestamp
from flows.codec.json_columns import FAST, floats_in_range
from flows.codec.json_columns import optional_number as _opt
from flows.codec.record_fields import (
    ALERT,
    COUNT,
    EVENTS,
    FEATURE_COLUMNS,
    FEATURE_VECTOR,
    FLAG,
    ID,
    INPUTS,
    LINEAGE,
    NUMBER,
    NUMBER_MAP,
    OPT_NUMBER,
    OPT_TEXT,
    PAIRS,
    QUALITY,
    TEXT,
    TIME,
    TWIN_SNAPSHOT,
    Form,
    RecordMapping,
    _req,
)

__all__ = ["TEXT_MATCHES", "compact", "former", "message_encoders"]

_OPTS = orjson.OPT_PASSTHROUGH_SUBCLASS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def compact(obj: Any) -> bytes:
    """``json.dumps(obj, separators=(",", ":"), allow_nan=False)`` as UTF-8 bytes."""
    return json.dumps(obj, separators=(",", ":"), allow_nan=False).encode("utf-8")


def former(to_json: Callable[[Any], dict[str, Any]], rec: Any) -> bytes:
    """The former route: the field table's dict, written by json (its text, or its error)."""
    return compact(to_json(rec))


def _text_matches() -> bool:
    """orjson writes each character 0-0x7e (alone and in a string) as compact json does."""
    chars = [chr(i) for i in range(0x7F)]
    return orjson.dumps(chars) == compact(chars) and orjson.dumps("".join(chars)) == compact("".join(chars))


TEXT_MATCHES = _text_matches()


class _Slow(Exception):  # noqa: N818 - a signal, not an error: "write this record the former way"
    """A value the fast route does not vouch for."""


_SLOW = _Slow()
_TIMES: dict[datetime, str] = {}


def _time(v: Any, floats: list[float]) -> str:
    """``format_timestamp``, kept per UTC datetime (a window's times repeat over its assets; equal
    aware datetimes are one instant, one text)."""
    if type(v) is datetime and v.tzinfo is UTC:
        text = _TIMES.get(v)
        if text is None:
            if len(_TIMES) >= 4096:
                _TIMES.clear()
            text = _TIMES[v] = format_timestamp(v)
        return text
    return format_timestamp(v)


def _text(v: Any, floats: list[float]) -> str:
    if type(v) is not str:
        raise _SLOW
    return v


def _opt_text(v: Any, floats: list[float]) -> str | None:
    if v is not None and type(v) is not str:
        raise _SLOW
    return v


def _number(v: Any, floats: list[float]) -> float:
    x = _req(v, "", "")  # a non-finite one raises: the former route then raises with the names
    floats.append(x)
    return x


def _opt_number(v: Any, floats: list[float]) -> float | None:
    x = _opt(v)
    if x is not None:
        floats.append(x)
    return x


def _pairs(v: Any, floats: list[float]) -> list[list[Any]]:
    pairs: list[list[Any]] = PAIRS.to_json(v, "", "")
    floats += [z for _, z in pairs if z is not None]
    return pairs


def _map(v: Any, floats: list[float]) -> dict[str, Any]:
    """The number map as is when its keys are ``str`` and its values finite floats, else the form's."""
    if type(v) is dict and set(map(type, v)) <= {str}:
        values = list(v.values())
        if set(map(type, values)) <= {float} and math.isfinite(sum(values)):
            floats += values
            return v
    m: dict[str, Any] = NUMBER_MAP.to_json(v, "", "")
    floats += [x for x in m.values() if x is not None]
    return m


def _lineage(v: Any, floats: list[float]) -> dict[str, Any] | None:
    doc: dict[str, Any] | None = LINEAGE.to_json(v, "", "")
    if doc is not None and not (type(doc["version"]) is str and type(doc["config_hash"]) is str
                                and all(type(s["source"]) is str for s in doc["inputs"])):
        raise _SLOW
    return doc


def _inputs(v: Any, floats: list[float]) -> list[dict[str, Any]]:
    doc: list[dict[str, Any]] = INPUTS.to_json(v, "", "")
    if not all(type(s["source"]) is str for s in doc):
        raise _SLOW
    return doc


_QUALITY: dict[tuple[tuple[str, str, str], ...], orjson.Fragment] = {}


def _quality(v: Any, floats: list[float]) -> orjson.Fragment:
    """The data-quality marks' compact text, kept per value: a value equal to a kept one (a tuple of
    ``(str, str, str)``, checked when kept) has its text (the rule of ``json_columns.distinct_texts``)."""
    if type(v) is not tuple:
        raise _SLOW
    text = _QUALITY.get(v)
    if text is None:
        if not (set(map(type, v)) <= {tuple} and set(map(len, v)) <= {3}
                and all(type(x) is str for mark in v for x in mark)):
            raise _SLOW
        if len(_QUALITY) >= 4096:
            _QUALITY.clear()
        text = _QUALITY[v] = orjson.Fragment(compact(QUALITY.to_json(v, "", "")))
    return text


def _same_types(form: Form) -> Callable[[Any, list[float]], Any]:
    """A form whose JSON value holds only ``str``, ``int``, ``bool`` and None by construction."""
    to_json = form.to_json
    return lambda v, floats: to_json(v, "", "")


_FAST_FORMS: dict[int, Callable[[Any, list[float]], Any]] = {
    id(ID): _same_types(ID), id(TEXT): _text, id(OPT_TEXT): _opt_text, id(TIME): _time,
    id(NUMBER): _number, id(OPT_NUMBER): _opt_number, id(FLAG): _same_types(FLAG),
    id(COUNT): _same_types(COUNT), id(PAIRS): _pairs, id(NUMBER_MAP): _map, id(FEATURE_COLUMNS): _map,
    id(EVENTS): _same_types(EVENTS), id(QUALITY): _quality, id(LINEAGE): _lineage, id(INPUTS): _inputs,
}
"""Each form of the three tables: its fast JSON value (raises to send the record the former way)."""


def _encoder(mapping: RecordMapping) -> Callable[[Any], bytes] | None:
    """The mapping's message encoder, or None if a field's form has no fast value (or orjson's text
    was not found equal to json's at import)."""
    if not (FAST and TEXT_MATCHES) or any(id(f.form) not in _FAST_FORMS for f in mapping.fields):
        return None
    fields = tuple((f.name, _FAST_FORMS[id(f.form)]) for f in mapping.fields)
    values = attrgetter(*(f.name for f in mapping.fields))
    slow = mapping.to_json

    def encode(rec: Any) -> bytes:
        floats: list[float] = []
        try:
            doc = {name: value(v, floats) for (name, value), v in zip(fields, values(rec), strict=True)}
            if floats_in_range(floats):
                out = orjson.dumps(doc, option=_OPTS)
                if out.isascii() and b"\x7f" not in out:
                    return out
        except Exception:  # noqa: BLE001, S110 - the former route says what is wrong, or writes it
            pass
        return former(slow, rec)

    return encode


def message_encoders() -> dict[type, Callable[[Any], bytes]]:
    """The record types whose message is written by orjson, with their encoder."""
    encoders = {m.record: _encoder(m) for m in (FEATURE_VECTOR, TWIN_SNAPSHOT, ALERT)}
    return {record: enc for record, enc in encoders.items() if enc is not None}
