"""One asset's view of its fleet: the current life's trajectory, fused with the fleet's model.

The fleet RUL used to live in one step keyed by asset kind, which saw every window of every asset
of the kind. Prediction is per asset now: :class:`FleetView` lives in the asset's own twin state
(``AssetTwin.fleet_view``), keeps what the fleet model needs about the asset's current life (its
degradation trajectory and estimates, and, with condition features configured, the raw condition
and operating-setting values of its windows, bounded), fuses the fleet model's estimate into each
snapshot (:meth:`FleetView.update`, given the :class:`~twin_models.rul.fleet_model.FleetModel` of
the asset's kind that applies at the window's event time), and when a failure closes the life it
hands a compact :class:`LifeSummary` to the fleet learner, cut into :class:`LifeChunk` items so
that the learner's work per call stays bounded (:func:`life_chunks`).

The fused RUL therefore depends only on the asset's own windows and on the model version that
applies at their event time: not on which worker holds which asset.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, replace
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from twin_models.moved_modules import restore_state
from twin_models.records import AssetEvent, TwinSnapshot
from twin_models.rul.calibration import calibrated_bounds
from twin_models.rul.life_indicator import LifeIndicator
from twin_models.rul.life_model import LifeRecord, life_record

if TYPE_CHECKING:
    from twin_models.rul.fleet import FleetRulConfig
    from twin_models.rul.fleet_model import FittedRegression, FleetModel
    from twin_models.rul.trend import RulEstimate

__all__ = ["LIFE_HISTORY", "FleetView", "LifeChunk", "LifeSummary", "LifeTrack", "RefitWork", "life_chunks"]

FloatArray = npt.NDArray[np.float64]
F32 = npt.NDArray[np.float32]
LIFE_HISTORY = 1024
"""Windows of the current life a view keeps (its trajectory and condition rows); the fleet
learner stores as many rows per completed life, so a life reaches the regression whole."""

@dataclass
class LifeTrack:
    """Raw condition and operating-setting values of the current life's windows (bounded)."""

    max_len: int
    head_len: int

    def __post_init__(self) -> None:
        self.times: deque[float] = deque(maxlen=self.max_len)
        self.settings: deque[bytes] = deque(maxlen=self.max_len)  # float32 rows: compact state
        self.rows: deque[bytes] = deque(maxlen=self.max_len)
        self.head: list[tuple[bytes, bytes]] = []  # the life's first windows (its baseline)
        self.t0_s = math.nan
        self.n_seen = 0

    def append(self, t_s: float, settings: FloatArray, row: FloatArray) -> None:
        """Remember one window."""
        if self.n_seen == 0:
            self.t0_s = t_s
        s, r = settings.astype(np.float32).tobytes(), row.astype(np.float32).tobytes()
        if len(self.head) < self.head_len:
            self.head.append((s, r))
        self.times.append(t_s)
        self.settings.append(s)
        self.rows.append(r)
        self.n_seen += 1

    def arrays(self, last: int | None = None) -> tuple[FloatArray, F32, F32]:
        """(times, settings, rows) of the last ``last`` windows (all by default)."""
        n = len(self.times) if last is None else min(last, len(self.times))
        times = np.fromiter(list(self.times)[-n:], float, n)
        return times, _stack(list(self.settings)[-n:]), _stack(list(self.rows)[-n:])

    def head_arrays(self) -> tuple[F32, F32]:
        """(settings, rows) of the life's first windows."""
        return _stack([s for s, _ in self.head]), _stack([r for _, r in self.head])

    def baseline(self, reg: FittedRegression) -> FloatArray | None:
        """The life's baseline under ``reg`` (None without windows); kept while ``reg`` applies
        once the head is complete (it no longer changes: computing it per window cost ~1/8 of a
        fleet prediction). Not part of the pickled state."""
        cached = self.__dict__.get("_baseline")
        if cached is not None and cached[0] is reg:
            return cached[1]  # type: ignore[no-any-return]
        head_s, head_r = self.head_arrays()
        if head_r.shape[0] == 0:
            return None
        base = reg.baseline(head_s, head_r)
        if len(self.head) >= self.head_len:
            self.__dict__["_baseline"] = (reg, base)
        return base

    def __getstate__(self) -> dict[str, object]:
        """The window values only (not the cached baseline)."""
        state = self.__dict__.copy()
        state.pop("_baseline", None)
        return state

    @property
    def complete(self) -> bool:
        """Whether every window of the life is still held (not truncated by the bound)."""
        return self.n_seen == len(self.times)


def _stack(rows: list[bytes]) -> F32:
    if not rows:
        return np.zeros((0, 0), dtype=np.float32)
    return np.frombuffer(b"".join(rows), dtype=np.float32).reshape(len(rows), -1)


@dataclass(frozen=True)
class LifeSummary:
    """What a life closed by a failure teaches the fleet learner (compact, bounded).

    ``times_s``/``indicator``/``estimates_s``: the degradation trajectory (at most the view's
    ``life_history`` windows) with the fused estimate emitted at each (the learner keeps it
    downsampled). The condition rows of the
    life travel in its :class:`LifeChunk` items (float32), ``head_*`` are its first windows.
    ``damage_fit``: (life at usage rate 1, Paris exponent q, usage from the first evidence of
    damage to failure) of the life's damage state
    (:meth:`~twin_models.rul.damage.DamageState.fit`), None when it had none.
    """

    asset_id: str
    kind: str
    life_id: int
    failure_s: float
    t0_s: float
    times_s: FloatArray
    indicator: FloatArray
    estimates_s: FloatArray
    head_settings: F32
    head_rows: F32
    complete: bool
    n_rows: int
    damage_fit: tuple[float, float, float] | None = None
    life: LifeRecord | None = None  # the life's health indicator record (``life_model`` only)
    sources: tuple[str, ...] = ()  # the ``rul_source`` of each estimate ('' where none was made)


@dataclass(frozen=True)
class LifeChunk:
    """Part ``part`` of ``parts`` of a closed life's condition rows; the last carries the summary."""

    asset_id: str
    life_id: int
    failure_s: float
    part: int
    parts: int
    times_s: FloatArray
    settings: F32
    rows: F32
    summary: LifeSummary | None = None


@dataclass(frozen=True, slots=True)
class RefitWork:
    """A ticket for one more slice of the fleet learner's refit, sent after a closed life's parts.

    Deterministic: a closed life sends a fixed number of them (``refit_work_parts``), so the refit
    it triggered lands after the same slices whatever the timing; an idle learner ignores them."""

    asset_id: str
    failure_s: float


class FleetView:
    """The asset's current life as the fleet model sees it; fuses the model's estimate."""

    def __init__(self, kind: str, config: FleetRulConfig, *, life_history: int = LIFE_HISTORY,
                 speed_hz: float | None = None, load_n: float | None = None) -> None:
        self.kind = kind
        self.config = config
        self.life_history = life_history
        self.life_id: int | None = None
        self.hist: deque[tuple[float, float, float]] = deque(maxlen=life_history)
        self.sources: deque[str] = deque(maxlen=life_history)  # each hist window's rul_source
        self.track: LifeTrack | None = None
        self.names: tuple[list[str], list[str]] | None = None  # (condition, regime) features
        self.speed_hz = speed_hz  # the asset's nominal shaft speed (the life model's condition)
        self.load_n = load_n  # the bearing's nominal load (asset_metadata.v2; None: unknown)
        self.indicator: LifeIndicator | None = None  # the life model's health indicator
        self.life_t0_s = math.nan  # the first window of the life (hist is bounded)
        self.life_hi: deque[tuple[float, float]] = deque(maxlen=life_history)

    def __setstate__(self, state: dict[str, object]) -> None:
        """Views pickled before the life model have none of its state."""
        state.setdefault("speed_hz", None)
        state.setdefault("load_n", None)
        state.setdefault("indicator", None)
        state.setdefault("life_t0_s", math.nan)
        state.setdefault("life_hi", deque(maxlen=int(state.get("life_history", 1024))))  # type: ignore[call-overload]
        state.setdefault("sources", deque([""] * len(state["hist"]),  # type: ignore[arg-type]
                                          maxlen=int(state.get("life_history", 1024))))  # type: ignore[call-overload]
        restore_state(self, state)

    def update(self, snap: TwinSnapshot, features: Mapping[str, float],
               model: FleetModel | None) -> TwinSnapshot:
        """Fuse the model's estimate into the window's snapshot, then remember the window."""
        if self.life_id != snap.life_id:
            self.life_id = snap.life_id
            self.hist = deque(maxlen=self.life_history)
            self.sources = deque(maxlen=self.life_history)
            self.track = None
            self.indicator = None
        self._track(snap, features)
        fused = self._life(snap, features, model)
        if fused is None and model is not None:
            fused = model.predict(snap, self.hist, self.track)
        if fused is not None:
            snap = replace(snap, rul_s=fused.rul_s, rul_lower_s=fused.lower_s,
                           rul_upper_s=fused.upper_s, rul_source=fused.source)
        snap = self.calibrate(snap, model)
        est = snap.rul_s if snap.rul_s is not None else math.nan
        self.hist.append((snap.timestamp.timestamp(), snap.degradation, est))
        self.sources.append((snap.rul_source or "") if snap.rul_s is not None else "")
        return snap

    def calibrate(self, snap: TwinSnapshot, model: FleetModel | None) -> TwinSnapshot:
        """``snap`` with its ``rul_s`` interval calibrated on the completed lives' errors of its
        ``rul_source`` that ``model`` holds (:mod:`twin_models.rul.calibration`; rul_s unchanged)."""
        if snap.rul_s is None:
            return snap
        lo, hi = calibrated_bounds(
            snap.rul_s, snap.rul_lower_s, snap.rul_upper_s, snap.rul_source or "",
            model.rul_errors if model is not None else None,
            snap.timestamp.timestamp() - (model.model_delay_s if model is not None else 0.0),
            self.config.coverage)
        return replace(snap, rul_lower_s=lo, rul_upper_s=hi)

    def _life(self, snap: TwinSnapshot, features: Mapping[str, float],
              model: FleetModel | None) -> RulEstimate | None:
        """Advance the life model's indicator; its estimate (None: not configured, or fewer
        than two completed lives apply)."""
        cfg = self.config
        if not cfg.life_model:
            return None
        now = snap.timestamp.timestamp()
        if self.indicator is None:
            self.indicator = LifeIndicator(cfg.life_features, baseline_windows=cfg.life_baseline_windows,
                                           smoothing=cfg.life_smoothing)
            self.life_t0_s = now
            self.life_hi = deque(maxlen=self.life_history)
        z = self.indicator.update(features)
        self.life_hi.append((now, z))
        if model is None:
            return None
        return model.predict_life(now, now - self.life_t0_s, z, self.speed_hz, self.load_n)

    def _track(self, snap: TwinSnapshot, features: Mapping[str, float]) -> None:
        cfg = self.config
        if not cfg.rul_features:
            return
        if self.names is None:
            finite = [k for k, v in features.items() if math.isfinite(v)]
            regime = sorted(k for k in finite if any(fnmatchcase(k, p) for p in cfg.regime_features))
            cond = sorted(k for k in finite if any(fnmatchcase(k, p) for p in cfg.rul_features)
                          and k not in regime)
            if not cond:
                return
            self.names = (cond, regime)
        cond, regime = self.names
        if self.track is None:
            self.track = LifeTrack(self.life_history, cfg.baseline_windows)
        row = np.array([features.get(k, math.nan) for k in cond], dtype=float)
        settings = np.array([features.get(k, math.nan) for k in regime], dtype=float)
        self.track.append(snap.timestamp.timestamp(), settings, row)

    def close(self, event: AssetEvent, chunk_rows: int,
              damage_fit: tuple[float, float, float] | None = None) -> list[LifeChunk]:
        """A failure closes the life: its summary (with the life's damage fit), in chunks
        (nothing for other events)."""
        if event.kind != "failure" or not self.hist:
            return []
        summary, track = replace(self._summary(event), damage_fit=damage_fit), self.track
        if self.indicator is not None and self.life_hi:
            t, z = zip(*self.life_hi, strict=True)
            summary = replace(summary, life=life_record(t, z, event.timestamp.timestamp(),
                                                        self.life_t0_s, self.speed_hz, self.load_n))
        self.hist = deque(maxlen=self.life_history)
        self.sources = deque(maxlen=self.life_history)
        self.track = None
        self.life_id = None
        self.indicator = None
        return life_chunks(summary, track, chunk_rows)

    def refit_work(self, event: AssetEvent) -> list[RefitWork]:
        """The work tickets that follow a closed life's parts (none without the regression)."""
        if not self.config.rul_features:
            return []
        return [RefitWork(event.asset_id, event.timestamp.timestamp())] * self.config.refit_work_parts

    def _summary(self, event: AssetEvent) -> LifeSummary:
        h = np.asarray(self.hist, dtype=float)
        track = self.track
        head_s, head_r = track.head_arrays() if track is not None else (_stack([]), _stack([]))
        return LifeSummary(
            asset_id=event.asset_id, kind=self.kind, life_id=self.life_id or 0,
            failure_s=event.timestamp.timestamp(), t0_s=self.hist[0][0],
            times_s=h[:, 0].copy(), indicator=h[:, 1].copy(), estimates_s=h[:, 2].copy(),
            sources=tuple(self.sources), head_settings=head_s, head_rows=head_r,
            complete=track.complete if track is not None else True,
            n_rows=len(track.times) if track is not None else 0)


def life_chunks(summary: LifeSummary, track: LifeTrack | None, chunk_rows: int) -> list[LifeChunk]:
    """The life's condition rows in parts of at most ``chunk_rows`` rows (the last: the summary)."""
    if track is None or not track.times:
        empty = np.zeros((0, 0), dtype=np.float32)
        return [LifeChunk(summary.asset_id, summary.life_id, summary.failure_s, 0, 1, np.zeros(0),
                          empty, empty, summary)]
    times, settings, rows = track.arrays()
    parts = max(1, math.ceil(len(times) / chunk_rows))
    out = []
    for i in range(parts):
        sl = slice(i * chunk_rows, (i + 1) * chunk_rows)
        out.append(LifeChunk(summary.asset_id, summary.life_id, summary.failure_s, i, parts, times[sl].copy(),
                             settings[sl].copy(), rows[sl].copy(),
                             summary if i == parts - 1 else None))
    return out
