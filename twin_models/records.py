"""Frozen records that mirror the contracts in ``schemas/*.v1.json``.

Every timestamp is a timezone-aware UTC :class:`datetime`. Durations (RUL) are seconds.
Records are plain data: no I/O, no engine types. ``flows.codec`` turns them into bytes and back.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from twin_models.pickling import quick_pickle

__all__ = [
    "AUDIT_ACTIONS", "COMMAND_MODES", "DECISIONS", "EPOCH", "EVENT_KINDS", "MAX_ID_CHARS",
    "MAX_NOTE_CHARS", "MAX_UNIT_CHARS", "TELEMETRY_KINDS", "WHATIF_STATUSES", "Alert", "AssetEvent",
    "AuditEntry", "AssetMetadata", "BearingGeometry", "ChannelQuality", "Command", "CommandDecision",
    "DamageCheckpoint", "FailureThreshold", "FeatureVector", "InputSpan", "Lineage", "PlanOption",
    "PlanSegment", "Recommendation", "ScalarSample", "SensorSpec", "Telemetry", "TrajectoryPoint",
    "TwinSnapshot", "WaveformFrame", "WhatIfOutcome", "WhatIfRequest", "WhatIfResult", "ensure_utc",
    "telemetry_kind",
]

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
"""The Unix epoch; windows align to it and the wire counts nanoseconds from it."""
MAX_ID_CHARS = 128
"""Longest asset id, channel or kind (``maxLength`` in ``schemas/*.v1.json``)."""
MAX_UNIT_CHARS = 64
"""Longest unit string of a scalar or sensor (schemas)."""
MAX_NOTE_CHARS = 4096
"""Longest free-text note of an event (schemas)."""

EventKind = Literal["install", "maintenance", "failure"]
EVENT_KINDS: tuple[str, ...] = ("install", "maintenance", "failure")


def ensure_utc(ts: datetime, *, what: str = "timestamp") -> datetime:
    """Return ``ts`` unchanged if it is aware UTC; raise ``ValueError`` for naive datetimes."""
    if ts.tzinfo is None or ts.utcoffset() is None:
        msg = f"{what} must be timezone-aware (UTC), got naive {ts.isoformat()}"
        raise ValueError(msg)
    return ts.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class ScalarSample:
    """One slow scalar reading (temperature, pressure, current, speed, load)."""

    asset_id: str
    channel: str
    timestamp: datetime
    value: float
    unit: str = ""

    def __deepcopy__(self, memo: dict[int, object]) -> ScalarSample:
        """Itself: every field is immutable. The window step deep-copies its open windows' items
        at every recovery snapshot; copying each sample was most of a backtest's CPU."""
        return self


@dataclass(frozen=True, slots=True, eq=False)
class WaveformFrame:
    """A block of evenly sampled vibration samples; ``timestamp`` is the first sample's time.

    ``shaft_speed_hz`` is the tachometer reading taken with the frame, when the acquisition
    system provides one (otherwise the asset's nominal speed is used).
    """

    asset_id: str
    channel: str
    timestamp: datetime
    sample_rate_hz: float
    samples: npt.NDArray[np.float32]
    shaft_speed_hz: float | None = None
    unit: str = "g"

    @property
    def duration_s(self) -> float:
        """Length of the frame in seconds."""
        return len(self.samples) / self.sample_rate_hz

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, WaveformFrame):
            return NotImplemented
        same_speed = self.shaft_speed_hz == other.shaft_speed_hz or (
            self.shaft_speed_hz is not None
            and other.shaft_speed_hz is not None
            and math.isclose(self.shaft_speed_hz, other.shaft_speed_hz)
        )
        return (
            self.asset_id == other.asset_id
            and self.channel == other.channel
            and self.timestamp == other.timestamp
            and self.sample_rate_hz == other.sample_rate_hz
            and self.unit == other.unit
            and same_speed
            and np.array_equal(self.samples, other.samples)
        )

    __hash__ = None  # type: ignore[assignment]


@dataclass(frozen=True, slots=True)
class AssetEvent:
    """A life-cycle event: ``install`` starts a life, ``failure`` ends it, ``maintenance`` resets it."""

    asset_id: str
    timestamp: datetime
    kind: EventKind
    note: str = ""


Telemetry = ScalarSample | WaveformFrame | AssetEvent
"""What a source delivers: one reading, one waveform frame or one life-cycle event."""
TelemetryKind = Literal["scalar", "waveform", "event"]
TELEMETRY_KINDS: tuple[TelemetryKind, ...] = ("scalar", "waveform", "event")


def telemetry_kind(record: Telemetry) -> TelemetryKind:
    """Which of the three telemetry records this is (the one place that dispatches on the type)."""
    if isinstance(record, WaveformFrame):
        return "waveform"
    if isinstance(record, ScalarSample):
        return "scalar"
    if isinstance(record, AssetEvent):
        return "event"
    msg = f"not a telemetry record: {type(record).__name__}"
    raise TypeError(msg)


@quick_pickle
@dataclass(frozen=True, slots=True)
class BearingGeometry:
    """Rolling-element bearing geometry (diameters in mm, contact angle in degrees)."""

    n_elements: int
    ball_diameter_mm: float
    pitch_diameter_mm: float
    contact_angle_deg: float = 0.0


@quick_pickle
@dataclass(frozen=True, slots=True)
class SensorSpec:
    """One sensor of an asset: its channel name, kind (``waveform`` or ``scalar``) and unit.

    Data quality (issue 13, optional): ``range`` the measuring range (readings at it are
    clipped), ``limits`` the quantity's physical limits (readings beyond are spikes),
    ``cadence_s`` the expected interval between readings (frames), ``sample_rate_hz`` a
    waveform's sample rate; None = the safe default (:mod:`twin_models.quality.checks`)."""

    channel: str
    kind: Literal["waveform", "scalar"]
    unit: str = ""
    range: tuple[float, float] | None = None
    limits: tuple[float, float] | None = None
    cadence_s: float | None = None
    sample_rate_hz: float | None = None

    def __setstate__(self, state: list[object]) -> None:
        """Specs pickled before the data-quality fields get their defaults (recovery stores)."""
        restore_slots(self, state)


def restore_slots(obj: object, state: list[object]) -> None:
    """A slots dataclass from its pickled field values; fields added since take their defaults."""
    from dataclasses import MISSING, fields  # noqa: PLC0415 - only when unpickling

    for i, f in enumerate(fields(obj)):  # type: ignore[arg-type]
        value = state[i] if i < len(state) else (
            f.default if f.default is not MISSING else f.default_factory())  # type: ignore[operator]
        object.__setattr__(obj, f.name, value)


@quick_pickle
@dataclass(frozen=True, slots=True)
class FailureThreshold:
    """The asset counts as failed once ``feature`` (a window feature name) reaches ``value``."""

    feature: str
    value: float


@quick_pickle
@dataclass(frozen=True, slots=True)
class AssetMetadata:
    """Static description of an asset; the twin derives defect frequencies from it.

    ``nominal_load_n`` (``asset_metadata.v2``): the bearing's radial load, newtons (None:
    unknown); the bearing life model scales completed lives by it (ISO 281)."""

    asset_id: str
    kind: str = "rotating_machine"
    bearing: BearingGeometry | None = None
    nominal_speed_hz: float | None = None
    sensors: tuple[SensorSpec, ...] = ()
    failure_threshold: FailureThreshold | None = None
    resonance_band_hz: tuple[float, float] | None = None
    nominal_load_n: float | None = None

    def __setstate__(self, state: Sequence[Any]) -> None:
        """Metadata pickled before ``nominal_load_n`` (7 slot values): the load is unknown."""
        values = (*state, *(None,) * (len(fields(self)) - len(state)))
        for f, v in zip(fields(self), values, strict=True):
            object.__setattr__(self, f.name, v)


# --- digital thread (issue 11, part THREAD): what produced a record --------------------------
@quick_pickle
@dataclass(frozen=True, slots=True)
class InputSpan:
    """The input positions behind a window, per source: ``first..last`` inclusive.

    ``source`` is ``kafka:<topic>:<partition>`` (positions = offsets), ``file:<name>`` (the
    file's records in replay order: its data rows, 0-based, for a file in time order) or
    ``sim:seed=<n>`` (the simulator's records, in order). A covering range: on a partition
    shared by several assets it also holds the other assets' records."""

    source: str
    first: int
    last: int


@quick_pickle
@dataclass(frozen=True, slots=True)
class Lineage:
    """What produced a snapshot or an alert (and, later, a recommendation or a command).

    ``config_hash`` is a stable hash of the effective pipeline configuration (secrets left out);
    ``life_id``/``learned_windows`` are the twin's model state when it scored (prequential: the
    windows learnt BEFORE this one), ``fleet_model_version`` the fleet model it applied (0 =
    none); ``inputs`` the input ranges of the window(s) behind the record."""

    version: str
    config_hash: str
    life_id: int
    learned_windows: int
    fleet_model_version: int
    inputs: tuple[InputSpan, ...] = ()
# --- end digital thread ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FeatureVector:
    """Features of one asset over one event-time window ``[window_start, window_end)``.

    ``features`` is a flat read-only mapping with stable names ``<channel>.<feature>``
    (e.g. ``vib.band_1000_2000hz_rms``, ``temperature.mean``): a
    :class:`~twin_models.feature_map.FeatureMap` (one NumPy row, key set shared by the windows
    of a kind) from :func:`~twin_models.features.window.aggregate_window`, any mapping (a dict)
    elsewhere; pickled, it is a dict either way. ``events`` are the asset events that fell
    inside the window; the twin applies them after scoring the window.
    """

    asset_id: str
    window_start: datetime
    window_end: datetime
    features: Mapping[str, float]
    n_records: int = 0
    events: tuple[AssetEvent, ...] = ()
    inputs: tuple[InputSpan, ...] = ()  # digital thread (issue 11): the window's input ranges


@quick_pickle
@dataclass(frozen=True, slots=True)
class TwinSnapshot:
    """The twin's state after scoring one window (scores come from the model before it learnt).

    ``condition`` is one of ``learning``, ``healthy``, ``degrading``, ``critical``;
    ``degradation`` is the dimensionless degradation indicator the fleet RUL model matches on;
    ``defect`` names the bearing component whose envelope line stands out (``bpfo`` ...) and
    ``evidence`` says so in words; ``top_features`` are ``(name, z)`` of the largest deviations.
    ``verdict`` (issue 12) is ``healthy``, ``anomalous`` (clearly abnormal, no defect localised)
    or ``defect`` (``defect`` names it) for a vibration asset, ``""`` for others;
    ``verdict_confidence`` is in [0, 1] (None without a verdict).
    """

    asset_id: str
    timestamp: datetime
    window_start: datetime
    condition: str
    anomaly_score: float
    health_index: float
    rul_s: float | None
    rul_lower_s: float | None
    rul_upper_s: float | None
    drift: bool
    n_windows: int
    life_id: int
    degradation: float = 0.0
    rul_source: str = ""
    defect: str | None = None
    evidence: str = ""
    top_features: tuple[tuple[str, float], ...] = ()
    context: dict[str, float] = field(default_factory=dict)
    lineage: Lineage | None = None  # digital thread (issue 11): what produced it
    # --- physics-informed damage state (issue 11, part PHYS) ---
    damage: float | None = None
    damage_rul_s: float | None = None
    damage_rul_lower_s: float | None = None
    damage_rul_upper_s: float | None = None
    # --- the verdict (issue 12): healthy / anomalous, not localised / defect ---
    verdict: str = ""
    verdict_confidence: float | None = None
    # --- data quality (issue 13): (channel, state, check) of every channel judged in the window ---
    data_quality: tuple[tuple[str, str, str], ...] = ()


AlertStatus = Literal["raised", "updated", "cleared"]
Severity = Literal["info", "warning", "critical"]


@quick_pickle
@dataclass(frozen=True, slots=True)
class Alert:
    """One message about an alert episode; every message of an episode shares ``alert_id``."""

    alert_id: str
    asset_id: str
    kind: str
    severity: Severity
    status: AlertStatus
    started_at: datetime
    timestamp: datetime
    explanation: str
    anomaly_score: float
    health_index: float
    rul_s: float | None
    top_features: tuple[tuple[str, float], ...] = ()
    defect: str | None = None
    sequence: int = 0
    lineage: Lineage | None = None  # digital thread (issue 11): what produced it
    # --- physics-informed damage state (issue 11, part PHYS) ---
    damage_rul_s: float | None = None
    damage_rul_lower_s: float | None = None
    damage_rul_upper_s: float | None = None
    # --- the verdict (issue 12): the episode's, ``anomalous`` until a defect is localised ---
    verdict: str = ""
    # --- data quality (issue 13): a ``sensor`` alert's channel and check ---
    channel: str = ""
    check: str = ""


@quick_pickle
@dataclass(frozen=True, slots=True)
class ChannelQuality:
    """The data-quality state of one channel of an asset after one window (issue 13).

    ``state`` is ``ok``, ``suspect`` (timing: readings missing or mis-stamped; or a ``drift`` not
    yet confirmed; the values kept) or
    ``bad`` (the values are wrong: the channel is gated from the models); ``check`` names the
    check (``flatline``, ``clipping``, ``spike``, ``gap``, ``clock``, ``sample_rate``,
    ``disconnect``; "" when ok) and ``reason`` says what it saw; ``timestamp`` is the window's end."""

    asset_id: str
    channel: str
    timestamp: datetime
    state: str
    check: str = ""
    reason: str = ""


# --- prescriptions (issue 11, level 4): shared by the prescription and command parts ------------
PlanKind = Literal["as_is", "derate", "replace_planned", "replace_now"]


@dataclass(frozen=True, slots=True)
class PlanOption:
    """One candidate plan for a degrading asset and its consequences, from a what-if run.

    ``plan`` is ``as_is`` (run as now), ``derate`` (load limited to ``load_fraction`` of rated
    until ``until``, the next planned stop), ``replace_planned`` (replace at ``until``, the next
    planned stop) or ``replace_now``. ``p_failure`` is P(failure before ``until``) (before the
    horizon when ``until`` is None); ``expected_cost`` is in the configured currency."""

    plan: PlanKind
    load_fraction: float | None
    until: datetime | None
    p_failure: float
    expected_cost: float
    rul_median_s: float | None = None


@dataclass(frozen=True, slots=True)
class Recommendation:
    """The twin's recommended plan for one asset, with every option it weighed.

    ``recommendation_id`` is deterministic (asset, life and the event time it was made at), so
    replays give the same ids; ``alert_id`` is the alert episode it answers (None when made
    without an open alert); ``chosen`` is one of ``options``; ``expected_saving`` is the
    expected cost of ``as_is`` minus that of ``chosen``."""

    recommendation_id: str
    asset_id: str
    kind: str
    timestamp: datetime
    alert_id: str | None
    chosen: PlanOption
    options: tuple[PlanOption, ...]
    expected_saving: float
    currency: str
    explanation: str
    lineage: Lineage | None = None


# --- guarded command path (issue 11, level 5): in twin_models.command_records (this module's size)
from twin_models.command_records import (  # noqa: E402
    AUDIT_ACTIONS,
    COMMAND_MODES,
    DECISIONS,
    AuditEntry,
    Command,
    CommandDecision,
)

# --- what-if (issue 11, level 4's base): requests, results, damage checkpoints -----------------
# Defined in twin_models.whatif_records (this module's size), re-exported here with the others.
from twin_models.whatif_records import (  # noqa: E402
    WHATIF_STATUSES,
    DamageCheckpoint,
    PlanSegment,
    TrajectoryPoint,
    WhatIfOutcome,
    WhatIfRequest,
    WhatIfResult,
)
