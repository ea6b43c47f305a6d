"""The data-quality checks of one channel's window, with their physics-fixed limits.

Each check reads :class:`~twin_models.quality.stats.ChannelStats`, the sensor's
:class:`QualityLimits` (from its metadata, safe defaults without) and what the channel has shown
before (:class:`Learnt`, kept by :class:`~twin_models.quality.monitor.QualityMonitor`), and
returns ``(state, reason)`` or None. The limits are fixed a priori, each with its reason below;
none was chosen on scored data.

Value checks (the values are wrong: the channel is ``bad`` and gated): ``flatline``,
``clipping``, ``spike``, ``sample_rate``, ``disconnect``. Timing checks (the values present are
right, some are missing or mis-stamped: ``suspect``, not gated): ``gap``, ``clock``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from twin_models.quality.stats import ChannelStats
from twin_models.records import SensorSpec

__all__ = ["CHECKS", "DC_RATIO", "GAP_STEPS", "MIN_LEARNT", "RAIL_SHARE", "RAIL_SHARE_SCALAR",
           "RATE_TOLERANCE", "SILENT_RATIO", "SPIKE_SIGMAS", "Found", "Learnt", "QualityLimits",
           "check_window", "limits_of"]

CHECKS = ("flatline", "clipping", "spike", "gap", "clock", "sample_rate", "disconnect", "drift")
"""Every check name (the ``check`` of a ChannelQuality and of a sensor alert). Beside the
per-window checks here: ``drift`` is :mod:`twin_models.quality.drift` (a channel against its
coupled channels, over many windows), and a ``clock`` jump beyond the allowed lateness is judged
at admission (:mod:`twin_models.quality.clock`; its records never reach a window)."""

MIN_LEARNT = 10
"""Windows a channel must have shown (ok) before a check that compares with its own past judges it."""
VARYING_SHARE = 0.9
"""A scalar channel counts as live (its flat window is a stuck sensor) when at least this share of
its learnt windows of 3+ samples varied: measurement noise makes consecutive readings of a live
analog sensor differ; a set-point or a quantised channel that often repeats is never judged."""
RAIL_SAMPLES = 3
"""Scalar clipping: samples exactly at the window's extreme (a live noisy reading ties its own
extreme with negligible probability; a saturated one repeats its limit code), and at least
``RAIL_SHARE_SCALAR`` of the window's readings."""
RAIL_SHARE_SCALAR = 0.1
RAIL_SHARE = 0.01
"""Waveform railing: share of a frame's samples exactly at its extreme. A live vibration signal
touches its peak once or twice per frame (the peak is a tail excursion, even quantised); 1 % of a
4096-sample frame is 41 samples pinned at one value."""
SPIKE_SIGMAS = 20.0
"""Isolated spike: one sample this many learnt sds from the window's median while the next
largest stays within ``ISOLATED_SIGMAS``: a 20-sd excursion has probability ~1e-88 under Gaussian
noise, and a real change moves several samples, not one."""
ISOLATED_SIGMAS = 5.0
GAP_STEPS = 5.0
"""A gap: no sample for more than 5 expected steps (4 consecutive samples missing)."""
RATE_TOLERANCE = 0.01
"""Sample rate: 1 % off the declared (or first seen) rate: a wrong rate scales every frequency
feature by the same factor, and 1 % moves a 5x-shaft defect line by more than the line tolerance."""
SILENT_RATIO = 0.01
"""Disconnect: AC RMS 40 dB (x0.01) below the channel's learnt level: far below any machine's
change of state, where an open input or a dead ICP supply leaves only the ADC's noise."""
DC_RATIO = 3.0
"""Disconnect / DC offset: a frame mean beyond 3 AC RMS. Accelerometers are AC-coupled (a
healthy frame's mean is within ~RMS/sqrt(n) of zero); a bias shift or a broken cable offsets it."""
ABSOLUTE_ZERO_C = -273.15


@dataclass(frozen=True, slots=True)
class QualityLimits:
    """What the metadata says about one sensor (None: not declared, the safe default applies).

    ``range``: the sensor's measuring range (readings AT it are clipped); ``limits``: the physical
    limits of the quantity (readings beyond them are impossible: spikes); ``cadence_s``: the
    expected interval between readings (frames), learnt from the data when absent;
    ``sample_rate_hz``: a waveform's declared sample rate (the first seen one when absent)."""

    range: tuple[float, float] | None = None
    limits: tuple[float, float] | None = None
    cadence_s: float | None = None
    sample_rate_hz: float | None = None


def limits_of(spec: SensorSpec | None) -> QualityLimits:
    """The limits a sensor's metadata gives, with the unit's physical floor as default limits
    (a temperature in degC or K cannot be below absolute zero)."""
    if spec is None:
        return QualityLimits()
    limits = spec.limits
    if limits is None and spec.unit in ("degC", "C", "°C"):
        limits = (ABSOLUTE_ZERO_C, math.inf)
    elif limits is None and spec.unit == "K":
        limits = (0.0, math.inf)
    return QualityLimits(spec.range, limits, spec.cadence_s, spec.sample_rate_hz)


@dataclass(slots=True)
class Learnt:
    """What a channel has shown in its ok windows (bounded: a few numbers per channel)."""

    windows: int = 0
    varied: int = 0  # of the scalar windows with 3+ samples, those that varied
    judged: int = 0  # scalar windows with 3+ samples
    cadence_s: float = math.nan  # EWMA of the median step
    spread: float = math.nan  # EWMA of the spread (scalar sd; waveform: the smallest frame's AC RMS)
    sample_rate_hz: float = math.nan
    last_t: float = math.nan  # the last sample (frame start) seen, ok or not
    run_start: float = math.nan  # the first reading after the channel's last gap

    def learn(self, st: ChannelStats) -> None:
        """Learn an ok window (an EWMA over ~20 windows for the levels)."""
        self.windows += 1
        if st.n == 1 and st.kind == "scalar":  # one reading (every channel of a C-MAPSS cycle):
            return  # no step, spread or variation to learn from it
        if st.kind == "scalar" and st.n >= 3:
            self.judged += 1
            self.varied += int(not st.flat)
        if st.n >= 2 and math.isfinite(st.median_dt) and st.median_dt > 0:
            self.cadence_s = _ewma(self.cadence_s, st.median_dt)
        if (st.n >= 3 or st.kind == "waveform") and math.isfinite(st.spread):
            self.spread = _ewma(self.spread, st.spread)
        if st.kind == "waveform" and math.isnan(self.sample_rate_hz):
            self.sample_rate_hz = st.rate_lo

    @property
    def live(self) -> bool:
        """A scalar channel that varies in nearly every window (its flat window is a fault)."""
        return self.judged >= MIN_LEARNT and self.varied >= VARYING_SHARE * self.judged


def _ewma(old: float, new: float, alpha: float = 0.05) -> float:
    return new if math.isnan(old) else (1 - alpha) * old + alpha * new


Found = tuple[str, str, str]
"""(check, state, reason)."""


def check_window(st: ChannelStats, lim: QualityLimits, learnt: Learnt) -> list[Found]:
    """Every check that fires on this window, value checks first."""
    found: list[Found] = []
    # one scalar reading (a C-MAPSS cycle, a slow gauge): it cannot be flat, railed or an isolated
    # spike (3 and 5 readings), and the waveform checks do not apply: only the sensor's range,
    # the quantity's limits and the timing can fire (the same findings, in the same order)
    if st.n == 1 and st.kind == "scalar":
        if lim.range is None and lim.limits is None:
            return _timing_of_one(st, lim, learnt)
        checks = _ONE_READING
    else:
        checks = _ALL
    for check in checks:
        hit = check(st, lim, learnt)
        if hit is not None:
            found.append(hit)
    return found


def _timing_of_one(st: ChannelStats, lim: QualityLimits, learnt: Learnt) -> list[Found]:
    """``_gap`` then ``_clock`` of a one-reading window. The usual one (every channel of every
    C-MAPSS cycle) comes after the channel's last reading, without a repeated stamp: no clock
    finding, and a gap only if that step is over ``GAP_STEPS`` cadences; anything else (the
    first reading, one behind, a gap) is the checks' own."""
    last_t = learnt.last_t
    if -math.inf < last_t < st.first_t and not st.duplicates:
        cadence = lim.cadence_s or learnt.cadence_s
        if not (cadence > 0) or max(st.max_dt, st.first_t - last_t) <= GAP_STEPS * cadence:
            return []
    return [hit for hit in (_gap(st, lim, learnt), _clock(st, lim, learnt)) if hit is not None]


def _flatline(st: ChannelStats, lim: QualityLimits, learnt: Learnt) -> Found | None:
    if not st.flat:
        return None
    if st.kind == "waveform":
        return ("flatline", "bad", "every sample of a frame identical (stuck value)")
    if not learnt.live:
        return None
    return ("flatline", "bad", f"{st.n} identical readings ({st.vmax:g}); the channel varied in "
            f"{learnt.varied} of {learnt.judged} windows before")


def _clipping(st: ChannelStats, lim: QualityLimits, learnt: Learnt) -> Found | None:
    if st.kind == "waveform":
        if st.rail >= RAIL_SHARE and not st.flat:
            return ("clipping", "bad", f"{st.rail:.1%} of a frame's samples pinned at its extreme "
                    "(railing / saturation)")
        return None
    at_range = _at_range(st, lim)
    if at_range is not None:
        return at_range
    if not st.flat and st.rail >= max(RAIL_SAMPLES, RAIL_SHARE_SCALAR * st.n) and learnt.live:
        return ("clipping", "bad", f"{int(st.rail)} of {st.n} readings exactly at the window's "
                "extreme (flat-topped: saturation)")
    return None


def _at_range(st: ChannelStats, lim: QualityLimits, learnt: Learnt | None = None) -> Found | None:
    """Scalar clipping at the sensor's declared range (all a one-reading window can show of it)."""
    if lim.range is not None:
        lo, hi = lim.range
        if st.vmax >= hi or st.vmin <= lo:
            return ("clipping", "bad", f"readings at the sensor's range [{lo:g}, {hi:g}] "
                    f"(min {st.vmin:g}, max {st.vmax:g})")
    return None


def _spike(st: ChannelStats, lim: QualityLimits, learnt: Learnt) -> Found | None:
    if st.kind == "waveform":
        return None
    beyond = _beyond_limits(st, lim)
    if beyond is not None:
        return beyond
    sd = learnt.spread
    if (st.n >= 5 and learnt.windows >= MIN_LEARNT and sd > 0 and st.dev_top > SPIKE_SIGMAS * sd
            and st.dev_second < ISOLATED_SIGMAS * sd):
        return ("spike", "bad", f"one reading {st.dev_top / sd:.0f} sd from the window's median "
                f"(usual sd {sd:.3g}), its neighbours normal")
    return None


def _beyond_limits(st: ChannelStats, lim: QualityLimits, learnt: Learnt | None = None) -> Found | None:
    """A scalar spike beyond the quantity's physical limits (all a one-reading window can show
    of a spike: the isolated-spike test needs 5 readings)."""
    if lim.limits is not None:
        lo, hi = lim.limits
        if st.vmin < lo or st.vmax > hi:
            return ("spike", "bad", f"reading beyond the physical limits [{lo:g}, {hi:g}] "
                    f"(min {st.vmin:g}, max {st.vmax:g})")
    return None


def _sample_rate(st: ChannelStats, lim: QualityLimits, learnt: Learnt) -> Found | None:
    if st.kind != "waveform":
        return None
    expected = lim.sample_rate_hz or learnt.sample_rate_hz
    if st.rate_hi > st.rate_lo * (1 + RATE_TOLERANCE):
        return ("sample_rate", "bad", f"frames at {st.rate_lo:g} and {st.rate_hi:g} Hz in one window")
    if math.isfinite(expected) and abs(st.rate_lo / expected - 1) > RATE_TOLERANCE:
        return ("sample_rate", "bad", f"frames at {st.rate_lo:g} Hz, expected {expected:g} Hz")
    return None


def _disconnect(st: ChannelStats, lim: QualityLimits, learnt: Learnt) -> Found | None:
    if st.kind != "waveform" or st.flat:
        return None
    if st.dev_top > DC_RATIO:
        return ("disconnect", "bad", f"DC offset: a frame's mean is {st.dev_top:.1f}x its AC RMS "
                "(bias shift, cable)")
    usual = learnt.spread
    if learnt.windows >= MIN_LEARNT and usual > 0 and st.spread < SILENT_RATIO * usual:
        return ("disconnect", "bad", f"AC RMS {st.spread:.3g}, 40 dB below its usual {usual:.3g} "
                "(sensor disconnected?)")
    return None


def _gap(st: ChannelStats, lim: QualityLimits, learnt: Learnt) -> Found | None:
    cadence = lim.cadence_s or learnt.cadence_s
    if not (cadence > 0):
        return None
    step = st.max_dt
    if math.isfinite(learnt.last_t) and st.first_t > learnt.last_t:
        step = max(step, st.first_t - learnt.last_t)
    if step > GAP_STEPS * cadence:
        return ("gap", "suspect", f"no reading for {step:g} s (expected every {cadence:g} s)")
    return None


def _clock(st: ChannelStats, lim: QualityLimits, learnt: Learnt) -> Found | None:
    back = math.isfinite(learnt.last_t) and st.first_t <= learnt.last_t
    if st.duplicates or back:
        what = "frames overlapping in time" if st.kind == "waveform" else "repeated timestamps"
        n = st.duplicates + int(back)
        return ("clock", "suspect", f"{n} {what} (clock jump or skew)")
    return None


Check = Callable[[ChannelStats, QualityLimits, Learnt], Found | None]
_ALL: tuple[Check, ...] = (_flatline, _clipping, _spike, _sample_rate, _disconnect, _gap, _clock)
_ONE_READING: tuple[Check, ...] = (_at_range, _beyond_limits, _gap, _clock)
