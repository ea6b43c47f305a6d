"""``report.html`` of a backtest: a summary table per asset and the plots beside it."""

from __future__ import annotations

import html
import itertools
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from flows.app.out_dir import replace_file
from flows.app.report import plot_asset, plot_envelope_waterfall
from flows.dataflow.sources.files import estimate_records, read_records
from twin_models.prescribe import money
from twin_models.records import Alert, Recommendation, TwinSnapshot, WaveformFrame
from twin_models.text import format_duration

__all__ = ["write_report"]

MAX_ASSETS = 60
FRAMES_PER_WATERFALL = 150


def _asset_rows(snaps: Mapping[str, list[TwinSnapshot]], alerts: Sequence[Alert],
                failures: Mapping[str, list[Any]]) -> list[list[str]]:
    raised: dict[str, list[Alert]] = defaultdict(list)
    for a in alerts:
        if a.status == "raised":
            raised[a.asset_id].append(a)
    rows = []
    for asset, ss in sorted(snaps.items()):
        rul_h = format_duration(ss[-1].rul_s, unit="h", missing="", suffix=False)
        first = min((a.timestamp for a in raised[asset]), default=None)
        rows.append([asset, str(len(ss)), str(len(raised[asset])),
                     first.isoformat(timespec="minutes") if first else "",
                     f"{min(s.health_index for s in ss):.2f}", rul_h,
                     str(len(failures.get(asset, [])))])
    return rows


FrameSamples = dict[tuple[str, str], list[WaveformFrame]]


def _sampled_frames(paths: Sequence[str | Path], options: Mapping[str, Any]) -> FrameSamples:
    """About FRAMES_PER_WATERFALL evenly spaced frames per (asset, channel) of waveform files.

    Streamed: the frames are read one at a time and only the sampled ones are kept, so memory
    does not grow with the file (it held every frame of the file at once before round 37)."""
    out: FrameSamples = defaultdict(list)
    for path in paths:
        try:
            n = estimate_records(path, **options)
            records = read_records(path, **options)
            first = next(records, None)
        except (ValueError, OSError):
            continue
        if not isinstance(first, WaveformFrame):
            continue
        step = max(1, n // FRAMES_PER_WATERFALL)
        counts: dict[tuple[str, str], int] = defaultdict(int)
        for rec in itertools.chain((first,), records):
            if not isinstance(rec, WaveformFrame):  # (a waveform file holds frames only)
                continue
            key = (rec.asset_id, rec.channel)
            if counts[key] % step == 0:
                out[key].append(rec)
            counts[key] += 1
    return out


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
    appends every file it wrote (plots, then the page) to ``written``."""
    written = [] if written is None else written
    out: Path = result.out
    figs = out / "figures"
    figs.mkdir(exist_ok=True)
    snaps: dict[str, list[TwinSnapshot]] = defaultdict(list)
    for s in sorted(result.snapshots, key=lambda s: s.window_start):
        snaps[s.asset_id].append(s)
    parts = [f"<h1>twinflow backtest</h1><p>{len(snaps)} assets, {len(result.snapshots)} windows, "
             f"{result.records} records in {result.seconds:.1f} s; "
             f"{sum(a.status == 'raised' for a in result.alerts)} alert episodes.</p>"]
    header = ["asset", "windows", "alert episodes", "first alert", "min health index",
              "last RUL [h]", "failures"]
    rows = _asset_rows(snaps, result.alerts, result.failures)
    parts.append("<table><tr>" + "".join(f"<th>{h}</th>" for h in header) + "</tr>" + "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows) + "</table>")
    parts.extend(_recommendations(getattr(result, "recommendations", [])))
    for asset in sorted(snaps)[:MAX_ASSETS]:
        safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in asset)
        png = plot_asset(snaps[asset], result.alerts, result.failures.get(asset, []),
                         figs / f"{safe}.png")
        written.append(png)
        parts.append(f"<h2>{html.escape(asset)}</h2><img src='figures/{png.name}' width='900'>")
    for (asset, channel), frames in sorted(_sampled_frames(inputs, read_options).items()):
        safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in f"{asset}_{channel}")
        waterfall = plot_envelope_waterfall(frames, metadata, figs / f"{safe}_envelope.png")
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
