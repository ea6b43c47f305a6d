"""Asset ids that are unsafe where an id ends up (round 13): control and other non-printable
characters, path separators, ``.`` and ``..``.

An asset id is a Kafka key, a Prometheus label, text in alerts, log lines and terminal output,
and (in archives written before issue 10) a folder name. The wire contract allows any 1..128
characters; before this round such an id went through to the twin, the alerts and the archive
(``pump\\n twin: ...`` forged a log line, ``\\x1b[2J`` cleared the terminal of ``twin explain``).
Now a record with one is a ``bad_asset_id`` dead letter (counted; on the fast scalar paths too)
and a metadata file naming one is refused when it is loaded."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from flows import codec
from flows.dataflow.admission import asset_id_problem, check_metadata
from flows.dataflow.decode_batch import decode_batch
from flows.dataflow.guard import guard_map
from flows.dataflow.items import DeadLetter, RawRecord
from flows.dataflow.metrics import PipelineMetrics
from flows.dataflow.operators import Decoder
from flows.dataflow.sources.files import FileFormatError, MetadataCatalog, read_metadata
from twin_models.records import AssetEvent, AssetMetadata, ScalarSample

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
TS = datetime(2024, 5, 1, 11, 0, tzinfo=UTC)

BAD = {
    "pump\n twin: all clear": "U+000A",
    "pump\r": "U+000D",
    "pump\x00": "U+0000",
    "\x1b[2Jpump": "U+001B",
    "pump\x7f": "U+007F",
    "pump\x85": "U+0085",
    "pump\u202eevil": "U+202E",  # right-to-left override: reads as another id
    "pump\u2028x": "U+2028",
    "pump\u00a0a": "U+00A0",
    "pump\u200b": "U+200B",
    "../../etc/cron.d": "path separator",
    "plant\\pump": "path separator",
    "..": "relative folder",
    ".": "relative folder",
}
GOOD = ["pump-07", "P 7", "pümpe.3", "ポンプ", "a" * 128, "asset_id=x", "..x", "x.."]


@pytest.mark.parametrize(("asset", "why"), BAD.items())
def test_unsafe_ids_are_named(asset: str, why: str) -> None:
    problem = asset_id_problem(asset)
    assert problem is not None and why in problem


@pytest.mark.parametrize("asset", GOOD)
def test_ordinary_ids_pass(asset: str) -> None:
    assert asset_id_problem(asset) is None


def _decoder() -> tuple[Decoder, PipelineMetrics]:
    metrics = PipelineMetrics()
    return Decoder(metrics, max_future_s=86400.0, now=lambda: NOW), metrics


@pytest.mark.parametrize("asset", list(BAD))
def test_a_record_with_an_unsafe_id_is_a_counted_dead_letter(asset: str) -> None:
    payloads = [codec.encode_scalar(ScalarSample(asset, "temperature", TS, 41.5, "degC")),
                codec.encode_event(AssetEvent(asset, TS, "install"))]
    for payload in payloads:
        decoder, metrics = _decoder()
        out = decoder(RawRecord("t/0", payload))
        assert isinstance(out, DeadLetter) and out.reason == "bad_asset_id", out
        assert out.raw == payload and repr(asset) in out.detail and "\n" not in out.detail
        assert metrics.value("twin_dead_letters_total", {"reason": "bad_asset_id"}) == 1


def test_the_fast_scalar_paths_refuse_what_the_decoder_refuses() -> None:
    """The batch decode step takes plain scalars on a fast path: it must not admit an id the
    per-record decoder refuses (a run of JSON scalars, a single message, a replayed record)."""
    bad = "pump\x1b[31m"
    good = [ScalarSample("pump-1", "t", TS, float(i)) for i in range(3)]
    for asset in (bad, "a/b", ".."):
        rec = ScalarSample(asset, "t", TS, 1.0)
        raws = [RawRecord("s", codec.encode_scalar(r)) for r in (*good, rec)]
        raws.append(RawRecord("replay.csv", b"", (), rec))
        decoder, metrics = _decoder()
        step = decode_batch(decoder, guard_map("decode", decoder, metrics, lambda: NOW))
        out = step(raws)
        assert [type(x).__name__ for x in out] == ["ScalarSample"] * 3 + ["DeadLetter"] * 2
        assert {x.reason for x in out if isinstance(x, DeadLetter)} == {"bad_asset_id"}
        assert metrics.value("twin_dead_letters_total", {"reason": "bad_asset_id"}) == 2


def test_a_catalog_with_defaults_does_not_fail_the_decode_step_on_an_unsafe_id() -> None:
    """A metadata catalog with defaults derives (and checks) the metadata of any id it is asked
    for: the decode step asks only for ids that pass, so the record is a bad_asset_id dead letter,
    not a processing error."""
    metrics = PipelineMetrics()
    catalog = MetadataCatalog({}, {"kind": "pump"}, "m.toml")
    decoder = Decoder(metrics, max_future_s=86400.0, now=lambda: NOW, metadata=catalog)
    out = decoder(RawRecord("t/0", codec.encode_scalar(ScalarSample("a\nb", "t", TS, 1.0))))
    assert isinstance(out, DeadLetter) and out.reason == "bad_asset_id"


def test_metadata_with_an_unsafe_id_is_refused_at_load(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"asset metadata 'a\\nb': the asset_id holds the non-printable"):
        check_metadata(AssetMetadata("a\nb"))
    path = tmp_path / "meta.json"
    path.write_text(json.dumps({"pump-1": {"kind": "pump"}, "../pump-2": {"kind": "pump"}}))
    with pytest.raises(FileFormatError, match=r"'\.\./pump-2'.*path separator") as err:
        read_metadata(path)
    assert "\n" not in str(err.value)
    path.write_text(json.dumps({"assets": [{"asset_id": "pump\u202e1", "kind": "pump"}]}))
    with pytest.raises(FileFormatError, match="U\\+202E"):
        read_metadata(path)
