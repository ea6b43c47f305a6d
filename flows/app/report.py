"""Plots a reliability engineer would rather look at than read (matplotlib, files only)."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import matplotlib

from flows.app.out_dir import replace_file

matplotlib.use("Agg")
import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402

from twin_models.records import Alert, TwinSnapshot  # noqa: E402

__all__ = ["plot_fleet"]


def _episodes(alerts: Iterable[Alert]) -> dict[str, list[tuple[Any, Any, str]]]:
    """Per asset: (start, end, shade) of each alert episode: a condition episode's worst severity, a
    sensor episode ``"sensor"`` whatever its severity (round 48: a sensor's ``info`` episode, a gap
    or a clock, was shaded yellow, which the title calls anomalous: the machine)."""
    by_id: dict[str, list[Alert]] = defaultdict(list)
    for a in alerts:
        by_id[a.alert_id].append(a)
    out: dict[str, list[tuple[Any, Any, str]]] = defaultdict(list)
    for msgs in by_id.values():
        msgs.sort(key=lambda a: a.sequence)
        end = msgs[-1].timestamp
        worst = max((m.severity for m in msgs), key=_RANK.__getitem__)
        shade = SENSOR_SHADE if msgs[0].kind == "sensor" else worst
        out[msgs[0].asset_id].append((msgs[0].started_at, end, shade))
    return out


class WindowPoint(Protocol):
    """What an asset's plot reads of a window: a :class:`~twin_models.records.TwinSnapshot`, or a
    row of ``scores.parquet`` (:class:`~flows.app.scores_file.ScoreRow`, the backtest report)."""

    @property
    def asset_id(self) -> str: ...
    @property
    def timestamp(self) -> datetime: ...
    @property
    def window_start(self) -> datetime: ...
    @property
    def anomaly_score(self) -> float: ...
    @property
    def health_index(self) -> float: ...
    @property
    def rul_s(self) -> float | None: ...
    @property
    def rul_lower_s(self) -> float | None: ...
    @property
    def rul_upper_s(self) -> float | None: ...


_RANK = {"info": 0, "warning": 1, "critical": 2}
SENSOR_SHADE = "sensor"
_COLOR = {"info": "gold", "warning": "tab:orange", "critical": "tab:red", SENSOR_SHADE: "tab:cyan"}
"""Episode shading: info = anomalous, not localised (issue 12); a sensor's episode (issue 13) its own."""


def _evidence(score: float) -> float:
    """Calibrated score as tail evidence on [0, 1]: 0.2 = 1 in 10, 0.6 = 1 in 1000, 1 = 1 in 1e5."""
    return min(-math.log10(max(1.0 - score, 1e-5)) / 5.0, 1.0)


def plot_fleet(
    snapshots: Sequence[TwinSnapshot],
    alerts: Sequence[Alert],
    path: str | Path,
    *,
    truths: Sequence[Any] = (),
    sensor_faults: Sequence[Any] = (),
    title: str = "twinflow: health index and anomaly score per asset",
) -> Path:
    """One panel per asset: health index, anomaly score (as evidence), alert episodes (each in its
    worst severity's colour), true fault onsets and failures, true sensor faults (hatched, labelled
    with channel and kind); no RUL (round 50: this said "RUL band", which only :func:`plot_asset`
    draws). A run that closed no window
    (``twin demo --days 1e-300``) gets one empty panel saying so (it was a matplotlib error)."""
    by_asset: dict[str, list[TwinSnapshot]] = defaultdict(list)
    for s in snapshots:
        by_asset[s.asset_id].append(s)
    assets = sorted(by_asset)
    fig, axes = plt.subplots(max(len(assets), 1), 1, figsize=(11, 1.9 * max(len(assets), 1) + 0.8),
                             sharex=True, squeeze=False)
    if not assets:
        axes[0, 0].text(0.5, 0.5, "no window closed: nothing to plot", ha="center", va="center",
                        transform=axes[0, 0].transAxes)
    episodes = _episodes(alerts)
    for ax, asset in zip(axes[: len(assets), 0], assets, strict=True):
        snaps = sorted(by_asset[asset], key=lambda s: s.window_start)
        t = [s.window_start for s in snaps]
        ax.plot(t, [s.health_index for s in snaps], color="tab:green", lw=1.2, label="health index")
        ax.plot(t, [_evidence(s.anomaly_score) for s in snaps], color="tab:blue", lw=0.6,
                alpha=0.7, label="anomaly evidence: -log10(1 - score) / 5")
        for start, end, sev in episodes.get(asset, []):
            ax.axvspan(start, end, color=_COLOR[sev], alpha=0.2, lw=0)
        for life in (x for x in truths if x.asset_id == asset):
            if getattr(life, "fault_onset", None):
                ax.axvline(life.fault_onset, color="tab:purple", ls=":", lw=1)
            if getattr(life, "failure_at", None):
                ax.axvline(life.failure_at, color="black", ls="--", lw=1)
        for f in (x for x in sensor_faults if x.asset_id == asset):
            ax.axvspan(f.start, f.end, fill=False, hatch="///", edgecolor="grey", lw=0)
            ax.text(f.start, 0.02, f"{f.channel} {f.kind}", fontsize=6, color="dimgrey")
        ax.set_ylim(-0.05, 1.05)
        ax.set_ylabel(asset, rotation=0, ha="right", va="center", fontsize=8)
        ax.grid(alpha=0.3)
    if assets:
        axes[0, 0].legend(loc="lower left", fontsize=7, ncol=2)
    axes[-1, 0].xaxis.set_major_locator(_DateTicks())
    axes[-1, 0].xaxis.set_major_formatter(mdates.DateFormatter("%m-%d"))
    hatched = "; hatched: sensor fault" if sensor_faults else ""
    fig.suptitle(title + "\n(shaded: alert episodes, yellow anomalous / orange warning / red critical / "
                 f"cyan sensor; dotted: fault onset; dashed: failure{hatched})", fontsize=9)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    return _finish(fig, out, 110)


def _rul_panel(ax: Any, snaps: Sequence[WindowPoint], failures: Sequence[Any]) -> None:
    t = [s.window_start for s in snaps]
    hours = [None if s.rul_s is None else s.rul_s / 3600 for s in snaps]
    lo = [math.nan if s.rul_lower_s is None else s.rul_lower_s / 3600 for s in snaps]
    hi = [math.nan if s.rul_upper_s is None else s.rul_upper_s / 3600 for s in snaps]
    ax.fill_between(t, lo, hi, color="tab:green", alpha=0.2, lw=0, label="RUL interval")
    ax.plot(t, [math.nan if h is None else h for h in hours], color="tab:green", lw=1, label="RUL")
    fails = sorted(failures)
    if fails:
        truth = []
        for s in snaps:
            nxt = next((f for f in fails if f > s.timestamp), None)
            truth.append(math.nan if nxt is None else (nxt - s.timestamp).total_seconds() / 3600)
        ax.plot(t, truth, color="black", ls="--", lw=1, label="true RUL")
    ax.set_ylabel("RUL [h]", fontsize=8)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper right")


class _DateTicks(mdates.AutoDateLocator):
    """matplotlib's default date ticks (``AutoDateLocator``, interval multiples), each view's
    computed once: a figure asks its x axis for them ~35 times (layout, label rotation, drawing),
    and each time the locator built a new rrule (round 41). Same ticks, same unit for the labels."""

    def __init__(self) -> None:
        super().__init__(interval_multiples=True)  # type: ignore[no-untyped-call]
        self._seen: dict[tuple[float, float], tuple[Any, Any]] = {}

    def __call__(self) -> Any:
        view = tuple(self.axis.get_view_interval()) if self.axis is not None else (0.0, 0.0)
        if view not in self._seen:
            self._seen[view] = super().__call__(), self._freq  # type: ignore[no-untyped-call]
        ticks, self._freq = self._seen[view]
        return ticks.copy()


def _date_axis(ax: Any) -> None:
    """``ax``'s x axis (shared by its figure's panels) with :class:`_DateTicks` and their labels as
    matplotlib's default date axis labels them."""
    ticks = _DateTicks()
    ax.xaxis.set_major_locator(ticks)
    ax.xaxis.set_major_formatter(mdates.AutoDateFormatter(ticks))


def _finish(fig: Any, path: Path, dpi: int, **png: Any) -> Path:
    """``fig`` laid out tight and saved to ``path``: the layout done once (matplotlib's savefig drew a
    figure laid out by ``tight_layout`` twice, the first time only to lay it out again; round 41).
    ``png``: Pillow's PNG options (``compress_level``: the same pixels, other bytes)."""
    fig.tight_layout()
    fig.set_layout_engine(None)
    replace_file(path, lambda tmp: fig.savefig(tmp, dpi=dpi, **({"pil_kwargs": png} if png else {})))
    plt.close(fig)
    return path


def plot_asset(snaps: Sequence[WindowPoint], alerts: Sequence[Alert], failures: Sequence[Any],
               path: Path) -> Path:
    """Health index, anomaly evidence and alert episodes; below, RUL and its band vs the truth."""
    snaps = sorted(snaps, key=lambda s: s.window_start)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 5), sharex=True)
    t = [s.window_start for s in snaps]
    top.plot(t, [s.health_index for s in snaps], color="tab:green", lw=1.2, label="health index")
    top.plot(t, [_evidence(s.anomaly_score) for s in snaps], color="tab:blue", lw=0.6, alpha=0.7,
             label="anomaly evidence -log10(1 - score) / 5")
    for start, end, sev in _episodes(alerts).get(snaps[0].asset_id, []):
        top.axvspan(start, end, color=_COLOR[sev], alpha=0.2, lw=0)
    for f in failures:
        for ax in (top, bottom):
            ax.axvline(f, color="black", ls="--", lw=1)
    top.set_ylim(-0.05, 1.05)
    top.legend(fontsize=7, loc="lower left")
    top.grid(alpha=0.3)
    top.set_title(f"{snaps[0].asset_id}: shaded = alert episodes, dashed = failure", fontsize=9)
    _rul_panel(bottom, snaps, failures)
    _date_axis(top)
    fig.autofmt_xdate()
    return _finish(fig, path, 100)


def envelope_axis(first: Any, metadata: Any, max_hz: float | None = None) -> tuple[float, dict[str, float]]:
    """(top plotted frequency [Hz], bearing defect lines {name: Hz}) of a waterfall, from its
    first frame and the asset's metadata: 4.5 x the highest defect line, else 1000 Hz."""
    from twin_models.diagnosis.bearings import defect_frequencies

    meta = metadata.get(first.asset_id) if metadata is not None else None
    shaft = first.shaft_speed_hz or (meta.nominal_speed_hz if meta else None)
    defects = defect_frequencies(meta.bearing, shaft).as_dict() if meta and meta.bearing and shaft else {}
    return (max_hz or (4.5 * max(defects.values()) if defects else 1000.0)), defects


EnvelopeInput = tuple[Any, float, float]
"""One frame's ``(samples, sample rate [Hz], top plotted frequency [Hz])``."""


def envelope_rows(frames: Sequence[EnvelopeInput]) -> list[tuple[Any, Any] | None]:
    """Of each frame, its waterfall row: ``(frequencies, log10 envelope amplitudes)`` up to its top
    frequency (all a waterfall keeps of a frame: a few KB instead of its samples), None where the
    spectrum cannot be taken (a gap). Frames of one length and rate are transformed together
    (:func:`~twin_models.features.envelope_batch.envelope_spectra_batch`: the exhaustive band scan
    and envelope spectrum of ``select_envelope_band`` + ``envelope_spectrum`` frame by frame, one
    inverse FFT per candidate band for all of them: round 40). A frame the batch would refuse
    (non-finite samples, a scale out of range: ``usable_rows``) is left out of it, its row a gap
    (round 41: it made the whole batch raise and be retried one frame at a time); a batch that
    raises anyway is retried so, so a bad frame leaves its own gap only."""
    import numpy as np

    from twin_models.features.envelope_batch import envelope_spectra_batch, usable_rows

    groups: dict[tuple[int, float], list[int]] = defaultdict(list)
    for i, (samples, fs, _) in enumerate(frames):
        groups[len(samples), float(fs)].append(i)
    out: list[tuple[Any, Any] | None] = [None] * len(frames)
    for (_, fs), every in groups.items():
        try:
            stacked = np.stack([np.asarray(frames[i][0], dtype=np.float64) for i in every])
            if stacked.ndim != 2:
                raise ValueError(stacked.shape)
            keep = usable_rows(stacked).tolist()
        except (ValueError, TypeError):  # not 1-D frames of numbers: the batch's own error, below
            stacked, keep = None, [True] * len(every)
        idx = [i for i, ok in zip(every, keep, strict=True) if ok]
        if not idx:
            continue
        try:
            batch = np.stack([frames[i][0] for i in idx]) if stacked is None else stacked[np.array(keep)]
            freqs, amps, _ = envelope_spectra_batch(batch, fs, max_hz=max(frames[i][2] for i in idx))
        except (ValueError, TypeError, FloatingPointError, ZeroDivisionError):
            if len(idx) > 1:
                for i in idx:
                    out[i] = envelope_rows([frames[i]])[0]
            continue
        for row, i in zip(amps, idx, strict=True):
            shown = freqs <= frames[i][2]
            out[i] = freqs[shown], np.log10(row[shown] + 1e-9)
    return out


WATERFALL_PNG_LEVEL = 3
"""zlib level of a waterfall's PNG (Pillow's default: 6). A waterfall is a noisy image: at 6 its encoding
was ~105 ms of a ~0.35 s figure, at 3 ~42 ms for files ~15 % larger, the same pixels (round 41)."""


def draw_envelope_waterfall(rows: Sequence[Any], times: Sequence[Any], freqs: Any,
                            defects: Mapping[str, float], title: str, path: Path) -> Path | None:
    """The waterfall image of ``rows`` (one per time, oldest on top) with the defect lines;
    ``freqs`` are the frequencies of a row (the x axis)."""
    import numpy as np

    if not rows:
        return None
    width = min(len(r) for r in rows)
    img = np.array([r[:width] for r in rows])
    fig, ax = plt.subplots(figsize=(10, 4))
    extent = (0, float(freqs[:width][-1]), len(rows), 0)
    ax.imshow(img, aspect="auto", extent=extent, cmap="viridis")
    names = {"bpfo": "BPFO", "bpfi": "BPFI", "bsf": "2xBSF", "ftf": "FTF"}
    for name, hz in defects.items():
        hz = 2 * hz if name == "bsf" else hz
        ax.axvline(hz, color="white", ls=":", lw=1)
        ax.text(hz, 0, names[name], color="white", fontsize=7, va="top", rotation=90)
    ticks = np.linspace(0, len(rows) - 1, min(6, len(rows))).astype(int)
    ax.set_yticks(ticks + 0.5, [times[i].strftime("%m-%d %H:%M") for i in ticks], fontsize=7)
    ax.set_xlabel("envelope frequency [Hz]")
    ax.set_title(f"{title}: envelope spectrum over life (log amplitude)", fontsize=9)
    return _finish(fig, path, 100, compress_level=WATERFALL_PNG_LEVEL)

