"""River's own estimator checks run on every detector a twin may select (``twin.detector``): ours
(baseline, novelty) and each of River's behind the adapter (``river.anomaly.<Name>``); all are
``river.base.AnomalyDetector``s and pass the same checks.

``river.checks.yield_checks`` yields the general checks (repr, clone, params, pickling...) and then
dataset checks on River's CreditCard data, which needs scikit-learn and a download: the general
checks run as River yields them, the dataset checks (``river.checks.common``) run on a stream of
our own bearing windows instead (``roc_auc`` needs scikit-learn and is left out). The change member
of the NAB ensemble experiments (:class:`~twin_models.anomaly.change.ChangeNovelty`, not selectable
by a twin) passes the same checks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from river import base
from river.checks import common, yield_checks

from tests.contract.streams import rich_features, scalar_features
from twin_models.anomaly.baseline import BaselineDetector
from twin_models.anomaly.change import ChangeNovelty
from twin_models.anomaly.novelty import NoveltyDetector
from twin_models.anomaly.river_detector import RIVER_DETECTORS, RiverDetector
from twin_models.anomaly.seasonal import PeriodNoveltyDetector
from twin_models.contracts import Detector

DETECTORS: dict[str, Callable[[], base.AnomalyDetector]] = {
    "baseline": lambda: BaselineDetector(warmup=10, calibrator_window=150, calibrator_min_samples=10),
    "novelty": lambda: NoveltyDetector(warmup=10, scales=((4, 4), (16, 4)), history=200,
                                       value_history=300),
    "novelty_period": lambda: PeriodNoveltyDetector(warmup=10, history=200, value_history=300,
                                                    default_period=72),
    "change": lambda: ChangeNovelty(warmup=10, scales=((4, 16),), history=300),
    **{f"river.anomaly.{n}": (lambda n=n: RiverDetector(n, warmup=10, calibrator_window=100))
       for n in RIVER_DETECTORS},
}

SCALAR = ("novelty", "novelty_period", "change")  # scalar-series detectors: checked on a scalar stream

DATASET_CHECKS = (
    common.check_learn_one,
    common.check_pickling,
    common.check_shuffle_features_no_impact,
    common.check_emerging_features,
    common.check_disappearing_features,
    common.check_radically_disappearing_features,
    common.check_predict_one_pure,
    common.check_predict_one_before_any_learn,
    common.check_no_state_aliasing_with_input,
    common.check_clone_is_independent,
)


def general_checks(model: base.Estimator) -> Iterator[Callable[..., Any]]:
    """River's checks up to its first dataset check (those need scikit-learn)."""
    checks = yield_checks(model)
    while True:
        try:
            check = next(checks)
        except (StopIteration, ModuleNotFoundError):
            return
        if "dataset" in getattr(check, "keywords", {}):
            return
        yield check


def _dataset(name: str) -> list[tuple[dict[str, float], None]]:
    feats = scalar_features(160) if name in SCALAR else rich_features(160, fault_from=120)
    return [(x, None) for x in feats]


@pytest.mark.parametrize("name", sorted(DETECTORS))
def test_our_detectors_pass_rivers_general_checks(name: str) -> None:
    model = DETECTORS[name]()
    assert isinstance(model, base.AnomalyDetector)
    assert isinstance(model, Detector) or name == "change"  # a member, not a twin's detector
    checks = list(general_checks(model))
    assert len(checks) >= 14, [c.__name__ for c in checks]
    for check in checks:
        check(model)


@pytest.mark.parametrize("check", DATASET_CHECKS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("name", sorted(DETECTORS))
def test_our_detectors_pass_rivers_dataset_checks(name: str, check: Callable[..., None]) -> None:
    check(DETECTORS[name](), _dataset(name))


@pytest.mark.parametrize("name", sorted(DETECTORS))
def test_our_detectors_memory_stays_bounded_by_rivers_measure(name: str) -> None:
    feats = scalar_features(1200) if name in SCALAR else rich_features(1200)
    common.check_bounded_memory_growth(DETECTORS[name](), [(x, None) for x in feats])


def test_rivers_evaluation_tools_apply_to_our_detectors() -> None:
    """River's thresholder (``anomaly.QuantileFilter``) and ``metrics.ROCAUC`` take our detector as
    they take River's own (score before learning). (River's HalfSpaceTrees behind our adapter
    flags most healthy windows of this stream: plumbing that works, not a good detector here.)"""
    from river import anomaly, metrics

    feats = rich_features(400, fault_from=300)
    filt = anomaly.QuantileFilter(DETECTORS["baseline"](), q=0.98, protect_anomaly_detector=False)
    auc = metrics.ROCAUC()
    flagged = {"healthy": 0, "faulty": 0}
    for i, x in enumerate(feats):
        score = filt.score_one(x)
        is_anomaly = bool(filt.classify(score))
        if i >= 50:  # after the warm-up
            auc.update(i >= 300, score)
            flagged["faulty" if i >= 300 else "healthy"] += is_anomaly
        filt.learn_one(x)
    assert flagged["faulty"] / 100 > flagged["healthy"] / 250
    assert auc.get() > 0.6  # better than chance at ranking faulty windows above healthy ones
