"""What-if requests from Kafka: decoded exactly, refused with a reason, never raising."""

from __future__ import annotations

import json

import jsonschema
import pytest

from flows import codec
from tests.contract.test_schemas import validator
from tests.whatif_samples import make_request, make_result


def test_a_request_round_trips() -> None:
    req = make_request()
    assert codec.decode_whatif_request(codec.encode_json(req)) == req
    bare = json.loads(codec.encode_json(make_request(dates=())))
    del bare["dates"]  # optional
    assert codec.decode_whatif_request(json.dumps(bare).encode()) == make_request(dates=())


def _doc(**changes: object) -> bytes:
    doc = json.loads(codec.encode_json(make_request()))
    doc.update(changes)
    return json.dumps({k: v for k, v in doc.items() if v != "DROP"}).encode()


@pytest.mark.parametrize(("raw", "reason", "word"), [
    (b"not json", "invalid_json", "not JSON"),
    (b"[1, 2]", "schema_violation", "object"),
    (b'{"request_id": NaN}', "non_finite", "NaN"),
    (_doc(asset_id="DROP"), "schema_violation", "asset_id"),
    (_doc(extra=1), "schema_violation", "extra"),
    (_doc(request_id=""), "schema_violation", "request_id"),
    (_doc(plan=[]), "schema_violation", "plan"),
    (_doc(plan=[{"load": 0.8}]), "schema_violation", "start_s"),
    (_doc(plan=[{"start_s": 0, "load": "high"}]), "schema_violation", "plan[0].load"),
    (_doc(plan=[{"start_s": 0, "load": 7.5}]).replace(b"7.5", b"1e999"), "non_finite", "plan[0].load"),
    (_doc(horizon_s=True), "schema_violation", "horizon_s"),
    (_doc(timestamp="yesterday"), "bad_timestamp", "timestamp"),
    (_doc(dates=["2026-01-25"]), "bad_timestamp", "dates[0]"),
    (b"\xff\xfe", "invalid_json", "not JSON"),
])
def test_bad_requests_are_refused_with_a_reason(raw: bytes, reason: str, word: str) -> None:
    out = codec.decode_whatif_request(raw)
    assert isinstance(out, codec.DecodeError), out
    assert (out.reason, out.raw) == (reason, raw) and word in out.detail, out
    if reason in ("invalid_json", "non_finite"):  # no JSON document (1e999 reads as a float inf)
        return
    doc = json.loads(raw)  # what the codec refuses, the schema refuses too
    with pytest.raises(jsonschema.ValidationError):
        validator("whatif_request").validate(doc)


def test_results_validate_and_keep_nulls() -> None:
    for status in ("ok", "unknown_asset"):
        doc = codec.to_json_dict(make_result(status))
        validator("whatif_result").validate(doc)
    doc = codec.to_json_dict(make_result())
    assert doc["scenario"]["rul_p90_s"] is None and doc["scenario"]["trajectory"][0]["envelope_line"] is None
