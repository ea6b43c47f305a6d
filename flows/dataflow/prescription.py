"""Prescriptions in the dataflow (issue 11, level 4): made by the twin step, attached by the gate.

``twin_update`` calls :func:`twin_recommendation` after a window is learnt: with a damage state
(from the life's first diagnosed defect on), the twin weighs its candidate plans
(:func:`twin_models.prescribe.recommend`) and emits ``(asset_id, Recommendation)`` the first
time, when the chosen plan changes, and at most every ``prescribe.refresh_s`` of event time.
The recommendation is a decision for the future made from everything seen so far, so it uses
the state with the window learnt (the snapshot's own RUL is prequential, from before).

The recommendations go into the ``alert_gate`` step with the snapshots, in the order the twin
emitted them (same key, same worker). :func:`gate_apply` keeps the latest recommendation of the
life beside the alert policy (:class:`GateState`): a recommendation leaves with the ``alert_id``
of the open episode; one made before the episode is raised (the twin recommends at the first
diagnosed defect, the policy raises after ``min_windows``) is restated when it is raised
(:func:`restated`); and every raised or updated alert's explanation ends with the plan (the
alert schema is unchanged).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from flows.dataflow.lineage import stamp_alerts
from twin_models.alerting import AlertPolicy, AlertPolicyConfig
from twin_models.prescribe import PrescribeConfig, recommend, remembered, renew
from twin_models.records import Alert, Recommendation, TwinSnapshot
from twin_models.twin import AssetTwin

__all__ = ["GateState", "gate_apply", "plan_text", "restated", "twin_recommendation"]


def twin_recommendation(twin: AssetTwin, snap: TwinSnapshot,
                        config: PrescribeConfig | None) -> Recommendation | None:
    """The twin's recommendation at this window, when one is due (else None)."""
    state = twin.damage_state
    if config is None or not config.enabled or state is None or snap.life_id != twin.life_id:
        return None
    rec = recommend(state, asset_id=snap.asset_id, kind=twin.metadata.kind, life_id=snap.life_id,
                    now=snap.timestamp, config=config, previous=twin.last_plan)
    if not renew(twin.last_plan, rec, config.refresh_s):
        return None
    twin.last_plan = remembered(rec)
    return rec if snap.lineage is None else replace(rec, lineage=snap.lineage)


@dataclass
class GateState:
    """The alert gate's state per asset: the policy and the life's latest recommendation."""

    policy: AlertPolicy
    recommendation: Recommendation | None = None


def plan_text(rec: Recommendation) -> str:
    """The recommendation's sentence without the asset prefix."""
    head = f"{rec.asset_id}: "
    return rec.explanation[len(head):] if rec.explanation.startswith(head) else rec.explanation


def _with_plan(alerts: list[Alert], rec: Recommendation | None) -> list[Alert]:
    if rec is None:
        return alerts
    note = f" Recommended plan: {plan_text(rec)}"
    return [a if a.status == "cleared" else replace(a, explanation=a.explanation + note) for a in alerts]


def _on_snapshot(st: GateState, snap: TwinSnapshot) -> list[Alert | Recommendation]:
    if snap.life_id != st.policy.state.life_id:
        st.recommendation = None  # a new life: its plans are still to be made
    alerts = _with_plan(stamp_alerts(st.policy.update(snap), snap), st.recommendation)
    out: list[Alert | Recommendation] = list(alerts)
    rec = st.recommendation
    raised = next((a for a in alerts if a.status == "raised"), None)
    if rec is not None and raised is not None and rec.alert_id != raised.alert_id:
        st.recommendation = restated(rec, raised)
        out.append(st.recommendation)
    return out


def restated(rec: Recommendation, alert: Alert) -> Recommendation:
    """A recommendation made before ``alert``'s episode was raised, restated at the raise with
    its ``alert_id``: a record of its own (id from the original's and the episode's, the raise's
    time), so the original row stays as it was written."""
    key = f"{rec.recommendation_id}|{alert.alert_id}".encode()
    return replace(rec, recommendation_id=hashlib.sha256(key).hexdigest()[:20], alert_id=alert.alert_id,
                   timestamp=alert.timestamp)


def gate_apply(config: AlertPolicyConfig) -> Callable[[Any, TwinSnapshot | Recommendation],
                                                     tuple[GateState, list[Alert | Recommendation]]]:
    """The alert gate's pure state transition (no metrics): what an undo replays. A state
    written before prescriptions (a bare :class:`AlertPolicy`) is taken as it is."""

    def apply(state: GateState | AlertPolicy | None,
              item: TwinSnapshot | Recommendation) -> tuple[GateState, list[Alert | Recommendation]]:
        if state is None:
            state = GateState(AlertPolicy(item.asset_id, config))
        elif isinstance(state, AlertPolicy):
            state = GateState(state)
        if isinstance(item, Recommendation):
            active = state.policy.state.active
            state.recommendation = replace(item, alert_id=None if active is None else active.alert_id)
            return state, [state.recommendation]
        return state, _on_snapshot(state, item)

    return apply
