"""A window's features carried columnar: one NumPy row and a shared key sequence.

A :class:`~twin_models.records.FeatureVector` maps ``<channel>.<feature>`` names to numbers. Every
window of an asset kind has the same names in the same order, so :func:`feature_map` stores the
names once per distinct sequence (:class:`FeatureKeys`, interned: every window with those names
holds the SAME object) and each window's values as one ``float64`` row, kept as the immutable bytes
of the row (``raw``; :attr:`FeatureMap.row` is the read-only NumPy view). Consumers see a
read-only ``Mapping[str, float]`` (Python floats, the order given), as the dict it replaces; the
archive sink (issue 10: its write rate) groups windows by their ``FeatureKeys`` object and stacks
their rows into one matrix with a single copy (``bytes.join`` of the ``raw`` buffers: one object
per window to read, its values inline) instead of reading ~50 values out of every dict.

Pickled (recovery state) and copied it stays what it was: a pickle holds a plain ``dict`` of the
same items (so state written before and after this module reads alike), and a copy is the object
itself (it is immutable).
"""

from __future__ import annotations

import struct
from collections.abc import ItemsView, Iterator, KeysView, Mapping, ValuesView
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["MAX_INTERNED", "FeatureKeys", "FeatureMap", "feature_map"]

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


_VALUE_AT = struct.Struct("=d").unpack_from


class FeatureMap(Mapping[str, float]):
    """Read-only ``name -> value`` over shared ``key_set`` and ``raw``, the bytes of a float64 row.

    Built by :func:`feature_map`. Values come out as Python floats (NaN where the window's value
    was NaN); iteration follows the names' order. Equal to any mapping with equal items."""

    __slots__ = ("key_set", "raw")
    key_set: FeatureKeys
    raw: bytes

    def __init__(self, key_set: FeatureKeys, row: npt.NDArray[np.float64]) -> None:
        if row.shape != (len(key_set.names),) or row.dtype != np.float64:
            want = len(key_set.names)
            msg = f"a feature row must be float64 of shape ({want},), got {row.dtype} {row.shape}"
            raise ValueError(msg)
        object.__setattr__(self, "key_set", key_set)
        object.__setattr__(self, "raw", row.astype("=f8", copy=False).tobytes())

    @property
    def row(self) -> npt.NDArray[np.float64]:
        """The values as a read-only float64 NumPy row (a view of ``raw``)."""
        return np.frombuffer(self.raw, np.float64)

    def __setattr__(self, name: str, value: object) -> None:
        msg = f"FeatureMap is read-only (tried to set {name!r})"
        raise AttributeError(msg)

    def __getitem__(self, name: str) -> float:
        return _VALUE_AT(self.raw, 8 * self.key_set.index[name])[0]  # type: ignore[no-any-return]

    def get(self, name: str, default: Any = None) -> Any:
        i = self.key_set.index.get(name)
        return default if i is None else _VALUE_AT(self.raw, 8 * i)[0]

    def __contains__(self, name: object) -> bool:
        return name in self.key_set.index

    def __iter__(self) -> Iterator[str]:
        return iter(self.key_set.names)

    def __len__(self) -> int:
        return len(self.key_set.names)

    def as_dict(self) -> dict[str, float]:
        """The items as a new plain dict (Python floats)."""
        return dict(zip(self.key_set.names, memoryview(self.raw).cast("d").tolist(), strict=True))

    def keys(self) -> KeysView[str]:
        return self.as_dict().keys()

    def items(self) -> ItemsView[str, float]:
        return self.as_dict().items()

    def values(self) -> ValuesView[float]:
        return self.as_dict().values()

    def __eq__(self, other: object) -> bool:
        if isinstance(other, FeatureMap):
            return self.key_set.names == other.key_set.names and self.as_dict() == other.as_dict()
        if isinstance(other, Mapping):
            return self.as_dict() == dict(other.items())
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"FeatureMap({self.as_dict()!r})"

    def __reduce__(self) -> tuple[type, tuple[dict[str, float]]]:
        """Pickled as the plain dict of its items (the form recovery state always had)."""
        return (dict, (self.as_dict(),))

    def __copy__(self) -> FeatureMap:
        return self

    def __deepcopy__(self, memo: dict[int, object]) -> FeatureMap:
        return self


def feature_map(features: Mapping[str, float]) -> FeatureMap:
    """``features`` (names -> numbers, in their order) as a :class:`FeatureMap` whose key set is
    shared with every other map of the same names. ``ValueError`` for a value ``float()`` refuses."""
    if isinstance(features, FeatureMap):
        return features
    names = tuple(features)
    try:
        row = np.fromiter(features.values(), np.float64, len(names))
    except (TypeError, ValueError) as exc:
        bad = next((k for k, v in features.items() if not isinstance(v, (int, float))), "?")
        msg = f"feature {bad!r} must be a number, got {features.get(bad)!r}"
        raise ValueError(msg) from exc
    return FeatureMap(_keys(names), row)
