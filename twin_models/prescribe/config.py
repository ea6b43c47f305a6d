"""Prescription settings: costs per asset kind and the planned-stop calendar (plain values).

:class:`PrescribeConfig` is the ``[pipeline.prescribe]`` table of the settings tree (declared
here, like the twin's and the alert policy's tables, so twin_models receives it as a plain frozen
object); :class:`PlanCosts` is one kind's costs, :class:`MaintenanceCalendar` the planned stops.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from twin_models.settings import YEAR_S, Range, between, positive, setting

__all__ = ["COST_KEYS", "MaintenanceCalendar", "PlanCosts", "PrescribeConfig", "parse_kind_costs"]

COST_KEYS = ("planned_replacement", "unplanned_failure", "downtime_per_h", "lost_production_per_pct_h",
             "replacement_downtime_h", "failure_downtime_h")
_DATE = r"\d{4}-\d{2}-\d{2}.*"
@dataclass(frozen=True, slots=True)
class PlanCosts:
    """One asset kind's costs (currency units; hours)."""

    planned_replacement: float = 6000.0
    unplanned_failure: float = 30000.0
    downtime_per_h: float = 1500.0
    lost_production_per_pct_h: float = 15.0
    replacement_downtime_h: float = 8.0
    failure_downtime_h: float = 48.0

    @property
    def failure(self) -> float:
        """An unplanned failure: its cost plus its downtime."""
        return self.unplanned_failure + self.downtime_per_h * self.failure_downtime_h


def parse_kind_costs(entry: str) -> tuple[str, dict[str, float]]:
    """``"pump: planned_replacement=4000, unplanned_failure=50000"`` -> (kind, costs);
    ``ValueError`` naming the problem."""
    kind, sep, rest = entry.partition(":")
    if not sep or not kind.strip():
        msg = f"{entry!r} is not 'kind: key=value, ...'"
        raise ValueError(msg)
    out: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in rest.split(","))):
        key, eq, value = part.partition("=")
        key = key.strip()
        if not eq or key not in COST_KEYS:
            msg = f"{part!r} in {entry!r}: expected key=value with a key among {', '.join(COST_KEYS)}"
            raise ValueError(msg)
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if not (math.isfinite(number) and number >= 0.0):
            msg = f"{key} in {entry!r} must be a number >= 0, got {value.strip()!r}"
            raise ValueError(msg)
        out[key] = number
    return kind.strip(), out


def _parse_time(text: str) -> datetime:
    """An ISO date or date-time (UTC when it names no zone)."""
    t = datetime.fromisoformat(text.strip())
    try:
        return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00+01:00 is before year 1 in UTC
        msg = f"{text.strip()!r} is outside years 1-9999 in UTC"
        raise ValueError(msg) from None


def _problem(parse: object, values: tuple[str, ...] | str) -> str | None:
    """What is wrong with config text that ``parse`` refuses (a settings ``check``)."""
    items = (values,) if isinstance(values, str) else values
    for item in items:
        try:
            parse(item)  # type: ignore[operator]
        except ValueError as exc:
            return str(exc)
    return None


def _check_costs(values: tuple[str, ...]) -> str | None:
    return _problem(parse_kind_costs, values)


def _check_times(values: tuple[str, ...] | str) -> str | None:
    return _problem(_parse_time, values)


@dataclass(frozen=True, slots=True)
class MaintenanceCalendar:
    """Planned stops: every ``every_s`` seconds from ``anchor`` (0: none), plus ``dates``."""

    every_s: float = 0.0
    anchor: datetime = datetime(2026, 1, 5, 6, tzinfo=UTC)
    dates: tuple[datetime, ...] = ()

    def next_stop(self, after: datetime) -> datetime | None:
        """The first planned stop strictly after ``after`` (None: none planned)."""
        found = [d for d in self.dates if d > after]
        if self.every_s > 0.0:
            step = timedelta(seconds=self.every_s)
            n = max(math.floor((after - self.anchor) / step) + 1, 0)
            found.append(self.anchor + n * step)
        return min(found, default=None)


@dataclass(frozen=True)
class PrescribeConfig:
    """Prescriptions: costs (``kind_costs`` overrides them per asset kind), the derates weighed,
    the planned-stop calendar and how often a recommendation is renewed."""

    enabled: bool = setting(True)
    currency: str = setting("EUR", pattern=r"[A-Za-z]{1,8}")
    derates: tuple[float, ...] = setting((0.6, 0.7, 0.85), range=Range(0.0, 1.0, lo_open=True, hi_open=True),
                                         max_items=20)
    """Load limits weighed, as fractions of rated load (each in (0, 1))."""
    horizon_s: float = setting(30 * 86400.0, **positive(10 * YEAR_S, "seconds"))
    refresh_s: float = setting(24 * 3600.0, **positive(YEAR_S, "seconds"))
    """A recommendation is renewed when its plan changes, else at most this often (event time)."""
    switch_margin: float = setting(0.1, **between(0.0, 1.0))
    """Hysteresis: a new plan replaces the previous one only when its expected cost is lower than
    the previous plan's (as evaluated now) by more than this share, so noise does not flip plans."""
    planned_replacement: float = setting(6000.0, **between(0.0, 1e12))
    unplanned_failure: float = setting(30000.0, **between(0.0, 1e12))
    downtime_per_h: float = setting(1500.0, **between(0.0, 1e12))
    lost_production_per_pct_h: float = setting(15.0, **between(0.0, 1e12))
    """Cost of one % of rated load given up for one hour."""
    replacement_downtime_h: float = setting(8.0, **between(0.0, 1e5, "hours"))
    failure_downtime_h: float = setting(48.0, **between(0.0, 1e5, "hours"))
    kind_costs: tuple[str, ...] = setting((), pattern=r"[^:\s][^:]*:.*", max_items=1000, check=_check_costs)
    """Per-kind overrides: ``"pump: planned_replacement=4000, unplanned_failure=50000"``."""
    stop_every_days: float = setting(7.0, **between(0.0, 3650.0, "days"))
    """A planned stop every N days from ``stop_anchor`` (0: no periodic stops)."""
    stop_anchor: str = setting("2026-01-05T06:00:00+00:00", pattern=_DATE, check=_check_times)
    stop_dates: tuple[str, ...] = setting((), pattern=_DATE, max_items=10_000, check=_check_times)
    """Extra planned stops (ISO dates or date-times, UTC unless they say otherwise)."""

    def costs(self, kind: str) -> PlanCosts:
        """The costs of an asset kind: the defaults with its ``kind_costs`` entry applied."""
        base = {k: float(getattr(self, k)) for k in COST_KEYS}
        for entry in self.kind_costs:
            name, values = parse_kind_costs(entry)
            if name == kind:
                base.update(values)
        return PlanCosts(**base)

    def calendar(self) -> MaintenanceCalendar:
        """The planned stops."""
        return MaintenanceCalendar(self.stop_every_days * 86400.0, _parse_time(self.stop_anchor),
                                   tuple(sorted(_parse_time(d) for d in self.stop_dates)))
