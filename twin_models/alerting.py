"""AlertPolicy: from twin snapshots to deduplicated, explained alerts.

One episode per (asset, kind) gives one ``alert_id`` (a hash of asset, kind and the episode's
first window), so a replay after a restart produces the same ids. An episode is raised after
``min_windows`` consecutive bad windows (hysteresis on the way up), updated when its severity
escalates or its defect diagnosis (the majority over the episode's windows) changes, and cleared
after ``clear_windows`` consecutive good windows or when the asset's life ends (replacement).

A window is bad when its calibrated score reaches ``raise_score`` (or the health index is
critical) once the twin has learnt its baseline, or, with ``raise_on_defect``, when the twin is
``degrading`` AND names a defect: an explained degradation. That includes the twin's warm-up, when
the twin calls a window degrading only on absolute envelope evidence (a defect line far above the
spectral background for several windows in a row), so a machine first monitored when already
damaged is not silent for a whole warm-up. During the warm-up (no baseline deviations yet) a
window the twin calls ``degrading`` with the verdict ``anomalous`` (clearly abnormal against the
physics, no defect localised: issue 12) is bad too, so a fault whose line does not stand out is
not reported as healthy; with a baseline, ``raise_score`` decides as before. An anomalous window is
never good (it keeps an open episode open).

Severity: ``critical`` when the health index is critical or the RUL within the horizon; else
``warning`` for a localised defect (verdict ``defect``) and for assets without a verdict (scalar
series: as before); ``info`` for a vibration asset's episode with no defect localised yet (verdict
``anomalous``). An episode's severity only rises: an ``anomalous`` episode is upgraded to ``warning``
and relabelled (its ``verdict`` becomes ``defect``, ``defect`` names it) in an ``updated`` message
when a defect is later localised; it keeps its ``alert_id``.

>>> policy = AlertPolicy("pump-1")
>>> policy.state.active is None
True
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from datetime import datetime

from twin_models.records import Alert, Severity, TwinSnapshot
from twin_models.settings import MAX_COUNT, NAME, YEAR_S, between, setting
from twin_models.text import format_duration

__all__ = ["AlertPolicy", "AlertPolicyConfig", "alert_id", "explain"]

_RANK: dict[str, int] = {"info": 0, "warning": 1, "critical": 2}


@dataclass(frozen=True)
class AlertPolicyConfig:
    """Thresholds of the policy (scores are calibrated, so 0.999 ~ 1 normal window in 1000)."""

    kind: str = setting("condition", pattern=NAME)
    raise_score: float = setting(0.999, **between(0.0, 1.0))
    clear_score: float = setting(0.9, **between(0.0, 1.0))
    min_windows: int = setting(3, **between(1, MAX_COUNT))
    clear_windows: int = setting(6, **between(1, MAX_COUNT))
    critical_health: float = setting(0.3, **between(0.0, 1.0))
    rul_horizon_s: float = setting(2 * 86400.0, **between(0.0, 100 * YEAR_S, "seconds"))
    raise_on_defect: bool = setting(True)

    def __post_init__(self) -> None:
        # a clear_score above raise_score would raise and clear an episode on the same window (a
        # score between the two): the policy would flap; equal is allowed (no hysteresis)
        if self.clear_score > self.raise_score:
            msg = (f"alerts.clear_score {self.clear_score} must not be above alerts.raise_score "
                   f"{self.raise_score} (an episode clears below clear_score and raises at raise_score)")
            raise ValueError(msg)


def alert_id(asset_id: str, kind: str, started_at: datetime) -> str:
    """Deterministic id of an episode."""
    key = f"{asset_id}|{kind}|{started_at.isoformat()}".encode()
    return hashlib.sha256(key).hexdigest()[:20]


def explain(snap: TwinSnapshot) -> str:
    """One paragraph a reliability engineer can act on."""
    parts = [f"{snap.asset_id}: {snap.condition} (anomaly score {snap.anomaly_score:.4f})."]
    if snap.evidence:
        parts.append(snap.evidence[0].upper() + snap.evidence[1:] + ".")
    if snap.top_features:
        tops = ", ".join(f"{name} {z:+.1f} sd" for name, z in snap.top_features[:3])
        parts.append(f"Top deviations from this asset's baseline: {tops}.")
    rul = format_duration(snap.rul_s)
    band = (
        f" [{format_duration(snap.rul_lower_s)} .. {format_duration(snap.rul_upper_s)}]"
        if snap.rul_s is not None
        else ""
    )
    parts.append(f"Health index {snap.health_index:.2f}, RUL {rul}{band}.")
    if snap.damage_rul_s is not None and math.isfinite(snap.damage_rul_s):
        parts.append(f"{_damage_rul(snap)}.")
    return " ".join(parts)


DAMAGE_BEYOND = "beyond 5 years"
"""An interval's upper end the damage state leaves null: later than its horizon
(:data:`twin_models.rul.damage_track.DAMAGE_HORIZON_S`, not imported: the config loads this module)."""


def _damage_rul(snap: TwinSnapshot) -> str:
    """The damage state's RUL and its 10-90 % interval, from the first diagnosed defect on (round 48:
    an alert raised at the diagnosis said "RUL n/a", no trend yet, while its own row held this).

    Round 49 (HOSTILE49): a 90 % quantile beyond the horizon (null, the row's "beyond five years")
    dropped the whole interval, so the text read as a sure RUL exactly when it was least sure; now
    "[4.2 h .. beyond 5 years]". A bound not finite (not written by the twin): no interval."""
    lo, hi = snap.damage_rul_lower_s, snap.damage_rul_upper_s
    band = ""
    if lo is not None and math.isfinite(lo):
        if hi is None:
            band = f" [{format_duration(lo)} .. {DAMAGE_BEYOND}]"
        elif math.isfinite(hi):
            band = f" [{format_duration(lo)} .. {format_duration(hi)}]"
    return f"Damage state's RUL {format_duration(snap.damage_rul_s)}{band}"


@dataclass
class _Episode:
    alert_id: str
    started_at: datetime
    severity: Severity
    defect: str | None
    verdict: str = ""
    sequence: int = 0
    votes: dict[str, int] = field(default_factory=dict)

    def vote(self, defect: str | None) -> bool:
        """Count one window's diagnosis; True when the majority diagnosis changes."""
        if defect is None:
            return False
        self.verdict = "defect"
        self.votes[defect] = self.votes.get(defect, 0) + 1
        leader = max(self.votes, key=lambda d: (self.votes[d], d == self.defect))
        if leader != self.defect:
            self.defect = leader
            return True
        return False


@dataclass
class _PolicyState:
    active: _Episode | None = None
    bad_run: int = 0
    good_run: int = 0
    first_bad: datetime | None = None
    life_id: int = 0
    run_defects: tuple[str | None, ...] = ()  # the diagnoses of the bad run before an episode


class AlertPolicy:
    """Per-asset alert state machine (picklable, bounded)."""

    def __init__(self, asset_id: str, config: AlertPolicyConfig | None = None) -> None:
        self.asset_id = asset_id
        self.config = config or AlertPolicyConfig()
        self.state = _PolicyState()

    def _severity(self, snap: TwinSnapshot) -> Severity:
        cfg = self.config
        if snap.health_index < cfg.critical_health or (
            snap.rul_s is not None and snap.rul_s < cfg.rul_horizon_s
        ):
            return "critical"
        return "info" if snap.verdict in ("anomalous", "healthy") else "warning"

    def _explained(self, snap: TwinSnapshot) -> bool:
        """The twin says degrading (or critical) and names the defect."""
        return (
            self.config.raise_on_defect
            and snap.defect is not None
            and snap.condition in ("degrading", "critical")
        )

    @staticmethod
    def _anomalous(snap: TwinSnapshot) -> bool:
        """The twin says degrading (or critical), clearly abnormal but not localised."""
        return snap.verdict == "anomalous" and snap.condition in ("degrading", "critical")

    def _unexplained(self, snap: TwinSnapshot) -> bool:
        """An anomalous window that is evidence by itself: judged from the physics while the twin
        has no baseline deviations (warm-up). With a baseline, ``raise_score`` still decides."""
        return self._anomalous(snap) and (
            not snap.top_features or snap.anomaly_score >= self.config.raise_score)

    def _is_bad(self, snap: TwinSnapshot) -> bool:
        return self._explained(snap) or self._unexplained(snap) or (
            snap.condition != "learning"
            and (snap.anomaly_score >= self.config.raise_score or snap.condition == "critical")
        )

    def _is_good(self, snap: TwinSnapshot) -> bool:
        return (
            snap.anomaly_score < self.config.clear_score
            and snap.condition != "critical"
            and not self._explained(snap)
            and not self._anomalous(snap)
        )

    def update(self, snap: TwinSnapshot) -> list[Alert]:
        """Feed one snapshot; returns the alert messages it causes (usually none)."""
        out: list[Alert] = []
        st = self.state
        if snap.life_id != st.life_id:
            if st.active is not None:
                note = "Asset replaced or repaired: a new life started, the episode is closed."
                out.append(self._message(snap, "cleared", st.active.severity, note))
                st.active = None
            st.life_id, st.bad_run, st.good_run, st.first_bad = snap.life_id, 0, 0, None
            st.run_defects = ()
        bad = self._is_bad(snap)
        st.bad_run = st.bad_run + 1 if bad else 0
        st.good_run = st.good_run + 1 if self._is_good(snap) else 0
        if bad and st.bad_run == 1:
            st.first_bad = snap.window_start
        if st.active is None:
            # the episode's windows start at its first bad one: their diagnoses all count
            st.run_defects = (*st.run_defects, snap.defect)[-self.config.min_windows:] if bad else ()
            if st.bad_run >= self.config.min_windows and st.first_bad is not None:
                aid = alert_id(self.asset_id, self.config.kind, st.first_bad)
                # a vibration episode without a localised defect is "anomalous" (never healthy)
                verdict = "anomalous" if snap.verdict == "healthy" else snap.verdict
                st.active = ep = _Episode(aid, st.first_bad, self._severity(snap), None, verdict)
                for defect in st.run_defects:
                    ep.vote(defect)
                if ep.defect is not None and ep.severity == "info":  # a localised defect: warning
                    ep.severity = "warning"
                st.run_defects = ()
                out.append(self._message(snap, "raised", ep.severity))
            return out
        ep = st.active
        if st.good_run >= self.config.clear_windows:
            out.append(self._message(snap, "cleared", ep.severity))
            st.active = None
            return out
        severity = self._severity(snap)
        new_diagnosis = ep.vote(snap.defect)
        if new_diagnosis and severity == "info":  # a localised defect is at least a warning
            severity = "warning"
        upgraded = _RANK[severity] > _RANK[ep.severity]
        if upgraded or new_diagnosis:
            ep.severity = severity if upgraded else ep.severity
            out.append(self._message(snap, "updated", ep.severity))
        return out

    def _message(
        self, snap: TwinSnapshot, status: str, severity: Severity, note: str = ""
    ) -> Alert:
        ep = self.state.active
        assert ep is not None  # noqa: S101 - internal invariant
        ep.sequence += 1
        text = note or explain(snap)
        if ep.defect and ep.defect != snap.defect and not note:
            text += f" Episode diagnosis so far: {ep.defect.upper()}."
        return Alert(
            alert_id=ep.alert_id,
            asset_id=self.asset_id,
            kind=self.config.kind,
            severity=severity,
            status=status,  # type: ignore[arg-type]
            started_at=ep.started_at,
            timestamp=snap.timestamp,
            explanation=text,
            anomaly_score=snap.anomaly_score,
            health_index=snap.health_index,
            rul_s=snap.rul_s,
            top_features=snap.top_features,
            defect=ep.defect,
            sequence=ep.sequence,
            verdict=ep.verdict,
            damage_rul_s=snap.damage_rul_s,
            damage_rul_lower_s=snap.damage_rul_lower_s,
            damage_rul_upper_s=snap.damage_rul_upper_s,
        )
