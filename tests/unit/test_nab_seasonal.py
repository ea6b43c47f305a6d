"""benchmarks/quality/nab_seasonal.py: the offline replay is the period detector's own event mode."""

from __future__ import annotations

import numpy as np

from benchmarks.quality import nab_members, nab_seasonal
from tests.factories import prequential_scores
from twin_models.anomaly.seasonal import DEFAULT_PERIOD, PeriodNoveltyDetector, period_scales

SETTINGS = {"features": (".mean",), "history": 1500, "value_history": 3000}
FRACTIONS = (0.25, 1.0)


def test_period_channels_with_the_echo_reproduce_the_detector_through_a_rebuild() -> None:
    rng = np.random.default_rng(0)
    values = 10 + np.sin(2 * np.pi * np.arange(1500) / 40) + rng.normal(0, 0.1, 1500)
    values[900] += 3
    values[1200:] += 1.5
    warmup, refractory = 100, 150
    det = PeriodNoveltyDetector(warmup=warmup, refractory=refractory, echo=True, fractions=FRACTIONS,
                                default_period=DEFAULT_PERIOD, **SETTINGS)  # type: ignore[arg-type]
    online = prequential_scores(det, values, "value.mean")
    got = nab_seasonal.period_channels(list(values), warmup, SETTINGS, FRACTIONS)
    lengths = got["lengths"]
    assert [tuple(r) for r in np.unique(lengths, axis=0)] == sorted(
        {tuple(m for m, _ in period_scales(p, FRACTIONS)) for p in (DEFAULT_PERIOD, 40)})  # rebuilt once
    assert set(np.unique(got["period"])) == {0, 40}
    ch = got["channels"]
    p = np.minimum(1.0, ch.min(axis=1) * ch.shape[1])
    offline = nab_members.event_scores(p, refractory, warmup, nab_seasonal.horizons(ch, lengths))
    assert (online > 0.999).sum() >= 2
    np.testing.assert_array_equal(offline, online)


def test_horizons_are_the_length_of_the_scale_carrying_the_smallest_p() -> None:
    ch = np.array([[0.1, 0.5, 0.01, 0.2, 0.3], [0.01, 0.5, 0.1, 0.2, 0.3], [0.5, 0.5, 0.5, 0.01, 0.3],
                   [0.5, 0.5, 0.5, 0.5, 0.001]])
    lengths = np.array([[4, 40], [4, 40], [8, 80], [8, 80]])
    np.testing.assert_array_equal(nab_seasonal.horizons(ch, lengths), [4, 0, 80, 0])
