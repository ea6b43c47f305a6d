"""The command path's records (issue 11, level 5): their JSON form, the ``audit`` archive table, and
the readers of decisions and audit entries.

``command.v1`` (topic ``twin.commands.v1``), ``audit.v1`` (topic ``twin.audit.v1`` and the archive
table ``audit``) and ``command_decision.v1`` (topic ``twin.commands.decisions.v1``, written by
``twin commands approve|reject`` and read by ``twin run``) are declared here like the other records
in :mod:`flows.codec.record_fields`. The readers never trust their input: a decision or an audit
entry that is not exactly its schema is refused with a :class:`~flows.codec.errors.Reject` naming
the field (a bad decision on the topic becomes a dead letter; it never reaches a guard).
"""

from __future__ import annotations

import json
import re
from typing import Any

from flows.codec.errors import fail
from flows.codec.fields import check_keys, check_number, check_text, format_timestamp, parse_timestamp
from flows.codec.record_fields import (
    COUNT,
    ID,
    LINEAGE,
    LINEAGE_TEXT,
    MAPPINGS,
    NUMBER,
    OPT_TEXT,
    TEXT,
    TIME,
    Field,
    Form,
)
from flows.codec.record_fields import RecordMapping as Mapping
from flows.codec.show import show_value
from twin_models.records import (
    AUDIT_ACTIONS,
    COMMAND_MODES,
    DECISIONS,
    MAX_ID_CHARS,
    MAX_NOTE_CHARS,
    AuditEntry,
    Command,
    CommandDecision,
    InputSpan,
    Lineage,
)

__all__ = ["ARCHIVE_MAPPINGS", "AUDIT", "COMMAND", "COMMAND_DECISION", "audit_from_json",
           "decision_from_json",
           "lineage_of"]

OPT_TIME = Form(lambda v, n, o: None if v is None else format_timestamp(v), lambda v: v,
                "timestamp[us, tz=UTC]", True)

COMMAND = Mapping(
    Command, "command", "commands", (
        Field("command_id", ID, "Deterministic id of the command (recommendation and parameter)."),
        Field("asset_id", ID, "The asset (Kafka key)."),
        Field("kind", TEXT, "The asset's kind (its guard rails)."),
        Field("parameter", TEXT, "The setpoint changed (load_limit: fraction of rated load)."),
        Field("value", NUMBER, "The new value."),
        Field("previous_value", NUMBER, "The value it replaces (last sent, else the rail's maximum)."),
        Field("until", OPT_TIME, "Until when the value holds (the next planned stop); null = until changed."),
        Field("reason", TEXT, "Why, in words (the recommendation's explanation)."),
        Field("recommendation_id", TEXT, "The recommendation it carries out."),
        Field("alert_id", OPT_TEXT, "The alert episode it answers; null = none."),
        Field("created_at", TIME, "When it was proposed (the recommendation's time)."),
        Field("expires_at", TIME, "Not sent after this time."),
        Field("mode", TEXT, "The command mode that proposed it: advise, approve or auto."),
        Field("issued_at", OPT_TIME, "When it was sent; null = not sent."),
        Field("approved_by", OPT_TEXT, "Who approved it; null = auto mode or not approved."),
        Field("lineage", LINEAGE, LINEAGE_TEXT),
    ),
    columns=("command_id", "asset_id", "date", "kind", "parameter", "value", "previous_value", "until",
             "reason", "recommendation_id", "alert_id", "created_at", "expires_at", "mode", "issued_at",
             "approved_by",
             "lineage"),
    date_of="created_at", owner=lambda c: f"command {c.command_id!r}",
)

AUDIT = Mapping(
    AuditEntry, "audit", "audit", (
        Field("entry_id", TEXT, "Deterministic id of the entry (command and sequence)."),
        Field("command_id", TEXT, "The command the entry is about."),
        Field("asset_id", ID, "The asset (Kafka key; archive: first column)."),
        Field("kind", TEXT, "The asset's kind ('' for an ignored decision)."),
        Field("action", TEXT, "proposed, advised, approved, rejected, sent, refused, expired, superseded "
              "or ignored."),
        Field("timestamp", TIME, "When it happened (event time of a proposal; decision time)."),
        Field("actor", TEXT, "twinflow, or the person who decided."),
        Field("mode", TEXT, "The effective command mode: off, advise, approve or auto."),
        Field("reason", TEXT, "Why, in words (a refusal names the guard rail)."),
        Field("parameter", TEXT, "The setpoint ('' for an ignored decision)."),
        Field("value", NUMBER, "The command's value."),
        Field("previous_value", NUMBER, "The value it replaces."),
        Field("expires_at", TIME, "When the command expires."),
        Field("recommendation_id", TEXT, "The recommendation behind the command."),
        Field("alert_id", OPT_TEXT, "The alert episode the command answers; null = none."),
        Field("sequence", COUNT, "Position of the entry in its command's log (1 = proposed; 0 = ignored)."),
        Field("lineage", LINEAGE, LINEAGE_TEXT),
    ),
    columns=("entry_id", "asset_id", "date", "command_id", "sequence", "action", "timestamp", "actor", "mode",
             "reason", "kind", "parameter", "value", "previous_value", "expires_at", "recommendation_id",
             "alert_id", "lineage"),
    date_of="timestamp", owner=lambda e: f"audit entry {e.entry_id!r}",
)

COMMAND_DECISION = Mapping(
    CommandDecision, "command_decision", "command_decisions", (
        Field("command_id", ID, "The pending command decided on."),
        Field("asset_id", ID, "Its asset (Kafka key: the decision reaches that asset's guard)."),
        Field("decision", TEXT, "approve or reject."),
        Field("actor", ID, "Who decided."),
        Field("timestamp", TIME, "When."),
        Field("reason", TEXT, "Why, in words (may be empty)."),
    ),
    columns=("command_id", "asset_id", "date", "decision", "actor", "timestamp", "reason"),
    date_of="timestamp", owner=lambda d: f"decision on {d.command_id!r}",
)

ARCHIVE_MAPPINGS: tuple[Mapping, ...] = (*MAPPINGS, AUDIT)
"""Every archive table's record mapping, in table order: features, twin_state, alerts, audit."""


def _object(payload: bytes, what: str) -> dict[str, Any]:
    try:
        obj = json.loads(payload)
    except (ValueError, UnicodeDecodeError, RecursionError):  # [[[[... (round 36: it stopped the flow)
        fail("invalid_json", f"{what} is not UTF-8 JSON")
    if not isinstance(obj, dict):
        fail("invalid_json", f"{what} is not a JSON object")
    return obj


def _choice(name: str, value: Any, choices: tuple[str, ...]) -> str:
    if value not in choices:
        fail("schema_violation", f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return str(value)


def decision_from_json(payload: bytes) -> CommandDecision:
    """``command_decision.v1`` bytes -> a decision (``Reject`` naming the field otherwise)."""
    obj = _object(payload, "decision")
    names = frozenset(f.name for f in COMMAND_DECISION.fields)
    check_keys(obj, names - {"reason"}, frozenset({"reason"}), "decision")
    return CommandDecision(
        check_text("command_id", obj["command_id"], 1, MAX_ID_CHARS),
        check_text("asset_id", obj["asset_id"], 1, MAX_ID_CHARS),
        _choice("decision", obj["decision"], DECISIONS),  # type: ignore[arg-type]
        _actor(obj["actor"]),
        parse_timestamp(obj["timestamp"]),
        check_text("reason", obj.get("reason", ""), 0, MAX_NOTE_CHARS),
    )


_UNSEEN = ((0x00, 0x1F), (0x7F, 0x9F), (0xAD, 0xAD), (0x600, 0x605), (0x61C, 0x61C), (0x6DD, 0x6DD),
           (0x70F, 0x70F), (0x890, 0x891), (0x8E2, 0x8E2), (0x180E, 0x180E), (0x200B, 0x200F),
           (0x2028, 0x202E), (0x2060, 0x2064), (0x2066, 0x206F), (0xFEFF, 0xFEFF), (0xFFF9, 0xFFFB),
           (0x110BD, 0x110BD), (0x110CD, 0x110CD), (0x13430, 0x13438), (0x1BCA0, 0x1BCA3),
           (0x1D173, 0x1D17A), (0xE0001, 0xE0001), (0xE0020, 0xE007F))
"""Code points of Unicode (14.0, Python 3.11's) categories Cc (C0, DEL, C1 controls), Cf (invisible
formatting: U+202E turns the text after it around, U+200B is a space one cannot see), Zl and Zp (line
and paragraph separators), which ``str.isprintable`` and so the CLI's ``--actor`` refuse."""
ACTOR_REFUSED = "[" + "".join(f"{chr(a)}-{chr(b)}" for a, b in _UNSEEN) + "]"
"""The ``actor`` pattern (the characters themselves) the schemas ``command_decision.v1`` and
``audit.v1`` hold under ``not``, and the readers search."""
_UNSEEN_RE = re.compile(ACTOR_REFUSED)


def _actor(value: Any) -> str:
    """Who decided: no control character (round 25: the decoder kept one the CLI's ``--actor``
    refuses; audited and shown as a name, an escape sequence there is no one's name), nor an invisible
    formatting character or line separator (round 26: ``eve\u202e`` was kept, shown escaped, where
    the CLI refuses it). Spaces and other text stay data. The audit reader reads it so too."""
    actor = check_text("actor", value, 1, MAX_ID_CHARS)
    bad = _UNSEEN_RE.search(actor)
    if bad:
        fail("schema_violation", f"actor holds a control or invisible formatting character "
                                 f"U+{ord(bad.group()):04X}: {show_value(actor)}")
    return actor


def lineage_of(obj: Any) -> Lineage | None:
    """A lineage JSON object -> :class:`Lineage` (None stays None)."""
    if obj is None:
        return None
    spans = tuple(InputSpan(str(s["source"]), int(s["first"]), int(s["last"])) for s in obj["inputs"])
    return Lineage(str(obj["version"]), str(obj["config_hash"]), int(obj["life_id"]),
                   int(obj["learned_windows"]), int(obj["fleet_model_version"]), spans)


def _text(obj: dict[str, Any], name: str, lo: int = 1, hi: int = MAX_ID_CHARS) -> str:
    return check_text(name, obj[name], lo, hi)


def _sequence(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        fail("schema_violation", f"sequence must be an integer >= 0, got {value!r}")
    return value


def audit_from_json(payload: bytes) -> AuditEntry:
    """``audit.v1`` bytes -> an audit entry (``Reject`` naming the field otherwise)."""
    obj = _object(payload, "audit entry")
    check_keys(obj, frozenset(f.name for f in AUDIT.fields), frozenset(), "audit entry")
    try:
        lineage = lineage_of(obj["lineage"])
    except (KeyError, TypeError, ValueError):
        fail("schema_violation", "audit entry lineage is not a lineage object")
    alert = obj["alert_id"]
    return AuditEntry(
        _text(obj, "entry_id"), _text(obj, "command_id"), _text(obj, "asset_id"), _text(obj, "kind", 0),
        _choice("action", obj["action"], AUDIT_ACTIONS),  # type: ignore[arg-type]
        parse_timestamp(obj["timestamp"]), _actor(obj["actor"]),
        _choice("mode", obj["mode"], COMMAND_MODES),  # type: ignore[arg-type]
        _text(obj, "reason", 0, MAX_NOTE_CHARS), _text(obj, "parameter", 0),
        check_number("value", obj["value"]), check_number("previous_value", obj["previous_value"]),
        parse_timestamp(obj["expires_at"], "expires_at"), _text(obj, "recommendation_id", 0),
        None if alert is None else check_text("alert_id", alert, 1, MAX_ID_CHARS),
        _sequence(obj["sequence"]), lineage,
    )
