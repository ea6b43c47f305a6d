"""benchmarks/quality/nab_prior.py (NAB29): the fleet prior's pooled null, its bands, and folds whose
rows depend on what was learnt on the other categories (nab_logo.logo_by_fold)."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.quality import nab_logo, nab_prior
from twin_models.evaluate.scoring import NabFile


def test_age_bands_cut_at_a_day_a_week_and_the_pattern_memory() -> None:
    b = nab_prior.age_bands(200 + 9000, warmup=200)
    assert np.all(b[:200] == -1)  # the warm-up
    # rows scored before row i: i - 200; bands [0, 288), [288, 2016), [2016, 8064), >= 8064
    assert [int(b[200 + n]) for n in (0, 287, 288, 2015, 2016, 8063, 8064, 8999)] == [0, 0, 1, 1, 2, 2, 3, 3]


def test_pooled_null_rank_and_proportional_tail_by_hand() -> None:
    null = nab_prior.PooledNull({0: np.arange(1, 101) / 100.0})  # 0.01, 0.02, ..., 1.00
    s = np.array([0.5, 0.2, 0.1, 0.005])
    p = null.p(s, np.zeros(4, dtype=int))
    # rank: #{S <= 0.5} = 50 -> 51 / 101; #{S <= 0.2} = 20 -> 21 / 101 (the k-th smallest is 0.2)
    np.testing.assert_allclose(p[:2], [51 / 101, 21 / 101])
    # below the knot 0.2: F(0.2) * s / 0.2, not the rank (11 / 101 for 0.1)
    np.testing.assert_allclose(p[2:], [21 / 101 * 0.1 / 0.2, 21 / 101 * 0.005 / 0.2])


def test_each_band_has_its_own_null_and_a_thin_band_borrows_the_nearest_younger_one() -> None:
    young = np.full(50, 1e-4)  # the first day: tiny p-values are common
    old = np.linspace(0.01, 1.0, 100)
    null = nab_prior.PooledNull({0: young, 1: old, 2: np.array([0.5] * 5), 3: np.linspace(0.5, 1.0, 30)})
    assert sorted(null.sorted) == [0, 1, 3]  # band 2 has fewer than k = 20 rows
    s = np.full(4, 1e-4)
    p = null.p(s, np.array([0, 1, 2, 3]))
    assert p[0] == 1.0  # as common as anything on the first day (51 / 51)
    assert p[1] == pytest.approx((21 / 101) * 1e-4 / 0.2)  # rare for an older file
    assert p[2] == p[1]  # band 2 borrows band 1
    assert p[3] < p[1]  # band 3's own null: its knot is at 0.83
    with pytest.raises(ValueError, match="no age band has 20 null rows"):
        nab_prior.PooledNull({0: np.ones(19)})


def _channels(n: int, level: float) -> np.ndarray:
    x = np.ones((n, 3))
    x[:, 1] = level
    return x


def test_the_prior_is_learnt_on_the_training_files_null_rows_only() -> None:
    n, warmup = 400, 100
    bands = {k: nab_prior.age_bands(n, warmup) for k in ("A/a.csv", "B/b.csv")}
    masks = {k: np.arange(n) >= warmup for k in bands}
    masks["A/a.csv"][300:] = False  # A's labelled window: not null
    ch = {"A/a.csv": _channels(n, 0.3), "B/b.csv": _channels(n, 1e-5)}
    ch["A/a.csv"][300:, 1] = 1e-9  # inside the window: must not enter the null
    p1 = nab_prior.VARIANTS[0]
    prior = nab_prior.Prior(p1, ch, masks, bands, ["A/a.csv"])
    # A's 200 null rows are all 0.3: B's 1e-5 lies below the knot, F(0.3) * 1e-5 / 0.3 = 1e-5 / 0.3
    p, _ = prior.row_p(ch["B/b.csv"], bands["B/b.csv"], warmup)
    np.testing.assert_allclose(p[warmup:], 1e-5 / 0.3)
    np.testing.assert_allclose(p[:warmup], 1e-5)  # the warm-up keeps its p
    # trained on B alone, the same rows are as common as its null: 1
    p, _ = nab_prior.Prior(p1, ch, masks, bands, ["B/b.csv"]).row_p(ch["B/b.csv"], bands["B/b.csv"], warmup)
    assert np.all(p[warmup:] == 1.0)
    # per channel (P2): each channel on its own null, Bonferroni over the 3
    p2, cal = nab_prior.Prior(nab_prior.VARIANTS[1], ch, masks, bands, ["A/a.csv"]).row_p(
        ch["B/b.csv"], bands["B/b.csv"], warmup)
    np.testing.assert_allclose(cal[warmup:, 1], 1e-5 / 0.3)
    np.testing.assert_allclose(p2[warmup:], 3e-5 / 0.3)


def test_blend_moves_from_the_fleet_to_the_file_own_p_as_its_history_grows() -> None:
    fleet, own = np.full(10, 0.2), np.full(10, 0.6)
    q = nab_prior.blend(fleet, own, warmup=2, rows=4)
    # n = -2 .. 7: own in the warm-up, then w = 0, 0.25, 0.5, 0.75, 1, 1 ...
    np.testing.assert_allclose(q, [0.6, 0.6, 0.2, 0.3, 0.4, 0.5, 0.6, 0.6, 0.6, 0.6])


def test_null_mask_leaves_out_the_warm_up_and_the_labelled_windows() -> None:
    f = NabFile("A/a.csv", np.arange(20), np.zeros(20), [(5, 8)])
    m = nab_prior.null_mask(f, warmup=3)
    assert np.flatnonzero(~m).tolist() == [0, 1, 2, 5, 6, 7, 8]


def _file(cat: str, hit: int | None) -> NabFile:
    scores = np.zeros(1000)
    if hit is not None:
        scores[hit] = 0.99
    return NabFile(f"{cat}/f.csv", np.arange(1000), scores, [(500, 599)])


def test_logo_by_fold_scores_each_held_out_category_with_its_own_fold_rows() -> None:
    # the rows made without D find D's window; the rows made without A, B or C find nothing there
    def runs_for(held_out: str) -> dict[str, list[NabFile]]:
        return {"v": [_file(c, 500 if c == held_out or c in "ABC" else None) for c in "ABCD"]}

    folds, pooled = nab_logo.logo_by_fold(runs_for)
    by = {f.held_out: f for f in folds}
    assert [f.held_out for f in folds] == ["A", "B", "C", "D"]
    assert by["D"].scores["standard"] == 100.0  # scored with the rows made without D
    assert pooled["standard"] == 100.0
    # the same rows for every fold (logo): D's window is never found by the rows it is scored with
    folds, pooled = nab_logo.logo({"v": runs_for("A")["v"]})
    assert {f.held_out: f for f in folds}["D"].scores["standard"] == 0.0
    assert pooled["standard"] == 75.0
