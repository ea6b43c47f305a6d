"""The archive's column-at-a-time forms give exactly the value-by-value ones (issue 10, round 26).

:mod:`flows.codec.json_columns` writes ``context``/``top_features`` with orjson where its text is
``json.dumps``'s and falls back to ``json.dumps`` elsewhere; each case mixes rows of both kinds.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest

from flows.codec import json_columns
from flows.codec.json_columns import distinct_texts, map_texts, optional_number, optional_numbers, pairs_texts

RNG = np.random.default_rng(26)
FLOATS = [float(x) for x in np.concatenate([
    RNG.uniform(-1e3, 1e3, 400), 10 ** RNG.uniform(-12, 20, 400), -(10 ** RNG.uniform(-8, 18, 200)),
    np.round(RNG.normal(0, 3, 200), 3), RNG.integers(0, 2**63, 400, dtype=np.uint64).view(np.float64)])]
"""Decimals, every magnitude (orjson writes 1e-5 as 0.00001, json as 1e-05), NaN and infinities
among the random bit patterns."""
ODD = [1e-5, 9.9e-5, 1e-4, 5e-324, 1e16, 1e22, -0.0, 0.0, math.nan, math.inf, -math.inf,
       1.7976931348623157e308]
KEYS = ["speed.mean", "load.slope_per_h", "vib_h.env_bpfo_amp", "a b|~!#$%&'()*+-./;<=>?@^_`"]
AWKWARD_KEYS = ["tempé", "a:b", "a,b", 'q"uote', "back\\slash", "br[a]ce{s}", "tab\t", "del\x7f", ""]


def _maps() -> list[dict[Any, Any]]:
    """Maps of plain keys (the fast path's), rows with a float it leaves to json among them."""
    chunks = [FLOATS[i:i + 13] for i in range(0, len(FLOATS), 13)]
    maps: list[dict[Any, Any]] = [{f"{KEYS[i % 4]}{i}": x for i, x in enumerate(chunk)} for chunk in chunks]
    return maps + [{k: x} for k in KEYS for x in ODD] + [{}]


def test_context_texts_are_json_dumps_of_every_map() -> None:
    maps = _maps()
    assert map_texts(maps) == [json.dumps(m) for m in maps]
    for key in AWKWARD_KEYS:  # a column with one name json and orjson write apart: json throughout
        awkward = [*maps[:3], {"x": 0.5, key: 1.5}]
        assert map_texts(awkward) == [json.dumps(m) for m in awkward]
    awkward = [{"x": 1}, {"x": True}, {"x": None}, {"x": np.float64(0.25)}, {1: 2.0}, {"x": 2.5}]
    for m in awkward:  # a column holding one value that is not a float: json throughout
        assert map_texts([{"x": 0.5}, m]) == [json.dumps({"x": 0.5}), json.dumps(m)]


def test_top_feature_texts_are_json_dumps_of_every_list() -> None:
    pairs = [tuple((KEYS[i % 4], x) for i, x in enumerate(FLOATS[j:j + 5])) for j in range(0, len(FLOATS), 5)]
    pairs += [((k, x),) for k in KEYS for x in ODD] + [(), [["vib.rms", 2.0]]]
    assert pairs_texts(pairs) == [json.dumps(list(v)) for v in pairs]
    for key in AWKWARD_KEYS:
        awkward = [*pairs[:3], (("x", 0.5), (key, 1.5))]
        assert pairs_texts(awkward) == [json.dumps(list(v)) for v in awkward]
    for odd in [(("x", 1),), (("x", None),), (("x", 1.0, 2.0),), (("x",),), ((1.0, 2.0),)]:
        assert pairs_texts([(("x", 0.5),), odd]) == [json.dumps([("x", 0.5)]), json.dumps(list(odd))]


def test_plain_floats_and_names_take_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """The demo's kind of values never reach json.dumps (it is the cost this module removes)."""
    expect_maps = [json.dumps(m) for m in _maps()[:20]]
    expect_pairs = [json.dumps([("vib.rms", 1.679), ("temperature.std", -1.571)]), "[]"]

    class NoJson:
        def dumps(self, value: Any) -> str:
            msg = f"json.dumps({value!r})"
            raise AssertionError(msg)

    monkeypatch.setattr(json_columns, "json", NoJson())
    good = [m for m in _maps()[:20] if all(v == 0 or 1e-4 <= abs(v) < 1e16 for v in m.values())]
    assert len(good) > 10
    assert map_texts(good) == [t for m, t in zip(_maps()[:20], expect_maps, strict=True) if m in good]
    assert pairs_texts([(("vib.rms", 1.679), ("temperature.std", -1.571)), ()]) == expect_pairs


def test_repeated_states_are_written_once_each_and_other_values_one_by_one() -> None:
    calls: list[Any] = []

    def text(v: Any) -> str:
        calls.append(v)
        return json.dumps(v)

    ok, bad = (("vib", "ok", ""), ("speed", "ok", "")), (("vib", "bad", "flatline"),)
    assert distinct_texts([ok, bad, ok, ok, bad], text) == [json.dumps(v) for v in [ok, bad, ok, ok, bad]]
    assert calls == [ok, bad]
    calls.clear()
    same = [(("a", 1),), (("a", 1.0),)]  # equal tuples, different texts: not shared
    assert distinct_texts(same, text) == ['[["a", 1]]', '[["a", 1.0]]']


def test_optional_numbers_are_optional_number_of_each() -> None:
    columns = [[1.0, None, 2.5], [1.0, math.nan], [math.inf, None], [3, None], [np.float64(2.0), None], [],
               [None]]
    for values in columns:
        got = optional_numbers(list(values))
        want = [optional_number(v) for v in values]
        assert got == want
        assert list(map(type, got)) == list(map(type, want))


def test_shared_states_are_checked_and_written_once_per_object() -> None:
    """The quality monitor hands an asset's unchanged marks over as the same tuple (round 28): each
    object is written once, by its own text; an equal copy shares the text only where every leaf is
    a string; equal objects with different texts keep theirs."""
    calls: list[Any] = []

    def text(v: Any) -> str:
        calls.append(v)
        return json.dumps(v)

    ok, bad = (("vib", "ok", ""), ("speed", "ok", "")), (("vib", "bad", "flatline"),)
    copy = tuple(tuple(list(m)) for m in ok)  # equal to ok, another object
    column = [ok, bad, ok, ok, bad, ok, copy, ok] * 3
    assert distinct_texts(column, text) == [json.dumps(v) for v in column]
    assert calls == [ok, bad]
    calls.clear()
    one, real = (("a", 1),), (("a", 1.0),)  # equal, different texts
    column = [one, real, real, one, one, real]
    assert distinct_texts(column, text) == [json.dumps(v) for v in column]
    assert distinct_texts(column, text)[:2] == ['[["a", 1]]', '[["a", 1.0]]']
    assert calls[:2] == [one, real] and len(calls) == 4  # once per object per call (value by value: 6)
