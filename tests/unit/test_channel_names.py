"""Channel names that are unsafe where a channel ends up (round 14): the rule of asset ids.

A channel name is a Parquet column name (``<channel>.<feature>``), a Prometheus label, a DuckDB
identifier and text in alerts. Before this round only asset ids were checked
(:func:`flows.dataflow.admission.name_problem`): a channel ``t\\x1b[2J`` or ``a/b`` reached the
features, the archive and the alerts. Now a record with one is a ``bad_channel`` dead letter
(counted, the counter registered at 0; on the fast scalar paths too) and a metadata file whose
sensors name one is refused when it is loaded."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from flows import codec
from flows.dataflow.admission import check_metadata
from flows.dataflow.decode_batch import decode_batch
from flows.dataflow.guard import guard_map
from flows.dataflow.items import DeadLetter, RawRecord, ScalarColumns
from flows.dataflow.metrics import PipelineMetrics
from flows.dataflow.operators import Decoder
from flows.dataflow.sources.files import FileFormatError, read_metadata
from twin_models.records import AssetMetadata, ScalarSample, SensorSpec, WaveformFrame

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
TS = datetime(2024, 5, 1, 11, 0, tzinfo=UTC)
BAD = ["temp\n twin: all clear", "t\x1b[2J", "t\u202eevil", "t\u00a0a", "a/b", "a\\b", ".", ".."]


def _decoder() -> tuple[Decoder, PipelineMetrics]:
    metrics = PipelineMetrics()
    return Decoder(metrics, max_future_s=86400.0, now=lambda: NOW), metrics


def test_the_reason_is_registered_before_any_record() -> None:
    _, metrics = _decoder()
    assert metrics.value("twin_dead_letters_total", {"reason": "bad_channel"}) == 0


@pytest.mark.parametrize("channel", BAD)
def test_a_record_with_an_unsafe_channel_is_a_counted_dead_letter(channel: str) -> None:
    frame = WaveformFrame("pump-1", channel, TS, 1000.0, np.ones(256, dtype=np.float32))
    for payload in (codec.encode_scalar(ScalarSample("pump-1", channel, TS, 41.5, "degC")),
                    codec.encode_waveform(frame)):
        decoder, metrics = _decoder()
        out = decoder(RawRecord("t/0", payload))
        assert isinstance(out, DeadLetter) and out.reason == "bad_channel", out
        assert out.raw == payload and repr(channel) in out.detail and "'pump-1'" in out.detail
        assert "\n" not in out.detail
        assert metrics.value("twin_dead_letters_total", {"reason": "bad_channel"}) == 1


@pytest.mark.parametrize("channel", ["temperature", "bearing.de", "Temp 1 (°C)", "..x", "温度"])
def test_ordinary_channels_pass(channel: str) -> None:
    decoder, _ = _decoder()
    out = decoder(RawRecord("t/0", codec.encode_scalar(ScalarSample("pump-1", channel, TS, 1.0))))
    assert isinstance(out, ScalarSample) and out.channel == channel


def test_the_fast_scalar_paths_refuse_what_the_decoder_refuses() -> None:
    """A run of JSON scalars, a single message, a replayed record and a replayed column piece:
    the fast paths must not admit a channel the per-record decoder refuses."""
    good = [ScalarSample("pump-1", "t", TS, float(i)) for i in range(3)]
    for channel in ("t\x1b[31m", "a/b", ".."):
        rec = ScalarSample("pump-1", channel, TS, 1.0)
        raws = [RawRecord("s", codec.encode_scalar(r)) for r in (*good, rec)]
        raws.append(RawRecord("replay.csv", b"", (), rec))
        us = np.array([int((TS - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds() * 1e6)] * 2)
        piece = ScalarColumns.of("pump-2", us, np.array([0, 1], dtype=np.int16), ("t", channel),
                                 np.array([1.0, 2.0]))
        raws.append(RawRecord("replay.parquet", b"", (), piece))
        decoder, metrics = _decoder()
        step = decode_batch(decoder, guard_map("decode", decoder, metrics, lambda: NOW))
        out = step(raws)
        kinds = [type(x).__name__ for x in out]
        assert kinds == ["ScalarSample"] * 3 + ["DeadLetter"] * 2 + ["ScalarSample", "DeadLetter"], kinds
        assert {x.reason for x in out if isinstance(x, DeadLetter)} == {"bad_channel"}
        assert metrics.value("twin_dead_letters_total", {"reason": "bad_channel"}) == 3


def test_metadata_naming_an_unsafe_channel_is_refused_at_load(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"asset metadata 'pump-1': the sensor channel 'a\\nb' holds"):
        check_metadata(AssetMetadata("pump-1", sensors=(SensorSpec("a\nb", "scalar"),)))
    path = tmp_path / "meta.json"
    sensors = [{"channel": "t", "kind": "scalar"}, {"channel": "de/x", "kind": "waveform"}]
    path.write_text(json.dumps({"pump-1": {"kind": "pump", "sensors": sensors}}))
    with pytest.raises(FileFormatError, match=r"'de/x'.*path separator") as err:
        read_metadata(path)
    assert "\n" not in str(err.value)
