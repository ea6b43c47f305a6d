"""The archive's lineage and input columns: the fast text builders give exactly the compact JSON
of the record's JSON form, for any source name (quotes, backslashes, non-ASCII)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from flows.codec.record_fields import lineage_json, lineage_text, lineage_texts, spans_json, spans_text
from twin_models.records import InputSpan, Lineage

SOURCES = ["kafka:twin.telemetry.scalar.v1:3", 'file:we"ird\\name.csv', "file:pümpe-ß.csv", "sim:seed=7",
           "file:tab\there\u2028.csv"]


@pytest.mark.parametrize("n", [0, 1, 3])
def test_fast_text_is_the_compact_json(n: int) -> None:
    spans = tuple(InputSpan(SOURCES[(i + n) % len(SOURCES)], 10 * i, 10 * i + 2 ** 40) for i in range(n))
    compact = {"separators": (",", ":")}
    assert spans_text(spans) == json.dumps(spans_json(spans), **compact)
    lin = Lineage('0.1.0+"x"', "8b31886510e49858", 3, 411, 2, spans)
    assert lineage_text(lin) == json.dumps(lineage_json(lin), **compact)
    assert json.loads(lineage_text(lin))["inputs"] == spans_json(spans)  # type: ignore[arg-type]
    assert lineage_text(None) is None


def test_lineage_column_is_lineage_text_of_each() -> None:
    """The archive's column form (round 28): the usual lineage (one span, int counts, text version
    and hash) written inline with its head kept, every other one as :func:`lineage_text` writes it."""
    one = (InputSpan("sim:seed=7", 0, 187),)
    many = tuple(InputSpan(s, i, i + 2 ** 40) for i, s in enumerate(SOURCES))
    values: list[Lineage | None] = [Lineage("0.1.0", "a4f4945eafe10967", 0, i, 0, one) for i in range(3)]
    values += [Lineage("0.1.0", "a4f4945eafe10967", 2, 5, 1, (span,)) for span in many]
    values += [None, Lineage("0.1.0", "a4f4945eafe10967", 0, 0, 0, ()),
               Lineage("0.1.0", "a4f4945eafe10967", 1, 2, 3, many),
               Lineage('0.1.0+"x"', "hash-ß", 1, 2, 3, one),  # escaped and non-ASCII heads
               Lineage("0.1.0", "a4f4945eafe10967", 3.7, 2.0, 1, one),  # type: ignore[arg-type]  # int() truncates
               Lineage("0.1.0", "a4f4945eafe10967", True, np.int64(7), 2 ** 70, one),  # type: ignore[arg-type]
               Lineage("0.1.0", "a4f4945eafe10967", 0, 0, 0, (InputSpan("s", 1.5, 2),)),  # type: ignore[arg-type]
               Lineage(1, "h", 0, 0, 0, one), Lineage(1.0, "h", 0, 0, 0, one),  # type: ignore[arg-type]  # equal keys,
               Lineage(True, "h", 0, 0, 0, one)]  # type: ignore[arg-type]  # different texts
    assert lineage_texts(values) == [lineage_text(v) for v in values]
    assert lineage_texts(values[::-1]) == [lineage_text(v) for v in values[::-1]]


def test_lineage_column_keeps_a_percent_and_writes_int_of_any_count() -> None:
    """Round 29's ``%`` format: a ``%`` in a version or config hash (the head of the format) is
    text, not a conversion; counts of other number types are written as ``int()`` of them, a text
    count is parsed as :func:`lineage_text` parses it, and an infinite one raises as it does."""
    from decimal import Decimal
    from fractions import Fraction

    one = (InputSpan("sim:seed=7", 0, 187),)
    values: list[Lineage | None] = [
        Lineage("0.1%d", "100%s-%%", 1, 2, 3, one), Lineage("a%%b", "h", 1, 2, 3, one),  # "%%" would pass
        Lineage("%(x)s", "h", 4, 5, 6, (InputSpan("file:5%.csv", 1, 2),)),
        Lineage("0.1.0", "h", Fraction(7, 2), Decimal("2.9"), np.float32(3.9), one),  # type: ignore[arg-type]
        Lineage("0.1.0", "h", "12", 0, 0, one), Lineage("0.1.0", "h", 0, 0, 0, (InputSpan("s", "3", 4),)),  # type: ignore[arg-type]
    ]
    texts = lineage_texts(values)
    assert texts == [lineage_text(v) for v in values]
    assert json.loads(texts[0])["version"] == "0.1%d" and json.loads(texts[0])["config_hash"] == "100%s-%%"  # type: ignore[arg-type]
    for bad in (math.inf, math.nan):
        lin = Lineage("0.1.0", "h", 0, bad, 0, one)  # type: ignore[arg-type]
        with pytest.raises((OverflowError, ValueError)) as fast:
            lineage_texts([lin])
        with pytest.raises((OverflowError, ValueError)) as slow:
            lineage_text(lin)
        assert fast.type is slow.type
