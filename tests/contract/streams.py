"""Streams that exercise every input of the twin's models, for the contract checks.

Each stream covers what the model reads in production: envelope-line SNR features (the twin's
absolute defect evidence), a drifting fault, operating regimes (load steps), asset events
(install, maintenance, failure) and completed lives (the fleet models).
"""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import timedelta

import numpy as np

from tests.factories import T0, feature_stream, windows
from twin_models.records import AssetEvent, FeatureVector, TwinSnapshot
from twin_models.rul.fleet import ConditionInputs
from twin_models.rul.trend import CompletedLife

H = 3600.0


def rich_features(n: int, *, seed: int = 3, fault_from: int | None = None) -> list[dict[str, float]]:
    """Bearing windows with envelope-line SNRs, the shaft speed and two load regimes.

    From ``fault_from`` the BPFO line grows in amplitude AND stands out of the envelope
    spectrum (its SNR climbs past the twin's ``defect_min_snr``), as a real outer-race defect does.
    """
    rng = np.random.default_rng(seed)
    out = []
    for i, f in enumerate(feature_stream(n, seed=seed, fault_from=fault_from)):
        grown = 0.0 if fault_from is None or i < fault_from else 0.2 * (i - fault_from)
        high_load = (i // 40) % 2 == 1
        out.append({
            **f,
            "vib.env_bpfo_snr": float(1.7 + abs(rng.normal(0, 0.3)) + grown),
            "vib.env_bpfi_snr": float(1.7 + abs(rng.normal(0, 0.3))),
            "vib.env_bsf_snr": float(1.7 + abs(rng.normal(0, 0.3))),
            "vib.shaft_hz": float(24.6 + rng.normal(0, 0.05)),
            "load.mean": float((80.0 if high_load else 40.0) + rng.normal(0, 0.5)),
            "vib.band_1000_2000hz_rms": float(0.05 * (1.6 if high_load else 1.0)
                                              * math.exp(rng.normal(0, 0.05))),
        })
    return out


def scalar_features(n: int, *, seed: int = 5) -> list[dict[str, float]]:
    """A daily temperature pattern with noise, a level shift at 2/3 and a spike (novelty input)."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        level = 20.0 + 3.0 * math.sin(2 * math.pi * i / 24) + (6.0 if i > 2 * n // 3 else 0.0)
        spike = 15.0 if i == n // 2 else 0.0
        out.append({"temp.mean": float(level + spike + rng.normal(0, 0.3)), "temp.max": float(level + 1.0)})
    return out


def twin_windows(n: int = 520) -> list[FeatureVector]:
    """Two lives of one pump: install, maintenance, a growing defect, failure, a new install."""
    fail_at = 300
    feats = rich_features(n, fault_from=200)
    events = {0: "install", 100: "maintenance", fail_at: "failure", fail_at + 1: "install"}
    return windows(feats, events=events)


def _snapshot(asset: str, i: int, life: int, degradation: float, condition: str,
              rul_s: float | None = None, defect: str | None = None) -> TwinSnapshot:
    start = T0 + timedelta(hours=i)
    return TwinSnapshot(
        asset_id=asset, timestamp=start + timedelta(hours=1), window_start=start, condition=condition,
        anomaly_score=min(0.9999, degradation / 3.0), health_index=max(0.0, 1.0 - degradation / 3.0),
        rul_s=rul_s, rul_lower_s=None if rul_s is None else 0.5 * rul_s,
        rul_upper_s=None if rul_s is None else 2.0 * rul_s, drift=False, n_windows=i, life_id=life,
        degradation=degradation, rul_source="trend" if rul_s else "", defect=defect,
        evidence="outer race: BPFO" if defect else "", top_features=(("vib.rms", degradation),),
    )


FleetItem = ConditionInputs | TwinSnapshot | AssetEvent


def fleet_items(n_assets: int = 4, lives: int = 3, life_windows: int = 60, *,
                seed: int = 1) -> list[FleetItem]:
    """The fleet step's input: per window a ConditionInputs then its snapshot; failures end lives.

    Lives of different lengths, two operating regimes (``setting_1``), sensors that drift as the
    asset degrades, some degrading windows with a trend RUL, and a failure event per life.
    """
    rng = np.random.default_rng(seed)
    items: list[FleetItem] = []
    clock = [0] * n_assets
    for life in range(lives):
        for a in range(n_assets):
            asset = f"p{a}"
            length = life_windows + int(rng.integers(0, life_windows // 2))
            for k in range(length):
                i = clock[a]
                clock[a] += 1
                wear = (k / length) ** 2
                regime = float(k % 2)
                snap = _snapshot(asset, i, life, 3.0 * wear, "degrading" if wear > 0.3 else "healthy",
                                 rul_s=(length - k) * H * 1.2 if wear > 0.5 else None)
                values = {"setting_1.mean": regime,
                          "s1.mean": 10.0 + 5.0 * regime + 2.0 * wear + float(rng.normal(0, 0.1)),
                          "s2.mean": 3.0 - wear + float(rng.normal(0, 0.05))}
                items.append(ConditionInputs(asset, snap.timestamp, values))
                items.append(snap)
            items.append(AssetEvent(asset, T0 + timedelta(hours=clock[a]), "failure"))
    return items


def alert_snapshots(n: int = 400) -> list[TwinSnapshot]:
    """Healthy, degrading (with a defect), critical, recovering, and a new life."""
    out = []
    for i in range(n):
        phase = (i // 50) % 4
        degradation = (0.1, 2.0, 2.9, 0.2)[phase]
        condition = ("healthy", "degrading", "critical", "healthy")[phase]
        life = i // 200
        out.append(_snapshot("pump-001", i, life, degradation, condition,
                             rul_s=100 * H if phase else None, defect="bpfo" if phase in (1, 2) else None))
    return [replace(s, health_index=0.2) if s.condition == "critical" else s for s in out]


def completed_lives(n: int = 24, *, seed: int = 2) -> list[CompletedLife]:
    """Lives that ended in a failure: indicator trajectories of different lengths, with estimates."""
    rng = np.random.default_rng(seed)
    lives = []
    for k in range(n):
        length = int(rng.integers(40, 90))
        times = tuple(1e7 + k * 1e6 + j * H for j in range(length))
        ind = tuple(float((j / length) ** 2 + rng.normal(0, 0.02)) for j in range(length))
        failure = times[-1] + H
        est = tuple(float((failure - t) * (1.0 + rng.normal(0, 0.2))) if j % 3 == 0 else math.nan
                    for j, t in enumerate(times))
        lives.append(CompletedLife(f"a{k}", "pump", failure, times, ind, est))
    return lives
