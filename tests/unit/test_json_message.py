"""The orjson-written Kafka messages are byte for byte the former ``json.dumps`` ones (issue 10, round 30).

Each case compares :func:`flows.codec.encode_json` (feature vectors, twin snapshots and alerts
through :mod:`flows.codec.json_message`) with the former route written out here: the mapping's
``to_json`` dict dumped by ``json.dumps(..., separators=(",", ":"), allow_nan=False)``. Ordinary
records must take orjson's route (or the comparison would only test the fallback); a record the
former route refuses must be refused with the same ``ValueError`` text.
"""

from __future__ import annotations

import json
import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import numpy as np
import pytest

from flows.codec import encode_json, json_message
from flows.codec.record_fields import ALERT, FEATURE_VECTOR, TWIN_SNAPSHOT
from twin_models.records import Alert, AssetEvent, FeatureVector, InputSpan, Lineage, TwinSnapshot

T0 = datetime(2026, 1, 1, 1, 0, tzinfo=UTC)
LIN = Lineage("0.1.0", "a4f4945eafe10967", 2, 270, 1, (InputSpan("sim:seed=7", 62002, 62179),))
CONTEXT = {"speed.mean": 24.43410353495078, "load.std": 0.020459388125278827, "load.slope_per_h": -0.0317}
QUALITY = (("temperature", "ok", ""), ("vib", "bad", "flatline"))
SNAP = TwinSnapshot("pump-001", T0, T0 - timedelta(hours=1), "degrading", 0.9995359062206548, 0.97891,
                    2151234.5, 127468.06, 35279378.9, False, 270, 2, 0.31, "trend", "bpfo", "BPFO line 3.1x",
                    (("vib.env_kurtosis", 3.746), ("vib.env_bpfi_amp", -2.912)), CONTEXT, LIN, 0.42,
                    2151234.586056929, 127468.0651437539, None, "defect", 0.93, QUALITY)
ALERT_REC = Alert("27935517ea8877d8bcfd", "pump-003", "condition", "warning", "raised", T0,
                  T0 + timedelta(hours=3), "pump-003: degrading (anomaly score 0.9995).", 0.99953, 0.97891,
                  None,
                  (("vib.env_kurtosis", 3.746),), "bpfi", 1, LIN, 2151234.58, 127468.06, 35279378.9, "defect",
                  "", "")
FV = FeatureVector("pump-001", T0 - timedelta(minutes=1), T0, {"temperature.mean": 61.25, "vib.rms": 0.00731},
                   60, (AssetEvent("pump-001", T0 - timedelta(seconds=5), "maintenance", "bearing swap"),),
                   (InputSpan("kafka:t:0", 10, 69),))
MAPPING = {TwinSnapshot: TWIN_SNAPSHOT, Alert: ALERT, FeatureVector: FEATURE_VECTOR}

ODD_FLOATS = [1e-05, 9.99e-05, 1e-4, 1e-7, 5e-324, 1e16, 9999999999999998.0, 1e22, -0.0, 0.0, 2.5e-300,
              1.7976931348623157e308, 0.1, 1 / 3, np.float64(0.25), np.float32(1e-05)]
NON_FINITE = [math.nan, math.inf, -math.inf]
ODD_TEXTS = ["", "temp\u00e9", "\x00\x01\x1f", "tab\tnew\nline\r", "del\x7f", '"quoted" \\ back',
             "\u2028\u2029", "\U0001f525", "a:b,c[d]{e}", "/", "\ud800x"]


class _Str(str):
    def __str__(self) -> str:
        return "other"


def former(rec: Any) -> bytes:
    """The route before round 30: the field table's dict, ``json.dumps`` compact, NaN refused."""
    return json.dumps(MAPPING[type(rec)].to_json(rec), separators=(",", ":"), allow_nan=False).encode("utf-8")


def same_or_same_error(rec: Any) -> None:
    try:
        expected = former(rec)
    except (ValueError, TypeError) as e:
        with pytest.raises(type(e)) as got:
            encode_json(rec)
        assert str(got.value) == str(e)
        return
    assert encode_json(rec) == expected


@pytest.fixture
def fallbacks(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Each record the former route wrote (the encoders call ``json_message.former`` for it)."""
    seen: list[Any] = []
    write = json_message.former

    def counted(to_json: Any, rec: Any) -> bytes:
        seen.append(rec)
        return write(to_json, rec)

    monkeypatch.setattr(json_message, "former", counted)
    return seen


def test_the_three_tables_have_a_message_encoder() -> None:
    """A field whose form has no fast value here turns its table's encoder off (the former route,
    slower): add the form to ``json_message`` when adding it to ``record_fields``."""
    assert set(json_message.message_encoders()) == {TwinSnapshot, Alert, FeatureVector}


@pytest.mark.parametrize("rec", [SNAP, ALERT_REC, FV, replace(SNAP, lineage=None, top_features=(), context={},
                                                             data_quality=(), defect=None, rul_s=None)])
def test_an_ordinary_record_is_written_by_orjson_with_json_text(rec: Any, fallbacks: list[Any]) -> None:
    assert encode_json(rec) == former(rec)
    assert fallbacks == []  # orjson's route wrote it


SNAP_FLOATS = ("anomaly_score", "health_index", "rul_s", "rul_lower_s", "degradation", "damage",
               "verdict_confidence")


@pytest.mark.parametrize("x", ODD_FLOATS + NON_FINITE, ids=repr)
@pytest.mark.parametrize("field", SNAP_FLOATS)
def test_odd_and_non_finite_numbers_give_json_text_or_its_error(field: str, x: float) -> None:
    same_or_same_error(replace(SNAP, **{field: x}))


@pytest.mark.parametrize("x", ODD_FLOATS + NON_FINITE, ids=repr)
def test_odd_numbers_in_maps_pairs_and_alerts(x: float) -> None:
    same_or_same_error(replace(SNAP, context={**CONTEXT, "odd": x}))
    same_or_same_error(replace(SNAP, top_features=(("a", 1.5), ("b", x))))
    same_or_same_error(replace(ALERT_REC, anomaly_score=x))
    same_or_same_error(replace(ALERT_REC, rul_s=x, damage_rul_upper_s=x))
    same_or_same_error(replace(FV, features={"a": 1.0, "b": x}))


def test_a_required_nan_is_refused_with_the_former_message() -> None:
    with pytest.raises(ValueError, match=r"^anomaly_score of twin snapshot of 'pump-001' must be finite"):
        encode_json(replace(SNAP, anomaly_score=math.nan))
    with pytest.raises(ValueError, match=r"^health_index of alert '27935517ea8877d8bcfd' must be finite"):
        encode_json(replace(ALERT_REC, health_index=-math.inf))


@pytest.mark.parametrize("text", ODD_TEXTS, ids=repr)
def test_odd_text_anywhere_gives_json_text(text: str) -> None:
    same_or_same_error(replace(SNAP, evidence=text, defect=text, condition=text))
    same_or_same_error(replace(SNAP, context={text: 1.5}, top_features=((text, 2.0),)))
    same_or_same_error(replace(SNAP, data_quality=((text, "ok", ""),)))
    same_or_same_error(replace(SNAP, lineage=replace(LIN, version=text, inputs=(InputSpan(text, 1, 2),))))
    same_or_same_error(replace(ALERT_REC, explanation=text, channel=text, check=text))
    same_or_same_error(replace(FV, features={text: 2.0}, inputs=(InputSpan(text, 0, 1),),
                               events=(AssetEvent("pump-001", T0, "install", text),)))
    same_or_same_error(replace(SNAP, asset_id=text or "x"))


@pytest.mark.parametrize("value", [2**63 - 1, 2**64, -(2**70), True, 1e-05, 3, None, _Str("s"), np.int64(7)],
                         ids=repr)
def test_huge_ints_and_values_of_another_type_give_json_text_or_its_error(value: Any) -> None:
    same_or_same_error(replace(SNAP, n_windows=value))
    same_or_same_error(replace(SNAP, condition=value, evidence=value))
    same_or_same_error(replace(SNAP, lineage=replace(LIN, life_id=value, config_hash=value)))
    same_or_same_error(replace(SNAP, context={"k": value}, top_features=(("n", value),)))
    same_or_same_error(replace(SNAP, data_quality=(("vib", value, ""),)))
    same_or_same_error(replace(ALERT_REC, sequence=value, defect=value))
    same_or_same_error(replace(FV, n_records=value, features={"a": value}))


def test_other_shapes_of_maps_marks_and_times() -> None:
    same_or_same_error(replace(SNAP, context={_Str("k"): 1.5, 2: 2.5}))
    same_or_same_error(replace(SNAP, context={"a": {"nested": 1.5}}))  # a map in a map: refused alike
    same_or_same_error(replace(SNAP, data_quality=(("vib", "bad"),)))
    same_or_same_error(replace(SNAP, data_quality=[("vib", "bad", "gap")]))
    same_or_same_error(replace(SNAP, top_features=[["a", 1.5], ("b", None)]))
    same_or_same_error(replace(SNAP, timestamp=T0.astimezone(timezone(timedelta(hours=5)))))
    same_or_same_error(replace(SNAP, timestamp=T0.replace(tzinfo=None)))
    same_or_same_error(replace(SNAP, timestamp=T0.replace(fold=1, microsecond=999999)))


def test_random_floats_and_texts_over_every_magnitude() -> None:
    rng = np.random.default_rng(30)
    magnitudes = 10 ** rng.uniform(-12, 20, 300) * rng.choice([-1, 1], 300)
    bits = rng.integers(0, 2**63, 100, dtype=np.uint64).view(np.float64)  # NaN and infinities among them
    floats = [float(x) for x in np.concatenate([magnitudes, bits])]
    alphabet = [chr(i) for i in range(0x80)] + ["\u00e9", "\u2028", "\U0001f525"]
    for i in range(0, len(floats) - 8, 8):
        xs = floats[i:i + 8]
        text = "".join(rng.choice(alphabet, 6))
        same_or_same_error(replace(SNAP, anomaly_score=xs[0], rul_s=xs[1], context={"a": xs[2], text: xs[3]},
                                   top_features=((text, xs[4]),), damage=xs[5], evidence=text))
        same_or_same_error(replace(FV, features=dict(zip("abc", xs[5:], strict=True))))


def test_equal_marks_of_other_types_do_not_share_a_kept_text() -> None:
    """``1 == 1.0 == True``: the kept data-quality texts are for marks of strings only."""
    for state in (1, True, 1.0, "1"):
        same_or_same_error(replace(SNAP, data_quality=(("vib", state, ""),)))
        same_or_same_error(replace(SNAP, data_quality=(("vib", "bad", "gap"), (state, "ok", ""))))
