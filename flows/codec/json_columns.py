"""Archive columns built a column at a time, equal to their value-by-value forms (issue 10, round 26).

The ``twin_state`` sink spent ~3/4 of its conversion in ``json.dumps`` (``top_features``, ``context``,
``data_quality`` of every row: the float ``repr`` of CPython is slow) and in a Python call per cell
of the optional numbers. Each function here returns exactly what the per-value form gives
(:mod:`flows.codec.record_fields`; ``tests/unit/test_json_columns.py`` holds them equal):

- :func:`map_texts` / :func:`pairs_texts`: ``json.dumps`` of each value, written by orjson (C, fast
  shortest float digits) where its text is json's once the separators get their space: every key or
  name a *plain* string (printable ASCII without ``"``, ``\\``, ``,``, ``:``, brackets or braces, so
  ``,``/``:`` occur in the text only as separators) and every number a ``float`` that is 0 or finite
  with ``1e-4 <= |x| < 1e16`` (below it, CPython writes ``1e-05`` and orjson ``0.00001``; NaN and
  infinity are ``NaN``/``Infinity`` in json, ``null`` in orjson). A row with any other value is
  written by ``json.dumps``; a column with a non-float number, or an orjson whose floats fail the
  check at import, is written by ``json.dumps`` throughout.
- :func:`distinct_texts`: ``json.dumps``-like text of values that repeat (the data-quality states of
  a window: a fleet has a handful), computed once per distinct value when every leaf is a string.
- :func:`optional_numbers`: the optional numbers (None and non-finite -> None) with no Python call
  per cell when they are floats and None only.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Callable, Iterable, Sequence
from itertools import chain
from operator import itemgetter
from typing import Any

import numpy as np
import orjson

__all__ = ["FAST", "distinct_texts", "floats_in_range", "map_texts", "optional_number", "optional_numbers",
           "pairs_texts"]

_PLAIN = re.compile(r"[\x20\x21\x23-\x2b\x2d-\x39\x3b-\x5a\x5e-\x7a\x7c\x7e]*")
"""Printable ASCII but ``"`` ``,`` ``:`` ``[`` ``\\`` ``]`` ``{`` ``}``: json and orjson write it alike,
and it cannot hold a separator."""

_SAMPLES = (0.0, -0.0, 1.0, -2.5, 1e-4, 0.00012, 0.1, 1 / 3, 0.30000000000000004, 123456.789,
            1e15, 9999999999999998.0, 9007199254740993.0, 2.2250738585072014e-4)


def _orjson_floats_match() -> bool:
    """orjson writes the sample floats of the fast path's range as ``repr`` does (a pinned 3.13
    does; another version is checked, not trusted)."""
    return orjson.dumps(list(_SAMPLES)) == ("[" + ",".join(map(repr, _SAMPLES)) + "]").encode()


FAST = _orjson_floats_match()
"""orjson writes the fast range's floats as ``repr`` does (else every text is written by json)."""
LOW, HIGH = 1e-4, 1e16
"""The fast range: a float 0 or finite with ``LOW <= |x| < HIGH`` is written alike by json and orjson."""


@functools.lru_cache(maxsize=4096)
def _plain(text: str) -> bool:
    return _PLAIN.fullmatch(text) is not None


def _plain_texts(texts: Iterable[Any]) -> bool:
    """Every item a plain ``str`` (names repeat: each is matched once)."""
    distinct = set(texts)
    return set(map(type, distinct)) <= {str} and all(map(_plain, distinct))


def _bad_rows(values: list[Any], lengths: list[int]) -> set[int] | None:
    """The rows (``lengths[i]`` values each, in order) holding a float outside the fast range;
    None if any value is not a ``float`` (the whole column then goes through json)."""
    if not FAST or not set(map(type, values)) <= {float}:
        return None
    a = np.abs(np.fromiter(values, np.float64, len(values)))
    bad = ~(((a >= LOW) & (a < HIGH)) | (a == 0))  # NaN compares False, without a warning
    if not bad.any():
        return set()
    rows = np.repeat(np.arange(len(lengths)), lengths)
    return set(rows[bad].tolist())


def floats_in_range(values: list[float]) -> bool:
    """Every value (``float`` s only: the caller's) in the fast range, for a few values (one record's),
    where NumPy's fixed cost would dominate: one C pass each (a NaN or infinity makes the sum
    non-finite; zeros are left out of the minimum)."""
    if not FAST:
        return False
    a = list(map(abs, values))
    return math.isfinite(sum(a)) and max(a, default=0.0) < HIGH and min(filter(None, a), default=LOW) >= LOW


def _texts(values: Sequence[Any], bad: set[int], fast: Callable[[Any], str]) -> list[str]:
    if not bad:
        return list(map(fast, values))
    return [json.dumps(v) if i in bad else fast(v) for i, v in enumerate(values)]


def _spaced_map(m: dict[str, float]) -> str:
    return orjson.dumps(m).replace(b":", b": ").replace(b",", b", ").decode()


def _spaced_list(v: Sequence[Any]) -> str:
    return orjson.dumps(v).replace(b",", b", ").decode()


def map_texts(maps: Sequence[dict[str, float]]) -> list[str]:
    """``[json.dumps(m) for m in maps]`` (the archive's ``context``, the damage state's maps)."""
    if set(map(type, maps)) <= {dict} and _plain_texts(chain.from_iterable(maps)):
        bad = _bad_rows(list(chain.from_iterable(map(dict.values, maps))), list(map(len, maps)))
        if bad is not None:
            return _texts(maps, bad, _spaced_map)
    return list(map(json.dumps, maps))


def pairs_texts(values: Sequence[Sequence[tuple[str, float]]]) -> list[str]:
    """``[json.dumps(list(v)) for v in values]``, each value (name, number) pairs (``top_features``)."""
    pairs = list(chain.from_iterable(values)) if set(map(type, values)) <= {tuple, list} else None
    if pairs is not None and set(map(type, pairs)) <= {tuple, list} and set(map(len, pairs)) <= {2} \
            and _plain_texts(map(itemgetter(0), pairs)):
        bad = _bad_rows(list(map(itemgetter(1), pairs)), list(map(len, values)))
        if bad is not None:
            return _texts(values, bad, _spaced_list)
    return [json.dumps(list(v)) for v in values]


def distinct_texts(values: Sequence[Any], text: Callable[[Any], str]) -> list[str]:
    """``[text(v) for v in values]`` for values that are tuples of tuples of strings, ``text``
    called once per distinct value (equal tuples of strings have equal texts; any other kind of
    value, which may be equal without having the same text, is written one by one).

    A value handed over as the same object as an earlier one (the quality monitor gives an
    asset's unchanged marks as the previous window's tuple) is checked and looked up once: most
    windows repeat their asset's last state, so the checks run over a few objects, not every row."""
    objects = dict(zip(map(id, values), values, strict=True))  # ``values`` keeps them alive: ids stay theirs
    if len(objects) * 2 > len(values):  # few shared objects: check every value
        return _distinct(values, text)
    texts = dict(zip(objects, _distinct(list(objects.values()), text), strict=True))
    return list(map(texts.__getitem__, map(id, values)))


def _distinct(values: Sequence[Any], text: Callable[[Any], str]) -> list[str]:
    """``[text(v) for v in values]``, once per distinct value when every leaf is a ``str``."""
    if set(map(type, values)) <= {tuple} and set(map(type, chain.from_iterable(values))) <= {tuple} \
            and set(map(type, chain.from_iterable(chain.from_iterable(values)))) <= {str}:
        memo = {v: text(v) for v in dict.fromkeys(values)}
        return list(map(memo.__getitem__, values))
    return list(map(text, values))


def optional_number(x: float | None) -> float | None:
    """Optional number: None and non-finite (no estimate, infinite RUL) -> None."""
    return None if x is None or not math.isfinite(x) else float(x)


def optional_numbers(values: list[Any]) -> list[Any]:
    """``[optional_number(v) for v in values]``: None and non-finite -> None, numbers as floats."""
    if set(map(type, values)) <= {float, type(None)}:
        present = [v for v in values if v is not None]
        if np.isfinite(np.fromiter(present, np.float64, len(present))).all():
            return values
    return list(map(optional_number, values))
