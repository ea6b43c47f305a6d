"""Intermittent race lines (:mod:`twin_models.diagnosis.intermittency`): a race defect's envelope
line is there in every window at a steady speed and load; one that was held and falls back to
the noise level the next window names no race until it is held steady again.

Signals: the standard defect model (:func:`tests.unit.features.synth.bearing_signal`), impacts at
BPFI (modulated at the shaft rate) or BPFO, at bearings and speeds the CWRU benchmark does not use;
1 s frames at 12 kHz, each one window of a twin with no healthy history (absolute evidence only).
A window "off" is the same machine without impacts (noise and the shaft line): the bursts of a
spalled ball whose spall leaves the contact track.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.factories import windows
from tests.unit.features.synth import bearing_signal
from twin_models.alerting import AlertPolicy
from twin_models.diagnosis.bearings import defect_multipliers
from twin_models.diagnosis.defects import DefectRules, advance_runs, diagnose, snr_lines
from twin_models.diagnosis.intermittency import NOISE_SNR, STEADY_RUNS, intermittent
from twin_models.features.frame import frame_features
from twin_models.records import AssetMetadata, BearingGeometry, TwinSnapshot
from twin_models.twin import AssetTwin, TwinConfig

FS = 12_000.0
N = 12_000
SKF_6206 = BearingGeometry(n_elements=9, ball_diameter_mm=9.53, pitch_diameter_mm=46.40)
SEVEN_BALLS = BearingGeometry(n_elements=7, ball_diameter_mm=12.7, pitch_diameter_mm=41.9)
CASES = [("bpfi", SKF_6206, 22.0), ("bpfi", SEVEN_BALLS, 41.0), ("bpfo", SKF_6206, 17.3),
         ("bpfo", SEVEN_BALLS, 29.0)]


def _frame(defect: str, geometry: BearingGeometry, shaft_hz: float, on: bool, seed: int) -> np.ndarray:
    """One frame: impacts at the defect's rate (``on``), else the same noise and shaft line alone.
    A pure-noise frame's line SNR is 1.4-2.1, about half of them below NOISE_SNR (2.0), and only
    those are a lapse: the "off" frames' seeds (3000 + i) are ones that land below it, which the
    tests assert rather than assume."""
    if not on:
        t = np.arange(N) / FS
        return np.random.default_rng(3000 + seed).normal(0.0, 0.4, N) + 0.3 * np.sin(2 * np.pi * shaft_hz * t)
    m = defect_multipliers(geometry)
    hz = (m.bpfi if defect == "bpfi" else m.bpfo) * shaft_hz
    return bearing_signal(fs=FS, n=N, defect_hz=hz, shaft_hz=shaft_hz, noise_rms=0.4, seed=seed,
                          modulation=0.5 if defect == "bpfi" else 0.0)


def _run(defect: str, geometry: BearingGeometry, shaft_hz: float,
         pattern: str) -> tuple[list[TwinSnapshot], list[dict[str, float]], list[str]]:
    """Snapshots, frame features and alert defects of a fresh twin over one window per letter of
    ``pattern`` (``1`` impacts, ``0`` none)."""
    meta = AssetMetadata(asset_id="pump-001", bearing=geometry, nominal_speed_hz=shaft_hz)
    twin = AssetTwin(meta, TwinConfig())
    policy = AlertPolicy("pump-001")
    feats = [frame_features(_frame(defect, geometry, shaft_hz, c == "1", seed), FS, shaft_hz=shaft_hz,
                            geometry=geometry) for seed, c in enumerate(pattern)]
    snaps, alerts = [], []
    for fv in windows([{**{f"vib.{k}": v for k, v in f.items()}, "vib.shaft_hz": shaft_hz} for f in feats]):
        snap = twin.update(fv)
        snaps.append(snap)
        alerts += [a.defect or "" for a in policy.update(snap)]
    return snaps, feats, alerts


@pytest.mark.parametrize(("defect", "geometry", "shaft_hz"), CASES)
def test_a_steady_race_line_is_named_every_window(defect: str, geometry: BearingGeometry,
                                                  shaft_hz: float) -> None:
    snaps, feats, alerts = _run(defect, geometry, shaft_hz, "1" * 8)
    assert min(f[f"env_{defect}_snr"] for f in feats) > 4.0
    assert [s.defect for s in snaps[1:]] == [defect] * 7
    assert alerts == [defect]


@pytest.mark.parametrize(("defect", "geometry", "shaft_hz"), CASES)
def test_a_race_line_that_vanishes_after_being_held_names_no_race(defect: str, geometry: BearingGeometry,
                                                                  shaft_hz: float) -> None:
    pattern = "11011101"  # bursts: held 2, gone, held 3, gone, back
    snaps, feats, alerts = _run(defect, geometry, shaft_hz, pattern)
    off = [f[f"env_{defect}_snr"] for f, c in zip(feats, pattern, strict=True) if c == "0"]
    assert max(off) < NOISE_SNR  # the "off" windows are at the noise level: a lapse
    assert snaps[1].defect == defect  # held 2 windows before anything says otherwise
    assert [s.defect for s in snaps[2:]] == [None] * 6  # runs of 3 and 1 after the lapse
    assert all(s.verdict != "defect" for s in snaps[2:])
    assert defect not in alerts[1:]


@pytest.mark.parametrize(("defect", "geometry", "shaft_hz"), CASES)
def test_a_lapsed_race_line_held_steady_again_is_named_again(defect: str, geometry: BearingGeometry,
                                                             shaft_hz: float) -> None:
    steady = STEADY_RUNS * TwinConfig().defect_snr_windows
    snaps, _, _ = _run(defect, geometry, shaft_hz, "110" + "1" * (steady + 2))
    defects = [s.defect for s in snaps]
    assert defects[3 : 2 + steady] == [None] * (steady - 1)
    assert defects[2 + steady :] == [defect] * 3


def test_a_window_without_the_line_and_a_ball_line_are_no_lapse() -> None:
    held = {("vib", "bpfi"): 2, ("vib", "bsf"): 2}
    assert advance_runs(held, {}, 4.0, 2) == {("vib", "bpfi"): 0, ("vib", "bsf"): 0}  # no figure: no lapse
    runs = advance_runs(held, {("vib", "bpfi"): 1.2, ("vib", "bsf"): 1.1}, 4.0, 2)
    assert intermittent(runs, ("vib", "bpfi"))
    assert not intermittent(runs, ("vib", "bsf"))  # a ball's bursts are its nature, not a contradiction
    # held only once before (persistence 2): a flicker, no lapse; persistence 1: a lapse
    once, gone = {("vib", "bpfo"): 1}, {("vib", "bpfo"): 1.0}
    assert not intermittent(advance_runs(once, gone, 4.0, 2), ("vib", "bpfo"))
    assert intermittent(advance_runs(once, gone, 4.0, 1), ("vib", "bpfo"))


def test_an_intermittent_race_line_names_nothing_from_the_spectrum_nor_the_baseline() -> None:
    meta = AssetMetadata(asset_id="pump-001", bearing=SKF_6206, nominal_speed_hz=25.0)
    feats = {"vib.env_bpfo_snr": 1.8, "vib.env_bpfi_snr": 7.0, "vib.env_bsf_snr": 1.9, "vib.env_ftf_snr": 1.2,
             "vib.env_bpfi_amp": 1.0}
    runs = advance_runs({("vib", "bpfi"): 2}, {("vib", "bpfi"): 1.5}, 4.0, 2)  # lapsed
    runs = advance_runs(runs, snr_lines(feats), 4.0, 2)
    runs = advance_runs(runs, snr_lines(feats), 4.0, 2)  # held 2 again: not steady yet
    assert runs[("vib", "bpfi")] == 2 and intermittent(runs, ("vib", "bpfi"))
    devs = {"vib.env_bpfi_amp": 9.0}
    for learning in (True, False):
        found = diagnose(meta, feats, devs, runs, learning=learning, ratio=lambda _n, _v: 3.0,
                         rules=DefectRules())
        assert found.defect is None
    plain = {k: v for k, v in runs.items() if not k[1].endswith(":lapsed")}
    assert diagnose(meta, feats, devs, plain, learning=True, ratio=lambda _n, _v: 3.0,
                    rules=DefectRules()).defect == "bpfi"
