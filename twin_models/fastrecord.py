"""``dataclasses.replace`` for per-window records, with positional arguments.

``dataclasses.replace`` walks the class's fields for every call (``fields()``, a ``getattr`` and a
dict entry each) and builds the new object through keyword arguments: ~18 us for a 27-field
:class:`~twin_models.records.TwinSnapshot`, once per window (the data-quality annotation).
:func:`replace_record` reads every field at once (one ``operator.attrgetter``, kept per class),
sets the changed ones by position and calls the class with positional arguments: the same
``__init__`` (and ``__post_init__``) runs with the same values, so the new object is equal,
field for field, to ``dataclasses.replace``'s.
"""

from __future__ import annotations

import dataclasses
import operator
from collections.abc import Callable
from functools import lru_cache
from typing import Any, TypeVar

__all__ = ["replace_record"]

_R = TypeVar("_R")


@lru_cache(maxsize=128)
def _layout(cls: type) -> tuple[dict[str, int], Callable[[Any], tuple[Any, ...]]] | None:
    """(field name -> position, getter of every field) of a dataclass whose fields are all
    ``__init__`` parameters in field order; None otherwise (``init=False`` fields, ``InitVar`` or
    ``ClassVar`` pseudo-fields, fewer than 2 fields): :func:`dataclasses.replace` then."""
    declared = getattr(cls, "__dataclass_fields__", None)
    if declared is None:
        return None
    real = dataclasses.fields(cls)
    if len(real) < 2 or len(real) != len(declared) or not all(f.init for f in real):
        return None
    if any(f.kw_only for f in real):  # keyword-only fields cannot be passed by position
        return None
    names = tuple(f.name for f in real)
    return {k: i for i, k in enumerate(names)}, operator.attrgetter(*names)


def replace_record(obj: _R, **changes: Any) -> _R:
    """``dataclasses.replace(obj, **changes)``, built positionally (same class, same values)."""
    layout = _layout(type(obj))  # type: ignore[arg-type]  # a class is hashable
    if layout is None:
        return dataclasses.replace(obj, **changes)  # type: ignore[type-var]
    index, get = layout
    values = list(get(obj))
    for name, value in changes.items():
        at = index.get(name)
        if at is None:  # not a field: the standard call says so
            return dataclasses.replace(obj, **changes)  # type: ignore[type-var]
        values[at] = value
    return type(obj)(*values)
