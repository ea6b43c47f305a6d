"""Every online model passes every contract check (twin_models.checks), parametrised."""

from __future__ import annotations

import pytest

from tests.factories import feature_stream, metadata, windows
from twin_models.anomaly.baseline import BaselineDetector
from twin_models.anomaly.calibration import TailCalibrator
from twin_models.checks import ALL_CHECKS, check_bounded_memory, check_score_is_pure
from twin_models.twin import AssetTwin, TwinConfig


class TwinAsModel:
    """AssetTwin seen through River's verbs: score = the snapshot's anomaly score."""

    def __init__(self) -> None:
        self.twin = AssetTwin(metadata(), TwinConfig(warmup_windows=10, calibrator_window=100))

    def score_one(self, fv):  # type: ignore[no-untyped-def]
        return self.twin._score(fv, self.twin.model_features(fv)).anomaly_score

    def learn_one(self, fv):  # type: ignore[no-untyped-def]
        self.twin.update(fv)


class CalibratorAsModel:
    def __init__(self) -> None:
        self.cal = TailCalibrator(window=150, min_samples=10)

    def score_one(self, x):  # type: ignore[no-untyped-def]
        return self.cal.score_one(x["vib.rms"])

    def learn_one(self, x):  # type: ignore[no-untyped-def]
        self.cal.learn_one(x["vib.rms"])


FEATS = feature_stream(600, seed=3, fault_from=450)
MODELS = {
    "baseline": (
        lambda: BaselineDetector(warmup=10, calibrator_window=150, calibrator_min_samples=10),
        FEATS,
    ),
    "calibrator": (CalibratorAsModel, FEATS),
    "twin": (TwinAsModel, windows(FEATS[:400])),
}


@pytest.mark.parametrize("check", ALL_CHECKS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("model", sorted(MODELS))
def test_contract(model: str, check) -> None:  # type: ignore[no-untyped-def]
    factory, stream = MODELS[model]
    check(factory, stream)


class Cheater:
    """Learns while scoring: breaks the prequential contract."""

    def __init__(self) -> None:
        self.n = 0

    def score_one(self, x):  # type: ignore[no-untyped-def]
        self.n += 1
        return 0.5

    def learn_one(self, x):  # type: ignore[no-untyped-def]
        pass


class Hoarder:
    """Keeps every item: unbounded memory."""

    def __init__(self) -> None:
        self.seen: list[float] = []

    def score_one(self, x):  # type: ignore[no-untyped-def]
        return 0.0

    def learn_one(self, x):  # type: ignore[no-untyped-def]
        self.seen.append(x["vib.rms"])


def test_checks_catch_a_model_that_learns_while_scoring() -> None:
    with pytest.raises(AssertionError, match="changed the model's state"):
        check_score_is_pure(Cheater, FEATS[:5])


def test_checks_catch_unbounded_memory() -> None:
    with pytest.raises(AssertionError, match="not bounded"):
        check_bounded_memory(Hoarder, FEATS)
