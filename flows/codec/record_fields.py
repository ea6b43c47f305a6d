"""One mapping for each output record: the fields of FeatureVector, TwinSnapshot and Alert, with
their JSON form (``schemas/*.v1.json``) and their Parquet archive column, in one table.

A field is written through a :class:`Form`: how its value becomes JSON, how it becomes an
archive value, and the archive column's Arrow type. A :class:`RecordMapping` lists a record's
fields in JSON order and its archive columns in table order (the same fields plus the ``date``
partition derived from a timestamp); it refuses at import a field without a column or a column
without a field, and ``tests/contract/test_schemas.py`` checks the fields against the record's
slots and the JSON schema, so a new record field appears in both forms or the tests fail.

The two forms differ on purpose in a few places, kept exactly as published: JSON turns a non-finite
optional number into null and refuses a non-finite required one, while the archive keeps required
numbers as they are; the archive writes ``top_features``/``context`` as JSON text, the events of a
window as comma-joined kinds, and one ``double`` column per feature name instead of a map.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

from flows.codec.fields import check_text, format_timestamp
from flows.codec.json_columns import distinct_texts, map_texts, optional_numbers, pairs_texts
from flows.codec.json_columns import optional_number as _opt
from flows.codec.json_telemetry import event_dict
from twin_models.records import (
    MAX_ID_CHARS,
    Alert,
    DamageCheckpoint,
    FeatureVector,
    InputSpan,
    Lineage,
    TwinSnapshot,
)

__all__ = ["ALERT", "DAMAGE_CHECKPOINT", "FEATURE_VECTOR", "MAPPINGS", "TWIN_SNAPSHOT", "Column", "Field",
           "Form",
           "RecordMapping"]

TIMESTAMP_TYPE = "timestamp[us, tz=UTC]"
"""Arrow type names are pyarrow's own (``str(pa.timestamp("us", tz="UTC"))``)."""


def _req(x: float, name: str, owner: str) -> float:
    """Required number: must be finite to be written as JSON."""
    if not math.isfinite(x):
        msg = f"{name} of {owner} must be finite to be written, got {x!r}"
        raise ValueError(msg)
    return float(x)


def _same(x: Any) -> Any:
    return x


def _number_map(v: dict[str, float]) -> dict[str, float | None]:
    return {str(k): _opt(x) for k, x in v.items()}


@dataclass(frozen=True, slots=True)
class Form:
    """How one kind of value is written: as JSON (``to_json(value, name, owner)``), as an
    archive value (``to_archive``; None = spread over open columns) and the column's Arrow type;
    ``column``, if given, makes a column of archive values at once (``[to_archive(v) for v in
    values]``, faster: :mod:`flows.codec.json_columns`)."""

    to_json: Callable[[Any, str, str], Any]
    to_archive: Callable[[Any], Any] | None
    arrow: str
    nullable: bool
    column: Callable[[list[Any]], list[Any]] | None = None


ID = Form(lambda v, n, o: check_text(n, v, 1, MAX_ID_CHARS), _same, "string", False)
TEXT: Form = Form(lambda v, n, o: v, _same, "string", False)
OPT_TEXT = Form(lambda v, n, o: v, _same, "string", True)
TIME = Form(lambda v, n, o: format_timestamp(v), _same, TIMESTAMP_TYPE, False)
NUMBER = Form(_req, _same, "double", False)
OPT_NUMBER = Form(lambda v, n, o: _opt(v), _opt, "double", True, optional_numbers)
FLAG = Form(lambda v, n, o: bool(v), _same, "bool", False)
COUNT = Form(lambda v, n, o: int(v), _same, "int64", False)
PAIRS = Form(lambda v, n, o: [[str(name), _opt(z)] for name, z in v],
             lambda v: json.dumps(list(v)), "string", False, pairs_texts)  # archive: JSON text
NUMBER_MAP = Form(lambda v, n, o: _number_map(v), json.dumps, "string", False,
                  map_texts)  # archive: JSON text
EVENTS = Form(lambda v, n, o: [event_dict(e) for e in v],  # archive: comma-joined kinds
              lambda v: ",".join([e.kind for e in v]) if v else "", "string", False)
def _quality_text(v: Iterable[tuple[str, str, str]]) -> str:
    return json.dumps([{"channel": c, "state": s, "check": k} for c, s, k in v])


QUALITY = Form(lambda v, n, o: [{"channel": c, "state": s, "check": k} for c, s, k in v], _quality_text,
               "string", False, lambda values: distinct_texts(values, _quality_text))  # archive: JSON text
FEATURE_COLUMNS = Form(lambda v, n, o: _number_map(v), None, "double", True)  # one column per name


# --- digital thread (issue 11, part THREAD) ---------------------------------------------------
def spans_json(spans: Iterable[InputSpan]) -> list[dict[str, Any]]:
    """Input spans as JSON objects ``{"source", "first", "last"}``."""
    return [{"source": s.source, "first": int(s.first), "last": int(s.last)} for s in spans]


@functools.lru_cache(maxsize=4096)
def _text(value: str) -> str:
    """A JSON string (sources, versions and hashes repeat: encoded once)."""
    return json.dumps(value)


def spans_text(spans: Iterable[InputSpan]) -> str:
    """``json.dumps(spans_json(spans), separators=(",", ":"))``, at a fraction of its cost (the
    archive writes it for every window; ``tests/unit/test_lineage_text.py`` holds them equal)."""
    return "[" + ",".join([f'{{"source":{_text(s.source)},"first":{int(s.first)},"last":{int(s.last)}}}'
                           for s in spans]) + "]"


def lineage_text(lin: Lineage | None) -> str | None:
    """The compact JSON text of :func:`lineage_json` (the archive's column), built directly."""
    if lin is None:
        return None
    return (f'{{"version":{_text(lin.version)},"config_hash":{_text(lin.config_hash)},'
            f'"life_id":{int(lin.life_id)},"learned_windows":{int(lin.learned_windows)},'
            f'"fleet_model_version":{int(lin.fleet_model_version)},"inputs":{spans_text(lin.inputs)}}}')


def lineage_texts(values: list[Lineage | None]) -> list[str | None]:
    """``[lineage_text(v) for v in values]`` (the archive's column), ~1/3 cheaper: the usual
    lineage (one input span, version and config hash strings) written by ONE ``%`` format kept
    per (version, config hash), its ``%d`` counts ``int()``'s text (ints, floats, bools, NumPy
    numbers alike; a ``str`` is refused where ``int()`` parses it: ``lineage_text`` then); any
    other by :func:`lineage_text` (``%`` in a head is doubled: ``test_lineage_text.py``)."""
    forms: dict[tuple[str, str], str] = {}
    out: list[str | None] = []
    add = out.append
    for lin in values:
        try:
            (span,) = lin.inputs  # type: ignore[union-attr]
            key = (lin.version, lin.config_hash)  # type: ignore[union-attr]
            form = forms.get(key)
            if form is None:  # kept for text only (1 == 1.0 == True would share a form otherwise)
                if type(key[0]) is not str or type(key[1]) is not str:
                    raise TypeError
                head = f'{{"version":{_text(key[0])},"config_hash":{_text(key[1])},"life_id":'
                form = forms[key] = head.replace("%", "%%") + (
                    '%d,"learned_windows":%d,"fleet_model_version":%d,"inputs":[{"source":%s,"first":%d,"last":%d}]}')
            add(form % (lin.life_id, lin.learned_windows, lin.fleet_model_version,  # type: ignore[union-attr]
                        _text(span.source), span.first, span.last))
        except (AttributeError, TypeError, ValueError):  # None, not one span, a count %d refuses
            add(lineage_text(lin))
    return out


def lineage_json(lin: Lineage | None) -> dict[str, Any] | None:
    """A lineage as its JSON object (None stays None: records written without one)."""
    if lin is None:
        return None
    return {"version": lin.version, "config_hash": lin.config_hash, "life_id": int(lin.life_id),
            "learned_windows": int(lin.learned_windows), "fleet_model_version": int(lin.fleet_model_version),
            "inputs": spans_json(lin.inputs)}


INPUTS = Form(lambda v, n, o: spans_json(v), spans_text, "string", False)  # archive: JSON text
LINEAGE = Form(lambda v, n, o: lineage_json(v), lineage_text, "string", True,
               lineage_texts)  # archive: JSON text
# --- end digital thread ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Field:
    """A record field: its name (JSON property and, unless spread, archive column) and form."""

    name: str
    form: Form
    description: str


@dataclass(frozen=True, slots=True)
class Column:
    """An archive column: where its value comes from (a field, or the date of one) and its type."""

    name: str
    arrow: str
    nullable: bool
    description: str
    value: Callable[[Any], Any]


def _field_column(f: Field) -> Column:
    convert, get = f.form.to_archive, attrgetter(f.name)
    assert convert is not None
    value = get if convert is _same else lambda rec: convert(get(rec))
    return Column(f.name, f.form.arrow, f.form.nullable, f.description, value)


FEW = 4
"""Below this many records a form's ``column`` costs more than it saves (its checks are a fixed
cost of tens of us per file: ``alerts`` files hold 1-2 rows): the values are made one by one."""


def _many(f: Field | None, value: Callable[[Any], Any]) -> Callable[[Sequence[Any]], list[Any]]:
    """The archive column of many records: the form's ``column`` over the field's values where it
    has one (and there are at least :data:`FEW` records), else ``value`` record by record."""
    column = None if f is None else f.form.column
    if column is None:
        return lambda recs: list(map(value, recs))
    get = attrgetter(f.name)  # type: ignore[union-attr]
    return lambda recs: column(list(map(get, recs))) if len(recs) >= FEW else list(map(value, recs))


def _date_column(of: str) -> Column:
    return Column("date", "date32[day]", False, f"UTC date of {of} (hive partition folder)",
                  lambda rec: getattr(rec, of).date().isoformat())


class RecordMapping:
    """A record's fields (JSON order), its archive table and columns (table order).

    ``columns`` names the archive order: field names plus ``"date"``, the partition derived
    from the field ``date_of``. A field whose form has no archive value (the feature map) is
    spread over open columns, one per key, after the named ones.
    """

    def __init__(self, record: type, schema: str, table: str, fields: Iterable[Field], *,
                 columns: tuple[str, ...], date_of: str, owner: Callable[[Any], str],
                 version: int = 1) -> None:
        self.record, self.schema, self.table, self.owner = record, schema, table, owner
        self.version = version  # of the JSON schema (schemas/<schema>.v<version>.json) and archive table
        self.date_of = date_of
        self.fields = tuple(fields)
        by_name = {f.name: f for f in self.fields}
        spread = [f for f in self.fields if f.form.to_archive is None]
        self.open_field: Field | None = spread[0] if spread else None
        named = set(by_name) - {f.name for f in spread} | {"date"}
        if set(columns) != named or len(set(columns)) != len(columns) or len(spread) > 1:
            msg = f"archive columns of {table!r} {columns} do not match the fields of {record.__name__}"
            raise ValueError(msg)
        self.columns = tuple(_date_column(date_of) if c == "date" else _field_column(by_name[c])
                             for c in columns)
        self._json = tuple((f.name, attrgetter(f.name), f.form.to_json) for f in self.fields)
        self._row = tuple((c.name, c.value) for c in self.columns)
        self._many = tuple((c.name, _many(by_name.get(c.name), c.value)) for c in self.columns)
        self._spread = None if self.open_field is None else attrgetter(self.open_field.name)

    def to_json(self, rec: Any) -> dict[str, Any]:
        """The record -> its JSON schema's dict (datetimes as RFC 3339 ``Z``, non-finite optional
        numbers as null; ``ValueError`` naming a non-finite required number)."""
        owner = self.owner(rec)
        return {name: to_json(get(rec), name, owner) for name, get, to_json in self._json}

    def archive_values(self, recs: Sequence[Any], skip: tuple[str, ...] = ()) -> dict[str, list[Any]]:
        """The named archive columns of ``recs`` but ``skip``, one list per column (``date`` left
        out: see ``date_of``): :meth:`archive_row` column by column, for the columnar writer."""
        drop = {"date", *skip}
        return {name: values(recs) for name, values in self._many if name not in drop}

    def open_maps(self, recs: Sequence[Any]) -> list[dict[str, float]] | None:
        """Each record's map spread over open columns, as it is (None for a fixed table); the
        archive value of each entry is :func:`_opt`'s (non-finite or None -> null)."""
        return None if self._spread is None else list(map(self._spread, recs))

    def archive_row(self, rec: Any) -> dict[str, Any]:
        """The record -> one archive row (named columns, then open columns sorted by name)."""
        row = {name: value(rec) for name, value in self._row}
        if self._spread is not None:  # _opt inlined: this runs for every feature of every window
            finite = math.isfinite
            row.update({k: None if v is None or not finite(v) else float(v)
                        for k, v in sorted(self._spread(rec).items())})
        return row


FEATURE_VECTOR = RecordMapping(
    FeatureVector, "feature_vector", "features", (
        Field("asset_id", ID, "The asset (Kafka key; archive partition folder)."),
        Field("window_start", TIME, "Start of the event-time window (inclusive)."),
        Field("window_end", TIME, "End of the event-time window (exclusive)."),
        Field("features", FEATURE_COLUMNS, "Feature values by name (vib.rms, temperature.mean ...); "
              "null = undefined for this window."),
        Field("n_records", COUNT, "Telemetry records aggregated into the window."),
        Field("events", EVENTS, "Asset events of the window (archive: their kinds, comma-joined)."),
        # digital thread (issue 11, part THREAD)
        Field("inputs", INPUTS, "Input ranges behind the window, one per source: {source, first, last} "
              "(Kafka offsets of kafka:<topic>:<partition>, record ordinals of file:<name> or "
              "sim:seed=<n>); covering ranges (archive: JSON text)."),
    ),
    columns=("asset_id", "date", "window_start", "window_end", "n_records", "events", "inputs"),
    date_of="window_start", owner=lambda fv: f"feature vector of {fv.asset_id!r}", version=2,
)

LINEAGE_TEXT = ("What produced it: {version, config_hash, life_id, learned_windows, fleet_model_version, "
                "inputs} (twinflow version, hash of the effective configuration, the model state that "
                "scored, the input ranges behind it); null = written before the digital thread "
                "(archive: JSON text).")

DAMAGE_FIELDS = (
    Field("damage", OPT_NUMBER, "Median damage of the physics-informed damage state (0 = fresh flaw, "
          "1 = failure); null = no damage evidenced in this life."),
    Field("damage_rul_s", OPT_NUMBER, "Median RUL of the damage state under the recent usage, seconds; "
          "null = none (or beyond five years). Separate from rul_s (trend/fleet)."),
    Field("damage_rul_lower_s", OPT_NUMBER, "10 % quantile of the damage state's RUL, seconds."),
    Field("damage_rul_upper_s", OPT_NUMBER, "90 % quantile of the damage state's RUL, seconds; null = "
          "beyond five years."),
)
"""The damage state's fields (v2 of twin_snapshot; alert carries the RUL ones)."""

VERDICT_TEXT = ("The verdict (issue 12): healthy, anomalous (clearly abnormal, no defect localised) or "
                "defect (defect names it) for a vibration asset; '' = no verdict (no vibration channel).")

TWIN_SNAPSHOT = RecordMapping(
    TwinSnapshot, "twin_snapshot", "twin_state", (
        Field("asset_id", ID, "The asset (Kafka key; archive partition folder)."),
        Field("timestamp", TIME, "End of the window scored."),
        Field("window_start", TIME, "Start of the window scored."),
        Field("condition", TEXT, "learning, healthy, degrading or critical."),
        Field("anomaly_score", NUMBER, "Calibrated anomaly score, high = anomalous (nominally in [0, 1])."),
        Field("health_index", NUMBER, "1 = as new, falling with degradation."),
        Field("rul_s", OPT_NUMBER, "Remaining useful life, seconds; null = no estimate (or unbounded)."),
        Field("rul_lower_s", OPT_NUMBER, "Lower bound of rul_s, seconds."),
        Field("rul_upper_s", OPT_NUMBER, "Upper bound of rul_s, seconds."),
        Field("drift", FLAG, "A drift detector fired on this window."),
        Field("n_windows", COUNT, "Windows the twin has scored."),
        Field("life_id", COUNT, "Increments when a life ends (failure, maintenance, reinstall)."),
        Field("degradation", NUMBER, "Dimensionless degradation indicator the fleet RUL model matches on."),
        Field("rul_source", TEXT, "Which estimator produced rul_s: trend (the asset's own), fleet "
              "(similarity to completed lives), fleet_prior, fleet_regression or fleet_life, two joined "
              "by + when fused (trend+fleet); '' = none."),
        Field("defect", OPT_TEXT, "Bearing component whose envelope line stands out (bpfo, bpfi, bsf ...)."),
        Field("evidence", TEXT, "Why, in words."),
        Field("top_features", PAIRS, "[name, z] of the largest deviations from the asset's baseline "
              "(archive: JSON text)."),
        Field("context", NUMBER_MAP, "Operating context (speed, load ...) of the window "
              "(archive: JSON text)."),
        # digital thread (issue 11, part THREAD)
        Field("lineage", LINEAGE, LINEAGE_TEXT),
        # --- v2, physics-informed damage state (issue 11, part PHYS) ---
        *DAMAGE_FIELDS,
        # --- v3, the verdict (issue 12) ---
        Field("verdict", TEXT, VERDICT_TEXT),
        Field("verdict_confidence", OPT_NUMBER, "Confidence of the verdict in [0, 1] (0.5 = at the "
              "boundary between two verdicts); null = no verdict."),
        # --- v4, data quality (issue 13) ---
        Field("data_quality", QUALITY, "Data-quality state of every channel judged in the window: "
              "{channel, state (ok, suspect or bad), check ('' when ok)}; a bad channel's features "
              "were kept from the models (archive: JSON text)."),
    ),
    columns=("asset_id", "date", "timestamp", "window_start", "condition", "anomaly_score", "health_index",
             "rul_s", "rul_lower_s", "rul_upper_s", "rul_source", "drift", "n_windows", "life_id",
             "degradation", "defect", "evidence", "top_features", "context", "lineage",
             "damage", "damage_rul_s", "damage_rul_lower_s", "damage_rul_upper_s",
             "verdict", "verdict_confidence", "data_quality"),
    date_of="window_start", owner=lambda s: f"twin snapshot of {s.asset_id!r}", version=4,
)

ALERT = RecordMapping(
    Alert, "alert", "alerts", (
        Field("alert_id", TEXT, "The alert episode; its messages share it."),
        Field("asset_id", ID, "The asset (Kafka key; archive partition folder)."),
        Field("kind", TEXT, "What the alert is about (the alert policy's kind, e.g. condition)."),
        Field("severity", TEXT, "info, warning or critical."),
        Field("status", TEXT, "raised, updated or cleared."),
        Field("started_at", TIME, "When the episode began: the start of its first bad window (the "
              "raised message's timestamp is the end of the window that made the run long enough: "
              "alerts.min_windows, 3, for a condition, 2 for a sensor)."),
        Field("timestamp", TIME, "When this message was emitted (event time)."),
        Field("explanation", TEXT, "Why, in words."),
        Field("anomaly_score", NUMBER, "Anomaly score at this message."),
        Field("health_index", NUMBER, "Health index at this message."),
        Field("rul_s", OPT_NUMBER, "Remaining useful life, seconds; null = no estimate (or unbounded)."),
        Field("top_features", PAIRS, "[name, z] of the largest deviations (archive: JSON text)."),
        Field("defect", OPT_TEXT, "Bearing component diagnosed, if any."),
        Field("sequence", COUNT, "Position of this message in its episode (1 = raised); "
              "the key with alert_id."),
        # digital thread (issue 11, part THREAD)
        Field("lineage", LINEAGE, LINEAGE_TEXT),
        # --- v2, physics-informed damage state (issue 11, part PHYS) ---
        *DAMAGE_FIELDS[1:],
        # --- v3, the verdict (issue 12) ---
        Field("verdict", TEXT, "The episode's verdict (issue 12): anomalous (severity info) until a "
              "defect is localised, then defect; '' = an asset without a verdict (scalar series)."),
        # --- v4, data quality (issue 13) ---
        Field("channel", TEXT, "A sensor alert's channel ('' for the other kinds)."),
        Field("check", TEXT, "A sensor alert's check: flatline, clipping, spike, gap, clock, "
              "sample_rate, disconnect or drift ('' for the other kinds)."),
    ),
    columns=("alert_id", "asset_id", "date", "kind", "severity", "status", "sequence", "started_at",
             "timestamp", "explanation", "anomaly_score", "health_index", "rul_s", "defect", "top_features",
             "lineage", "damage_rul_s", "damage_rul_lower_s", "damage_rul_upper_s", "verdict",
             "channel", "check"),
    date_of="timestamp", owner=lambda a: f"alert {a.alert_id!r}", version=4,
)

# --- what-if (issue 11): the damage state's checkpoints ----------------------------------------
LIST_TYPE = "list<element: double>"
NUMBERS = Form(lambda v, n, o: [_req(x, n, o) for x in v], list, LIST_TYPE, False)
PARTICLES = "One value per particle"

DAMAGE_CHECKPOINT = RecordMapping(
    DamageCheckpoint, "damage_checkpoint", "damage_state", (
        Field("asset_id", ID, "The asset (archive: the files' first column)."),
        Field("timestamp", TIME, "Event time the damage state is at (the end of its last window)."),
        Field("life_id", COUNT, "The asset's life (a new life starts a new state)."),
        Field("defect", OPT_TEXT, "The defect diagnosed last since the state started (bpfo ...)."),
        Field("health_feature", TEXT, "The failure feature of the health index (vib.rms ...)."),
        Field("health_baseline", NUMBER, "Its healthy baseline."),
        Field("health_threshold", NUMBER, "Its failure threshold."),
        Field("scalars", NUMBER_MAP, "The damage state's scalars: reference speed and load, noise, "
              "smoothing, lead_s, n_obs, residual EWMAs, usage rate, t_s (archive: JSON text)."),
        Field("prior", NUMBER_MAP, "The damage prior's ranges (<name>_lo/_hi) and d0 (archive: JSON text)."),
        Field("relation", NUMBER_MAP, "Running sums <feature>|n/sy/syy/sf/syf of the indicator relation "
              "(envelope lines and temperature on the damage indicator; archive: JSON text)."),
        Field("d", NUMBERS, f"{PARTICLES}: damage (0 = fresh flaw, 1 = failure)."),
        Field("log_k", NUMBERS, f"{PARTICLES}: log of the growth law's rate constant."),
        Field("q", NUMBERS, f"{PARTICLES}: the growth law's exponent on damage."),
        Field("gamma", NUMBERS, f"{PARTICLES}: the indicator's exponent."),
        Field("linear", NUMBERS, f"{PARTICLES}: the indicator's linear share."),
        Field("fail_level", NUMBERS, f"{PARTICLES}: the indicator at failure (share of the threshold)."),
        Field("logw", NUMBERS, f"{PARTICLES}: log weight (unnormalised)."),
    ),
    columns=("asset_id", "date", "timestamp", "life_id", "defect", "health_feature", "health_baseline",
             "health_threshold", "scalars", "prior", "relation", "d", "log_k", "q", "gamma", "linear",
             "fail_level", "logw"),
    date_of="timestamp", owner=lambda c: f"damage checkpoint of {c.asset_id!r}",
)


from flows.codec.quality_fields import DATA_QUALITY  # noqa: E402 - it builds on the forms above
from flows.codec.recommendation_fields import RECOMMENDATION  # noqa: E402 - it builds on the forms above

MAPPINGS: tuple[RecordMapping, ...] = (FEATURE_VECTOR, TWIN_SNAPSHOT, ALERT, RECOMMENDATION,
                                       DAMAGE_CHECKPOINT, DATA_QUALITY)
"""The twin's records, in archive table order: features, twin_state, alerts, recommendations
(issue 11, level 4), damage_state (what-if), data_quality (issue 13); every archive table, the
command path's ``audit`` included: :data:`flows.codec.command_fields.ARCHIVE_MAPPINGS`."""
