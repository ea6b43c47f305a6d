"""How abnormal a vibration window is without a healthy baseline, and the twin's verdict.

The verdict (issue 12) has three values for a vibration asset: ``healthy``, ``anomalous`` (the
signal is clearly abnormal but no defect line stands out: "anomalous, not localised") and
``defect`` (a named defect: the snapshot's ``defect``). Assets without a vibration channel (scalar
series: NAB, C-MAPSS) get no verdict (``""``): nothing here applies to them.

*Without a baseline* the window is compared with what the physics and the statistics of a healthy
rolling-element bearing lead one to expect. Only scale-free statistics enter (no amplitude, no
unit, no machine size), each with its healthy value and a limit:

- ``kurtosis`` (Pearson): 3 for Gaussian noise; a healthy bearing's vibration is close to 3 (a
  machine dominated by shaft tones is below it); the impacts of a localised defect raise it, and
  "above 4" is the classical sign of damage (Dyer & Stewart 1978). Healthy 3, limit 4.
- ``env_kurtosis`` (``mean|c|^4 / mean(|c|^2)^2`` of the complex envelope in the band the
  features selected): 2 for Gaussian noise, 1 for a steady tone. Its excess over 2 is the spectral
  kurtosis SK = Var(|c|^2)/mean(|c|^2)^2 - 1; at the limit 3 (SK = 1) the band's instantaneous
  power varies twice as much (in variance) as Gaussian noise's: the band carries impulses.
  Healthy 2, limit 3.
- ``crest_factor``: peak over RMS; a Gaussian frame of N samples peaks near sqrt(2 ln N) standard
  deviations, about 4 for the 4,000-48,000-sample frames twinflow sees (3-4 is the usual healthy
  figure). A Gaussian sample exceeds 6 sigma with probability 2e-9, so even a frame of a million
  samples reaches crest 6 in only ~0.2 % of frames. Healthy 4, limit 6.

Each statistic's *excess* is measured against its own limit, ``(value - healthy) / (limit -
healthy)``: 0 at the healthy value, 1 at the limit. A window's abnormality is the largest excess
over the statistics and vibration channels; it is abnormal at 1 or more. The twin asks for
``min_windows`` abnormal windows in a row (as for the absolute defect evidence), so one odd
window is not a verdict.

*With a baseline* the twin's own anomaly score (the deviations from this asset's learnt healthy
windows) decides, as it did before: the verdict only names what the condition already says
(``degrading`` without a localised defect = ``anomalous``).

*A machine known to be new* (its life began with an ``install`` or ``maintenance`` event: a new or
overhauled bearing) is not held against the generic limits at all: its first windows ARE its
healthy state, whatever their statistics, so its warm-up teaches the baseline and the baseline
then decides. The limits describe a textbook healthy bearing; some healthy machines are
impulsive by construction (the IMS rig's new bearings: kurtosis 3.5-6, envelope kurtosis 3-6,
crest up to 7.5 in 0.256 s frames), and only the machine's own history can tell that apart from
damage: a ball fault of CWRU's fan end reads the same figures. The limits stay for a machine of
unknown state (first monitored when it may already be damaged: every CWRU recording). During a
new machine's warm-up a defect is still named from its envelope lines (they need no baseline).

*A strong envelope line not held yet* is abnormal on its own: a window whose strongest
diagnosable envelope line (BPFO, BPFI, 2xBSF; not a 2xBSF that shares its window with a shaft
harmonic) stands at or above the absolute defect bar (``defect_min_snr``, 4x the spectral
background, ~7 standard deviations above a noise frame's SNR: a noise frame's largest of the
three exceeds 3.2 in only 0.1 % of frames) is anomalous, not localised, in that window already,
with no baseline to judge against (warm-up, a known-new machine's warm-up included: a line needs
no baseline, as the defect's own absolute evidence). Naming the defect still takes the line's
hold (``defect_snr_windows`` windows in a row), and the alert policy's hold supplies the
persistence: without this, a line held for 3 windows never reached a 3-window alert, as the
windows before the hold completed were "healthy" (the IMS failing bearing's last record: BPFO
9.2, 8.0, 4.2, 2.8). A statistic beyond its limit still needs ``min_windows`` windows in a row
(scale-free statistics of healthy machines do cross the limits for a window: the healthy CWRU
fan-end channel's envelope kurtosis reads 5.8 once); a line at the bar does not (noise does
not reach it).

*Accumulated evidence* (:mod:`twin_models.diagnosis.impulses`) judges the same windows: the
statistics' log-excess over their limits, summed as a CUSUM (one window adds at most
:data:`WINDOW_EVIDENCE`, twice a limit), is abnormal at :attr:`AbnormalityRules.evidence_level`
(``min_windows`` windows at twice a limit), so a severe burst not held ``min_windows`` windows in
a row still counts (``WindowFacts.accumulated``); impulsiveness that comes back after a burst
ended names a ball there, with low confidence.

Confidence is ``x / (1 + x)`` of the deciding evidence ``x`` in units of its threshold (an excess,
a line's SNR over ``defect_min_snr`` or its baseline deviation over ``defect_min_z``): 0.5 at
the boundary, towards 1 far beyond it; a healthy verdict's is ``1 / (1 + excess)`` (1 for a
textbook healthy window, 0.5 at a limit). With a baseline, an anomalous verdict's confidence is
the calibrated anomaly score.

Pure functions: no state, no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import lru_cache

from twin_models.diagnosis.ball import ambiguous_ball_line
from twin_models.diagnosis.defects import DefectRules, snr_lines
from twin_models.feature_map import feature_names
from twin_models.features.frame import DIAGNOSABLE_DEFECTS
from twin_models.records import BearingGeometry

__all__ = [
    "IMPULSE_BALL",
    "IMPULSE_BALL_CONFIDENCE",
    "WINDOW_EVIDENCE",
    "STATISTICS",
    "VERDICTS",
    "Abnormality",
    "AbnormalityRules",
    "Verdict",
    "WindowFacts",
    "abnormality",
    "absolute_abnormal",
    "decide",
    "judge",
    "line_confidence",
    "strength",
    "strong_line",
    "vibration_channels",
]

VERDICTS: tuple[str, ...] = ("healthy", "anomalous", "defect")
"""A vibration asset's verdicts, in order of severity (``""``: not a vibration asset)."""

STATISTICS: tuple[tuple[str, str, float], ...] = (
    ("kurtosis", "kurtosis", 3.0),
    ("env_kurtosis", "envelope kurtosis", 2.0),
    ("crest_factor", "crest factor", 4.0),
)
"""(feature, words, healthy value) of each scale-free statistic, in the order the text lists them."""

IMPULSE_BALL = "rolling element (ball), low confidence"
"""How the evidence of a ball named from impulsiveness alone begins (no line names it): its
verdict's confidence is :data:`IMPULSE_BALL_CONFIDENCE`, not a line's."""

IMPULSE_BALL_CONFIDENCE = 0.2
"""The confidence of a ball named from impulsiveness that comes back (low: under 0.25)."""

WINDOW_EVIDENCE = math.log(2.0)
"""The accumulated-evidence unit: one window at twice a limit (log-excess ``ln 2``); the most one
window adds, and ``min_windows`` of them make a window abnormal
(:mod:`twin_models.diagnosis.impulses`, chosen a priori)."""


@dataclass(frozen=True, slots=True)
class AbnormalityRules:
    """The limits of the statistics (see the module doc for where each comes from)."""

    kurtosis_limit: float = 4.0
    envelope_kurtosis_limit: float = 3.0
    crest_limit: float = 6.0
    min_windows: int = 2
    line_snr: float = math.inf
    """The absolute defect bar (the twin's ``defect_min_snr``): an unheld line at or above it is
    abnormal in its window (``inf``: lines are not abnormality evidence)."""

    @property
    def evidence_level(self) -> float:
        """Accumulated log-excess that makes a window abnormal: ``min_windows`` windows at twice a
        limit (:data:`WINDOW_EVIDENCE` each)."""
        return max(self.min_windows, 1) * WINDOW_EVIDENCE

    def limit(self, feature: str) -> float:
        """The limit of one statistic of :data:`STATISTICS`."""
        return {"kurtosis": self.kurtosis_limit, "env_kurtosis": self.envelope_kurtosis_limit,
                "crest_factor": self.crest_limit}[feature]


@dataclass(frozen=True, slots=True)
class Abnormality:
    """A window's abnormality: the largest excess, its channel, and that channel's statistics."""

    excess: float
    """Largest ``(value - healthy) / (limit - healthy)`` over statistics and channels (>= 1: abnormal)."""
    channel: str
    statistic: str
    values: tuple[tuple[str, float], ...]
    """(feature, value) of the deciding channel's statistics, in :data:`STATISTICS` order."""
    line: tuple[float, str, str] | None = None
    """(SNR, channel, line words) of the window's strongest diagnosable envelope line at or above
    ``AbnormalityRules.line_snr``, if any (see the module doc)."""

    def text(self, rules: AbnormalityRules) -> str:
        """``vib: kurtosis 9.4 (healthy ~3, limit 4), envelope kurtosis 6.1 (...), ...``."""
        healthy = {f: (w, h) for f, w, h in STATISTICS}
        parts = [f"{healthy[f][0]} {v:.1f} (healthy ~{healthy[f][1]:g}, limit {rules.limit(f):g})"
                 for f, v in self.values]
        return f"{self.channel}: " + ", ".join(parts)


@dataclass(frozen=True, slots=True)
class Verdict:
    """The twin's verdict on one window: ``healthy``, ``anomalous``, ``defect`` or ``""``."""

    verdict: str = ""
    confidence: float | None = None
    evidence: str = ""


@lru_cache(maxsize=256)
def vibration_channels(names: tuple[str, ...]) -> tuple[str, ...]:
    """Channels carrying every statistic of :data:`STATISTICS` (waveform channels), in order."""
    wanted = {f for f, _, _ in STATISTICS}
    seen: dict[str, set[str]] = {}
    for name in names:
        channel, _, feat = name.rpartition(".")
        if channel and feat in wanted:
            seen.setdefault(channel, set()).add(feat)
    return tuple(c for c, feats in seen.items() if feats == wanted)


def strong_line(features: Mapping[str, float], bar: float, bearing: BearingGeometry | None = None,
                lines_before: Mapping[tuple[str, str], int] | None = None) -> tuple[float, str, str] | None:
    """(SNR, channel, words) of the strongest BPFO / BPFI / 2xBSF envelope line at or above
    ``bar``; a 2xBSF line is left out when it shares its window with a shaft harmonic for
    ``bearing`` (:func:`~twin_models.diagnosis.ball.ambiguous_ball_line`). None as well when the
    window before held such a line at the bar (``lines_before``: the twin's line runs after it):
    only the first window of a line's evidence counts so; the windows after it count by the
    defect their hold names (a different line right after, as on the IMS bearings next to the
    failing one, is not more evidence until it is held itself)."""
    if not math.isfinite(bar):
        return None
    skip_bsf = bearing is not None and ambiguous_ball_line(bearing)
    def counted(defect: str) -> bool:
        return defect in DIAGNOSABLE_DEFECTS and not (skip_bsf and defect == "bsf")
    if any(run > 0 and counted(defect) for (_, defect), run in (lines_before or {}).items()):
        return None
    best: tuple[float, str, str] | None = None
    for (channel, defect), snr in snr_lines(features).items():
        if counted(defect) and snr >= bar:
            words = "2xBSF" if defect == "bsf" else defect.upper()
            best = max(best, (snr, channel, words)) if best is not None else (snr, channel, words)
    return best


def abnormality(features: Mapping[str, float], rules: AbnormalityRules,
                bearing: BearingGeometry | None = None,
                lines_before: Mapping[tuple[str, str], int] | None = None) -> Abnormality | None:
    """The window's abnormality against the healthy physics (and its strongest line at the
    absolute bar, :func:`strong_line`); None without a vibration channel (or when none of its
    statistics is finite)."""
    best: Abnormality | None = None
    for channel in vibration_channels(feature_names(features)):
        values = tuple((f, features[f"{channel}.{f}"]) for f, _, _ in STATISTICS)
        for feat, value in values:
            if not math.isfinite(value):
                continue
            healthy = next(h for f, _, h in STATISTICS if f == feat)
            excess = (value - healthy) / (rules.limit(feat) - healthy)
            if best is None or excess > best.excess:
                best = Abnormality(excess, channel, feat, values)
    line = strong_line(features, rules.line_snr, bearing, lines_before) if best is not None else None
    return best if line is None or best is None else replace(best, line=line)


def strength(x: float) -> float:
    """``x / (1 + x)`` for ``x >= 0`` (0.5 at the threshold ``x = 1``), rounded to 3 digits."""
    x = max(x, 0.0)
    return round(x / (1.0 + x), 3) if math.isfinite(x) else 1.0


def line_confidence(features: Mapping[str, float], devs: Mapping[str, float], defect: str,
                    rules: DefectRules) -> float | None:
    """Confidence of a named defect: its strongest envelope line's SNR over ``min_snr`` or its
    deviation from the baseline over ``min_z``, whichever is the stronger evidence."""
    snr, amp = f".env_{defect}_snr", f".env_{defect}_amp"
    xs = [features[n] / rules.min_snr for n in feature_names(features) if n.endswith(snr)]
    xs += [z / rules.min_z for n, z in devs.items() if n.endswith(amp)] if rules.min_z > 0 else []
    xs = [x for x in xs if math.isfinite(x)]
    return strength(max(xs)) if xs and rules.min_snr > 0 else None


def _strongest_line(features: Mapping[str, float]) -> str:
    """``BPFI envelope line 2.6x the background`` of the window's strongest diagnosable line."""
    best: tuple[float, str] | None = None
    for name in feature_names(features):
        _, _, feat = name.rpartition(".")
        defect = feat[len("env_"):-len("_snr")] if feat.startswith("env_") and feat.endswith("_snr") else ""
        value = features[name]
        if defect in ("bpfo", "bpfi", "bsf") and math.isfinite(value) and (best is None or value > best[0]):
            best = (value, "2xBSF" if defect == "bsf" else defect.upper())
    return "" if best is None else f" (strongest: {best[1]} envelope line {best[0]:.1f}x the background)"


@dataclass(frozen=True, slots=True)
class WindowFacts:
    """What the twin knows of a window when it gives its verdict."""

    defect: str | None
    defect_evidence: str
    condition: str
    score: float
    learning: bool
    abnormal_run: int
    """Consecutive abnormal windows, this one included (0: this window is not abnormal)."""
    baseline_healthy: bool
    """False when most of the warm-up was abnormal: the learnt baseline is not a healthy one."""
    known_new: bool = False
    """The life began with an install or maintenance event: its first windows are healthy by
    definition (see the module doc), so the physics limits do not apply."""
    accumulated: float = 0.0
    """The accumulated log-excess of impulsiveness when it makes this window abnormal, else 0
    (:mod:`twin_models.diagnosis.impulses`)."""


def decide(features: Mapping[str, float], devs: Mapping[str, float], ab: Abnormality | None,
           facts: WindowFacts, rules: AbnormalityRules, defect_rules: DefectRules) -> Verdict:
    """The window's verdict (see the module doc); ``ab`` None = not a vibration asset; ``devs``
    the window's deviations from the baseline (empty without one)."""
    if ab is None:
        return Verdict()
    if facts.defect is not None:
        conf = line_confidence(features, devs, facts.defect, defect_rules)
        if facts.defect_evidence.startswith(IMPULSE_BALL):  # no line names it
            conf = IMPULSE_BALL_CONFIDENCE
        return Verdict("defect", conf, facts.defect_evidence)
    absolute = absolute_abnormal(ab, facts.abnormal_run, rules, learning=facts.learning,
                                 baseline_healthy=facts.baseline_healthy, known_new=facts.known_new)
    by_sum = facts.accumulated > 0.0 and not _stats_held(facts.abnormal_run, rules, known_new=facts.known_new)
    absolute = absolute or facts.accumulated > 0.0
    by_baseline = not facts.learning and facts.condition in ("degrading", "critical")
    if absolute or by_baseline:
        why = []
        by_stats = absolute and _stats_held(facts.abnormal_run, rules, known_new=facts.known_new)
        if by_stats:
            why.append(f"{ab.text(rules)}, {facts.abnormal_run} windows in a row")
        if by_sum:
            why.append(f"impulsiveness beyond the limits accumulated to {facts.accumulated:.2f} "
                       f"(log-excess over the limits; level {rules.evidence_level:.2f}: "
                       f"{max(rules.min_windows, 1)} windows at twice a limit)")
        if absolute and ab.line is not None and not by_stats:
            snr, channel, words = ab.line
            why.append(f"{words} envelope line on {channel} {snr:.1f}x the spectral background "
                       f"(limit {rules.line_snr:g}) in this window, not held long enough to name it")
        if by_baseline:
            why.append(f"{facts.condition} against this asset's baseline "
                       f"(anomaly score {facts.score:.4f})")
        if absolute and facts.learning:
            why.append("judged from physics alone (no healthy baseline yet)")
        elif absolute and not facts.baseline_healthy:
            why.append("judged from physics (the baseline was learnt from an abnormal machine)")
        x = ab.excess if by_stats else (ab.line[0] / rules.line_snr if absolute and ab.line else 0.0)
        x = max(x, facts.accumulated / rules.evidence_level)
        conf = max(strength(x), facts.score if by_baseline else 0.0)
        if by_stats or ab.line is None:
            return Verdict("anomalous", round(conf, 3), "anomalous, not localised: " + "; ".join(why)
                           + "; no defect line stands out" + _strongest_line(features))
        return Verdict("anomalous", round(conf, 3), "anomalous, not localised: " + "; ".join(why))
    return Verdict("healthy", round(1.0 / (1.0 + max(ab.excess, 0.0)), 3), "")


def absolute_abnormal(ab: Abnormality | None, run: int, rules: AbnormalityRules, *, learning: bool,
                      baseline_healthy: bool, known_new: bool = False) -> bool:
    """Abnormal against the physics for ``rules.min_windows`` windows in a row (``run``: this
    one included), with no healthy baseline to judge against (warm-up, or a baseline learnt
    while the machine was abnormal) and no knowledge that the machine is new (``known_new``:
    its own first windows are its healthy state, never judged by the generic limits); or, in the
    same state (a known-new machine's warm-up included), holding an envelope line at the
    absolute bar in this window (``ab.line``: a line needs no baseline nor a hold to be abnormal)."""
    if ab is None or not (learning or not baseline_healthy):
        return False
    return ab.line is not None or _stats_held(run, rules, known_new=known_new)


def _stats_held(run: int, rules: AbnormalityRules, *, known_new: bool) -> bool:
    """The statistics were beyond a limit for ``rules.min_windows`` windows in a row and the
    machine is not known to be new."""
    return not known_new and run >= max(rules.min_windows, 1)


def judge(features: Mapping[str, float], rules: AbnormalityRules, run_before: int, *,
          learning: bool, healthy_base: bool, known_new: bool = False, bearing: BearingGeometry | None = None,
          lines_before: Mapping[tuple[str, str], int] | None = None,
          ) -> tuple[Abnormality | None, int, bool, bool]:
    """``(abnormality, run, healthy_base, abnormal)`` of a window: the run of abnormal windows
    after it (``run_before`` the one before), and whether it is abnormal without a healthy
    baseline to judge against (:func:`absolute_abnormal`); a known-new machine's baseline is
    healthy by definition. ``bearing`` and ``lines_before``: see :func:`strong_line`."""
    ab = abnormality(features, rules, bearing, lines_before)
    run = run_before + 1 if ab is not None and ab.excess >= 1.0 else 0
    healthy_base = healthy_base or known_new
    abnormal = absolute_abnormal(ab, run, rules, learning=learning, baseline_healthy=healthy_base,
                                 known_new=known_new)
    return ab, run, healthy_base, abnormal
