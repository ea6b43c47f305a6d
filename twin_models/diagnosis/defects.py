"""Defect evidence of one window: which bearing component's envelope line stands out.

Two sources, read by the asset twin (:mod:`twin_models.twin`) when it scores a window:

- *absolute*: an envelope defect line far above the spectral background of the same envelope
  spectrum (the window's ``<channel>.env_<defect>_snr``), held for ``min_windows`` consecutive
  windows. It needs no baseline, so a machine first monitored when already damaged is diagnosed
  during its warm-up too. The run counters are the only state: :func:`advance_runs` gives the
  counters after a window WITHOUT changing the ones passed in, so scoring stays pure and the twin
  stores the result when it learns.
- *baseline-relative*: an envelope defect-line amplitude far above this asset's own healthy
  baseline (a detector's deviation ``z`` and ratio to the baseline level).

A ball is named from its 2xBSF line unless that line shares its window with a shaft harmonic
(the bearing's geometry decides), and, when no race line is held, from the cage comb (FTF) the
ball's cage-rate modulation leaves in the envelope (:mod:`twin_models.diagnosis.ball`). A race
line that fell back to the noise level right after it was held is intermittent, which a race
defect's line is not, and names no race until it is steady again
(:mod:`twin_models.diagnosis.intermittency`).

Pure functions: no state of their own, no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache

from twin_models.diagnosis.ball import BALL_BY_CAGE, CAGE, ambiguous_ball_line
from twin_models.diagnosis.bearings import DEFECT_COMPONENT, defect_frequencies
from twin_models.diagnosis.intermittency import NOISE_SNR, RACE_LINES, intermittent, is_mark, mark_lapses
from twin_models.feature_map import feature_names
from twin_models.features.frame import DIAGNOSABLE_DEFECTS
from twin_models.records import AssetMetadata

__all__ = ["NOISE_SNR", "DefectRules", "Diagnosis", "advance_runs", "confidence", "diagnose", "snr_lines"]

LineKey = tuple[str, str]
"""(channel, defect) of one envelope line."""

EVIDENCE_LINES: tuple[str, ...] = (*DIAGNOSABLE_DEFECTS, CAGE)
"""Lines whose runs are counted: the diagnosable ones and the cage comb (a ball's modulation)."""

@dataclass(frozen=True, slots=True)
class DefectRules:
    """Thresholds of the two evidence paths (the twin's ``defect_*`` settings)."""

    min_z: float = 4.0
    min_ratio: float = 2.0
    min_snr: float = 4.0
    min_windows: int = 2

    @property
    def persistence(self) -> tuple[float, int]:
        """``(min_snr, min_windows)``: what :func:`advance_runs` needs besides the window."""
        return self.min_snr, self.min_windows


@dataclass(frozen=True, slots=True)
class Diagnosis:
    """The window's verdict: the defect (or None), its explanation, whether it is absolute, and
    the confidence in the named component (:func:`confidence`; 0.0 without a defect)."""

    defect: str | None = None
    evidence: str = ""
    absolute: bool = False
    confidence: float = 0.0


def confidence(seen: Mapping[LineKey, float], key: LineKey) -> float:
    """How clearly the line ``key`` names its component: ``1 - runner_up / snr`` in [0, 1], where
    ``runner_up`` is the strongest OTHER diagnosable line of the same channel (at least
    :data:`NOISE_SNR`). 0.8 means the named line is five times anything else in that envelope
    spectrum; near 0 means another component's line is as strong (e.g. a shaft harmonic that
    coincides with a defect order), so the verdict is weakly specific. Scale-free: a ratio of
    two SNRs of the same spectrum. The cage line is never a runner-up (it is part of a ball's
    evidence, not another component's); ``key`` may be it (a ball named by its cage comb)."""
    snr = seen[key]
    others = [v for k, v in seen.items() if k[0] == key[0] and k != key and k[1] in DIAGNOSABLE_DEFECTS]
    runner_up = max([NOISE_SNR, *others])
    return min(1.0, max(0.0, 1.0 - runner_up / snr)) if snr > 0 else 0.0


def _confidence_label(value: float) -> str:
    """``high`` (>= 0.5), ``moderate`` (>= 0.25) or ``low``."""
    return "high" if value >= 0.5 else "moderate" if value >= 0.25 else "low"


def snr_lines(features: Mapping[str, float]) -> dict[LineKey, float]:
    """The window's finite envelope-line SNRs of :data:`EVIDENCE_LINES` (BPFO, BPFI, 2xBSF, FTF)."""
    seen: dict[LineKey, float] = {}
    for name, key in _snr_names(feature_names(features)):
        value = features[name]
        if math.isfinite(value):
            seen[key] = value
    return seen


@lru_cache(maxsize=256)
def _snr_names(names: tuple[str, ...]) -> tuple[tuple[str, LineKey], ...]:
    """The envelope-line SNR features among ``names`` and their (channel, defect), in order;
    kept per name sequence (a fleet has a few): parsing every name was per window."""
    found = []
    for name in names:
        channel, _, feat = name.rpartition(".")
        if not channel or not feat.startswith("env_") or not feat.endswith("_snr"):
            continue
        defect = feat[len("env_") : -len("_snr")]
        if defect in EVIDENCE_LINES:
            found.append((name, (channel, defect)))
    return tuple(found)


def advance_runs(runs: Mapping[LineKey, int], seen: Mapping[LineKey, float],
                 min_snr: float, min_windows: int = 2) -> dict[LineKey, int]:
    """Consecutive windows each line held ``min_snr``, this window included (a new dict), and
    the marks of race lines that lapsed after being held ``min_windows`` windows
    (:mod:`twin_models.diagnosis.intermittency`).

    A filter over what was observed, like the alert policy's hysteresis, not a model that
    learns: a window without the line breaks its run.
    """
    out: dict[LineKey, int] = {}
    for key in set(runs) | set(seen):
        if is_mark(key):
            continue
        held = seen.get(key, 0.0) >= min_snr
        out[key] = runs.get(key, 0) + 1 if held else 0
    return mark_lapses(runs, out, seen, min_windows)


def _absolute(seen: Mapping[LineKey, float], runs: Mapping[LineKey, int], min_windows: int,
              ambiguous_bsf: bool) -> tuple[float, str, str, int] | None:
    """``(snr, channel, defect, run)`` of the strongest diagnosable line held long enough (an
    ambiguous 2xBSF line excluded), else of a cage comb held long enough that stands above every
    race line of its channel (``defect`` ``ftf``: a ball by its cage-rate modulation), else None."""
    held = [key for key in seen if runs.get(key, 0) >= max(min_windows, 1)]
    named = [(seen[k], k[0], k[1], runs[k]) for k in held
             if k[1] in DIAGNOSABLE_DEFECTS and not (ambiguous_bsf and k[1] == "bsf")
             and not intermittent(runs, k)]
    if named:
        return max(named)
    cage = [(seen[k], k[0], k[1], runs[k]) for k in held if k[1] == CAGE
            and all(v < seen[k] for o, v in seen.items() if o[0] == k[0] and o[1] in RACE_LINES)]
    return max(cage, default=None)


def _ambiguous_bsf(metadata: AssetMetadata) -> bool:
    """Whether the asset's 2xBSF line shares its window with a shaft harmonic (see
    :func:`~twin_models.diagnosis.ball.ambiguous_ball_line`)."""
    return metadata.bearing is not None and ambiguous_ball_line(metadata.bearing)


def defect_hz(metadata: AssetMetadata, features: Mapping[str, float], channel: str,
              defect: str) -> float | None:
    """The line's frequency at the window's shaft speed (2xBSF for a ball), if known."""
    geometry = metadata.bearing
    shaft = features.get(f"{channel}.shaft_hz", metadata.nominal_speed_hz)
    if geometry is None or shaft is None or not shaft > 0:
        return None
    freq = defect_frequencies(geometry, shaft).as_dict()[defect]
    return 2.0 * freq if defect == "bsf" else freq


def _line_name(defect: str) -> str:
    """The line's name in an evidence text: a ball's line is 2xBSF (:func:`defect_hz`'s frequency;
    round 50: the baseline's text said "BSF 114.5 Hz", twice the ball spin frequency)."""
    return "2xBSF" if defect == "bsf" else defect.upper()


def _baseline(metadata: AssetMetadata, features: Mapping[str, float], devs: Mapping[str, float],
              ratio: Callable[[str, float], float], rules: DefectRules,
              runs: Mapping[LineKey, int]) -> Diagnosis:
    """The envelope line that stands out most against this asset's baseline, if any (an
    intermittent race line excluded)."""
    best: tuple[float, str, str, float] | None = None
    for name, z in devs.items():
        if ".env_" not in name or not name.endswith("_amp"):
            continue
        channel, feat = name.split(".", 1)
        defect = feat[len("env_") : -len("_amp")]
        if defect not in DEFECT_COMPONENT or defect == CAGE or (defect == "bsf" and _ambiguous_bsf(metadata)):
            continue
        if intermittent(runs, (channel, defect)):
            continue
        r = ratio(name, features[name])
        if z >= rules.min_z and r >= rules.min_ratio and (best is None or z > best[0]):
            best = (z, defect, channel, r)
    if best is None:
        return Diagnosis()
    _, defect, channel, r = best
    freq = defect_hz(metadata, features, channel, defect)
    where = f" {freq:.1f} Hz" if freq else ""
    text = (
        f"{DEFECT_COMPONENT[defect]}: {_line_name(defect)}{where} envelope line on {channel} "
        f"{r:.1f}x above baseline"
    )
    seen = snr_lines(features)
    conf = 0.0
    if (channel, defect) in seen:
        conf = confidence(seen, (channel, defect))
        text += f"; confidence {conf:.2f} ({_confidence_label(conf)})"
    return Diagnosis(defect, text, False, conf)


def diagnose(metadata: AssetMetadata, features: Mapping[str, float], devs: Mapping[str, float],
             runs: Mapping[LineKey, int], *, learning: bool,
             ratio: Callable[[str, float], float], rules: DefectRules) -> Diagnosis:
    """Absolute evidence first (``runs``: the counters AFTER this window, see
    :func:`advance_runs`): it is read off this very spectrum, needs no baseline and makes the
    condition ``degrading``. Otherwise, once the baseline is learnt (``learning`` False), the
    baseline-relative line: z-scores against the first windows of a warm-up are not evidence.
    """
    seen = snr_lines(features)
    strong = _absolute(seen, runs, rules.min_windows, _ambiguous_bsf(metadata))
    if strong is not None:
        snr, channel, line, run = strong
        conf = confidence(seen, (channel, line))
        freq = defect_hz(metadata, features, channel, line)
        where = f" {freq:.1f} Hz" if freq else ""
        defect = BALL_BY_CAGE if line == CAGE else line
        what = (f"cage-rate modulation, FTF{where} envelope comb" if line == CAGE
                else f"{_line_name(line)}{where} envelope line")
        text = (
            f"{DEFECT_COMPONENT[defect]}: {what} on {channel} "
            f"{snr:.1f}x the spectral background (SNR), {run} windows in a row"
            f"{', no race line' if line == CAGE else ''}; "
            f"confidence {conf:.2f} ({_confidence_label(conf)})"
        )
        if learning:
            text += "; judged from the spectrum alone (no healthy baseline yet)"
        return Diagnosis(defect, text, True, conf)
    if learning:
        return Diagnosis()
    return _baseline(metadata, features, devs, ratio, rules, runs)
