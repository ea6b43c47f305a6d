"""The twin's Page-Hinkley test is River's (``river.drift.PageHinkley``) formula for formula: the same
verdict after every value and the same state, in every mode; it pickles stably, and a River
instance from an old snapshot becomes one of ours in the same state (in a twin too)."""

from __future__ import annotations

import pickle
import random

import pytest
from river import drift

from twin_models.anomaly.page_hinkley import PageHinkley, from_river
from twin_models.records import AssetMetadata
from twin_models.twin import AssetTwin

STATE = ("_sum_increase", "_sum_decrease", "_min_increase", "_max_decrease", "_drift_detected")


def _stream(seed: int, n: int = 3000) -> list[float]:
    """Noise with a step up at the middle and a step down at three quarters."""
    rng = random.Random(seed)
    step = lambda i: (3.0 if n // 2 < i < 3 * n // 4 else 0.0) - (4.0 if i >= 3 * n // 4 else 0.0)  # noqa: E731
    return [rng.gauss(0.0, 1.0) + step(i) for i in range(n)]


def _state(d: object) -> tuple[object, ...]:
    return (*(getattr(d, k) for k in STATE), d._x_mean.n, d._x_mean.get())  # type: ignore[attr-defined]


@pytest.mark.parametrize("mode", ["up", "down", "both"])
@pytest.mark.parametrize("seed", range(6))
def test_same_verdicts_and_state_as_river(mode: str, seed: int) -> None:
    rng = random.Random(seed)
    params = {"min_instances": rng.randint(1, 60), "threshold": rng.choice([0.5, 5.0, 50.0]),
              "delta": rng.choice([0.005, 0.1]), "alpha": rng.choice([1 - 0.0001, 0.99])}
    river_ph, ours = drift.PageHinkley(mode=mode, **params), PageHinkley(mode=mode, **params)
    flags = []
    for x in _stream(seed):
        river_ph.update(x)
        ours.update(x)
        assert ours.drift_detected == river_ph.drift_detected
        flags.append(ours.drift_detected)
        assert _state(ours) == _state(river_ph)
    assert any(flags)  # the streams do drift: the comparison covered detections and resets


def test_pickles_stably_and_resumes_identically() -> None:
    a = PageHinkley(mode="up", min_instances=10, threshold=5.0)
    xs = _stream(3)
    for x in xs[:1600]:
        a.update(x)
    data = pickle.dumps(a)
    b = pickle.loads(data)  # noqa: S301 - our own bytes
    assert pickle.dumps(b) == data
    for x in xs[1600:]:
        a.update(x)
        b.update(x)
        assert a.drift_detected == b.drift_detected
    assert _state(a) == _state(b)


def test_a_river_instance_from_an_old_snapshot_is_converted_in_its_state() -> None:
    river_ph = drift.PageHinkley(mode="up", min_instances=10, threshold=5.0)
    reference = drift.PageHinkley(mode="up", min_instances=10, threshold=5.0)
    xs = _stream(4)
    for x in xs[:1000]:
        river_ph.update(x)
        reference.update(x)
    ours = from_river(pickle.loads(pickle.dumps(river_ph)))  # noqa: S301 - our own bytes
    assert type(ours) is PageHinkley
    for x in xs[1000:]:
        ours.update(x)
        reference.update(x)
        assert ours.drift_detected == reference.drift_detected
    assert from_river(ours) is ours and from_river(3) == 3


def test_a_twin_pickled_with_rivers_page_hinkley_restores_with_ours() -> None:
    twin = AssetTwin(AssetMetadata("pump-1", "pump"))
    old = drift.PageHinkley(mode="up", min_instances=twin.config.warmup_windows)
    for x in _stream(5, 200):
        old.update(abs(x))
    twin.drift = old  # what a twin of an older version held
    restored = pickle.loads(pickle.dumps(twin))  # noqa: S301 - our own bytes
    assert type(restored.drift) is PageHinkley
    assert _state(restored.drift) == _state(old)
    assert pickle.dumps(pickle.loads(pickle.dumps(restored))) == pickle.dumps(restored)  # noqa: S301


def test_rejects_an_unknown_mode() -> None:
    with pytest.raises(ValueError, match="mode 'sideways'"):
        PageHinkley(mode="sideways")
