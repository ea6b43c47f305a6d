"""benchmarks/quality/nab_pit.py: the rungs on the values' prequential PIT."""

from __future__ import annotations

import numpy as np

from benchmarks.quality.nab_ladder import rung_channel, tail_channels
from benchmarks.quality.nab_pit import prequential_pit


def test_the_pit_is_the_mid_rank_among_earlier_values() -> None:
    # 3 first: 1/2; 1 below the 3: 0.5 / 2; 3 tied with one of two: (1 + 1/2 + 1/2) / 3; ...
    got = prequential_pit([3.0, 1.0, 3.0, 2.0, 3.0])
    assert np.allclose(got, [0.5, 0.25, 2 / 3, 1.5 / 4, 3.5 / 5], rtol=0, atol=1e-15)
    # a rank: any increasing transform of the values gives the same PIT, fixed when the row arrives
    xs = np.random.default_rng(5).lognormal(0.0, 2.0, 500)
    assert np.array_equal(prequential_pit(list(xs)), prequential_pit(list(np.log(xs))))
    assert np.array_equal(prequential_pit(list(xs[:300])), prequential_pit(list(xs))[:300])


def _rung(values: list[float], warmup: int) -> np.ndarray:
    floors = tail_channels(values, warmup, 10**6, 20, 0.005)[:, 2]
    return rung_channel(values, floors, warmup, 8, 4, 4000, 20)


def test_a_taller_burst_of_the_same_kind_is_familiar_on_the_pit_only() -> None:
    rng = np.random.default_rng(7)
    xs = 10.0 + rng.normal(0.0, 0.05, 1600)
    burst = np.array([0.0, 1.0, 2.0, 2.0, 2.0, 1.0, 0.0, 0.0])
    for start in (300, 500, 700):
        xs[start:start + 8] += burst  # the same burst, three times
    xs[1200:1208] += 20 * burst  # the same shape, twenty times taller: beyond the value range
    warmup = 100
    raw = _rung(list(xs), warmup)
    pit = _rung([float(u) for u in prequential_pit(list(xs))], warmup)
    # raw values: the tall burst's subsequences are far from anything seen (alarm grade);
    # on the PIT both bursts are "the top of the values" and the tall one is not news to the rung
    assert raw[1200:1212].min() < 1e-6
    assert pit[1200:1212].min() > 1e3 * raw[1200:1212].min()
    assert not np.array_equal(raw, pit)
