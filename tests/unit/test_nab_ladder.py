"""benchmarks/quality/nab_ladder.py (NAB7): a priori scale ladders and their channel combinations."""

from __future__ import annotations

import numpy as np

from benchmarks.quality import nab_ladder, nab_members


def test_rungs_and_tails_are_the_novelty_detectors_own_channels() -> None:
    rng = np.random.default_rng(7)
    values = (np.sin(np.arange(1500) / 9) + rng.normal(0, 0.2, 1500)).tolist()
    values[1200] += 4.0  # a spike: tails and scales leave p = 1 there
    scales = ((8, 4), (24, 6), (96, 12))
    warmup, history, value_history = 60, 400, 700  # both memories wrap within the series
    expected = nab_members.novelty_channels(values, warmup, {
        "scales": scales, "history": history, "value_history": value_history})
    tails = nab_ladder.tail_channels(values, warmup, value_history, 20, 0.005)
    rungs = [nab_ladder.rung_channel(values, tails[:, 2], warmup, m, d, history, 20) for m, d in scales]
    got = np.column_stack([tails[:, 0], tails[:, 1], *rungs])
    np.testing.assert_array_equal(got, expected)
    assert got[1200].min() < 1e-3 < got[1000].min()


def test_ladder_rules() -> None:
    assert nab_ladder.ladder(8) == ((8, 8), (16, 8), (32, 8), (64, 8), (128, 8), (256, 8), (512, 8),
                                    (1024, 8), (2048, 8))  # up to the first rung reaching a week
    assert [d for _, d in nab_ladder.ladder(12)][:2] == [6, 8]  # 12 is not a multiple of 8
    sq = nab_ladder.ladder(8, rule=nab_ladder.sqrt_segments)
    assert [d for _, d in sq] == [4, 4, 8, 8, 16, 16, 32, 32, 64]
    for m, d in nab_ladder.ladder(6, rule=nab_ladder.sqrt_segments):  # 6x3, 12x4, 24x6, 48x8, 96x12 ...
        assert m % d == 0 and d * d >= m
        assert not [e for e in range(1, d) if m % e == 0 and e * e >= m]  # the smallest such divisor
    half = nab_ladder.half_octave(8)
    assert [m for m, _ in half][:6] == [8, 12, 16, 24, 32, 48] and half[-1][0] == 3072


def test_combinations_are_valid_and_do_not_punish_agreeing_channels() -> None:
    # one small p among ten channels: Bonferroni and the harmonic bound multiply it (valid under
    # any dependence), the Cauchy combination of one scored channel keeps it
    p = np.ones((3, 10))
    p[0, 2] = 1e-6
    p[1, :] = 1e-6  # every channel agrees (the two one-sided tails at half that: 1e-6 two-sided)
    p[1, :2] = 5e-7
    p[2, 3:] = 0.5
    bonf, harm, cau = nab_ladder.bonferroni(p), nab_ladder.harmonic(p), nab_ladder.cauchy(p)
    assert np.isclose(bonf[0], 1e-5) and np.isclose(bonf[1], 5e-6)
    assert harm[0] > 10 * harm[1]  # agreement is rewarded (Bonferroni: 2x)
    assert np.isclose(cau[1], 1e-6, rtol=1e-3)  # identical p-values combine to themselves
    assert np.isclose(cau[0], 1e-6) and np.all((cau > 0) & (cau <= 1))
    assert 0.4 < cau[2] < 0.6  # seven channels at 0.5 (tails not scored): 0.5
    # the effective number of tests: K until 100 rows are scored, then the rate of small minima
    rows = np.full((400, 4), 0.5)
    rows[::10, 1] = 0.005  # one row in ten has min p <= 0.01: 0.1 / 0.01 = 10 tests, capped at K
    rows[::50, 1] = 1e-4
    eff = nab_ladder.min_p_effective(rows, warmup=0)
    assert eff[50] == 4e-4 and np.isclose(eff[350], 4e-4)
    rows[::10, 1] = 0.5
    rows[::50, 1] = 1e-4  # one row in fifty: 2 effective tests
    eff = nab_ladder.min_p_effective(rows, warmup=0)
    assert np.isclose(eff[350], 2e-4)  # rare small minima: fewer effective tests than channels


def test_the_configs_scales_and_their_sensitivity_grid() -> None:
    """The sensitivity of the config's novelty scales is the ladder grid's half-step shifts of the
    same rule (NAB7); nab_members' a priori grid no longer perturbs a fixed scale set (round 10's
    perturbed rows moved scales the config no longer has). A config whose scales leave the rule
    fails here: its sensitivity rows would then be missing."""
    from benchmarks.quality.nab import DEFAULT_CONFIG
    from flows.config.pipeline import load_config

    scales = tuple(tuple(s) for s in load_config(DEFAULT_CONFIG, env={}).twin.novelty.scales)
    sqrt = nab_ladder.sqrt_segments
    assert scales == nab_ladder.LADDERS["sqrt ladder 8..2048"] == nab_ladder.ladder(8, rule=sqrt)
    m0 = scales[0][0]
    assert nab_ladder.LADDERS["sqrt ladder x1.5 (12..3072)"] == nab_ladder.ladder(3 * m0 // 2, rule=sqrt)
    assert nab_ladder.LADDERS["sqrt ladder x0.75 (6..3072)"] == nab_ladder.ladder(3 * m0 // 4, rule=sqrt)
    fixed = [name for name, over in nab_members.APRIORI.items() if "scales" in over]
    assert fixed == ["scales x4 to 2 days", "scales m=(3*2^j)^2, d=sqrt m"]  # rules in days, no perturbation
