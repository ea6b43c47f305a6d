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
from functools import lru_cache
from itertools import chain
from operator import attrgetter
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from flows.codec.record_fields import _text, spans_text
from twin_models.records import InputSpan

__all__ = ["flat_inputs_column", "inputs_column", "source_codes"]

_SOURCE, _FIRST, _LAST = attrgetter("source"), attrgetter("first"), attrgetter("last")


def inputs_column(spans: Sequence[Sequence[Any]]) -> pa.Array:
    """One ``string`` value per window: ``spans_text(spans[i])``, built column-wise."""
    flat = list(chain.from_iterable(spans))
    counts = np.fromiter(map(len, spans), np.int64, len(spans))
    distinct, codes = source_codes(list(map(_SOURCE, flat)))
    return flat_inputs_column(counts, distinct, codes, list(map(_FIRST, flat)), list(map(_LAST, flat)))


def source_codes(sources: list[str]) -> tuple[list[str], np.ndarray]:
    """The distinct sources (first appearance) and each span's position among them (one C
    pass when every span has the same source, as a live run's windows of one partition do)."""
    if sources and sources.count(sources[0]) == len(sources):
        return sources[:1], np.zeros(len(sources), np.intp)
    distinct = list(dict.fromkeys(sources))
    at = dict(zip(distinct, range(len(distinct)), strict=True))
    return distinct, np.fromiter(map(at.__getitem__, sources), np.intp, len(sources))


def flat_inputs_column(counts: np.ndarray, sources: list[str], codes: np.ndarray,
                       first: np.ndarray | Sequence[Any], last: np.ndarray | Sequence[Any]) -> pa.Array:
    """:func:`inputs_column` of spans given flattened: ``counts[i]`` spans for window i, their
    sources ``sources[codes]``, their bounds ``first`` / ``last`` (what a
    :class:`~.feature_blocks.FeatureBlock` holds)."""
    try:
        return _joined(counts, sources, codes, first, last)
    except (pa.ArrowException, TypeError, ValueError, OverflowError):  # e.g. an int beyond int64
        flat = [sources[c] for c in codes.tolist()]
        spans = [InputSpan(s, int(f), int(la)) for s, f, la in zip(flat, first, last, strict=True)]
        ends = np.cumsum(counts).tolist()
        texts = [spans_text(spans[e - c:e]) for e, c in zip(ends, counts.tolist(), strict=True)]
        return pa.array(texts, pa.string())


def _joined(counts: np.ndarray, sources: list[str], codes: np.ndarray, first: np.ndarray | Sequence[Any],
            last: np.ndarray | Sequence[Any]) -> pa.Array:
    """The texts by Arrow's string kernels (raises what Arrow raises on an odd value)."""
    n = len(counts)
    if not len(codes):
        return pa.array(["[]"] * n, pa.string())
    quoted: pa.Array | str  # one source (a live flush): its text goes into the constant prefix
    if len(sources) == 1:
        quoted = _quoted(sources[0])
    else:
        quoted = pa.array(list(map(_text, sources)), pa.string()).take(pa.array(codes))
    if _int64(first) and _int64(last):
        bounds = pa.array(np.concatenate((first, last))).cast(pa.string())  # one conversion, not three
    else:  # lists, or object arrays (an integer beyond int64 raises here: the per-window text then)
        bounds = pa.concat_arrays([pa.array(first, pa.int64()), pa.array(last, pa.int64())]).cast(pa.string())
    first_text, last_text = bounds.slice(0, len(codes)), bounds.slice(len(codes))
    if len(codes) == n and bool((counts == 1).all()):  # the common case: one span per window
        return _span_texts(quoted, first_text, last_text, "[", "]")
    one = _span_texts(quoted, first_text, last_text, "", "")
    offsets = np.zeros(n + 1, np.int64)
    np.cumsum(counts, out=offsets[1:])
    joined = pc.binary_join(pa.LargeListArray.from_arrays(pa.array(offsets), one), ",")
    return pc.binary_join_element_wise(_OPEN, joined, _END, _EMPTY).cast(pa.string())


def _int64(values: np.ndarray | Sequence[Any]) -> bool:
    """Whether ``values`` is an int64 NumPy array (a block's span bounds, unless one is beyond it)."""
    return isinstance(values, np.ndarray) and values.dtype == np.int64


_quoted = lru_cache(maxsize=64)(_text)
"""A source's JSON text, kept (a run has a source or two per partition)."""
_LAST_SEP, _OPEN, _END, _EMPTY = (pa.scalar(t, pa.string()) for t in (',"last":', "[", "]", ""))
_CLOSE = {"": pa.scalar("}", pa.string()), "]": pa.scalar("}]", pa.string())}
_PREFIXES: dict[str, pa.Scalar] = {}
"""Constant parts of the texts as Arrow scalars made once: a kernel call given Python strings
converts each of them per call (round 23: the one-source column 65 -> 40 us per 192-window
flush, 354 -> 315 per 2,400; ``timeit`` min, RESULTS.md part ARCHIVE24)."""


def _prefix(text: str) -> pa.Scalar:
    """``text`` as a kept string scalar (a run has a source or two per partition: kept up to 64)."""
    made = _PREFIXES.get(text)
    if made is None:
        if len(_PREFIXES) >= 64:
            _PREFIXES.clear()
        made = _PREFIXES[text] = pa.scalar(text, pa.string())
    return made


def _span_texts(quoted: pa.Array | str, first: pa.Array, last: pa.Array, before: str,
                after: str) -> pa.Array:
    """``before + {"source":<quoted>,"first":<first>,"last":<last>} + after`` per span.

    With one source (a live flush) its text is folded into a kept prefix and the text is one
    join of five parts, every constant a kept scalar (round 23: fewer kernel calls than the two
    joins of ARCHIVE9, whose seven-part join converted its constants per call). Several
    sources: two joins (the bounds, then the rest)."""
    close = _CLOSE[after]
    if isinstance(quoted, str):
        prefix = _prefix(before + '{"source":' + quoted + ',"first":')
        return pc.binary_join_element_wise(prefix, first, _LAST_SEP, last, close, _EMPTY)
    bounds = pc.binary_join_element_wise(first, last, _LAST_SEP)
    return pc.binary_join_element_wise(_prefix(before + '{"source":'), quoted, _prefix(',"first":'), bounds,
                                       close, _EMPTY)
