"""The twin step's per-window shortcuts (issue 10, round 20, part twinupd2) give what the
computations they replace gave: the positional ``replace``, the model features walked by items,
the deviations' unmasked path and the detector's raw statistic shared with the twin (the
data-quality monitor's walk is tested against the per-check code in test_quality_one_pass.py)."""

from __future__ import annotations

import copy
import dataclasses
import math
import pickle
import random
from dataclasses import InitVar, dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from tests.factories import feature_stream, metadata, windows
from twin_models.anomaly import baseline
from twin_models.anomaly.baseline import is_log_feature
from twin_models.anomaly.feature_stats import FeatureStats
from twin_models.fastrecord import replace_record
from twin_models.feature_map import feature_map
from twin_models.records import AssetMetadata, ChannelQuality, FeatureVector, TwinSnapshot
from twin_models.twin import AssetTwin, TwinConfig
from twin_models.twin_window import split_names

T0 = datetime(2024, 1, 1, tzinfo=UTC)


# --- replace_record -----------------------------------------------------------------------------

def _snapshot() -> TwinSnapshot:
    return TwinSnapshot("a-1", T0, T0 - timedelta(hours=1), "healthy", 0.25, 0.9, 3600.0, 1800.0,
                        7200.0, False, 12, 0, degradation=0.1, top_features=(("x.mean", 1.5),),
                        context={"speed": 3.0})


def test_replace_record_equals_dataclasses_replace_field_for_field() -> None:
    snap = _snapshot()
    for changes in ({"data_quality": (("t", "ok", ""),)}, {"condition": "critical", "rul_s": None},
                    {}, {"asset_id": "b-2", "verdict": "defect", "verdict_confidence": 0.5}):
        got, want = replace_record(snap, **changes), dataclasses.replace(snap, **changes)
        assert type(got) is TwinSnapshot
        assert got == want
        assert [getattr(got, f.name) for f in dataclasses.fields(got)] == \
            [getattr(want, f.name) for f in dataclasses.fields(want)]
    assert snap.condition == "healthy"  # the original is untouched
    q = ChannelQuality("a-1", "t", T0, "ok")
    assert replace_record(q, state="bad", check="gap") == ChannelQuality("a-1", "t", T0, "bad", "gap")


def test_replace_record_runs_post_init_and_rejects_an_unknown_field_as_replace_does() -> None:
    @dataclass(frozen=True)
    class Checked:
        a: int
        b: int = 0

        def __post_init__(self) -> None:
            if self.b < 0:
                msg = "b < 0"
                raise ValueError(msg)

    with pytest.raises(ValueError, match="b < 0"):
        replace_record(Checked(1, 2), b=-1)
    with pytest.raises(TypeError):
        replace_record(Checked(1, 2), c=3)


def test_replace_record_falls_back_for_fields_it_cannot_pass_by_position() -> None:
    @dataclass
    class Hidden:
        a: int
        b: int = field(default=5, init=False)

    @dataclass
    class WithInitVar:
        a: int
        b: int = 0
        scale: InitVar[int] = 1

        def __post_init__(self, scale: int) -> None:
            self.b *= scale

    @dataclass
    class KwOnly:
        a: int
        b: int = field(default=0, kw_only=True)

    h = Hidden(1)
    h.b = 9
    assert replace_record(h, a=2) == dataclasses.replace(h, a=2)  # b back to its default, as replace
    assert replace_record(WithInitVar(1, 2), b=3, scale=2) == WithInitVar(1, 6)
    assert replace_record(KwOnly(1, b=2), a=3) == KwOnly(3, b=2)


# --- model features -----------------------------------------------------------------------------

def _features(rng: random.Random) -> dict[str, float]:
    out = {}
    for ch in ("vib", "speed", "load", "temp", "motor"):
        for f in ("rms", "mean", "shaft_hz", "kurtosis"):
            odd = [math.nan, math.inf, -math.inf, -0.0]
            out[f"{ch}.{f}"] = rng.choice([rng.gauss(0, 3), rng.gauss(0, 3), *odd])
    return out


@pytest.mark.parametrize("context", [(), ("speed", "load"), ("vib", "temp", "motor", "speed", "load")])
def test_model_features_and_context_are_the_name_by_name_selection(context: tuple[str, ...]) -> None:
    rng = random.Random(7)
    twin = AssetTwin(AssetMetadata("a-1"), TwinConfig(context_channels=context))
    for _ in range(30):
        raw = _features(rng)
        names = tuple(raw)
        model, ctx = split_names(names, context)
        want_model = {k: raw[k] for k in model if math.isfinite(raw[k])}
        want_ctx = {k: raw[k] for k in ctx if math.isfinite(raw[k])}
        for feats in (raw, feature_map(raw)):
            fv = FeatureVector("a-1", T0, T0 + timedelta(hours=1), feats)
            got = twin.model_features(fv)
            assert list(got.items()) == list(want_model.items())  # same items, same order
            signs = [math.copysign(1, v) for v in want_model.values()]
            assert [math.copysign(1, v) for v in got.values()] == signs
            assert list(twin.context(fv).items()) == list(want_ctx.items())


# --- deviations: the unmasked path --------------------------------------------------------------

def _per_feature(fs: FeatureStats, x: dict[str, float]) -> dict[str, float]:
    """Every deviation one feature at a time (the formula of FeatureStats.deviations)."""
    out = {}
    for k, value in x.items():
        if k not in fs or fs.count(k) < 2 or not math.isfinite(value):
            continue
        v = math.log(max(value, 1e-12)) if is_log_feature(k) else value
        mean = fs.mean_of(k)
        floor = 0.05 if is_log_feature(k) else 0.01 * abs(mean)
        out[k] = (v - mean) / max(math.sqrt(max(fs.variance(k), 0.0)), floor, 1e-9)
    return out


def _hex(d: dict[str, float]) -> list[tuple[str, str]]:
    return [(k, float(v).hex()) for k, v in d.items()]


def test_deviations_unmasked_and_masked_windows_are_the_per_feature_formula() -> None:
    rng = np.random.default_rng(3)
    names = ["a.rms", "b.mean", "c.peak", "d.mean", "e.mean"]
    fs = FeatureStats(is_log_feature)
    fs.update({"a.rms": 1.0, "b.mean": 2.0, "c.peak": 3.0, "d.mean": 4.0})
    fs.update({"a.rms": 1.5, "b.mean": 2.5, "c.peak": 2.0, "d.mean": 4.5})
    fs.update({"e.mean": 7.0})  # learnt once: no deviation yet
    for i in range(200):
        values = rng.normal(3.0, 1.0, len(names)) * rng.choice([1e-3, 1.0, 1e3])
        x = dict(zip(names, values.tolist(), strict=True))
        kind = i % 4
        if kind == 0 and fs.count("e.mean") < 2:  # the usual window: all known, finite, learnt twice
            del x["e.mean"]
        elif kind == 1:
            x[names[i % len(names)]] = [math.nan, math.inf, -math.inf][i % 3]
        elif kind == 2:
            x[f"new{i}.mean"] = 1.0  # never learnt
        got = fs.deviations(x, 0.05, 0.01)
        assert _hex(got) == _hex(_per_feature(fs, x)), i
        before = copy.deepcopy(fs)
        fs.update(x)
        for k, value in x.items():  # Welford, one feature at a time (a new feature from zero)
            if not math.isfinite(value):
                assert fs.count(k) == before.count(k), (i, k)
                continue
            v = math.log(max(value, 1e-12)) if is_log_feature(k) else value
            n = before.count(k) + 1.0
            mean = before.mean_of(k) + (1.0 / n) * (v - before.mean_of(k))
            assert (fs.count(k), float(fs.mean_of(k)).hex()) == (n, float(mean).hex()), (i, k)
    assert fs.deviations({}, 0.05, 0.01) == {}


# --- the raw statistic, found once --------------------------------------------------------------

@pytest.mark.parametrize(("top_k", "top_n"), [(3, 5), (3, 3), (4, 2), (1, 10)])
def test_twin_sharing_its_raw_statistic_scores_and_learns_as_the_detector(top_k: int, top_n: int) -> None:
    cfg = TwinConfig(warmup_windows=10, top_k=top_k, top_n_features=top_n)
    twin = AssetTwin(metadata(), cfg)
    reference = copy.deepcopy(twin.detector)
    for fv in windows(feature_stream(120, seed=11, fault_from=80)):
        x = twin.model_features(fv)
        expected = reference.score_one(x)
        assert twin.update(fv).anomaly_score == expected
        reference.learn_one(x)
        assert pickle.dumps(twin.detector) == pickle.dumps(reference)


def test_the_raw_statistic_is_found_once_per_window_when_the_twin_has_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    original = baseline.rms_of_largest

    def counted(deviations: object, k: int) -> float:
        calls.append(k)
        return original(deviations, k)  # type: ignore[arg-type]

    fvs = windows(feature_stream(40, seed=4))
    for top_n, per_window in ((5, 1), (2, 3)):  # top_n < top_k: the detector finds its own (twice)
        twin = AssetTwin(metadata(), TwinConfig(warmup_windows=10, top_k=3, top_n_features=top_n))
        for fv in fvs[:15]:
            twin.update(fv)
        monkeypatch.setattr("twin_models.twin.rms_of_largest", counted)
        monkeypatch.setattr(baseline, "rms_of_largest", counted)
        calls.clear()
        for fv in fvs[15:]:
            twin.update(fv)
        assert len(calls) == per_window * len(fvs[15:]), top_n
        monkeypatch.undo()


def test_a_nan_deviation_leaves_the_detector_its_own_statistic(monkeypatch: pytest.MonkeyPatch) -> None:
    twin = AssetTwin(metadata(), TwinConfig(warmup_windows=10))
    fvs = windows(feature_stream(60, seed=6))
    for fv in fvs[:40]:
        twin.update(fv)
    reference = copy.deepcopy(twin.detector)
    own = twin.detector.deviations

    def with_nan(x: dict[str, float]) -> dict[str, float]:
        devs = own(x)
        devs[next(iter(devs))] = math.nan
        return devs

    monkeypatch.setattr(twin.detector, "deviations", with_nan)
    for fv in fvs[40:]:
        devs = with_nan(twin.model_features(fv))
        assert twin.score(fv).anomaly_score == reference.score_deviations(devs)
