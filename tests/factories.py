"""Factory helpers shared by the tests: synthetic feature streams, metadata, windows."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from twin_models.alerting import AlertPolicy, AlertPolicyConfig
from twin_models.records import (
    Alert,
    AssetEvent,
    AssetMetadata,
    BearingGeometry,
    FailureThreshold,
    FeatureVector,
    PlanOption,
    Recommendation,
    TwinSnapshot,
    WaveformFrame,
)
from twin_models.simulator.fleet import FleetConfig, ground_truth, simulate_fleet
from twin_models.twin import AssetTwin, TwinConfig

T0 = datetime(2026, 1, 1, tzinfo=UTC)
CWRU_6205 = BearingGeometry(n_elements=9, ball_diameter_mm=7.94, pitch_diameter_mm=39.04)


def feature_stream(n: int, *, seed: int = 0, fault_from: int | None = None) -> list[dict[str, float]]:
    """Healthy windows of a bearing (log-normal amplitudes); a growing BPFO line from ``fault_from``."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        growth = 0.0 if fault_from is None or i < fault_from else 0.15 * (i - fault_from)
        out.append({
            "vib.rms": float(0.3 * np.exp(rng.normal(0, 0.03)) + 0.02 * growth**2),
            "vib.kurtosis": float(3.0 * np.exp(rng.normal(0, 0.05)) + growth),
            "vib.env_bpfo_amp": float(0.01 * np.exp(rng.normal(0, 0.1) + growth)),
            "vib.env_bpfi_amp": float(0.01 * np.exp(rng.normal(0, 0.1))),
            "temperature.mean": float(55 + rng.normal(0, 1.0)),
            "speed.mean": float(24.6 + rng.normal(0, 0.1)),
        })
    return out


def metadata(asset_id: str = "pump-001", threshold: float = 2.0) -> AssetMetadata:
    """A pump with a 6205 bearing whose failure threshold is on vib.rms."""
    return AssetMetadata(
        asset_id=asset_id,
        bearing=CWRU_6205,
        nominal_speed_hz=24.6,
        failure_threshold=FailureThreshold("vib.rms", threshold),
    )


def windows(
    feats: list[dict[str, float]],
    *,
    asset_id: str = "pump-001",
    window_s: float = 3600.0,
    events: dict[int, str] | None = None,
) -> list[FeatureVector]:
    """Feature vectors of consecutive windows; ``events`` maps window index -> event kind."""
    out = []
    for i, f in enumerate(feats):
        start = T0 + timedelta(seconds=i * window_s)
        end = start + timedelta(seconds=window_s)
        evs = ()
        if events and i in events:
            evs = (AssetEvent(asset_id, end - timedelta(seconds=1), events[i]),)  # type: ignore[arg-type]
        out.append(FeatureVector(asset_id, start, end, f, 10, evs))
    return out


def run_twin(feats: list[dict[str, float]], config: TwinConfig | None = None,
             policy: AlertPolicyConfig | None = None,
             events: dict[int, str] | None = None) -> tuple[list[TwinSnapshot], list[Alert]]:
    """One ``pump-001`` twin and its alert policy over consecutive windows (``events``: window
    index -> event kind, as :func:`windows`): snapshots and alerts."""
    twin = AssetTwin(metadata(), config or TwinConfig())
    alerting = AlertPolicy("pump-001", policy)
    snaps: list[TwinSnapshot] = []
    alerts: list[Alert] = []
    for fv in windows(feats, events=events):
        snap = twin.update(fv)
        snaps.append(snap)
        alerts += alerting.update(snap)
    return snaps, alerts


def recommendation(asset_id: str = "pump-001", *, alert_id: str | None = "a1b2c3") -> Recommendation:
    """A recommendation to derate until a planned stop, with the four options weighed."""
    stop = T0 + timedelta(days=4)
    options = (PlanOption("as_is", None, None, 0.41, 45000.0, 5.0e5),
               PlanOption("derate", 0.7, stop, 0.03, 9800.0),
               PlanOption("replace_planned", None, stop, 0.2, 24000.0),
               PlanOption("replace_now", None, T0, 0.0, 18000.0))
    return Recommendation("0123456789abcdef0123", asset_id, "rotating_machine", T0, alert_id, options[1],
                          options, 35200.0, "EUR", f"{asset_id}: derate to 70% load ...")


def fleet_digest(cfg: FleetConfig, records: Iterable[object] | None = None) -> str:
    """A digest of a simulated fleet's records (``records``, default: ``simulate_fleet(cfg)``) and
    of ``cfg``'s ground truth: equal digests = the same telemetry, bit for bit."""
    h = hashlib.sha256()
    for r in simulate_fleet(cfg) if records is None else records:
        if isinstance(r, WaveformFrame):
            h.update(repr((r.asset_id, r.channel, r.timestamp, r.sample_rate_hz, r.shaft_speed_hz,
                           r.unit)).encode())
            h.update(r.samples.tobytes())
        else:
            h.update(repr(r).encode())
    h.update(repr(ground_truth(cfg)).encode())
    return h.hexdigest()


FINGERPRINT_RTOL = 1e-6
"""How far a fingerprint's sums may differ between CPUs: numpy's vectorised sin/exp/log give results
that differ by an ulp between instruction sets (an AVX-512 dev VM and an AMD EPYC one gave other
float32 samples from the same simulator), so a bit-exact digest pinned in a test fails on another
machine. A real change to the simulator (another draw, another formula) moves the sums by far more."""


def fleet_fingerprint(cfg: FleetConfig) -> tuple[str, tuple[float, ...]]:
    """A machine-independent fingerprint of ``simulate_fleet(cfg)`` and its ground truth, for tests
    that pin the simulator's output in a constant: an exact digest of everything that is not a
    computed float (record kinds, assets, channels, timestamps, units, rates, frame lengths, events,
    the ground truth), and sums of the computed floats (scalar values, shaft speeds, waveform samples:
    absolute, squared and position-weighted, so a reordering shows), compared with
    :func:`fingerprints_match`."""
    h = hashlib.sha256()
    sums = np.zeros(7)
    for k, r in enumerate(simulate_fleet(cfg)):
        weight = float(k % 97 + 1)
        if isinstance(r, WaveformFrame):
            h.update(repr(("frame", r.asset_id, r.channel, r.timestamp, r.sample_rate_hz, r.unit,
                           len(r.samples), r.shaft_speed_hz is None)).encode())
            x = r.samples.astype(np.float64)
            ax = float(np.abs(x).sum())  # not the plain sum: zero-mean samples cancel, ulps would not
            sums[0:3] += (ax, float(x @ x), weight * ax)
            sums[3] += r.shaft_speed_hz or 0.0
        elif isinstance(r, AssetEvent):
            h.update(repr(r).encode())
        else:
            h.update(repr(("scalar", r.asset_id, r.channel, r.timestamp, r.unit)).encode())
            v = float(r.value)
            sums[4:7] += (v, v * v, weight * v)
    h.update(repr(ground_truth(cfg)).encode())
    return h.hexdigest(), tuple(float(s) for s in sums)


def fingerprints_match(got: tuple[str, tuple[float, ...]], want: tuple[str, tuple[float, ...]]) -> bool:
    """Equal structure digests and sums equal within :data:`FINGERPRINT_RTOL`."""
    return got[0] == want[0] and bool(np.allclose(got[1], want[1], rtol=FINGERPRINT_RTOL, atol=0.0))


def prequential_scores(det: Any, values: Iterable[float], feature: str) -> np.ndarray:
    """A River anomaly detector's scores over one feature's values, prequentially (score a value,
    then learn it), as the twin feeds its detector."""
    vals = list(values)
    out = np.empty(len(vals))
    for i, v in enumerate(vals):
        x = {feature: float(v)}
        out[i] = det.score_one(x)
        det.learn_one(x)
    return out
