"""Which detector a twin runs, chosen by configuration (``twin.detector``), and its settings.

- ``"baseline"`` (the default): :class:`~twin_models.anomaly.baseline.BaselineDetector`;
- ``"novelty"``: :class:`~twin_models.anomaly.novelty.NoveltyDetector`, tuned by the
  ``[twin.novelty]`` table (:class:`NoveltyConfig`), which the other detectors ignore;
- ``"river.anomaly.<Name>"``: a River detector (``HalfSpaceTrees``, ``LODA``, ...) behind the
  :class:`~twin_models.anomaly.river_detector.RiverDetector` adapter.

Every one of them follows :class:`twin_models.contracts.Detector`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from twin_models.anomaly.baseline import BaselineDetector
from twin_models.anomaly.novelty import NoveltyDetector
from twin_models.settings import MAX_COUNT, NAME, Range, between, setting

__all__ = ["DETECTOR_PATTERN", "NoveltyConfig", "build_detector", "detector_problem"]

DETECTOR_PATTERN = r"baseline|novelty|river\.anomaly\.[A-Za-z]+"


def detector_problem(name: str) -> str | None:
    """None for ``baseline``, ``novelty`` or one of River's detectors; else what is wrong."""
    if name in ("baseline", "novelty"):
        return None
    from twin_models.anomaly.river_detector import river_detector_problem

    return river_detector_problem(name)


def _scales_problem(scales: tuple[tuple[int, int], ...]) -> str | None:
    """Each novelty scale is (subsequence length m, segments d) with m a multiple of d."""
    for m, d in scales:
        if m % d:
            return f"subsequence length {m} is not a multiple of its segments {d}"
    return None


@dataclass(frozen=True)
class NoveltyConfig:
    """The novelty detector's tunables (TOML ``[pipeline.twin.novelty]``)."""

    features: tuple[str, ...] = setting((".mean",), pattern=NAME, max_items=1000)
    scales: tuple[tuple[int, int], ...] = setting(
        ((8, 8), (32, 8), (128, 16), (576, 24)), **between(1, 100_000), max_items=32,
        check=_scales_problem)
    history: int = setting(8000, **between(50, 10_000_000))
    value_history: int = setting(20000, **between(30, 10_000_000))
    refractory: int = setting(0, **between(0, MAX_COUNT))
    """> 0: event mode, a window scores only if more surprising than the previous N (a persistent
    anomaly scores once: pair it with ``min_windows = 1`` in the alert policy)."""
    echo: bool = setting(False)
    """Event mode's look-back also spans the length of the scale carrying the window's p-value
    (that scale's echo of an earlier event; :mod:`twin_models.anomaly.event_gate`)."""
    hold: int = setting(0, **between(0, MAX_COUNT))
    """Event mode: the N windows after a window reported at alarm grade (p <= 0.001) are the rest
    of its burst, not news (0 = off; :mod:`twin_models.anomaly.event_gate`)."""
    period_fractions: tuple[float, ...] = setting((), range=Range(0.0, 100.0, lo_open=True), max_items=32)
    """Non-empty: ``scales`` is ignored; the subsequence lengths are these fractions of the series'
    own period, found online (:class:`~twin_models.anomaly.seasonal.PeriodNoveltyDetector`)."""
    default_period: int = setting(288, **between(1, 1_000_000))
    """With ``period_fractions``: the period assumed while none is found (windows)."""

    def __post_init__(self) -> None:
        # TOML gives lists of lists; keep the frozen config hashable
        scales = tuple((int(m), int(d)) for m, d in self.scales)
        object.__setattr__(self, "scales", scales)
        object.__setattr__(self, "period_fractions", tuple(float(f) for f in self.period_fractions))


def build_detector(name: str, *, warmup: int, top_k: int, learn_gate: float,
                   calibrator_window: int, novelty: NoveltyConfig) -> Any:
    """A fresh detector of the configured kind (a new life starts a new one)."""
    if name == "novelty" and novelty.period_fractions:
        from twin_models.anomaly.seasonal import PeriodNoveltyDetector

        return PeriodNoveltyDetector(warmup=warmup, features=novelty.features,
                                     fractions=novelty.period_fractions,
                                     default_period=novelty.default_period, history=novelty.history,
                                     value_history=novelty.value_history,
                                     refractory=novelty.refractory, echo=novelty.echo,
                                     hold=novelty.hold)
    if name == "novelty":
        return NoveltyDetector(warmup=warmup, features=novelty.features, scales=novelty.scales,
                               history=novelty.history, value_history=novelty.value_history,
                               refractory=novelty.refractory, echo=novelty.echo,
                               hold=novelty.hold)
    if name != "baseline":
        # imported only when a River detector may be configured: River's anomaly module imports
        # scipy.stats (~1 CPU s of start-up that a twin of the default detector never uses)
        from twin_models.anomaly.river_detector import RIVER_PREFIX, RiverDetector

        if name.startswith(RIVER_PREFIX):
            return RiverDetector(name[len(RIVER_PREFIX):], warmup=warmup, top_k=top_k,
                                 calibrator_window=calibrator_window)
    return BaselineDetector(warmup=warmup, top_k=top_k, learn_gate=learn_gate,
                            calibrator_window=calibrator_window)
