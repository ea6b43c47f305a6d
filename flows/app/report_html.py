"""``report.html`` of a backtest: a summary table per asset and the plots beside it."""

from __future__ import annotations

import hashlib
import html
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from flows.app.out_dir import refuse_linked_folders, replace_file
from flows.app.out_held import held_folder
from flows.app.report import draw_envelope_waterfall, envelope_axis, envelope_rows, plot_asset
from flows.app.scores_file import ScoreRow, asset_series
from flows.dataflow.sources.files import ReadStats, read_records
from twin_models.prescribe import money
from twin_models.records import Alert, Recommendation, WaveformFrame
from twin_models.text import counted, format_duration

__all__ = ["write_report"]

MAX_ASSETS = 60
FRAMES_PER_WATERFALL = 150
MAX_WATERFALLS = MAX_ASSETS  # (asset, channel) pairs drawn; the rest are named as left out


def _asset_row(asset: str, ss: Sequence[ScoreRow], raised: Sequence[Alert],
               failures: Mapping[str, list[Any]]) -> list[str]:
    """The summary table's row of one asset (its windows in window-start order)."""
    rul_h = format_duration(ss[-1].rul_s, unit="h", missing="", suffix=False)
    first = min((a.timestamp for a in raised), default=None)
    return [asset, str(len(ss)), str(len(raised)), first.isoformat(timespec="minutes") if first else "",
            f"{min(s.health_index for s in ss):.2f}", rul_h, str(len(failures.get(asset, [])))]


def chosen_frames(n: int, per: int | None = None) -> list[int]:
    """Indices (in a key's order) of the frames a waterfall of ``n`` frames draws: round 38's rows.

    Round 38 streamed the key's frames keeping those at 0, s, 2 s, ... (s = 1, doubled, and every
    other row dropped, whenever more than 2 ``per`` rows were held: so s ends as the least power of
    two with n <= 2 ``per`` s), then drew, for frames 0, T, 2 T, ... (T = n // ``per``, at least 1),
    the kept one nearest each (the lower on a tie; each once). That rule needs only n, so with the
    key's count known first the same rows come out of ``per`` or so spectra, not 2 ``per`` +
    ``per`` log2(n / 2 ``per``) (round 39)."""
    per = FRAMES_PER_WATERFALL if per is None else per
    stride = 1
    while n > 2 * per * stride:
        stride *= 2
    last = (n - 1) // stride * stride  # the last kept frame
    chosen: list[int] = []
    for want in range(0, n, max(1, n // per)):
        lower = want // stride * stride
        upper = lower + stride
        pick = upper if want != lower and upper <= last and upper - want < want - lower else lower
        if not chosen or chosen[-1] != pick:
            chosen.append(pick)
    return chosen


class _Waterfall:
    """The rows of one (asset, channel) envelope waterfall, computed as its frames stream by.

    The key's frame count is known before its frames are read (the backtest's own read counts
    them), so only the frames :func:`chosen_frames` names are transformed, and of each only what
    the plot draws is kept (its envelope spectrum up to the plotted top frequency, and its time):
    at most about 2 x FRAMES_PER_WATERFALL rows, whatever the key's length. A frame whose
    spectrum cannot be taken leaves its row out (a gap)."""

    def __init__(self, first: WaveformFrame, metadata: Any, frames: int) -> None:
        self.title = f"{first.asset_id} / {first.channel}"
        self.top_hz, self.defects = envelope_axis(first, metadata)
        self.frames, self.seen = frames, 0
        self.wanted = frozenset(chosen_frames(frames))
        self.kept: list[tuple[datetime, Any]] = []  # (time, row) of the chosen frames, in order
        self.freqs: Any = None

    def add(self, frame: WaveformFrame, batch: _RowBatch) -> None:
        """Count ``frame``; if it is one of the chosen, queue its row in ``batch``."""
        i, self.seen = self.seen, self.seen + 1
        if i in self.wanted:
            batch.add(self, frame)

    def rows(self) -> list[tuple[datetime, Any]]:
        """The drawn rows, oldest first: about FRAMES_PER_WATERFALL, evenly spaced."""
        return list(self.kept)


BATCH_SAMPLES = 1 << 17
"""Samples of the queued frames whose waterfall rows are computed together (round 40): 64 frames of
2,048 samples, 5 of 25,600; ~0.5 MB of float32 copies held (~0.2 ms a 2,048-sample frame in
batches of 32-64, ~2 ms one at a time; ``benchmarks/RESULTS.md``, round 40, part REPORT40)."""


class _RowBatch:
    """The chosen frames' samples (copies: the frames themselves are not kept) queued for their
    rows, which are computed (:func:`~flows.app.report.envelope_rows`) and appended to their
    waterfalls in the order the frames came, each time BATCH_SAMPLES are queued, and at
    :meth:`flush`."""

    def __init__(self) -> None:
        self.queued: list[tuple[_Waterfall, datetime, Any, float]] = []
        self.samples = 0

    def add(self, wf: _Waterfall, frame: WaveformFrame) -> None:
        import numpy as np

        samples = np.array(frame.samples)  # a copy in the frame's own dtype
        self.queued.append((wf, frame.timestamp, samples, frame.sample_rate_hz))
        self.samples += samples.size
        if self.samples >= BATCH_SAMPLES:
            self.flush()

    def flush(self) -> None:
        """The queued frames' rows into their waterfalls; a frame whose spectrum cannot be taken
        leaves its row out (a gap, not a broken report)."""
        if not self.queued:
            return
        queued, self.queued, self.samples = self.queued, [], 0
        made = envelope_rows([(samples, fs, wf.top_hz) for wf, _, samples, fs in queued])
        for (wf, time, _, _), row in zip(queued, made, strict=True):
            if row is not None:
                wf.freqs = row[0]
                wf.kept.append((time, row[1].astype("float32")))


FrameCounts = Mapping[str, Mapping[tuple[str, str], int]]
"""Per input file (``str(path)``): its waveform frames per (asset, channel), as read."""


def count_frames(paths: Sequence[str | Path], options: Mapping[str, Any],
                 ) -> dict[str, Counter[tuple[str, str]]]:
    """:data:`FrameCounts` of the files by reading them (no spectra); a file that cannot be read,
    or holds no waveform frames, counts none. The backtest has these from its own read."""
    out: dict[str, Counter[tuple[str, str]]] = {}
    for path in paths:
        stats = ReadStats()
        try:
            for _ in read_records(path, stats=stats, **options):
                pass
        except (ValueError, OSError):
            stats.frames.clear()
        out[str(path)] = stats.frames
    return out


def _waterfalls(paths: Sequence[str | Path], options: Mapping[str, Any], metadata: Any,
                counts: FrameCounts | None = None) -> tuple[dict[tuple[str, str], _Waterfall], int]:
    """The waterfalls of the waveform files' first MAX_WATERFALLS (asset, channel) keys in sorted
    order, and how many keys were left out. ``counts`` (:func:`count_frames` if not given) says
    which files hold frames and how many each key has, so only the drawn frames are transformed
    and a file without frames is not read again. Streamed: one frame alive at a time, and per
    key only its rows (a few KB each), never its frames; the chosen frames' samples wait in a
    :class:`_RowBatch` (copies, BATCH_SAMPLES at most and the frame that fills it) to be
    transformed together."""
    if counts is None:
        counts = count_frames(paths, options)
    total: Counter[tuple[str, str]] = Counter()
    for path in paths:
        total.update(counts.get(str(path), {}))
    drawn = set(sorted(total)[:MAX_WATERFALLS])
    out: dict[tuple[str, str], _Waterfall] = {}
    batch = _RowBatch()
    for path in paths:
        if not counts.get(str(path)):
            continue
        try:
            records = read_records(path, **options)
            for rec in records:
                if not isinstance(rec, WaveformFrame):  # (a waveform file holds frames only)
                    continue
                key = (rec.asset_id, rec.channel)
                if key not in drawn:
                    continue
                wf = out.get(key)
                if wf is None:
                    wf = out[key] = _Waterfall(rec, metadata, total[key])
                wf.add(rec, batch)
        except (ValueError, OSError):
            continue  # (read once already: changed since?) the waterfalls drawn from what was read
    batch.flush()
    return out, len(total) - len(drawn)


STEM_BYTES = 120
"""A figure's name keeps at most this many bytes of its asset id (and channel): ~2 x 128 characters of
three bytes each were over the 255 bytes a file name may have (round 39)."""


def _figure_name(text: str, suffix: str, taken: set[str]) -> str:
    """A file name for the figure of ``text`` (an asset id, or asset and channel): its letters, digits,
    ``-`` and ``_`` (others as ``_``), at most :data:`STEM_BYTES` bytes; when that name is cut or another
    figure of this page has it (``pump.1`` and ``pump_1`` were both ``pump_1.png``: the page showed the
    second's plot twice, round 39), ``-`` and 8 hex digits of ``text``'s SHA-256 make it this one's."""
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in text)
    cut = safe.encode()[:STEM_BYTES].decode(errors="ignore")
    name = cut + suffix
    if cut != safe or name.casefold() in taken:  # casefold: a folder that ignores case
        name = f"{cut}-{hashlib.sha256(text.encode(errors='surrogatepass')).hexdigest()[:8]}{suffix}"
    taken.add(name.casefold())
    return name


MAX_RECOMMENDATIONS = 200


def _recommendations(recs: Sequence[Recommendation]) -> list[str]:
    """The twin's prescriptions (issue 11, level 4) as a table, newest last (at most 200)."""
    if not recs:
        return []
    shown = sorted(recs, key=lambda r: (r.timestamp, r.asset_id))[-MAX_RECOMMENDATIONS:]
    header = ["asset", "time", "alert", "plan", "P(failure) plan / as is", "expected saving", "explanation"]
    rows = [[r.asset_id, f"{r.timestamp:%Y-%m-%d %H:%M}", r.alert_id or "-",
             r.chosen.plan + (f" {r.chosen.load_fraction:.0%}" if r.chosen.load_fraction else ""),
             f"{r.chosen.p_failure:.0%} / {r.options[0].p_failure:.0%}", money(r.expected_saving, r.currency),
             r.explanation] for r in shown]
    return [f"<h2>Recommendations</h2><p>{len(recs)} recommendations (the last {len(shown)} shown; all "
            "in the archive table recommendations).</p><table><tr>"
            + "".join(f"<th>{h}</th>" for h in header) + "</tr>" + "".join(
                "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
            + "</table>"]


def write_report(result: Any, *, inputs: Sequence[str | Path], metadata: Any,
                 read_options: Mapping[str, Any], written: list[Path] | None = None,
                 frame_counts: FrameCounts | None = None) -> Path:
    """Write the plots and ``report.html`` into ``result.out``; returns the page's path and
    appends every file it wrote (plots, then the page) to ``written``. The windows' series come
    from ``result.out / "scores.parquet"`` (written first), one asset at a time (round 39: they
    came from every snapshot held in memory). ``frame_counts``: the inputs' waveform frames per key
    as the run read them (else the files are counted first)."""
    out: Path = result.out
    figs = out / "figures"
    # planted mid-run (checked before the run too): not followed; nor swapped in while drawing (round 40)
    with held_folder(figs, lambda: refuse_linked_folders(out, ("figures",))) as drawn:
        return _write_report(result, figs, drawn, inputs=inputs, metadata=metadata,
                             read_options=read_options, written=[] if written is None else written,
                             frame_counts=frame_counts)


def _write_report(result: Any, figs: Path, drawn: Path, *, inputs: Sequence[str | Path], metadata: Any,
                  read_options: Mapping[str, Any], written: list[Path],
                  frame_counts: FrameCounts | None) -> Path:
    """:func:`write_report`'s work: the plots written into ``drawn`` (the held ``figs``)."""
    out: Path = result.out
    raised: dict[str, list[Alert]] = defaultdict(list)
    for a in result.alerts:
        if a.status == "raised":
            raised[a.asset_id].append(a)
    rows: list[list[str]] = []
    plots: list[str] = []  # one asset's windows in memory at a time (read back from scores.parquet)
    taken: set[str] = set()  # the figures' names on this page, each its own file
    for asset, series in asset_series(out / "scores.parquet"):
        rows.append(_asset_row(asset, series, raised[asset], result.failures))
        if len(plots) < MAX_ASSETS:
            png = plot_asset(series, result.alerts, result.failures.get(asset, []),
                             drawn / _figure_name(asset, ".png", taken))
            written.append(figs / png.name)
            plots.append(f"<h2>{html.escape(asset)}</h2><img src='figures/{png.name}' width='900'>")
    episodes = sum(a.status == "raised" for a in result.alerts)
    parts = [f"<h1>twinflow backtest</h1><p>{counted(len(rows), 'asset')}, "
             f"{counted(result.windows, 'window')}, {counted(result.records, 'record')} in "
             f"{result.seconds:.1f} s; {counted(episodes, 'alert episode')}.</p>"]
    header = ["asset", "windows", "alert episodes", "first alert", "min health index",
              "last RUL [h]", "failures"]
    parts.append("<table><tr>" + "".join(f"<th>{h}</th>" for h in header) + "</tr>" + "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows) + "</table>")
    parts.extend(_recommendations(getattr(result, "recommendations", [])))
    parts.extend(plots)
    falls, left_out = _waterfalls(inputs, read_options, metadata, frame_counts)
    if left_out:
        parts.append(f"<p>Envelope waterfalls of the first {len(falls)} (asset, channel) pairs "
                     f"only; {left_out} more left out (at most {MAX_WATERFALLS} are drawn).</p>")
    for (asset, channel), wf in sorted(falls.items()):
        kept = wf.rows()
        name = _figure_name(f"{asset}_{channel}", "_envelope.png", taken)
        waterfall = draw_envelope_waterfall([r for _, r in kept], [t for t, _ in kept], wf.freqs,
                                            wf.defects, wf.title, drawn / name)
        if waterfall is not None:
            written.append(figs / waterfall.name)
            parts.append(f"<h3>{html.escape(asset)} / {html.escape(channel)}: envelope spectrum "
                         f"over time</h3><img src='figures/{waterfall.name}' width='900'>")
    style = ("body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
             "td,th{border:1px solid #ccc;padding:2px 8px;font-size:13px}")
    text = (f"<!doctype html><html><head><meta charset='utf-8'><title>twinflow backtest"
            f"</title><style>{style}</style></head><body>{''.join(parts)}</body></html>\n")
    page = replace_file(out / "report.html", lambda tmp: tmp.write_text(text))
    written.append(page)
    return page
