"""benchmarks/quality/nab_cusum.py (NAB22, a harness since NAB24): Page's CUSUM of -ln p and its
a-priori calibration."""

from __future__ import annotations

import math

import numpy as np
import pytest

from benchmarks.quality.nab_cusum import (
    EvidenceCusum,
    combine,
    equivalent_p,
    null_arl,
    reference_for,
    threshold_for,
)


def test_cusum_follows_a_hand_computed_sequence() -> None:
    cus = EvidenceCusum(k=1.0)
    # -ln p: 1 -> 0 ; e^-3 -> 2 ; 1 -> 1 ; e^-0.5 -> 0.5 ; e^-0.2 -> 0 (floored) ; e^-4 -> 3
    expected = [0.0, 2.0, 1.0, 0.5, 0.0, 3.0]
    got = []
    for p in (1.0, math.exp(-3), 1.0, math.exp(-0.5), math.exp(-0.2), math.exp(-4)):
        s = cus.peek(p)
        assert cus.s == (got[-1] if got else 0.0)  # peek leaves the state alone
        cus.commit(s)
        got.append(s)
    np.testing.assert_allclose(got, expected, atol=1e-12)
    cus.reset()
    assert cus.s == 0.0 and cus.peek(math.exp(-2.5)) == pytest.approx(1.5)


def test_null_run_length_small_threshold_and_monotone() -> None:
    # a threshold just above 0: every window alarms with P(X > k) = e^-k, independently: ARL e^k
    for k in (0.5, 1.0, 2.0):
        assert null_arl(1e-9, k) == pytest.approx(math.exp(k), rel=1e-6)
    arls = [null_arl(h, 2.0) for h in (1.0, 2.0, 4.0, 8.0)]
    assert arls == sorted(arls) and arls[-1] > 100 * arls[0]
    assert equivalent_p(0.0, 1.0) == 1.0
    assert equivalent_p(5.0, 2.0) == pytest.approx(1.0 / null_arl(5.0, 2.0), rel=0.01)
    # the reference value of the alarm grade's likelihood ratio, -ln(theta)/(1-theta), 1/theta = ln 1000
    theta = 1.0 / math.log(1000.0)
    assert reference_for(1000.0) == pytest.approx(-math.log(theta) / (1.0 - theta))


@pytest.mark.parametrize("k", [1.0, reference_for(1000.0)])
def test_a_priori_threshold_gives_its_false_alarm_rate_on_uniform_p(k: float) -> None:
    h = threshold_for(1000.0, k)
    assert null_arl(h, k) == pytest.approx(1000.0, rel=0.01)
    rng = np.random.default_rng(22)
    x = rng.exponential(size=400_000)  # -ln of uniform p-values
    s, alarms = 0.0, 0
    for v in x:
        s = max(0.0, s + v - k)
        if s >= h:
            alarms += 1
            s = 0.0
    # renewal: one alarm per ARL0 = 1000 windows on average (400 expected)
    assert 340 <= alarms <= 460, alarms


def test_combine_modes() -> None:
    assert combine(1e-4, 0.5, "cusum") == 0.5
    assert combine(1e-4, 0.5, "either") == pytest.approx(2e-4)
    assert combine(0.6, 0.9, "either") == 1.0
    with pytest.raises(ValueError):
        EvidenceCusum(k=0.0)

