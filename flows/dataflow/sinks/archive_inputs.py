"""The ``features`` table's ``inputs`` column (digital thread) built by Arrow, not per window.

The archive's ``inputs`` value of a window is the compact JSON text of its input spans
(:func:`flows.codec.record_fields.spans_text`: ``[{"source":"...","first":N,"last":M},...]``).
Built per window with one f-string that is ~1-1.5 us, about half of the whole conversion of a
window for the archive sink (issue 10, ARCHIVE6). Here the spans of a whole write are
flattened once (three C-level passes), each distinct source is JSON-quoted once, the integers
are formatted by Arrow's cast, and the texts are assembled with Arrow's string joins: the same
text, byte for byte (``tests/unit/test_archive_inputs.py``), so the archive schema and every
reader are unchanged. A value Arrow cannot take (an integer beyond int64) falls back to the
per-window text.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import chain
from operator import attrgetter
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from flows.codec.record_fields import _text, spans_text

__all__ = ["inputs_column"]

_SOURCE, _FIRST, _LAST = attrgetter("source"), attrgetter("first"), attrgetter("last")


def inputs_column(spans: Sequence[Sequence[Any]]) -> pa.Array:
    """One ``string`` value per window: ``spans_text(spans[i])``, built column-wise."""
    try:
        return _joined(spans)
    except (pa.ArrowException, TypeError, ValueError, OverflowError):  # e.g. an int beyond int64
        return pa.array(list(map(spans_text, spans)), pa.string())


def _joined(spans: Sequence[Sequence[Any]]) -> pa.Array:
    """The texts by Arrow's string kernels (raises what Arrow raises on an odd value)."""
    n = len(spans)
    counts = np.fromiter(map(len, spans), np.int64, n)
    flat = list(chain.from_iterable(spans))
    if not flat:
        return pa.array(["[]"] * n, pa.string())
    sources = pa.array(list(map(_SOURCE, flat)), pa.string()).dictionary_encode()
    quoted = pa.array(list(map(_text, sources.dictionary.to_pylist())), pa.string()).take(sources.indices)
    first = pa.array(list(map(_FIRST, flat)), pa.int64()).cast(pa.string())
    last = pa.array(list(map(_LAST, flat)), pa.int64()).cast(pa.string())
    if len(flat) == n and bool((counts == 1).all()):  # the common case: one span per window
        return _span_texts(quoted, first, last, "[", "]")
    one = _span_texts(quoted, first, last, "", "")
    offsets = np.zeros(n + 1, np.int64)
    np.cumsum(counts, out=offsets[1:])
    joined = pc.binary_join(pa.LargeListArray.from_arrays(pa.array(offsets), one), ",")
    return pc.binary_join_element_wise("[", joined, "]", "").cast(pa.string())


def _span_texts(quoted: pa.Array, first: pa.Array, last: pa.Array, before: str, after: str) -> pa.Array:
    """``before + {"source":<quoted>,"first":<first>,"last":<last>} + after`` per span."""
    parts = [before + '{"source":', quoted, ',"first":', first, ',"last":', last, "}" + after]
    return pc.binary_join_element_wise(*parts, "")
