"""A window's features carried columnar: one NumPy row and a shared key sequence.

A :class:`~twin_models.records.FeatureVector` maps ``<channel>.<feature>`` names to numbers. Every
window of an asset kind has the same names in the same order, so :func:`feature_map` stores the
names once per distinct sequence (:class:`FeatureKeys`, interned: every window with those names
holds the SAME object) and each window's values as one ``float64`` row, kept as the immutable bytes
of the row (``raw``; :attr:`FeatureMap.row` is the read-only NumPy view). Consumers see a
read-only ``Mapping[str, float]`` over a private copy of the items (same values, order and
lookup speed as the dict it replaces: the twin reads every window's items three times); the
archive sink (issue 10: its write rate) groups windows by their ``FeatureKeys`` object and stacks
their rows into one matrix with a single copy (``bytes.join`` of the ``raw`` buffers: one object
per window to read, its values inline) instead of reading ~50 values out of every dict.

Pickled (recovery state) and copied it stays what it was: a pickle holds a plain ``dict`` of the
same items (so state written before and after this module reads alike), and a copy is the object
itself (it is immutable).
"""

from __future__ import annotations

from collections.abc import ItemsView, Iterator, KeysView, Mapping, ValuesView
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["MAX_INTERNED", "FeatureKeys", "FeatureMap", "feature_map", "feature_names"]

MAX_INTERNED = 4096
"""Distinct key sequences kept for sharing (a fleet has a handful: one per asset kind and set of
channels); past it a new sequence still works, it is just not shared with later windows."""


class FeatureKeys:
    """One sequence of feature names, shared by every :class:`FeatureMap` that has it.

    ``names`` in the order given; ``index`` name -> position; ``sorted_names`` for writers that
    order columns by name."""

    __slots__ = ("index", "names", "sorted_names")

    def __init__(self, names: tuple[str, ...]) -> None:
        self.names = names
        self.index = {k: i for i, k in enumerate(names)}
        if len(self.index) != len(names):
            msg = f"feature names must be distinct, got {len(names) - len(self.index)} repeated"
            raise ValueError(msg)
        self.sorted_names = tuple(sorted(names))

    def __repr__(self) -> str:
        return f"FeatureKeys({len(self.names)} names)"


_INTERNED: dict[tuple[str, ...], FeatureKeys] = {}


def _keys(names: tuple[str, ...]) -> FeatureKeys:
    """The shared :class:`FeatureKeys` of ``names`` (a new one past :data:`MAX_INTERNED`)."""
    keys = _INTERNED.get(names)
    if keys is None:
        keys = FeatureKeys(names)
        if len(_INTERNED) < MAX_INTERNED:
            _INTERNED[names] = keys
    return keys


class FeatureMap(Mapping[str, float]):
    """Read-only ``name -> value``: the window's items as given, with the shared ``key_set`` and
    ``raw``, the bytes of the values as one float64 row (what the archive sink reads), and
    ``tail``: bytes its producer gives with the values (the flow's window step packs the
    window's archive numbers there, ``flows.dataflow.window_tail``), ``b""`` otherwise; not
    part of the mapping (not compared, not pickled: a pickle is the dict of the items). A tail
    describes the window it was made for: a FeatureVector built around the same map with other
    times, counts, spans or asset must not reach the archive sink (the flow's windows never
    are: the sink gets the window step's FeatureVector or its ``plain()`` copy).

    Built by :func:`feature_map`. Lookups and iteration are a private copy of the items the
    window was built from (the same values, the same order, the same speed as the dict was);
    equal to any mapping with equal items."""

    __slots__ = ("_items", "key_set", "raw", "tail")
    key_set: FeatureKeys
    raw: bytes
    tail: bytes
    _items: dict[str, float]

    def __init__(self, items: dict[str, float], key_set: FeatureKeys, row: npt.NDArray[np.float64],
                 tail: bytes = b"") -> None:
        if row.shape != (len(items),) or len(items) != len(key_set.names) or row.dtype != np.float64:
            msg = f"a feature row must be float64, one value per name, got {row.dtype} {row.shape}"
            raise ValueError(msg)
        # the slots set through their descriptors (``object.__setattr__`` costs ~2x: per window)
        _SET_ITEMS(self, items)
        _SET_KEY_SET(self, key_set)
        _SET_RAW(self, row.astype("=f8", copy=False).tobytes())
        _SET_TAIL(self, tail)

    @property
    def row(self) -> npt.NDArray[np.float64]:
        """The values as a read-only float64 NumPy row (a view of ``raw``)."""
        return np.frombuffer(self.raw, np.float64)

    def __setattr__(self, name: str, value: object) -> None:
        msg = f"FeatureMap is read-only (tried to set {name!r})"
        raise AttributeError(msg)

    def __getitem__(self, name: str) -> float:
        return self._items[name]

    def get(self, name: str, default: Any = None) -> Any:
        return self._items.get(name, default)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def as_dict(self) -> dict[str, float]:
        """The items as a new plain dict."""
        return dict(self._items)

    def keys(self) -> KeysView[str]:
        return self._items.keys()

    def items(self) -> ItemsView[str, float]:
        return self._items.items()

    def values(self) -> ValuesView[float]:
        return self._items.values()

    def __eq__(self, other: object) -> bool:
        if isinstance(other, FeatureMap):
            return self._items == other._items
        if isinstance(other, Mapping):
            return self._items == dict(other.items())
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"FeatureMap({self._items!r})"

    def __reduce__(self) -> tuple[type, tuple[dict[str, float]]]:
        """Pickled as the plain dict of its items (the form recovery state always had)."""
        return (dict, (self._items,))

    def __copy__(self) -> FeatureMap:
        return self

    def __deepcopy__(self, memo: dict[int, object]) -> FeatureMap:
        return self


_SET_ITEMS, _SET_KEY_SET = FeatureMap._items.__set__, FeatureMap.key_set.__set__  # type: ignore[attr-defined]
_SET_RAW, _SET_TAIL = FeatureMap.raw.__set__, FeatureMap.tail.__set__  # type: ignore[attr-defined]


def feature_map(features: Mapping[str, float], tail: bytes = b"") -> FeatureMap:
    """``features`` (names -> numbers, in their order) as a :class:`FeatureMap` whose key set is
    shared with every other map of the same names; ``tail``: see :class:`FeatureMap` (a map given
    is returned as it is). ``ValueError`` for a value ``float()`` refuses."""
    if isinstance(features, FeatureMap):
        return features
    items = dict(features)
    names = tuple(items)
    try:
        row = np.fromiter(items.values(), np.float64, len(names))
    except (TypeError, ValueError) as exc:
        bad = next((k for k, v in items.items() if not isinstance(v, (int, float))), "?")
        msg = f"feature {bad!r} must be a number, got {items.get(bad)!r}"
        raise ValueError(msg) from exc
    return FeatureMap(items, _keys(names), row, tail)


def feature_names(features: Mapping[str, float]) -> tuple[str, ...]:
    """The names of ``features`` in order: a :class:`FeatureMap`'s shared tuple (no copy), else a
    new tuple. What per-window code keys its caches on (one name layout per asset kind)."""
    if isinstance(features, FeatureMap):
        return features.key_set.names
    return tuple(features)
