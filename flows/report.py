"""Plots a reliability engineer would rather look at than read (matplotlib, files only)."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402

from twin_models.records import Alert, TwinSnapshot  # noqa: E402

__all__ = ["plot_fleet"]


def _episodes(alerts: Iterable[Alert]) -> dict[str, list[tuple[Any, Any, str]]]:
    """Per asset: (start, end, severity) of each alert episode."""
    by_id: dict[str, list[Alert]] = defaultdict(list)
    for a in alerts:
        by_id[a.alert_id].append(a)
    out: dict[str, list[tuple[Any, Any, str]]] = defaultdict(list)
    for msgs in by_id.values():
        msgs.sort(key=lambda a: a.sequence)
        end = msgs[-1].timestamp
        worst = "critical" if any(m.severity == "critical" for m in msgs) else "warning"
        out[msgs[0].asset_id].append((msgs[0].started_at, end, worst))
    return out


def _evidence(score: float) -> float:
    """Calibrated score as tail evidence on [0, 1]: 0.2 = 1 in 10, 0.6 = 1 in 1000, 1 = 1 in 1e5."""
    return min(-math.log10(max(1.0 - score, 1e-5)) / 5.0, 1.0)


def plot_fleet(
    snapshots: Sequence[TwinSnapshot],
    alerts: Sequence[Alert],
    path: str | Path,
    *,
    truths: Sequence[Any] = (),
    title: str = "twinflow: health index and anomaly score per asset",
) -> Path:
    """One panel per asset: health index, anomaly score, RUL band, alert episodes, true failures."""
    by_asset: dict[str, list[TwinSnapshot]] = defaultdict(list)
    for s in snapshots:
        by_asset[s.asset_id].append(s)
    assets = sorted(by_asset)
    fig, axes = plt.subplots(len(assets), 1, figsize=(11, 1.9 * len(assets) + 0.8), sharex=True,
                             squeeze=False)
    episodes = _episodes(alerts)
    for ax, asset in zip(axes[:, 0], assets, strict=True):
        snaps = sorted(by_asset[asset], key=lambda s: s.window_start)
        t = [s.window_start for s in snaps]
        ax.plot(t, [s.health_index for s in snaps], color="tab:green", lw=1.2, label="health index")
        ax.plot(t, [_evidence(s.anomaly_score) for s in snaps], color="tab:blue", lw=0.6,
                alpha=0.7, label="anomaly evidence: -log10(1 - score) / 5")
        for start, end, sev in episodes.get(asset, []):
            ax.axvspan(start, end, color="tab:red" if sev == "critical" else "tab:orange",
                       alpha=0.2, lw=0)
        for life in (x for x in truths if x.asset_id == asset):
            if getattr(life, "fault_onset", None):
                ax.axvline(life.fault_onset, color="tab:purple", ls=":", lw=1)
            if getattr(life, "failure_at", None):
                ax.axvline(life.failure_at, color="black", ls="--", lw=1)
        ax.set_ylim(-0.05, 1.05)
        ax.set_ylabel(asset, rotation=0, ha="right", va="center", fontsize=8)
        ax.grid(alpha=0.3)
    axes[0, 0].legend(loc="lower left", fontsize=7, ncol=2)
    axes[-1, 0].xaxis.set_major_formatter(mdates.DateFormatter("%m-%d"))
    fig.suptitle(title + "\n(shaded: alert episodes, orange warning / red critical; "
                 "dotted: fault onset; dashed: failure)", fontsize=9)
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
