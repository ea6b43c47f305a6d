"""The drift check: a slow departure of one channel that its physically coupled channels do not share.

A drifting sensor (an RTD or thermocouple ageing, a current transformer losing calibration) reads
an offset that grows over days while the machine is unchanged. Per asset and per *drift-prone*
channel (a temperature or a current, by its unit: pulse-counting tachometers and computed loads do
not drift), :class:`DriftTracker` keeps:

- an online River regression (:class:`river.linear_model.BayesianLinearRegression`, exact for a
  linear model, with a bias term) of the channel's window mean on the asset's other, not
  drift-prone scalar channels' window means (load, speed: what sets the heat and the current)
  and the time of day (sin, cos: the ambient's daily cycle), learnt on ok windows only, before
  its judgement is used (prequential: predict, then learn);
- the residual's scale (EWMA of the squared residual of those windows) and a two-sided CUSUM of
  the standardised residual with allowance :data:`ALLOWANCE`: ``suspect`` at :data:`SUSPECT_H`,
  ``bad`` at :data:`BAD_H` (a drift then no longer teaches the model: the channel is not ok).

A real machine fault moves several channels together, and it is not a drift. Bearing damage shows
first in the vibration, then as friction heat in the housing, and last (friction torque) in the
motor current. So a window counts as *coupled* (the CUSUM is reset, nothing is called drift) when
a current departs while a temperature departs as much or more (same sign, in residual sds), or a
temperature departs while a current departs as much or more, or while the machine shows a fault
in its vibration: its level :data:`VIB_RATIO` times its learnt healthy level, or a bearing defect
diagnosed by the twin in this life (passed in by the caller: the defect lines rise long before the
broadband level and before the friction heat). While a coupled channel cannot be judged (itself
faulty or missing in the window) nothing accumulates: the veto it would give is unknown.

After the asset restarts (every channel silent for a while: a stop, a replacement) the housing's
temperature is far from equilibrium for a few thermal time constants: the CUSUM is reset and
nothing is judged nor learnt for :data:`SETTLE_S`.

Every constant below is fixed a priori with its reason; none was chosen on scored data.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from twin_models.quality.stats import ChannelStats

if TYPE_CHECKING:
    from river.linear_model import BayesianLinearRegression

__all__ = ["ALLOWANCE", "BAD_H", "CURRENT_UNITS", "SETTLE_S", "SUSPECT_H", "TEMPERATURE_UNITS",
           "VIB_RATIO", "WARMUP_WINDOWS", "DriftTracker"]

TEMPERATURE_UNITS = frozenset({"degC", "C", "°C", "K", "degF"})
CURRENT_UNITS = frozenset({"A", "mA"})
"""Drift-prone sensors by unit: resistance thermometers / thermocouples and current transformers
drift with age and heat; a tachometer counts pulses, a load is computed."""
WARMUP_WINDOWS = 48
"""Ok windows the regression learns before it judges (two days of hourly windows: both halves of
the ambient's daily cycle seen twice)."""
ALLOWANCE = 1.0
"""CUSUM allowance k in residual sds per window: departures within one sd (model error, thermal
lag after a load change) never accumulate."""
SUSPECT_H = 15.0
BAD_H = 45.0
"""CUSUM thresholds in residual sds: ``suspect`` after e.g. 15 windows one sd beyond the
allowance (a 2-sd offset held for 15 h), ``bad`` at three times that: far beyond what the
thermal lag of a load step (a few sds for a time constant or two) can add up to."""
VIB_RATIO = 2.0
"""A vibration level twice its healthy level (+6 dB, about one zone of ISO 10816) is a machine
changing state: a temperature departing then is the machine's, not the sensor's."""
SETTLE_S = 9 * 3600.0
"""After a restart, a housing reaches thermal equilibrium in ~3 time constants (95 %); machine
housings' time constants are 1-3 h, so 9 h."""
RESTART_GAP_S = 3 * 3600.0
"""Every channel silent this long (s): the asset stopped, and restarts cold."""
Z_CAP = 10.0
"""A window adds at most this many sds: one odd window cannot make a drift on its own."""


def _regressor() -> BayesianLinearRegression:
    """The channel's regression; River's linear models (and scipy under them) are imported only
    when an asset has a drift-prone channel, so a plain scalar run starts without them."""
    from river.linear_model import BayesianLinearRegression  # noqa: PLC0415 (lazy: startup cost)

    return BayesianLinearRegression(alpha=1e-3, beta=1.0)


@dataclass(slots=True)
class _Channel:
    """One drift-prone channel's model, residual scale and CUSUM."""

    model: BayesianLinearRegression = field(default_factory=lambda: _regressor())
    learnt: int = 0
    var: float = math.nan  # EWMA of the squared residual (ok windows)
    up: float = 0.0  # CUSUM of positive departures
    down: float = 0.0  # CUSUM of negative departures


class DriftTracker:
    """Drift of one asset's drift-prone channels (picklable: a few small models)."""

    def __init__(self, units: Mapping[str, str]) -> None:
        self.kind = {c: ("temperature" if u in TEMPERATURE_UNITS else "current")
                     for c, u in units.items() if u in TEMPERATURE_UNITS or u in CURRENT_UNITS}
        self.channels: dict[str, _Channel] = {}
        self.vib_level = math.nan  # the healthy vibration level (learnt in the warm-up)
        self.vib_seen = 0
        self.last_t = math.nan
        self.inputs: set[str] = set()  # the regressor channels (fixed from the first window)
        self.settle_until = -math.inf

    def update(self, end_s: float, stats: Mapping[str, ChannelStats], ok: Mapping[str, bool],
               machine_fault: bool = False) -> dict[str, tuple[str, str]]:
        """Judge then learn one window; channel -> (state, reason) of the channels it flags.
        ``ok``: whether each channel's window passed the other checks (only ok ones teach);
        ``machine_fault``: the asset's condition monitoring has found a fault in this life (a
        bearing defect diagnosed from the vibration): a temperature rising then is the machine's."""
        if not self.kind:
            return {}
        first = min((st.first_t for st in stats.values()), default=math.nan)
        if math.isfinite(self.last_t) and first - self.last_t > RESTART_GAP_S:
            self.settle_until = first + SETTLE_S
            for ch in self.channels.values():
                ch.up = ch.down = 0.0
        self.last_t = max((st.last_t for st in stats.values()), default=self.last_t)
        if end_s <= self.settle_until:
            return {}
        x = self._regressors(end_s, stats, ok)
        if x is None:
            return {}
        z = {}
        for c in self.kind:
            st = stats.get(c)
            if st is None or st.kind != "scalar" or not math.isfinite(st.mean) or not ok.get(c, False):
                continue
            ch = self.channels.setdefault(c, _Channel())
            r = st.mean - float(ch.model.predict_one(x))  # type: ignore[no-untyped-call]
            if ch.learnt >= WARMUP_WINDOWS and ch.var > 0:
                z[c] = max(-Z_CAP, min(Z_CAP, r / math.sqrt(ch.var)))
            if ch.up < SUSPECT_H and ch.down < SUSPECT_H:  # a suspect drift teaches nothing
                ch.model.learn_one(x, st.mean)  # type: ignore[no-untyped-call]
                ch.learnt += 1
                if ch.learnt > 2:  # the first residuals are the prior's
                    ch.var = r * r if math.isnan(ch.var) else 0.98 * ch.var + 0.02 * r * r
        vib_up = self._vib_up(stats)
        out: dict[str, tuple[str, str]] = {}
        for c, zc in z.items():
            ch = self.channels[c]
            heat = self.kind[c] == "temperature" and (vib_up or machine_fault)
            if heat or self._coupled(c, zc, z):
                ch.up = ch.down = 0.0
                continue
            if any(k != self.kind[c] and d not in z for d, k in self.kind.items()):
                continue  # a coupled channel not judged this window (faulty, missing): no verdict
            ch.up = max(0.0, ch.up + zc - ALLOWANCE)
            ch.down = max(0.0, ch.down - zc - ALLOWANCE)
            s = max(ch.up, ch.down)
            if s >= SUSPECT_H:
                state = "bad" if s >= BAD_H else "suspect"
                way = "above" if ch.up >= ch.down else "below"
                out[c] = (state, f"reads {abs(zc):.1f} sd {way} what load, speed and time of day "
                          f"predict (CUSUM {s:.0f} sd), its coupled channels unchanged: sensor drift")
        return out

    def _regressors(self, end_s: float, stats: Mapping[str, ChannelStats],
                    ok: Mapping[str, bool]) -> dict[str, float] | None:
        x = {"1": 1.0}
        for c, st in stats.items():
            if c in self.kind or st.kind != "scalar":
                continue
            if not ok.get(c, False) or not math.isfinite(st.mean):
                return None  # a regressor missing or faulty: no judgement this window
            x[c] = st.mean
        inputs: set[str] = getattr(self, "inputs", set())
        if len(x) == 1 or not inputs <= x.keys():
            return None  # a regressor the model learnt is missing (a dropout, a quarantined clock)
        if not inputs:
            self.inputs = set(x) - {"1"}  # fixed from the first window with regressors
        elif len(x) - 1 > len(inputs):
            return None  # a new channel: not in the model
        day = 2.0 * math.pi * (end_s % 86400.0) / 86400.0
        x["sin_day"], x["cos_day"] = math.sin(day), math.cos(day)
        return x

    def _coupled(self, c: str, zc: float, z: Mapping[str, float]) -> bool:
        """Another drift-prone channel of the other kind departs as much, the same way."""
        kind = self.kind[c]
        return any(self.kind[d] != kind and zd * zc > 0 and abs(zd) >= abs(zc)
                   for d, zd in z.items() if d != c)

    def _vib_up(self, stats: Mapping[str, ChannelStats]) -> bool:
        levels = [st.spread for st in stats.values() if st.kind == "waveform" and st.spread > 0]
        if not levels:
            return False
        level = max(levels)
        if self.vib_seen < WARMUP_WINDOWS:
            self.vib_seen += 1
            self.vib_level = level if math.isnan(self.vib_level) else 0.9 * self.vib_level + 0.1 * level
            return False
        return level >= VIB_RATIO * self.vib_level
