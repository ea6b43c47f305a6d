"""schemas/*.json: valid 2020-12 schemas that agree with what flows.codec writes and accepts."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pytest

from flows import codec
from tests.contract.command_samples import approve, audit_samples, command_samples
from tests.factories import recommendation
from tests.unit.test_serde import (
    make_alert,
    make_event,
    make_feature_vector,
    make_frame,
    make_metadata,
    make_scalar,
    make_snapshot,
)
from tests.whatif_samples import make_checkpoint, make_request, make_result
from twin_models.records import AssetMetadata, ChannelQuality, InputSpan, Lineage, SensorSpec, WaveformFrame

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
FILES = sorted(SCHEMAS.glob("*.json"))
FAR_FUTURE = datetime(9000, 1, 1, tzinfo=UTC)
TELEMETRY = ("scalar_sample", "waveform_frame", "asset_event")


def _version(path: Path) -> int:
    return int(path.name.split(".v")[-1].split(".")[0])


def latest(name: str) -> Path:
    """The newest version's file of the schema called ``name`` (older ones stay as published)."""
    return max(SCHEMAS.glob(f"{name}.v*.json"), key=_version)


def load(name: str) -> dict[str, Any]:
    """The newest version of the schema called ``name`` (what twinflow writes)."""
    doc: dict[str, Any] = json.loads(latest(name).read_text())
    return doc


def validator(name: str) -> jsonschema.Draft202012Validator:
    """A 2020-12 validator for the newest schema ``name``."""
    return jsonschema.Draft202012Validator(load(name))


SPANS = (InputSpan("kafka:twin.telemetry.vibration.v1:3", 120, 184), InputSpan("file:plant.csv", 0, 59))
LINEAGE = Lineage("0.1.0", "8b31886510e49858", 2, 411, 3, SPANS)
SAMPLES: dict[str, list[Any]] = {
    "scalar_sample": [make_scalar(), make_scalar(unit="", value=-3)],
    "asset_event": [make_event(kind=k) for k in ("install", "maintenance", "failure")],
    "waveform_frame": [make_frame(16), make_frame(1, shaft_speed_hz=None, unit="")],
    "feature_vector": [make_feature_vector(), replace(make_feature_vector(), inputs=SPANS)],
    "twin_snapshot": [make_snapshot(), replace(make_snapshot(), lineage=LINEAGE),
                      replace(make_snapshot(), data_quality=(("vib", "ok", ""),
                                                             ("temperature", "bad", "flatline")))],
    "alert": [make_alert(), replace(make_alert(), lineage=LINEAGE),
              replace(make_alert(), kind="sensor", channel="temperature", check="flatline")],
    "asset_metadata": [make_metadata(), AssetMetadata("bare"), AssetMetadata("dq", sensors=(
        SensorSpec("vib", "waveform", "g", range=(-50.0, 50.0), sample_rate_hz=25600.0),
        SensorSpec("temperature", "scalar", "degC", limits=(-40.0, 200.0), cadence_s=60.0)))],
    # data quality (issue 13)
    "channel_quality": [ChannelQuality("pump-07", "temperature", datetime(2024, 5, 1, 13, tzinfo=UTC),
                                       "bad", "flatline", "60 identical readings"),
                        ChannelQuality("pump-07", "vib", datetime(2024, 5, 1, 13, tzinfo=UTC), "ok")],
    "recommendation": [recommendation(), replace(recommendation(alert_id=None), lineage=LINEAGE)],
    # guarded command path (issue 11, level 5)
    "command": command_samples(LINEAGE),
    "audit": audit_samples(LINEAGE),
    "command_decision": [approve(), replace(approve(), decision="reject", reason="")],
    "whatif_request": [make_request(), make_request(dates=())],
    "whatif_result": [make_result(), make_result("unknown_asset"), make_result("no_damage")],
    "damage_checkpoint": [make_checkpoint()],
}


def test_every_schema_file_is_covered() -> None:
    assert {p.name.split(".v")[0] for p in FILES} == {*SAMPLES, "dead_letter"}
    for p in FILES:  # versions count up from 1 without gaps
        name = p.name.split(".v")[0]
        versions = {_version(q) for q in SCHEMAS.glob(f"{name}.v*.json")}
        assert versions == set(range(1, _version(latest(name)) + 1))


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_schema_is_valid_2020_12_and_versioned(path: Path) -> None:
    doc = json.loads(path.read_text())
    jsonschema.Draft202012Validator.check_schema(doc)
    assert doc["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    m = re.fullmatch(r"([a-z_]+)\.v([0-9]+)\.json", path.name)
    assert m is not None
    assert doc["$id"] == f"urn:twinflow:schema:{m[1]}:v{m[2]}"
    assert doc["additionalProperties"] is False
    assert doc.get("examples"), "each schema carries at least one example"


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_examples_validate_and_are_read(path: Path) -> None:
    doc = json.loads(path.read_text())
    name = path.name.split(".v")[0]
    for example in doc["examples"]:
        jsonschema.Draft202012Validator(doc).validate(example)
        if name in TELEMETRY:
            out = codec.decode_telemetry(json.dumps(example).encode(), now=FAR_FUTURE)
            assert not isinstance(out, codec.DecodeError), out
        if name == "asset_metadata":
            codec.metadata_from_dict(example)


def _cases() -> Iterator[tuple[str, Any]]:
    """(schema name, sample record) parameters."""
    for name, records in SAMPLES.items():
        for i, record in enumerate(records):
            yield pytest.param(name, record, id=f"{name}-{i}")


@pytest.mark.parametrize(("name", "record"), list(_cases()))
def test_written_records_validate(name: str, record: Any) -> None:
    doc = json.loads(codec.encode_json(record))
    validator(name).validate(doc)


@pytest.mark.parametrize(("name", "record"), list(_cases()))
def test_written_fields_match_record_and_schema(name: str, record: Any) -> None:
    """A field added to a record (or the schema) without the other fails here."""
    doc = codec.to_json_dict(record)
    assert set(doc) - {"type"} == set(record.__slots__)
    assert set(doc) == set(load(name)["properties"])


def _broken(name: str, record: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    """The record's document with each required field removed, then given a wrong value."""
    good = json.loads(codec.encode_json(record))
    for field in load(name)["required"]:
        yield f"{field} missing", {k: v for k, v in good.items() if k != field}
        yield f"{field} wrong type", {**good, field: {"not": True}}
    yield "unexpected field", {**good, "unexpected": 1}


@pytest.mark.parametrize(("name", "record"), list(_cases()))
def test_broken_required_fields_fail(name: str, record: Any) -> None:
    v = validator(name)
    for label, doc in _broken(name, record):
        assert not v.is_valid(doc), label


def test_dead_letters_validate() -> None:
    v = validator("dead_letter")
    payloads = [b"", b"\xff\x00", b'{"type":"scalar"}', codec.encode_waveform(make_frame(4))[:-1]]
    for raw in payloads:
        err = codec.decode_telemetry(raw, now=FAR_FUTURE)
        assert isinstance(err, codec.DecodeError)
        v.validate(json.loads(codec.dead_letter(err, source="t/0", timestamp=FAR_FUTURE)))
    for reason in (*codec.REASONS, "late_record", "duplicate_record"):
        doc = codec.dead_letter(codec.DecodeError(reason, "d", b"x"), source="s", timestamp=FAR_FUTURE)
        v.validate(json.loads(doc))
    topic = "twin.telemetry.scalar.v1"
    kafka = (("source.topic", topic), ("source.partition", "3"), ("source.offset", "120"))
    doc = json.loads(codec.dead_letter(codec.DecodeError("invalid_json", "d", b"{"), source=f"{topic}/3",
                                       timestamp=FAR_FUTURE, headers=kafka))
    v.validate(doc)
    assert (doc["source_topic"], doc["source_partition"], doc["source_offset"]) == (topic, 3, 120)
    for partial in (kafka[:2], (*kafka[:2], ("source.offset", "x"))):  # all three coordinates or none
        doc = json.loads(codec.dead_letter(codec.DecodeError("invalid_json", "d", b"{"), source="s",
                                           timestamp=FAR_FUTURE, headers=partial))
        assert "source_topic" not in doc
        v.validate(doc)
    one = {"reason": "x", "detail": "", "source": "s", "timestamp": "2024-05-01T00:00:00Z", "raw_size": 0,
           "raw_base64": "", "source_topic": "t"}
    assert not v.is_valid(one)  # a coordinate alone is refused


def test_every_dead_letter_v1_document_is_a_v2_document() -> None:
    """v2 only adds optional fields: a reader of the file upgrades without a change to old lines."""
    v1 = json.loads((SCHEMAS / "dead_letter.v1.json").read_text())
    v2 = validator("dead_letter")
    for example in v1["examples"]:
        v2.validate(example)
    assert set(v1["properties"]) < set(load("dead_letter")["properties"])


# --------------------------------------------------------------------------- reader == schema

POOL: list[Any] = [
    None, True, 0, -1, 0.5, 3, 25600, 1e7, "", "x", "a" * 128, "a" * 129, "u" * 65,
    "2024-05-01T00:00:00Z", "2024-05-01T02:00:00+02:00", "2024-05-01T00:00:00",
    "install", "scalar", "waveform", "event", [], [1.0, -2], [1.0, "2"], {}, {"a": 1},
]  # fmt: skip


def _wire_variants() -> Iterator[dict[str, Any]]:
    """Valid telemetry documents, each field deleted or replaced by every POOL value."""
    for name in TELEMETRY:
        for record in SAMPLES[name]:
            good = json.loads(codec.encode_json(record))
            yield good
            yield {**good, "extra": 1}
            for field in list(good) + ["note", "unit", "shaft_speed_hz"]:
                yield {k: v for k, v in good.items() if k != field}
                for value in POOL:
                    yield {**good, field: copy.deepcopy(value)}


def test_telemetry_reader_accepts_exactly_what_the_schemas_accept() -> None:
    validators = [validator(name) for name in TELEMETRY]
    n = 0
    for doc in _wire_variants():
        schema_ok = any(v.is_valid(doc) for v in validators)
        out = codec.decode_telemetry(json.dumps(doc).encode(), now=FAR_FUTURE)
        reader_ok = not isinstance(out, codec.DecodeError)
        assert schema_ok == reader_ok, (doc, out)
        n += 1
    assert n > 1000


def _metadata_variants() -> Iterator[dict[str, Any]]:
    """A valid metadata document, and each field deleted or replaced by POOL values."""
    good = codec.metadata_to_dict(make_metadata())
    yield good
    for field in good:
        yield {k: v for k, v in good.items() if k != field}
        for value in POOL:
            yield {**good, field: copy.deepcopy(value)}
    for part in ("bearing", "failure_threshold"):
        for field in good[part]:
            yield {**good, part: {k: v for k, v in good[part].items() if k != field}}
            for value in POOL:
                yield {**good, part: {**good[part], field: copy.deepcopy(value)}}


SEMANTIC_ONLY = ("must exceed", "lo < hi", "is repeated")


def test_metadata_reader_agrees_with_the_schema() -> None:
    """The reader accepts only schema-valid documents, and refuses valid ones only for the
    cross-field rules the schema cannot state (documented in its description)."""
    v = validator("asset_metadata")
    for doc in _metadata_variants():
        schema_ok = v.is_valid(doc)
        try:
            codec.metadata_from_dict(doc)
        except ValueError as exc:
            assert not schema_ok or any(s in str(exc) for s in SEMANTIC_ONLY), (doc, exc)
        else:
            assert schema_ok, doc


# --------------------------------------------------------------------------- binary doc


def test_binary_doc_example_matches_the_encoder() -> None:
    text = (SCHEMAS / "waveform_frame.v1.binary.md").read_text()
    dump = text.split("## Example", 1)[1].split("```")[1]
    hex_bytes = [re.findall(r"\b[0-9a-f]{2}\b", line[6:54]) for line in dump.strip().splitlines()]
    documented = bytes(int(h, 16) for line in hex_bytes for h in line)
    frame = WaveformFrame(
        "p1", "vib", datetime(2024, 5, 1, 12, 0, 0, 125, tzinfo=UTC), 25600.0,
        np.array([0.5, -1.0], dtype=np.float32), None, "g",
    )  # fmt: skip
    assert documented == codec.encode_waveform(frame)
    assert "1714564800000125000" in text


# --------------------------------------------------------------------------- command path readers


def _decision_variants() -> Iterator[dict[str, Any]]:
    """A valid decision document, each field deleted or replaced by every POOL value."""
    for record in SAMPLES["command_decision"]:
        good = json.loads(codec.encode_json(record))
        yield good
        yield {**good, "extra": 1}
        for field in good:
            yield {k: v for k, v in good.items() if k != field}
            for value in [*POOL, "approve", "reject", "j\x1b[2Jdoe", "jdoe\x85"]:
                yield {**good, field: copy.deepcopy(value)}


def test_decision_reader_accepts_exactly_what_the_schema_accepts() -> None:
    from flows.codec.command_fields import decision_from_json

    v = validator("command_decision")
    for doc in _decision_variants():
        try:
            decision_from_json(json.dumps(doc).encode())
            reader_ok = True
        except ValueError:
            reader_ok = False
        assert v.is_valid(doc) == reader_ok, doc


def test_a_decision_whose_actor_holds_a_control_character_is_a_dead_letter() -> None:
    """Round 25: the reader kept an actor the CLI's ``--actor`` refuses (an escape sequence, a
    newline); the schema and the reader now both refuse it, and the command step makes it a
    ``schema_violation`` dead letter naming the field. Spaces and other text stay data. Round 26: so
    are invisible formatting characters (category Cf: U+202E reverses what follows, U+200B and U+2060
    cannot be seen) and line separators, which the CLI's ``--actor`` refuses as well."""
    from flows.dataflow.commands import read_command_input
    from flows.dataflow.items import RawRecord

    v = validator("command_decision")
    good = json.loads(codec.encode_json(approve()))
    at = datetime(2026, 1, 1, tzinfo=UTC)
    for actor in ("j\x1b[2Jdoe", "jdoe\n", "j\x00", "j\x7f", "j\x85doe", "\x9b31m", "eve\u202e", "e\u200bve",
                  "eve\u2028", "\ufeffeve", "eve\U000e0041"):
        doc = {**good, "actor": actor}
        assert not v.is_valid(doc), actor
        raw = RawRecord("twin.commands.decisions.v1", json.dumps(doc).encode())
        (dead,) = read_command_input(raw, at)
        code = ord(next(c for c in actor if not c.isprintable()))
        said = f" actor holds a control or invisible formatting character U+{code:04X}"
        assert (dead.reason, dead.detail.split(":")[:2]) == (
            "schema_violation", ["command decision", said]), dead.detail
    for actor in ("j doe", "Jörg Müller", "ops@plant-7"):
        doc = {**good, "actor": actor}
        assert v.is_valid(doc)
        assert read_command_input(RawRecord("t", json.dumps(doc).encode()), at)[0].actor == actor


def test_the_schemas_refuse_in_actor_the_characters_the_readers_refuse() -> None:
    """One pattern for the decisions' and the audit's ``actor`` (round 26): every code point of
    categories Cc, Cf, Zl and Zp, none other (what ``str.isprintable`` refuses, less spaces, private
    use and unassigned code points)."""
    import unicodedata

    from flows.codec.command_fields import ACTOR_REFUSED

    for name in ("command_decision", "audit"):
        assert load(name)["properties"]["actor"]["not"]["pattern"] == ACTOR_REFUSED, name
    refused = re.compile(ACTOR_REFUSED)
    assert [cp for cp in range(0x110000) if bool(refused.search(chr(cp)))
            != (unicodedata.category(chr(cp)) in {"Cc", "Cf", "Zl", "Zp"})] == []


def test_an_audit_entry_whose_actor_holds_an_invisible_character_is_not_read() -> None:
    """Round 26: the audit reader (``twin commands list``) kept ``eve\u202e`` as the entry's actor."""
    from flows.codec.command_fields import audit_from_json

    v = validator("audit")
    entry = json.loads(codec.encode_json(SAMPLES["audit"][0]))
    for actor, ok in (("eve\u202e", False), ("j\x1b[2J", False), ("Jörg Müller", True)):
        doc = {**entry, "actor": actor}
        assert v.is_valid(doc) == ok, actor
        if ok:
            assert audit_from_json(json.dumps(doc).encode()).actor == actor
        else:
            with pytest.raises(ValueError, match="actor holds a control or invisible formatting character"):
                audit_from_json(json.dumps(doc).encode())


def test_audit_entries_read_back_as_written() -> None:
    from flows.codec.command_fields import audit_from_json

    for entry in SAMPLES["audit"]:
        assert audit_from_json(codec.encode_json(entry)) == entry
