"""What a run lost: dead letters by reason, and when that is too much to trust its outputs.

A replay whose input went mostly to the dead letters (future-dated files, a clock a year off,
the wrong format) still runs to the end as a dataflow and writes empty outputs. Its summary must
say where the records went, and a backtest must fail instead of exiting 0 with "0 windows".
The counts come from the run's metrics, so ``twin run`` (dead letters on Kafka) can report them
too: ``twin_dead_letters_total`` by reason, and late records from ``twin_late_records_total``
(the window step counts them there; a ``late_record`` label, if also counted, is not added twice).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from pathlib import Path

from flows.dataflow.metrics import PipelineMetrics
from twin_models.text import counted

__all__ = ["DEFAULT_MAX_DEAD_LETTER_SHARE", "NOT_INPUT", "NOT_LOST", "arrival_line", "dead_letters_by_reason",
           "describe_reasons", "duplicate_files", "end_lines", "late_by_topic", "loss_problem", "run_line",
           "share", "source_line"]

DEFAULT_MAX_DEAD_LETTER_SHARE = 0.5
"""A backtest fails when more than this fraction of its input records went to the dead letters."""

LATE = "late_record"

NOT_LOST = frozenset({"duplicate_record"})
"""Dead-letter reasons that lose no data: a ``duplicate_record`` is a later copy of a record the
window used (a Kafka redelivery, overlapping exports). Listed in every summary, never counted
against ``--max-dead-letters``: a file fed twice is not half lost (counted, it would sit exactly
at the default 50 % and one more dead letter would fail the backtest)."""
NOT_INPUT = frozenset({"bad_fleet_model", "bad_progress"})
"""Dead-letter reasons of messages that are not input records: the fleet-models topic's refused
messages (:mod:`flows.app.fleet_topic`). Shown by reason like every other, but never a share of the
records read in (Prometheus' ``TwinDeadLetterRateHigh`` divides by ``twin_records_in_total``)."""


def dead_letters_by_reason(metrics: PipelineMetrics) -> dict[str, int]:
    """Dead letters of the run by reason (only reasons that occurred), most frequent first."""
    counts: dict[str, int] = {}
    for family in metrics.registry.collect():
        for s in family.samples:
            if s.name == "twin_dead_letters_total" and s.value > 0:
                counts[s.labels["reason"]] = counts.get(s.labels["reason"], 0) + int(s.value)
    late = int(metrics.total("twin_late_records_total"))
    if late > counts.get(LATE, 0):
        counts[LATE] = late
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def late_by_topic(metrics: PipelineMetrics) -> dict[str, int]:
    """Late records by the Kafka topic they were read from (``twin_late_records_total{topic}``; a file
    replay's are not by topic), most first: which of a two-topic run's inputs came late."""
    counts = {s.labels["topic"]: int(s.value) for family in metrics.registry.collect() for s in family.samples
              if s.name == "twin_late_records_total" and s.value > 0 and s.labels.get("topic")}
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def describe_reasons(by_reason: Mapping[str, int]) -> str:
    """``"future_timestamp 400, late_record 3"``, or ``"none"``."""
    return ", ".join(f"{r} {n}" for r, n in by_reason.items()) or "none"


def run_line(metrics: PipelineMetrics, stopped: str | None = None) -> str:
    """End-of-run line of ``twin run`` (this process's counts); ``stopped``: the signal that ended it
    (``SIGTERM``), said first, when it did not end at the end of its input (``--exit-at-end``)."""
    by_reason = dead_letters_by_reason(metrics)
    dead = sum(by_reason.values())
    records = int(metrics.total("twin_records_in_total"))
    windows = int(metrics.value("twin_windows_closed_total"))
    topics = late_by_topic(metrics)
    reasons = ", ".join(f"{r} {n}" + (f" ({describe_reasons(topics)})" if r == LATE and topics else "")
                        for r, n in by_reason.items())
    detail = f" ({reasons}) on the dead-letter topic" if dead else ""
    how = f"stopped by {stopped}: " if stopped else ""
    return (f"twin run: {how}{counted(records, 'record')} read, {counted(windows, 'window')} closed, "
            f"dead letters: {dead}{detail}")


def end_lines(metrics: PipelineMetrics, stopped: str | None = None) -> list[str]:
    """The end summary of ``twin run``, whether it ended at the end of its input or was stopped by the
    signal ``stopped`` (a service manager's SIGTERM, Ctrl-C: until round 26 such a run said nothing of
    what it had done): the run line, the fleet line and, when there is something to say, the arrival
    check and the source errors."""
    lines = [run_line(metrics, stopped), fleet_line(metrics)]
    return lines + [line for line in (arrival_line(metrics), source_line(metrics)) if line is not None]


def source_line(metrics: PipelineMetrics) -> str | None:
    """End-of-run line of the source's problems (``twin_source_errors_total`` by code: a resumed offset
    retention deleted, a telemetry topic deleted, transient client errors), or None when there were none."""
    counts: dict[str, int] = {}
    for family in metrics.registry.collect():
        for s in family.samples:
            if s.name == "twin_source_errors_total" and s.value > 0:
                counts[s.labels["code"]] = counts.get(s.labels["code"], 0) + int(s.value)
    if not counts:
        return None
    return f"twin run: source errors: {describe_reasons(dict(sorted(counts.items())))}"


def fleet_line(metrics: PipelineMetrics) -> str:
    """Second end-of-run line: the fleet model versions this process's learners published and
    how many reached this process after a window they apply to (0 = the fused RUL did not depend
    on timing), and how often the event-time gate held a source back or gave up waiting."""
    models = int(metrics.value("twin_fleet_models_total"))
    late = int(metrics.value("twin_fleet_models_late_total"))
    waits = int(metrics.value("twin_event_time_gate_waits_total"))
    timeouts = int(metrics.value("twin_event_time_gate_timeouts_total"))
    return (f"twin run: fleet models: {counted(models, 'version')} learnt here, {late} late; "
            f"event-time gate: {counted(waits, 'wait')}, {counted(timeouts, 'timeout')}")


def arrival_line(metrics: PipelineMetrics) -> str | None:
    """Third end-of-run line: where the arrival-time clock check ran (``real_time`` partitions)
    and where it was off (``replay``: event time did not run at the pace of arrival time;
    ``learning``: not measured yet), or None when no record carried an arrival time."""
    by_state: dict[str, list[str]] = {}
    for family in metrics.registry.collect():
        for s in family.samples:
            if s.name == "twin_arrival_check" and s.value > 0:
                by_state.setdefault(s.labels["state"], []).append(s.labels["partition"])
    if not by_state:
        return None
    words = {"real_time": "on (real time)", "replay": "off (replay)", "learning": "off (learning the pace)"}
    parts = [f"{words.get(state, state)} in source partitions {', '.join(sorted(ps, key=_natural))}"
             for state, ps in sorted(by_state.items())]
    return f"twin run: arrival check: {'; '.join(parts)}"


def _natural(name: str) -> tuple[int, str]:
    return (int(name), "") if name.isdigit() else (1 << 30, name)


def share(part: int, whole: int) -> float:
    """``part / whole`` (1.0 for an empty whole with losses, 0.0 without)."""
    if whole <= 0:
        return 1.0 if part > 0 else 0.0
    return part / whole


def loss_problem(records: int, windows: int, by_reason: Mapping[str, int],
                 max_share: float = DEFAULT_MAX_DEAD_LETTER_SHARE) -> str | None:
    """Why a replay's outputs cannot be trusted, or None: no input record, no window, or more
    than ``max_share`` of the records in the dead letters (:data:`NOT_LOST` reasons left out)."""
    dead = sum(n for reason, n in by_reason.items() if reason not in NOT_LOST)
    lost = share(dead, records)
    if records == 0:
        return "the input held no record"
    if lost > max_share:
        return (f"{dead} of {records} records ({lost:.0%}) went to the dead letters "
                f"({describe_reasons(by_reason)}), more than the allowed {max_share:.0%}")
    if windows == 0:
        return (f"no window was produced from {counted(records, 'record')} "
                f"(dead letters: {describe_reasons(by_reason)})")
    return None


def _digest(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def duplicate_files(paths: Iterable[str | Path]) -> tuple[str, str] | None:
    """The first pair of ``paths`` that are the same file (same resolved path, e.g. through a
    symlink) or hold identical bytes (a copy), else None. Only files of equal size are hashed."""
    seen: dict[Path, str] = {}
    by_size: dict[int, list[str]] = {}
    for p in paths:
        real = Path(p).resolve()
        if real in seen:
            return seen[real], str(p)
        seen[real] = str(p)
        if real.is_file():
            by_size.setdefault(real.stat().st_size, []).append(str(p))
    for group in by_size.values():
        digests: dict[str, str] = {}
        for p in group if len(group) > 1 else ():
            d = _digest(Path(p))
            if d in digests:
                return digests[d], p
            digests[d] = p
    return None
