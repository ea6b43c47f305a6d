"""CWRU benchmark figures: per set, per group (load, fault size, OR position) and leave-one-group-out.

A table row (one file, see :func:`benchmarks.quality.cwru.evaluate`) carries ``set``, ``truth``,
``diagnosis`` (``bpfi`` / ``bpfo`` / ``bsf`` / ``anomalous`` / ``healthy``) and the groups of
:func:`group_of`. The leave-one-group-out table (:func:`logo_table`) takes the tables of one run per
candidate ``defect_min_snr``: for every group (a load, a fault size, a set) the candidate is chosen
on the OTHER groups' files (most verdicts right; ties go to the higher, more conservative
threshold) and the held-out group is scored with it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from benchmarks.quality.common import print_table

__all__ = ["accuracies", "group_of", "logo_table", "report", "set_summaries"]

Row = Mapping[str, Any]
FAULTS = ("bpfi", "bpfo", "bsf")
GROUPS = ("load_hp", "size", "position", "fault")


def group_of(name: str) -> dict[str, str]:
    """Groups of a CWRU file name: load (hp), fault size (inches x 1000), OR position, fault kind."""
    load = re.search(r"_(\d)_\d+\.mat$", name)
    size = re.search(r"(?:IR|OR|B)(\d{3})", name)
    where = re.search(r"OR\d{3}@(\d+)", name)
    kind = re.search(r"(?:^|_)(IR|OR|B)\d{3}", name)
    return {
        "load_hp": load.group(1) if load else "?",
        "size": size.group(1) if size else "none",
        "position": f"@{where.group(1)}" if where else "-",
        "fault": kind.group(1) if kind else ("normal" if name.lower().startswith("normal") else "?"),
    }


def _share(right: int, total: int) -> float | None:
    return round(right / total, 3) if total else None


def accuracies(table: Sequence[Row]) -> dict[str, Any]:
    """IR/OR localisation, ball, healthy right; faults called healthy or anomalous; healthy flagged."""
    ir_or = [r for r in table if r["truth"] in ("bpfi", "bpfo")]
    ball = [r for r in table if r["truth"] == "bsf"]
    healthy = [r for r in table if r["truth"] == "healthy"]
    faults = ir_or + ball
    ok = sum(bool(r["correct"]) for r in ir_or)
    ok_ball = sum(bool(r["correct"]) for r in ball)
    ok_healthy = sum(bool(r["correct"]) for r in healthy)
    return {
        "ir_or_accuracy": _share(ok, len(ir_or)), "ir_or_correct": ok, "ir_or_files": len(ir_or),
        "ball_accuracy": _share(ok_ball, len(ball)), "ball_correct": ok_ball, "ball_files": len(ball),
        "healthy_correct": _share(ok_healthy, len(healthy)), "healthy_files": len(healthy),
        "faults_called_healthy": sum(r["diagnosis"] == "healthy" for r in faults),
        "faults_called_anomalous": sum(r["diagnosis"] == "anomalous" for r in faults),
        "faults_wrong_defect": sum(r["diagnosis"] in FAULTS and not r["correct"] for r in faults),
        "healthy_flagged": len(healthy) - ok_healthy,
    }


def _brief(rows: Sequence[Row]) -> str:
    """``IR/OR a/b, ball c/d, healthy-called e, anomalous f`` of some files."""
    acc = accuracies(rows)
    parts = []
    if acc["ir_or_files"]:
        parts.append(f"IR/OR {acc['ir_or_correct']}/{acc['ir_or_files']}")
    if acc["ball_files"]:
        parts.append(f"ball {acc['ball_correct']}/{acc['ball_files']}")
    if acc["healthy_files"]:
        parts.append(f"healthy {acc['healthy_files'] - acc['healthy_flagged']}/{acc['healthy_files']}")
    parts.append(f"faults called healthy {acc['faults_called_healthy']}")
    if acc["faults_called_anomalous"]:
        parts.append(f"anomalous {acc['faults_called_anomalous']}")
    return ", ".join(parts)


def set_summaries(table: Sequence[Row]) -> dict[str, dict[str, Any]]:
    """Per set: :func:`accuracies` and, per group kind, a one-line breakdown per group value."""
    out: dict[str, dict[str, Any]] = {}
    for name in dict.fromkeys(r["set"] for r in table):
        rows = [r for r in table if r["set"] == name]
        groups: dict[str, dict[str, str]] = {}
        for kind in GROUPS:
            values = sorted({str(r[kind]) for r in rows if r["truth"] != "healthy"} - {"-"})
            groups[kind] = {v: _brief([r for r in rows if str(r[kind]) == v]) for v in values}
        out[name] = {**accuracies(rows), "groups": groups}
    return out


def _right(rows: Sequence[Row]) -> int:
    return sum(bool(r["correct"]) for r in rows)


def _fold(sweep: Mapping[float, Sequence[Row]], kind: str, value: str) -> dict[str, Any]:
    """Choose the threshold on the rows outside group ``kind == value``; score the rows inside."""
    inside = {v: [r for r in t if str(r[kind]) == value] for v, t in sweep.items()}
    outside = {v: [r for r in t if str(r[kind]) != value and r["truth"] != "?"] for v, t in sweep.items()}
    chosen = max(sweep, key=lambda v: (_right(outside[v]), v))
    acc = accuracies(inside[chosen])
    return {
        "held_out": f"{kind}={value}", "chosen_snr": chosen, "files": len(inside[chosen]),
        "ir_or": f"{acc['ir_or_correct']}/{acc['ir_or_files']}",
        "ball": f"{acc['ball_correct']}/{acc['ball_files']}",
        "faults_called_healthy": acc["faults_called_healthy"], "healthy_flagged": acc["healthy_flagged"],
        "rows": inside[chosen],
    }


def logo_table(sweep: Mapping[float, Sequence[Row]]) -> dict[str, Any]:
    """Leave-one-group-out over sets, loads and fault sizes; pooled held-out figures per partition."""
    first = next(iter(sweep.values()))
    folds, pooled = [], {}
    for kind in ("set", "load_hp", "size"):
        values = sorted({str(r[kind]) for r in first if r["truth"] in FAULTS})
        these = [_fold(sweep, kind, v) for v in values]
        folds += these
        pooled[kind] = accuracies([r for f in these for r in f["rows"]])
    per_value = {v: accuracies(t) for v, t in sweep.items()}
    return {
        "grid": list(sweep),
        "folds": [{k: v for k, v in f.items() if k != "rows"} for f in folds],
        "pooled_held_out": pooled,
        "all_files_per_threshold": per_value,
    }


def report(doc: dict[str, Any]) -> None:
    """The per-file table, the per-set and per-group figures and the LOGO table, as text."""
    print_table([{**r, "correct": {True: "yes", False: "NO", None: "-"}[r["correct"]]} for r in doc["table"]],
                ["asset", "set", "truth", "diagnosis", "correct", "evidence_snr", "snr_of", "snr_bpfo",
                 "snr_bpfi", "snr_bsf", "first_degrading_window", "windows"])
    for name, summary in doc["sets"].items():
        print(f"\n{name}: " + ", ".join(f"{k} {v}" for k, v in summary.items() if k != "groups"))
        for group, rows in summary["groups"].items():
            print(f"  by {group}: " + "; ".join(f"{k}: {v}" for k, v in rows.items()))
    if "logo" in doc:
        print("\nleave-one-group-out (defect_min_snr chosen on the other groups):")
        print_table(doc["logo"]["folds"], ["held_out", "chosen_snr", "files", "ir_or", "ball",
                                           "faults_called_healthy", "healthy_flagged"])
