"""A window's baseline deviations are computed once (issue 10: score, explanation and learning
used to compute them three times), with the same snapshots and the same learnt state."""

from __future__ import annotations

import copy
import pickle

import pytest

from tests.factories import feature_stream, metadata, windows
from twin_models.anomaly.baseline import BaselineDetector
from twin_models.twin import AssetTwin, TwinConfig


def counting(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    original = BaselineDetector.deviations

    def deviations(self: BaselineDetector, x: dict[str, float]) -> dict[str, float]:
        calls.append(1)
        return original(self, x)

    monkeypatch.setattr(BaselineDetector, "deviations", deviations)
    return calls


def test_one_deviations_call_per_window(monkeypatch: pytest.MonkeyPatch) -> None:
    twin = AssetTwin(metadata(), TwinConfig(warmup_windows=10))
    fvs = windows(feature_stream(60, seed=3, fault_from=45))
    for fv in fvs[:12]:  # past the warm-up: the baseline scores and gates its learning
        twin.update(fv)
    calls = counting(monkeypatch)
    for fv in fvs[12:]:
        twin.update(fv)
    assert len(calls) == len(fvs) - 12


def test_same_snapshots_and_state_as_score_one_and_learn_one() -> None:
    """Reference: River's verbs on a copy of the detector, window by window."""
    twin = AssetTwin(metadata(), TwinConfig(warmup_windows=10))
    reference = copy.deepcopy(twin.detector)
    for fv in windows(feature_stream(150, seed=5, fault_from=100)):
        x = twin.model_features(fv)
        expected = reference.score_one(x)
        snap = twin.update(fv)
        reference.learn_one(x)
        assert snap.anomaly_score == expected
        assert pickle.dumps(twin.detector) == pickle.dumps(reference)
    assert twin.detector.n_learned < 150  # the learn gate held faulty windows back


def test_score_and_learn_from_deviations_equal_the_river_verbs() -> None:
    a, b = BaselineDetector(warmup=5), BaselineDetector(warmup=5)
    for i, x in enumerate(feature_stream(80, seed=2, fault_from=60)):
        devs = a.deviations(x)
        assert a.score_deviations(devs) == b.score_one(x), i
        a.learn_deviations(x, devs)
        b.learn_one(x)
    assert pickle.dumps(a) == pickle.dumps(b)
