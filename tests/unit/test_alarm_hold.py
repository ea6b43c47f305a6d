"""twin_models/anomaly/event_gate.py: the alarm hold of event mode, on synthetic series."""

from __future__ import annotations

import numpy as np
import pytest

from tests.factories import prequential_scores
from twin_models.anomaly.event_gate import ALARM_P, ALARM_SURPRISE, is_held
from twin_models.anomaly.novelty import NoveltyDetector

SETTINGS = {"scales": ((4, 4), (16, 4), (128, 16)), "history": 1500, "value_history": 3000}
START, REFRACTORY, HOLD = 1500, 50, 4
ALARM = 1.0 - ALARM_P  # a row reported at alarm grade scores at least this


def _periodic(n: int = 2000, seed: int = 5, noise: float = 0.1) -> np.ndarray:
    t = np.arange(n)
    return 10 + np.sin(2 * np.pi * t / 48) + np.random.default_rng(seed).normal(0, noise, n)


def _spike(seed: int) -> np.ndarray:
    values = _periodic(seed=seed)
    values[START : START + 3] += (0.6, 0.9, 1.2)  # a spike climbing over three readings
    return values


def _long(seed: int) -> np.ndarray:
    values = _periodic(seed=seed)
    values[START : START + 300] += 1.5 * np.sin(2 * np.pi * np.arange(300) / 7)  # a foreign rhythm
    return values


def _noisy_then_quiet(seed: int) -> np.ndarray:
    values = _periodic(seed=seed, noise=0.4)
    values[1000:] = _periodic(seed=seed + 100)[1000:]  # the noise drops to a quarter at row 1000
    values[START] += 3.0
    return values


SERIES = {"spike": _spike, "long": _long, "noisy_then_quiet": _noisy_then_quiet, "periodic": _periodic}


def _both(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    runs = [prequential_scores(NoveltyDetector(warmup=100, refractory=REFRACTORY, echo=True,
                                               hold=hold, **SETTINGS),  # type: ignore[arg-type]
                               values, "v.mean") for hold in (0, HOLD)]
    return runs[0], runs[1]


def test_is_held_counts_the_windows_after_an_alarm() -> None:
    assert [is_held(i, 10, 3) for i in range(9, 15)] == [False, False, True, True, True, False]
    assert not is_held(11, -1, 3)  # no alarm yet
    assert not is_held(11, 10, 0)  # hold off
    assert ALARM_SURPRISE == pytest.approx(-np.log10(ALARM_P))


@pytest.mark.parametrize("seed", [5, 6, 7])
def test_a_climbing_spike_is_one_alarm(seed: int) -> None:
    plain, held = _both(_spike(seed))
    burst = slice(START, START + 3)
    assert np.count_nonzero(plain[burst] >= ALARM) >= 2  # each new extreme of the burst re-alarms
    assert held[START] >= ALARM  # with the hold: the spike at once ...
    assert np.count_nonzero(held[START + 1 : START + 1 + HOLD]) == 0  # ... and nothing of its burst


@pytest.mark.parametrize("name", sorted(SERIES))
@pytest.mark.parametrize("seed", [5, 7])
def test_the_hold_only_silences_rows_just_after_an_alarm(name: str, seed: int) -> None:
    """Every row the hold reports, the plain mode reports alike; every row it silences lies
    within HOLD rows after an alarm it reported (a row that is not an alarm holds nothing)."""
    plain, held = _both(SERIES[name](seed))
    assert np.all(plain[held > 0] == held[held > 0])
    alarms = np.flatnonzero(held >= ALARM)
    for i in np.flatnonzero((plain > 0) & (held == 0)):
        before = alarms[alarms < i]
        assert before.size and i - before[-1] <= HOLD, (name, i)


@pytest.mark.parametrize("seed", [5, 6, 7])
def test_incidents_are_reported_at_the_same_row(seed: int) -> None:
    for make in (_long, _noisy_then_quiet):
        plain, held = _both(make(seed))
        first_plain = np.flatnonzero(plain[START - 100 :] >= ALARM)[0]
        first_held = np.flatnonzero(held[START - 100 :] >= ALARM)[0]
        assert first_held == first_plain <= 100 + 4  # at (or within 4 rows of) its start, both


@pytest.mark.parametrize("seed", [5, 7])
def test_periodic_series_stays_quiet(seed: int) -> None:
    _, held = _both(_periodic(seed=seed))
    assert np.count_nonzero(held >= ALARM) <= 2


def test_a_detector_pickled_before_the_hold_existed_restores_without_it() -> None:
    values = _spike(5)
    old = NoveltyDetector(warmup=100, refractory=REFRACTORY, echo=True, **SETTINGS)  # type: ignore[arg-type]
    new = NoveltyDetector(warmup=100, refractory=REFRACTORY, echo=True, **SETTINGS)  # type: ignore[arg-type]
    prequential_scores(old, values[:1000], "v.mean")
    prequential_scores(new, values[:1000], "v.mean")
    state = old.__getstate__()
    del state["hold"], state["last_alarm"]  # the state of a detector pickled by round 9
    restored = NoveltyDetector.__new__(NoveltyDetector)
    restored.__setstate__(state)
    assert restored.hold == 0 and restored.last_alarm == -1
    np.testing.assert_array_equal(prequential_scores(restored, values[1000:], "v.mean"),
                                  prequential_scores(new, values[1000:], "v.mean"))
