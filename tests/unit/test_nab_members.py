"""benchmarks/quality/nab_members.py: the offline combination is the detector's own event mode."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.quality import nab_members
from tests.factories import prequential_scores
from twin_models.anomaly.novelty import NoveltyDetector

SETTINGS = {"features": (".mean",), "scales": ((4, 4), (16, 4)), "history": 400, "value_history": 800}


def test_channels_bonferroni_and_event_mode_reproduce_the_detector() -> None:
    rng = np.random.default_rng(0)
    values = 10 + np.sin(np.arange(1500) / 8) + rng.normal(0, 0.1, 1500)
    values[900] += 3
    values[1200:] += 1.5
    warmup, refractory = 100, 150
    det = NoveltyDetector(warmup=warmup, refractory=refractory, **SETTINGS)  # type: ignore[arg-type]
    online = prequential_scores(det, values, "value.mean")
    ps = nab_members.novelty_channels(list(values), warmup, SETTINGS)
    p = np.minimum(1.0, ps.min(axis=1) * ps.shape[1])
    offline = nab_members.event_scores(p, refractory, warmup)
    assert (online > 0.999).sum() >= 2  # the spike and the shift are found ...
    np.testing.assert_array_equal(offline, online)  # ... and offline gives the very same row scores


def test_change_channels_and_groups() -> None:
    values = list(10 + np.random.default_rng(1).normal(0, 1, 800))
    values[700] += 8
    ps = nab_members.change_channels(values, 50, ((8, 64),))
    groups = nab_members.channel_groups(1)
    assert ps.shape == (800, 6) and sorted(groups["change"]) == list(range(6))
    assert np.all(ps[:50] == 1.0)  # nothing scored during the warm-up
    assert ps[700, groups["step"]].min() < 1e-4 < ps[699, groups["step"]].min()


@pytest.mark.parametrize("arg", ["[[0, 10]]", "[]", "x", "[[8]]"])
def test_bad_change_scales_exit_2(arg: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        nab_members.main(["--change-scales", arg])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("nab_members: --change-scales") and err.count("\n") == 1


def test_offline_echo_horizon_reproduces_the_detector() -> None:
    rng = np.random.default_rng(4)
    values = 10 + np.sin(np.arange(1500) / 8) + rng.normal(0, 0.1, 1500)
    values[900] += 3
    values[1200:1260] += 1.5
    warmup, refractory = 100, 30
    det = NoveltyDetector(warmup=warmup, refractory=refractory, echo=True, **SETTINGS)  # type: ignore[arg-type]
    online = prequential_scores(det, values, "value.mean")
    ps = nab_members.novelty_channels(list(values), warmup, SETTINGS)
    p = np.minimum(1.0, ps.min(axis=1) * ps.shape[1])
    horizon = nab_members.echo_horizons(ps, [4, 16])
    assert set(np.unique(horizon)) <= {0, 4, 16}
    offline = nab_members.event_scores(p, refractory, warmup, horizon)
    plain = nab_members.event_scores(p, refractory, warmup)
    np.testing.assert_array_equal(offline, online)  # the detector's echo mode, row by row
    assert np.count_nonzero(offline) < np.count_nonzero(plain)  # the echo silences some rows


def test_offline_alarm_hold_reproduces_the_detector() -> None:
    rng = np.random.default_rng(4)
    values = 10 + np.sin(np.arange(1500) / 8) + rng.normal(0, 0.1, 1500)
    values[900:903] += (0.6, 0.9, 1.2)  # a climbing spike: alarms on consecutive rows
    values[1200:1260] += 1.5
    warmup, refractory, hold = 100, 30, 5
    det = NoveltyDetector(warmup=warmup, refractory=refractory, echo=True, hold=hold, **SETTINGS)  # type: ignore[arg-type]
    online = prequential_scores(det, values, "value.mean")
    ps = nab_members.novelty_channels(list(values), warmup, SETTINGS)
    p = np.minimum(1.0, ps.min(axis=1) * ps.shape[1])
    horizon = nab_members.echo_horizons(ps, [4, 16])
    offline = nab_members.event_scores(p, refractory, warmup, horizon, hold)
    unheld = nab_members.event_scores(p, refractory, warmup, horizon)
    np.testing.assert_array_equal(offline, online)  # the detector's hold, row by row
    assert np.count_nonzero(offline) < np.count_nonzero(unheld)  # the hold silences some rows
