"""What-if requests and results <-> JSON (``schemas/whatif_request.v1.json``, ``whatif_result.v1.json``).

:func:`decode_whatif_request` reads a request from Kafka and never raises: a payload that is not
a valid request becomes a :class:`~flows.codec.errors.DecodeError` (reason and detail naming the
field), which the dataflow turns into a dead letter. A plan whose values are out of range is a
valid request: the twin answers it with ``status="invalid"`` and the reason.
"""

from __future__ import annotations

import json
import math
from typing import Any

from flows.codec.errors import DecodeError, Reject, fail
from flows.codec.fields import check_keys, check_number, check_text, format_timestamp, parse_timestamp
from flows.codec.show import show_value
from twin_models.records import (
    MAX_ID_CHARS,
    PlanSegment,
    TrajectoryPoint,
    WhatIfOutcome,
    WhatIfRequest,
    WhatIfResult,
)

__all__ = ["MAX_DATES", "MAX_SEGMENTS", "decode_whatif_request", "request_dict", "result_dict"]

MAX_SEGMENTS = 64
MAX_DATES = 64
_PLAN_KEYS = ("start_s", "load", "speed_hz", "ambient_c", "duty")
_REQUEST = frozenset({"request_id", "asset_id", "timestamp", "plan", "horizon_s"})


def _opt(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def plan_list(plan: tuple[PlanSegment, ...]) -> list[dict[str, float | None]]:
    """A plan's segments as JSON objects (None = as now)."""
    return [{k: _opt(getattr(s, k)) for k in _PLAN_KEYS} for s in plan]


def request_dict(r: WhatIfRequest) -> dict[str, Any]:
    """A request -> its ``whatif_request.v1`` document."""
    return {"request_id": check_text("request_id", r.request_id, 1, MAX_ID_CHARS),
            "asset_id": check_text("asset_id", r.asset_id, 1, MAX_ID_CHARS),
            "timestamp": format_timestamp(r.timestamp), "plan": plan_list(r.plan),
            "horizon_s": float(r.horizon_s), "dates": [format_timestamp(d) for d in r.dates]}


def _point(p: TrajectoryPoint) -> dict[str, Any]:
    return {"at": format_timestamp(p.at), "indicator": _opt(p.indicator),
            "failure_feature": _opt(p.failure_feature), "envelope_line": _opt(p.envelope_line),
            "temperature_c": _opt(p.temperature_c)}


def _outcome(o: WhatIfOutcome | None) -> dict[str, Any] | None:
    if o is None:
        return None
    p_failure = [{"date": format_timestamp(d), "p": min(max(float(p), 0.0), 1.0)} for d, p in o.p_failure]
    return {"rul_median_s": _opt(o.rul_median_s), "rul_p10_s": _opt(o.rul_p10_s),
            "rul_p90_s": _opt(o.rul_p90_s), "p_failure": p_failure,
            "trajectory": [_point(p) for p in o.trajectory]}


def result_dict(r: WhatIfResult) -> dict[str, Any]:
    """A result -> its ``whatif_result.v1`` document (non-finite optional numbers as null)."""
    return {"request_id": r.request_id, "asset_id": r.asset_id, "timestamp": format_timestamp(r.timestamp),
            "status": r.status, "reason": r.reason, "horizon_s": _opt(r.horizon_s), "plan": plan_list(r.plan),
            "damage": _opt(r.damage), "defect": r.defect, "scenario": _outcome(r.scenario),
            "baseline": _outcome(r.baseline)}


def _segment(i: int, obj: Any) -> PlanSegment:
    what = f"plan[{i}]"
    check_keys(obj, frozenset({"start_s"}), frozenset(_PLAN_KEYS), what)
    values = {k: None if obj.get(k) is None else check_number(f"{what}.{k}", obj[k]) for k in _PLAN_KEYS}
    if values["start_s"] is None:
        fail("schema_violation", f"{what}.start_s must be a number, got null")
    return PlanSegment(**values)  # type: ignore[arg-type]


def _list(name: str, value: Any, lo: int, hi: int) -> list[Any]:
    if not isinstance(value, list) or not lo <= len(value) <= hi:
        fail("schema_violation", f"{name} must be a list of {lo}..{hi} items, got {show_value(value)}")
    return value


def _request(doc: Any) -> WhatIfRequest:
    check_keys(doc, _REQUEST, frozenset({"dates"}), "what-if request")
    plan = tuple(_segment(i, s) for i, s in enumerate(_list("plan", doc["plan"], 1, MAX_SEGMENTS)))
    dates = tuple(parse_timestamp(d, f"dates[{i}]")
                  for i, d in enumerate(_list("dates", doc.get("dates", []), 0, MAX_DATES)))
    return WhatIfRequest(check_text("request_id", doc["request_id"], 1, MAX_ID_CHARS),
                         check_text("asset_id", doc["asset_id"], 1, MAX_ID_CHARS),
                         parse_timestamp(doc["timestamp"], "timestamp"), plan,
                         check_number("horizon_s", doc["horizon_s"]), dates)


def decode_whatif_request(raw: bytes) -> WhatIfRequest | DecodeError:
    """Bytes -> a request, or the reason it is none (never raises)."""
    try:
        doc = json.loads(raw, parse_constant=lambda c: fail("non_finite", f"{c} is not a JSON number"))
    except Reject as exc:
        return DecodeError(exc.reason, str(exc), raw)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        return DecodeError("invalid_json", f"not JSON: {str(exc)[:200]}", raw)
    try:
        return _request(doc)
    except Reject as exc:
        return DecodeError(exc.reason, str(exc), raw)
    except ValueError as exc:  # parse_timestamp raises ValueError with reason bad_timestamp
        return DecodeError(getattr(exc, "reason", "schema_violation"), str(exc), raw)
