"""The report's figures drawn with less work, the same pixels (round 41, PERF41).

``_finish`` lays a figure out once (matplotlib's savefig drew a ``tight_layout`` figure twice);
``_DateTicks`` computes a view's date ticks once. Each PNG must be byte for byte matplotlib's plain
drawing of the same figure."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import pytest
from matplotlib.figure import Figure

from flows.app import report

T0 = datetime(2026, 3, 1, 5, 17, tzinfo=UTC)
SPANS = [(1, 3600), (4, 3600), (17, 3600), (200, 600), (2000, 3600), (300, 86_400), (1500, 86_400), (3, 60)]


def _figure(n: int, step: int) -> Any:
    """Two panels sharing a date axis, a title, a legend and rotated date labels: plot_asset's kind."""
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 5), sharex=True)
    t = [T0 + timedelta(seconds=k * step) for k in range(n)]
    top.plot(t, [k % 7 / 7 for k in range(n)], label="a")
    bottom.plot(t, [float(n - k) for k in range(n)], label="b")
    top.legend(fontsize=7)
    top.set_title(f"{n} x {step} s", fontsize=9)
    return fig


def _plain(fig: Any) -> bytes:
    """matplotlib's own way: tight_layout, then savefig."""
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return buf.getvalue()


@pytest.mark.parametrize(("n", "step"), SPANS)
def test_the_report_s_way_gives_matplotlib_s_png_byte_for_byte(tmp_path: Path, n: int, step: int) -> None:
    plain = _figure(n, step)
    plain.autofmt_xdate()
    ours = _figure(n, step)
    report._date_axis(ours.axes[0])
    ours.autofmt_xdate()
    path = report._finish(ours, tmp_path / "ours.png", 100)
    assert path.read_bytes() == _plain(plain)


def test_a_figure_is_drawn_once_when_saved(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    draws: list[int] = []
    real = Figure.draw

    def counted(self: Figure, renderer: Any) -> None:
        draws.append(1)
        real(self, renderer)

    monkeypatch.setattr(Figure, "draw", counted)
    _plain(_figure(50, 3600))
    assert len(draws) == 2  # what matplotlib does alone (the assertion below means something)
    draws.clear()
    report._finish(_figure(50, 3600), tmp_path / "once.png", 100)
    assert len(draws) == 1


def test_date_ticks_are_computed_once_a_view_and_follow_a_new_view() -> None:
    fig = _figure(2000, 3600)
    ticks = report._DateTicks()
    fig.axes[0].xaxis.set_major_locator(ticks)
    calls: list[int] = []
    real = ticks.get_locator

    def counted(dmin: Any, dmax: Any) -> Any:
        calls.append(1)
        return real(dmin, dmax)

    ticks.get_locator = counted  # type: ignore[method-assign]
    first, view = ticks(), fig.axes[0].get_xlim()
    assert list(ticks()) == list(first) and len(calls) == 1
    unit = ticks._get_unit()
    fig.axes[0].set_xlim(T0, T0 + timedelta(hours=5))  # a new view: new ticks, the labels' unit too
    hours = ticks()
    assert len(calls) == 2 and list(hours) != list(first) and ticks._get_unit() != unit
    fig.axes[0].set_xlim(view)  # back: the first view's ticks and unit
    assert list(ticks()) == list(first) and ticks._get_unit() == unit and len(calls) == 2
    plt.close(fig)


def test_a_waterfall_has_the_pixels_of_matplotlib_s_default_png(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Its PNG is encoded at WATERFALL_PNG_LEVEL (other bytes): decoded, the same pixels."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(5)
    rows = [rng.random(300).astype("float32") for _ in range(120)]
    times = [T0 + timedelta(hours=i) for i in range(120)]
    freqs = np.linspace(0, 900, 300)
    args = (rows, times, freqs, {"bpfo": 100.0, "bsf": 60.0}, "pump / vib")
    ours = report.draw_envelope_waterfall(*args, tmp_path / "ours.png")
    assert ours is not None and report.WATERFALL_PNG_LEVEL != 6
    plain = tmp_path / "plain.png"
    real = report._finish
    monkeypatch.setattr(report, "_finish", lambda fig, path, dpi, **_: real(fig, path, dpi))
    report.draw_envelope_waterfall(*args, plain)
    assert ours.read_bytes() != plain.read_bytes()
    assert np.array_equal(np.asarray(Image.open(ours)), np.asarray(Image.open(plain)))
