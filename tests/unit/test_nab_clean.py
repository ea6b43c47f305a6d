"""benchmarks/quality/nab_clean.py: the rungs' references kept clean of their own alarms."""

from __future__ import annotations

import math
from functools import partial

import numpy as np

from benchmarks.quality.nab_clean import CleanReferences, ConfigFlags, alarm_cut
from benchmarks.quality.nab_ladder import rung_channel
from twin_models.anomaly.event_gate import ALARM_P
from twin_models.anomaly.novelty import SubsequenceNovelty


def _series(seed: int = 3, n: int = 1200) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return 10.0 + 0.3 * np.sin(np.arange(n) * 2 * np.pi / 48) + rng.normal(0.0, 0.05, n)


def _p_values(xs: np.ndarray, cut: float | None) -> np.ndarray:
    """The rung 8x4's p per row through the harness's loop: today's references, or clean ones."""
    novelty = SubsequenceNovelty if cut is None else partial(CleanReferences, cut=cut)
    return rung_channel([float(x) for x in xs], np.zeros(len(xs)), 0, 8, 4, 2000, 20, novelty)


def test_a_second_incident_is_judged_against_clean_references() -> None:
    xs = _series()
    xs[600:608] += np.array([0.0, 2.0, 4.0, 4.0, 4.0, 2.0, 0.0, 0.0])  # a burst
    xs[984:992] += np.array([0.0, -1.5, -3.0, -3.0, -1.5, 0.0, 0.0, 0.0])  # another incident, a dip
    cut = 1e-4
    base = _p_values(xs, None)
    clean = _p_values(xs, cut)
    first = int(np.argmax(clean <= cut))
    # until the rung first flags a row (that row included) the references are today's
    assert np.array_equal(base[: first + 1], clean[: first + 1])
    assert base[600:612].min() <= cut and clean[600:612].min() <= cut  # both flag the burst
    # today the burst's subsequences, far from everything, top the references: the dip is not an
    # alarm (p 0.009); against references without them it is (1e-195)
    assert base[984:996].min() > 10 * cut
    assert clean[984:996].min() < cut


def _brute_p(refs: list[float], stat: float, k: int, n_stored: int, m: int, min_samples: int) -> float:
    """The rank p-value of ``stat`` among ``refs``, exponential beyond the largest (the rung's)."""
    if n_stored - m < min_samples or len(refs) < min_samples:
        return 1.0
    ref = np.array(refs)
    ge = int(np.sum(ref >= stat))
    if ge:
        return (ge + 1) / (ref.size + 1)
    top = np.sort(ref)[-(min(k, ref.size - 1) + 1):]
    beta = max(float(top[1:].mean() - top[0]), 1e-300)
    return math.exp(-(stat - float(top.max())) / beta) / (ref.size + 1)


def _brute_force_check(sub: CleanReferences, xs: np.ndarray, cut: float,
                       given: np.ndarray | None) -> tuple[int, int, list[int], list[int]]:
    """Drive ``sub`` row by row and check every statistic and p against a brute-force rank among
    the stored subsequences containing no flagged row; the flagged rows ``given``, or (None) the
    brute force's own ``p <= cut``. Returns (rows checked, rows with references left out, rows
    flagged, rows at ``p <= cut`` not flagged)."""
    m, d, k = sub.m, sub.d, sub.k
    vecs: list[np.ndarray] = []  # stored subsequences, in order
    rows: list[int] = []  # the row each one ends at
    flagged: list[int] = [] if given is None else [int(i) for i in np.flatnonzero(given)]
    unflagged: list[int] = []
    checked = differs = 0
    for i, x in enumerate(xs):
        v = sub.vector(float(x))
        dist = sub.distances(v) if v is not None and sub.n else None
        stat, p = sub.p_value(dist, 0.0)
        if v is not None and dist is not None:
            c = len(vecs)
            arr = np.array(vecs)
            past = np.sum((arr[: max(c - m, 0)] - v) ** 2, axis=1)  # more than m subsequences back
            pair = np.sum((arr[:, None, :] - arr[None, :, :]) ** 2, axis=2)  # every stored pair
            idx = np.arange(c)
            pair[np.abs(idx[:, None] - idx[None, :]) <= m] = math.inf  # overlapping: not neighbours
            nn = pair.min(axis=1)
            known = np.isfinite(nn)
            clean = np.array([not any(r - m < f <= r for f in flagged) for r in rows], dtype=bool)
            refs = list(np.sqrt(nn[known & clean] / d))
            if past.size:
                s = math.sqrt(float(past.min()) / d)
                expect = _brute_p(refs, s, k, c, m, 50)
                if not math.isnan(stat):
                    assert math.isclose(stat, s, rel_tol=1e-9, abs_tol=1e-12)
                assert math.isclose(p, expect, rel_tol=1e-6, abs_tol=1e-300), (i, p, expect)
                checked += 1
                differs += int(np.count_nonzero(known & ~clean) > 0)
                if expect <= cut and given is None:
                    flagged.append(i)
                elif expect <= cut and given is not None and not given[i]:
                    unflagged.append(i)
        sub.learn(float(x), v, dist)
        if v is not None:
            vecs.append(v.copy())
            rows.append(i)
    return checked, differs, flagged, unflagged


def _two_incidents() -> np.ndarray:
    xs = _series(seed=5, n=600)
    xs[300:306] += 3.0  # an incident the rung flags
    xs[450:455] -= 2.0
    return xs


def test_p_value_is_the_rank_among_the_clean_references_by_brute_force() -> None:
    cut = 1e-3
    checked, differs, flagged, _ = _brute_force_check(CleanReferences(8, 4, history=5000, k=20, cut=cut),
                                                      _two_incidents(), cut, None)
    assert checked > 500
    assert differs > 100  # the clean references were not all of them on many rows
    assert flagged and min(flagged) >= 300  # the incident, not the noise, was flagged


def test_cut_is_the_alarm_grade_over_bonferronis_channels() -> None:
    assert math.isclose(alarm_cut(11), ALARM_P / 11)


def _config_flag_p(xs: np.ndarray, flags: np.ndarray) -> np.ndarray:
    """The rung 8x4's p per row with references clean of the given flagged rows (NAB48B)."""
    return rung_channel([float(x) for x in xs], np.zeros(len(xs)), 0, 8, 4, 2000, 20,
                        partial(ConfigFlags, flags=flags))


def test_config_flags_make_a_second_incident_news_without_feeding_themselves() -> None:
    xs = _series()
    xs[600:608] += np.array([0.0, 2.0, 4.0, 4.0, 4.0, 2.0, 0.0, 0.0])  # a burst
    xs[984:992] += np.array([0.0, -1.5, -3.0, -3.0, -1.5, 0.0, 0.0, 0.0])  # another incident, a dip
    cut = 1e-3  # the config flags the burst's first rows only (601-604), and one noise row
    base = _p_values(xs, None)
    flags = base <= cut  # today's p decide the flags
    got = _config_flag_p(xs, flags)
    first = int(np.argmax(flags))
    assert flags[600:612].any() and np.array_equal(base[: first + 1], got[: first + 1])
    # the dip, at p 0.009 against today's references, is an alarm against the config-clean ones
    assert base[984:996].min() > 5 * cut
    assert got[984:996].min() < cut
    # no feedback: the variant's own small p (rows the config did not flag) take nothing more out;
    # NAB48's self-flags would have (its references differ from these after such a row)
    extra = np.flatnonzero((got <= cut) & ~flags)
    assert extra.size
    assert not np.array_equal(_p_values(xs, cut), got)
    sub = ConfigFlags(8, 4, history=2000, k=20, flags=flags)
    for x in xs:
        v = sub.vector(float(x))
        d = sub.distances(v) if v is not None and sub.n else None
        sub.p_value(d, 0.0)
        sub.learn(float(x), v, d)
    ends = np.arange(len(xs))[-sub.n:]  # the row each stored subsequence ends at (history > n)
    covered = np.array([flags[max(t - 7, 0): t + 1].any() for t in ends])
    assert np.array_equal(~sub._clean[: sub.n], covered)


def test_config_flags_p_value_is_the_rank_among_references_clean_of_the_given_rows() -> None:
    xs, cut = _two_incidents(), 1e-3
    base = rung_channel([float(x) for x in xs], np.zeros(len(xs)), 0, 8, 4, 5000, 20, SubsequenceNovelty)
    given = base <= cut  # today's p decide the flags
    checked, differs, flagged, unflagged = _brute_force_check(
        ConfigFlags(8, 4, history=5000, k=20, flags=given), xs, cut, given)
    assert checked > 500
    assert differs > 100 and flagged and min(flagged) >= 300
    assert unflagged  # the variant's own flags would have differed: the exclusion is the given rows'
