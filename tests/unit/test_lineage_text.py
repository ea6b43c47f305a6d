"""The archive's lineage and input columns: the fast text builders give exactly the compact JSON
of the record's JSON form, for any source name (quotes, backslashes, non-ASCII)."""

from __future__ import annotations

import json

import pytest

from flows.codec.record_fields import lineage_json, lineage_text, spans_json, spans_text
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
