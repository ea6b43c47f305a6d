"""twin_models/anomaly/event_gate.py: the echo horizon of event mode, on synthetic series."""

from __future__ import annotations

from collections import deque

import numpy as np
import pytest

from tests.factories import prequential_scores
from twin_models.anomaly.event_gate import echo_horizon, is_news, lookback_capacity
from twin_models.anomaly.novelty import NoveltyDetector

SCALES = ((4, 4), (16, 4), (128, 16))
SETTINGS = {"scales": SCALES, "history": 1500, "value_history": 3000}
SPIKE, REFRACTORY = 1500, 50


def _run(det: NoveltyDetector, values: np.ndarray) -> np.ndarray:
    return prequential_scores(det, values, "v.mean")


def _horizons(values: np.ndarray) -> np.ndarray:
    """Per row, the echo horizon of the channel carrying its p (what the echo mode adds)."""
    det = NoveltyDetector(warmup=100, **SETTINGS)  # type: ignore[arg-type]
    out = np.zeros(len(values), dtype=int)
    for i, v in enumerate(values):
        x = {"v.mean": float(v)}
        out[i] = det._evaluate(x).horizon
        det.learn_one(x)
    return out


def _periodic(n: int = 2000, seed: int = 5) -> np.ndarray:
    t = np.arange(n)
    return 10 + np.sin(2 * np.pi * t / 48) + np.random.default_rng(seed).normal(0, 0.1, n)


def _both(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    plain = _run(NoveltyDetector(warmup=100, refractory=REFRACTORY, **SETTINGS), values)  # type: ignore[arg-type]
    echo = _run(NoveltyDetector(warmup=100, refractory=REFRACTORY, echo=True, **SETTINGS), values)  # type: ignore[arg-type]
    return plain, echo


def test_horizon_is_the_length_of_the_channel_carrying_p() -> None:
    lengths = [m for m, _ in SCALES]
    assert echo_horizon([[0.5, 0.5, 0.4, 0.3, 1e-6]], lengths) == 128
    assert echo_horizon([[1e-6, 0.5, 0.4, 0.3, 0.2]], lengths) == 0  # a value tail: no echo
    assert echo_horizon([[0.5, 0.5, 0.01, 0.3, 0.2], [0.5, 0.5, 0.4, 0.001, 0.2]], lengths) == 16
    assert echo_horizon([[0.5, 0.5, 0.01, 0.01, 0.2]], lengths) == 4  # ties: the first channel
    assert echo_horizon([], lengths) == 0
    assert echo_horizon([[0.5, 0.5, 0.4, 0.3, 0.2, 1e-9]], lengths) == 0  # a channel past the scales
    assert lookback_capacity(50, lengths, echo=True) == 178
    assert lookback_capacity(50, lengths, echo=False) == 50
    assert lookback_capacity(0, lengths, echo=False) == 1


def test_is_news_looks_back_exactly_lookback_surprises() -> None:
    recent = deque([9.0, 1.0, 2.0, 3.0], maxlen=10)
    assert is_news(4.0, recent, 3) and not is_news(4.0, recent, 4)
    assert not is_news(3.0, recent, 1)  # equal is not news
    assert is_news(0.5, deque(maxlen=5), 5)


@pytest.mark.parametrize("seed", [5, 6, 7])
def test_spike_reported_once_and_its_long_scale_echo_silenced(seed: int) -> None:
    values = _periodic(seed=seed)
    values[SPIKE] += 4.0
    plain, echo = _both(values)
    assert plain[SPIKE] > 0.999 and echo[SPIKE] > 0.999  # the spike, at once, in both modes
    # after the refractory the 128-window scale still holds the spike: a row it carries is
    # reported by echo mode only once the spike has left its look-back (refractory + 128)
    horizons = _horizons(values)
    after = np.arange(SPIKE + REFRACTORY + 1, SPIKE + REFRACTORY + 128)
    echoing = after[horizons[after] == 128]
    assert echoing.size > 10  # the long scale carries most rows after the spike ...
    assert np.all(echo[echoing] == 0.0)  # ... and echo mode reports none of them
    assert np.all(plain[echo > 0] == echo[echo > 0])  # what echo reports, plain reports too


def test_the_echo_silences_what_the_plain_rule_reports() -> None:
    silenced = 0
    for seed in (5, 6, 7):
        values = _periodic(seed=seed)
        values[SPIKE] += 4.0
        plain, echo = _both(values)
        after = slice(SPIKE + REFRACTORY + 1, SPIKE + REFRACTORY + 128)
        silenced += int(np.count_nonzero(plain[after]) - np.count_nonzero(echo[after]))
    assert silenced >= 2  # the plain rule re-reports the spike's echo after its refractory


def test_long_anomaly_reported_at_its_start() -> None:
    values = _periodic(seed=6)
    t = np.arange(300)
    values[SPIKE : SPIKE + 300] += 1.5 * np.sin(2 * np.pi * t / 7)  # a foreign rhythm, 300 windows
    plain, echo = _both(values)
    assert np.flatnonzero(echo[SPIKE - 100 :] > 0.999)[0] + SPIKE - 100 <= SPIKE + 4
    assert np.count_nonzero(echo[SPIKE:]) <= np.count_nonzero(plain[SPIKE:])


@pytest.mark.parametrize("seed", [5, 7])
def test_periodic_series_echo_reports_a_subset(seed: int) -> None:
    """A longer look-back can only silence rows: every row echo reports, plain reports too."""
    plain, echo = _both(_periodic(seed=seed))
    assert np.all(plain[echo > 0] == echo[echo > 0])
    assert np.count_nonzero(echo > 0.999) <= 2  # a clean periodic series: at most rare alarms
