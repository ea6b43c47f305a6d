"""Impulsiveness that accumulates, and impulsiveness that comes and goes (a ball's signature).

Both read one number per window, the *impulsiveness index* ``I``: the largest log-ratio of a
scale-free statistic to its physics limit, ``max ln(value / limit)`` over kurtosis (limit 4),
envelope kurtosis (3) and crest factor (6) of every vibration channel
(:data:`~twin_models.diagnosis.abnormality.STATISTICS`, the limits of
:class:`~twin_models.diagnosis.abnormality.AbnormalityRules`). ``I >= 0`` is a window at or beyond
a limit; a healthy window sits below (Gaussian noise: kurtosis 3, envelope kurtosis ~2.1, crest ~4
give ``I`` about -0.3).

**Accumulated evidence** (Page's CUSUM, 1954, on the log-excess): ``S = max(0, S_before + min(I,
ln 2))``. A window beyond a limit adds its log-excess, a healthy window takes its shortfall away,
so a severe burst counts for more than a marginal crossing (envelope kurtosis 9.2 adds ``ln 2 =
0.69``, capped, 3.5 adds 0.15), and a machine back to healthy spends the evidence again. The
window is abnormal (anomalous, not localised) when ``S >= min_windows x ln 2``
(:attr:`AbnormalityRules.evidence_level`, ``2 ln 2`` by default): the evidence of ``min_windows``
windows at twice a limit, the severity-weighted form of the limits' own rule (``min_windows``
windows in a row beyond a limit). One window adds at most ``ln 2``
(:data:`~twin_models.diagnosis.abnormality.WINDOW_EVIDENCE`, twice a limit), so no window alone is
a verdict, however severe: one odd window (a knock, a glitch) is not. The unit ``ln 2`` is chosen
a priori (stated here; not swept on any file). It is an *alternative* to the existing rule (a
limit crossed in ``min_windows`` windows in a row), never a replacement, and judges the same
machines: those without a healthy baseline and not known to be new (see
:mod:`twin_models.diagnosis.abnormality`). Its false-alarm rate on Gaussian noise is nil: ``I``
stays near -0.3 and the test never leaves 0 (``tests/unit/test_impulses.py``
simulates it); what
it must not flag is a healthy real machine's occasional single crossing (CWRU's healthy fan-end
channel: envelope kurtosis 5.8 once, ``S`` at most 0.66).

**Intermittent impulsiveness** (Randall & Antoni 2011, the rolling-element fault signal): a race
spall is struck at every pass, so at a steady speed and load its impulsiveness is steady from
window to window; a spalled ball's spall leaves and re-enters the contact tracks as its spin axis
wanders, so its impacts come in bursts. A *burst ends* when ``I`` was beyond a limit (``I >= 0``)
and falls by more than a factor 2 in the statistic (``ln 2``: far above the window-to-window
scatter of a steady defect's statistics, ~10 %); it *returns* when ``I`` then rises by more than
a factor 2 to beyond a limit again. A return within one episode of accumulated evidence (``S``
has not fallen back to 0) marks the episode as a ball's: an abnormal window in it with no race
line held names the rolling element, with low confidence (no line names it). One burst that
rises and falls is not enough (a transient knock does that), the burst must come back. The factor
2 and "one return" are a priori choices. The limit of this evidence, and why its confidence is
low: sparse random impacts that are no ball's (a loose part, debris; the synthetic IMS-like
shocks of ``tests/unit/test_verdict.py``) come and go from window to window the same way; a
machine known to be new is never judged by it.

The state is :class:`Impulses` (four numbers, picklable, bounded). Pure functions, no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from twin_models.diagnosis.abnormality import (
    IMPULSE_BALL,
    STATISTICS,
    WINDOW_EVIDENCE,
    Abnormality,
    AbnormalityRules,
    judge,
    vibration_channels,
)
from twin_models.diagnosis.defects import Diagnosis
from twin_models.feature_map import feature_names
from twin_models.records import BearingGeometry

__all__ = ["BALL", "SWITCH", "Impulses", "accumulate", "assess", "ball_diagnosis",
           "impulsiveness"]

SWITCH = math.log(2.0)
"""A burst starts or ends when the impulsiveness index moves by more than a factor 2."""

BALL = "bsf"
"""The defect intermittent impulsiveness names: the rolling element."""


@dataclass(frozen=True, slots=True)
class Impulses:
    """One asset's impulsiveness state after a window (see the module doc)."""

    evidence: float = 0.0
    """The CUSUM ``S`` of the impulsiveness index (>= 0)."""
    level: float = math.nan
    """The last window's impulsiveness index ``I`` (nan before the first)."""
    ended: bool = False
    """A burst beyond a limit ended in this episode."""
    returned: bool = False
    """After a burst ended, the impulsiveness rose beyond a limit again: a ball's signature."""


def impulsiveness(features: Mapping[str, float], rules: AbnormalityRules) -> float | None:
    """``max ln(value / limit)`` over the statistics and vibration channels (None without any
    finite positive value)."""
    best: float | None = None
    for channel in vibration_channels(feature_names(features)):
        for feat, _, _ in STATISTICS:
            value = features[f"{channel}.{feat}"]
            if math.isfinite(value) and value > 0.0:
                x = math.log(value / rules.limit(feat))
                best = x if best is None else max(best, x)
    return best


def accumulate(before: Impulses | None, index: float | None) -> Impulses:
    """The state after a window of impulsiveness ``index`` (None: no vibration figure, the state
    is kept)."""
    before = before or Impulses()
    if index is None:
        return before
    evidence = max(0.0, before.evidence + min(index, WINDOW_EVIDENCE))
    if evidence == 0.0:  # the episode is over: the evidence was spent by healthy windows
        return Impulses(0.0, index)
    prev = before.level
    ended = before.ended or (math.isfinite(prev) and prev >= 0.0 and prev - index > SWITCH)
    back = before.ended and math.isfinite(prev) and index >= 0.0 and index - prev > SWITCH
    return Impulses(evidence, index, ended, before.returned or back)


def ball_diagnosis(found: Diagnosis, state: Impulses, abnormal: bool, channel: str) -> Diagnosis:
    """``found`` unchanged, unless the window is abnormal, names no defect and its episode's
    impulsiveness came back after a burst ended: then the rolling element, with low confidence."""
    if found.defect is not None or not abnormal or not state.returned:
        return found
    text = (f"{IMPULSE_BALL}: impulsiveness on {channel} came back after a "
            f"burst ended (a factor 2 and more each way; accumulated log-excess {state.evidence:.1f}), "
            "the intermittent impacts of a spalled ball; no race line held")
    return Diagnosis(BALL, text, True, 0.0)


def assess(found: Diagnosis, features: Mapping[str, float], rules: AbnormalityRules, run_before: int,
           before: Impulses | None, *, learning: bool, healthy_base: bool, known_new: bool = False,
           bearing: BearingGeometry | None = None, lines_before: Mapping[tuple[str, str], int] | None = None,
           ) -> tuple[Diagnosis, Abnormality | None, int, bool, bool, Impulses, float]:
    """:func:`~twin_models.diagnosis.abnormality.judge` with the accumulated evidence and the
    ball's signature: ``(found, abnormality, run, healthy_base, abnormal, state, accumulated)``,
    ``accumulated`` the evidence when it makes the window abnormal (else 0.0)."""
    ab, run, healthy_base, abnormal = judge(features, rules, run_before, learning=learning,
                                            healthy_base=healthy_base, known_new=known_new,
                                            bearing=bearing, lines_before=lines_before)
    state = accumulate(before, impulsiveness(features, rules))
    judged = ab is not None and (learning or not healthy_base) and not known_new
    accumulated = state.evidence if judged and state.evidence >= rules.evidence_level else 0.0
    abnormal = abnormal or accumulated > 0.0
    # the ball is named from the physics judgement only (not a known-new machine, not a window
    # whose abnormality rests on a race line at the bar)
    by_physics = judged and abnormal and (ab is None or ab.line is None or ab.line[2] == "2xBSF")
    found = ball_diagnosis(found, state, by_physics, ab.channel if ab is not None else "")
    return found, ab, run, healthy_base, abnormal, state, accumulated

