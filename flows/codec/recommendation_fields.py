"""The recommendation record's fields (issue 11, level 4): JSON ``recommendation.v1`` on
``twin.recommendations.v1`` and the archive table ``recommendations``.

The chosen plan and the options are nested objects in JSON and JSON text in the archive (query
them with DuckDB's ``json_extract``: ``chosen->>'plan'``).
"""

from __future__ import annotations

import json
from typing import Any

from flows.codec.fields import format_timestamp
from flows.codec.json_columns import optional_number as _opt
from flows.codec.record_fields import (
    ID,
    LINEAGE,
    LINEAGE_TEXT,
    NUMBER,
    OPT_TEXT,
    TEXT,
    TIME,
    Field,
    Form,
    RecordMapping,
)
from twin_models.records import PlanOption, Recommendation

__all__ = ["RECOMMENDATION", "plan_json"]


def plan_json(o: PlanOption) -> dict[str, Any]:
    """One plan option as its JSON object."""
    return {"plan": o.plan, "load_fraction": _opt(o.load_fraction),
            "until": None if o.until is None else format_timestamp(o.until),
            "p_failure": _opt(o.p_failure), "expected_cost": _opt(o.expected_cost),
            "rul_median_s": _opt(o.rul_median_s)}


def _plan_text(o: PlanOption) -> str:
    return json.dumps(plan_json(o), separators=(",", ":"))


def _plans_text(options: tuple[PlanOption, ...]) -> str:
    return json.dumps([plan_json(o) for o in options], separators=(",", ":"))


PLAN = Form(lambda v, n, o: plan_json(v), _plan_text, "string", False)  # archive: JSON text
PLANS = Form(lambda v, n, o: [plan_json(x) for x in v], _plans_text, "string", False)  # archive: JSON text

RECOMMENDATION: RecordMapping = RecordMapping(
    Recommendation, "recommendation", "recommendations", (
        Field("recommendation_id", TEXT, "Deterministic id (asset, life, event time): replays give the "
              "same ids; the key of the archive table."),
        Field("asset_id", ID, "The asset (Kafka key)."),
        Field("kind", TEXT, "The asset's kind (its costs come from it)."),
        Field("timestamp", TIME, "Event time the recommendation was made at (end of the window)."),
        Field("alert_id", OPT_TEXT, "The alert episode it answers; null = made without an open alert."),
        Field("chosen", PLAN, "The recommended plan: {plan, load_fraction, until, p_failure, expected_cost, "
              "rul_median_s} (archive: JSON text)."),
        Field("options", PLANS, "Every plan weighed, as_is first (archive: JSON text)."),
        Field("expected_saving", NUMBER, "Expected cost of as_is minus that of the chosen plan."),
        Field("currency", TEXT, "Currency of the costs (the prescribe.currency setting)."),
        Field("explanation", TEXT, "The plan, its risk against running as is, the expected saving."),
        Field("lineage", LINEAGE, LINEAGE_TEXT),
    ),
    columns=("recommendation_id", "asset_id", "date", "kind", "timestamp", "alert_id", "chosen", "options",
             "expected_saving", "currency", "explanation", "lineage"),
    date_of="timestamp", owner=lambda r: f"recommendation {r.recommendation_id!r}",
)
