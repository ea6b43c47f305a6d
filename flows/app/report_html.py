"""``report.html`` of a backtest: a summary table per asset and the plots beside it."""

from __future__ import annotations

import bisect
import html
import itertools
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from flows.app.out_dir import replace_file
from flows.app.report import draw_envelope_waterfall, envelope_axis, envelope_row, plot_asset
from flows.app.scores_file import ScoreRow, asset_series
from flows.dataflow.sources.files import read_records
from twin_models.prescribe import money
from twin_models.records import Alert, Recommendation, WaveformFrame
from twin_models.text import format_duration

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


class _Waterfall:
    """The rows of one (asset, channel) envelope waterfall, computed as its frames stream by.

    Only what the plot draws of a frame is kept (its envelope spectrum up to the plotted top
    frequency, and its time), for frames 0, stride, 2 stride, ... of the key; when more than
    2 x FRAMES_PER_WATERFALL rows are kept, every other one is dropped and the stride doubles.
    So a key holds at most 2 x FRAMES_PER_WATERFALL + 1 rows, whatever its length, in one pass,
    without knowing how many frames it has (round 38; the sampling step was the whole file's
    records // FRAMES_PER_WATERFALL before, so each of many keys got a handful of rows)."""

    def __init__(self, first: WaveformFrame, metadata: Any) -> None:
        self.title = f"{first.asset_id} / {first.channel}"
        self.top_hz, self.defects = envelope_axis(first, metadata)
        self.stride, self.seen = 1, 0
        self.kept: list[tuple[int, datetime, Any]] = []  # (frame index in the key, time, row)
        self.freqs: Any = None

    def add(self, frame: WaveformFrame) -> None:
        i, self.seen = self.seen, self.seen + 1
        if i % self.stride:
            return
        try:
            self.freqs, row = envelope_row(frame, self.top_hz)
        except (ValueError, FloatingPointError, ZeroDivisionError):
            return  # a frame the spectrum cannot be taken of leaves a gap, not a broken report
        self.kept.append((i, frame.timestamp, row.astype("float32")))
        if len(self.kept) > 2 * FRAMES_PER_WATERFALL:
            self.stride *= 2
            self.kept = [k for k in self.kept if k[0] % self.stride == 0]

    def rows(self) -> list[tuple[datetime, Any]]:
        """About FRAMES_PER_WATERFALL rows, evenly spaced: for frames 0, step, 2 step, ... with
        step = the key's frames // FRAMES_PER_WATERFALL (what the per-file step gave a one-key
        file), the kept row nearest each (the same frames when step is a multiple of the stride)."""
        step = max(1, self.seen // FRAMES_PER_WATERFALL)
        index = [k[0] for k in self.kept]
        chosen: list[int] = []
        for want in range(0, self.seen, step):
            j = bisect.bisect_left(index, want)
            if j == len(index) or (j > 0 and want - index[j - 1] <= index[j] - want):
                j -= 1
            if j >= 0 and (not chosen or chosen[-1] != j):
                chosen.append(j)
        return [(self.kept[j][1], self.kept[j][2]) for j in chosen]


def _waterfalls(paths: Sequence[str | Path], options: Mapping[str, Any], metadata: Any,
                ) -> tuple[dict[tuple[str, str], _Waterfall], int]:
    """The waterfalls of the waveform files' first MAX_WATERFALLS (asset, channel) keys in sorted
    order, and how many keys were left out. Streamed: one frame alive at a time, and per key
    only its rows (a few KB each), never its frames."""
    out: dict[tuple[str, str], _Waterfall] = {}
    left_out: set[tuple[str, str]] = set()
    for path in paths:
        try:
            records = read_records(path, **options)
            first = next(records, None)
        except (ValueError, OSError):
            continue
        if not isinstance(first, WaveformFrame):
            continue
        for rec in itertools.chain((first,), records):
            if not isinstance(rec, WaveformFrame):  # (a waveform file holds frames only)
                continue
            key = (rec.asset_id, rec.channel)
            wf = out.get(key)
            if wf is None:
                if key in left_out:
                    continue
                if len(out) >= MAX_WATERFALLS:
                    last = max(out)
                    if key > last:
                        left_out.add(key)
                        continue
                    left_out.add(last)
                    del out[last]
                wf = out[key] = _Waterfall(rec, metadata)
            wf.add(rec)
    return out, len(left_out)


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
                 read_options: Mapping[str, Any], written: list[Path] | None = None) -> Path:
    """Write the plots and ``report.html`` into ``result.out``; returns the page's path and
    appends every file it wrote (plots, then the page) to ``written``. The windows' series come
    from ``result.out / "scores.parquet"`` (written first), one asset at a time (round 39: they
    came from every snapshot held in memory)."""
    written = [] if written is None else written
    out: Path = result.out
    figs = out / "figures"
    figs.mkdir(exist_ok=True)
    raised: dict[str, list[Alert]] = defaultdict(list)
    for a in result.alerts:
        if a.status == "raised":
            raised[a.asset_id].append(a)
    rows: list[list[str]] = []
    plots: list[str] = []  # one asset's windows in memory at a time (read back from scores.parquet)
    for asset, series in asset_series(out / "scores.parquet"):
        rows.append(_asset_row(asset, series, raised[asset], result.failures))
        if len(plots) < MAX_ASSETS:
            safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in asset)
            png = plot_asset(series, result.alerts, result.failures.get(asset, []), figs / f"{safe}.png")
            written.append(png)
            plots.append(f"<h2>{html.escape(asset)}</h2><img src='figures/{png.name}' width='900'>")
    parts = [f"<h1>twinflow backtest</h1><p>{len(rows)} assets, {result.windows} windows, "
             f"{result.records} records in {result.seconds:.1f} s; "
             f"{sum(a.status == 'raised' for a in result.alerts)} alert episodes.</p>"]
    header = ["asset", "windows", "alert episodes", "first alert", "min health index",
              "last RUL [h]", "failures"]
    parts.append("<table><tr>" + "".join(f"<th>{h}</th>" for h in header) + "</tr>" + "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows) + "</table>")
    parts.extend(_recommendations(getattr(result, "recommendations", [])))
    parts.extend(plots)
    falls, left_out = _waterfalls(inputs, read_options, metadata)
    if left_out:
        parts.append(f"<p>Envelope waterfalls of the first {len(falls)} (asset, channel) pairs "
                     f"only; {left_out} more left out (at most {MAX_WATERFALLS} are drawn).</p>")
    for (asset, channel), wf in sorted(falls.items()):
        safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in f"{asset}_{channel}")
        kept = wf.rows()
        waterfall = draw_envelope_waterfall([r for _, r in kept], [t for t, _ in kept], wf.freqs,
                                            wf.defects, wf.title, figs / f"{safe}_envelope.png")
        if waterfall is not None:
            written.append(waterfall)
            parts.append(f"<h3>{html.escape(asset)} / {html.escape(channel)}: envelope spectrum "
                         f"over time</h3><img src='figures/{waterfall.name}' width='900'>")
    style = ("body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
             "td,th{border:1px solid #ccc;padding:2px 8px;font-size:13px}")
    text = (f"<!doctype html><html><head><meta charset='utf-8'><title>twinflow backtest"
            f"</title><style>{style}</style></head><body>{''.join(parts)}</body></html>\n")
    page = replace_file(out / "report.html", lambda tmp: tmp.write_text(text))
    written.append(page)
    return page
