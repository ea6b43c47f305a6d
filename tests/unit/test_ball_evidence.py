"""Ball faults: a spalled ball is named from its 2xBSF line, or from the cage-rate modulation its
impacts carry (the cage comb) when its 2xBSF line shares a window with a shaft harmonic; a shaft
harmonic alone is never called a ball (:mod:`twin_models.diagnosis.ball`).

Signals are the standard defect model (:func:`tests.unit.features.synth.bearing_signal`): impacts
at 2xBSF, amplitude-modulated at the cage rate FTF (a ball carried through the load zone), ringing
a resonance, at bearings and speeds the CWRU benchmark does not use; 1 s frames at 12 kHz, each
one window of a twin that has no healthy history (absolute evidence only).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from tests.factories import windows
from tests.unit.features.synth import bearing_signal
from twin_models.alerting import AlertPolicy
from twin_models.diagnosis.ball import ambiguous_ball_line, shaft_order_near
from twin_models.diagnosis.bearings import defect_multipliers
from twin_models.diagnosis.defects import DefectRules, advance_runs, diagnose, snr_lines
from twin_models.features.frame import frame_features
from twin_models.records import AssetMetadata, BearingGeometry, TwinSnapshot
from twin_models.twin import AssetTwin, TwinConfig

FS = 12_000.0
N = 12_000
CWRU_6203 = BearingGeometry(n_elements=8, ball_diameter_mm=6.746, pitch_diameter_mm=28.499)
CWRU_6205 = BearingGeometry(n_elements=9, ball_diameter_mm=7.94, pitch_diameter_mm=39.04)
AT_5X = BearingGeometry(n_elements=10, ball_diameter_mm=9.0, pitch_diameter_mm=46.7)  # 2xBSF 4.996x
AT_3X = BearingGeometry(n_elements=7, ball_diameter_mm=12.7, pitch_diameter_mm=41.9)  # 2xBSF 2.996x
LOOSE = BearingGeometry(n_elements=9, ball_diameter_mm=9.53, pitch_diameter_mm=46.40)  # 2xBSF 4.663x


def _run(geometry: BearingGeometry, shaft_hz: float,
         signal: list[np.ndarray]) -> tuple[list[TwinSnapshot], list[str]]:
    """Snapshots and alert defects of a fresh twin of this bearing over one window per frame."""
    meta = AssetMetadata(asset_id="pump-001", bearing=geometry, nominal_speed_hz=shaft_hz)
    twin = AssetTwin(meta, TwinConfig())
    policy = AlertPolicy("pump-001")
    feats = []
    for x in signal:
        f = frame_features(x, FS, shaft_hz=shaft_hz, geometry=geometry)
        feats.append({**{f"vib.{k}": v for k, v in f.items()}, "vib.shaft_hz": shaft_hz})
    snaps, defects = [], []
    for fv in windows(feats):
        snap = twin.update(fv)
        snaps.append(snap)
        defects += [a.defect or "" for a in policy.update(snap)]
    return snaps, defects


def _ball(geometry: BearingGeometry, shaft_hz: float, seed: int) -> np.ndarray:
    m = defect_multipliers(geometry)
    return bearing_signal(fs=FS, n=N, defect_hz=2.0 * m.bsf * shaft_hz, shaft_hz=shaft_hz,
                          modulation_hz=m.ftf * shaft_hz, load_zone=True, noise_rms=0.1, seed=seed)


def test_which_bearings_have_a_ball_line_at_a_shaft_order() -> None:
    assert ambiguous_ball_line(CWRU_6203)  # 3.988x, 0.3 % from 4x
    assert ambiguous_ball_line(AT_5X) and ambiguous_ball_line(AT_3X)
    assert not ambiguous_ball_line(CWRU_6205) and not ambiguous_ball_line(LOOSE)  # 4.71x, 4.66x
    assert shaft_order_near(3.988) == 4 and shaft_order_near(4.7135) is None
    assert shaft_order_near(0.6) is None and shaft_order_near(1.015) == 1
    assert shaft_order_near(4.08, rel_tol=0.01) is None and shaft_order_near(4.08) == 4


@pytest.mark.parametrize(("geometry", "shaft_hz"), [(AT_5X, 17.3), (AT_3X, 41.0), (CWRU_6203, 26.5)])
def test_ball_at_a_shaft_order_is_named_by_its_cage_modulation(geometry: BearingGeometry,
                                                                shaft_hz: float) -> None:
    snaps, alerts = _run(geometry, shaft_hz, [_ball(geometry, shaft_hz, seed) for seed in range(6)])
    assert [s.defect for s in snaps[1:]] == ["bsf"] * 5
    assert all("rolling element: cage-rate modulation, FTF" in s.evidence for s in snaps[1:])
    ftf = defect_multipliers(geometry).ftf * shaft_hz
    assert f"FTF {ftf:.1f} Hz envelope comb" in snaps[-1].evidence
    assert alerts == ["bsf"]


@pytest.mark.parametrize(("geometry", "shaft_hz"), [(LOOSE, 22.0), (CWRU_6205, 33.0)])
def test_ball_away_from_shaft_orders_is_named_by_its_2xbsf_line(geometry: BearingGeometry,
                                                                shaft_hz: float) -> None:
    snaps, alerts = _run(geometry, shaft_hz, [_ball(geometry, shaft_hz, seed) for seed in range(6)])
    assert [s.defect for s in snaps[1:]] == ["bsf"] * 5
    assert all(s.evidence.startswith("rolling element: 2xBSF ") for s in snaps[1:])
    assert alerts == ["bsf"]


@pytest.mark.parametrize(("geometry", "shaft_hz", "order"),
                         [(AT_5X, 17.3, 5), (CWRU_6203, 29.9, 4), (AT_3X, 41.0, 3)])
def test_a_shaft_harmonic_alone_is_not_a_ball(geometry: BearingGeometry, shaft_hz: float, order: int) -> None:
    """Impacts at an integer shaft order (looseness: a knock per 1/order turn), no cage
    modulation: the 2xBSF window holds their line, yet no ball is named."""
    signal = [bearing_signal(fs=FS, n=N, defect_hz=order * shaft_hz, shaft_hz=shaft_hz, jitter=0.002,
                             noise_rms=0.3, seed=seed) for seed in range(6)]
    snaps, alerts = _run(geometry, shaft_hz, signal)
    feats = frame_features(signal[0], FS, shaft_hz=shaft_hz, geometry=geometry)
    assert feats["env_bsf_snr"] > 8.0  # the line is there, in the ball's window
    assert feats["env_ftf_snr"] < 4.0
    assert all(s.defect != "bsf" for s in snaps)
    assert "bsf" not in alerts


def _seen(**snr: float) -> dict[str, float]:
    return {f"vib.env_{k}_snr": v for k, v in snr.items()}


def _diagnose(geometry: BearingGeometry, features: dict[str, float], held: dict[str, int],
              devs: dict[str, float] | None = None, *, learning: bool = True) -> str | None:
    meta = AssetMetadata(asset_id="pump-001", bearing=geometry, nominal_speed_hz=25.0)
    runs = {("vib", k): v for k, v in held.items()}
    return diagnose(meta, features, devs or {}, runs, learning=learning, ratio=lambda _n, _v: 3.0,
                    rules=DefectRules()).defect


def test_a_held_race_line_wins_over_the_cage_comb() -> None:
    feats = _seen(bpfo=6.0, bpfi=1.8, bsf=1.7, ftf=9.0)
    assert _diagnose(CWRU_6203, feats, {"bpfo": 2, "ftf": 2}) == "bpfo"
    assert _diagnose(CWRU_6205, feats, {"bpfo": 2, "ftf": 2}) == "bpfo"


def test_the_cage_comb_names_a_ball_only_above_both_race_lines_and_when_held() -> None:
    assert _diagnose(CWRU_6203, _seen(bpfo=1.8, bpfi=3.9, bsf=2.0, ftf=4.5), {"ftf": 2}) == "bsf"
    assert _diagnose(CWRU_6203, _seen(bpfo=1.8, bpfi=4.7, bsf=2.0, ftf=4.5), {"ftf": 2}) is None
    assert _diagnose(CWRU_6203, _seen(bpfo=1.8, bpfi=1.9, bsf=2.0, ftf=9.0), {"ftf": 1}) is None


def test_an_ambiguous_2xbsf_line_names_no_ball_from_the_spectrum_nor_the_baseline() -> None:
    feats = {**_seen(bpfo=1.8, bpfi=1.9, bsf=7.0, ftf=1.5), "vib.env_bsf_amp": 1.0}
    assert _diagnose(CWRU_6205, feats, {"bsf": 2}) == "bsf"
    assert _diagnose(CWRU_6203, feats, {"bsf": 2}) is None
    devs = {"vib.env_bsf_amp": 9.0}
    assert _diagnose(CWRU_6205, feats, {}, devs, learning=False) == "bsf"
    assert _diagnose(CWRU_6203, feats, {}, devs, learning=False) is None


def test_the_cage_line_is_counted_but_never_a_runner_up() -> None:
    feats = _seen(bpfo=10.0, bpfi=2.0, bsf=2.0, ftf=8.0)
    seen = snr_lines(feats)
    assert seen[("vib", "ftf")] == 8.0
    assert advance_runs({}, seen, 4.0) == {("vib", "bpfo"): 1, ("vib", "bpfi"): 0, ("vib", "bsf"): 0,
                                          ("vib", "ftf"): 1}
    meta = AssetMetadata(asset_id="pump-001", bearing=CWRU_6205, nominal_speed_hz=25.0)
    runs = {("vib", "bpfo"): 2, ("vib", "ftf"): 2}
    found = diagnose(meta, feats, {}, runs, learning=True, ratio=lambda _n, _v: 1.0, rules=DefectRules())
    assert found.defect == "bpfo" and math.isclose(found.confidence, 0.8)


def test_the_baseline_evidence_names_a_ball_line_2xbsf_at_its_frequency() -> None:
    """The frequency given is 2xBSF's (``defect_hz``), so the baseline's text names that line as the
    spectrum's does (round 50: "Rolling element: BSF 114.5 Hz ..." on the demo, BSF being ~57 Hz)."""
    meta = AssetMetadata(asset_id="pump-001", bearing=CWRU_6205, nominal_speed_hz=25.0)
    feats = {**_seen(bpfo=1.8, bpfi=1.9, bsf=2.0, ftf=1.5), "vib.env_bsf_amp": 1.0}
    found = diagnose(meta, feats, {"vib.env_bsf_amp": 9.0}, {}, learning=False,
                     ratio=lambda _n, _v: 3.0, rules=DefectRules())
    two_bsf = 2.0 * defect_multipliers(CWRU_6205).bsf * 25.0
    assert found.defect == "bsf"
    assert f"2xBSF {two_bsf:.1f} Hz envelope line" in found.evidence
