"""Draw README's NAB figure from the figures recorded in benchmarks/RESULTS.md (nothing is re-run).

    .venv/bin/python benchmarks/plot_nab_quality.py [--out benchmarks/results/nab_quality.png]

Left: the 35-file subset's three NAB profiles for the configuration (dev, left out with the
threshold chosen on the other categories, and at the alert policy's fixed p <= 0.001) beside the
published ARTime and Numenta HTM scores on the same subset. Right: every idea measured against the
same configuration since round 22, left out and at the fixed p, against the configuration's own
figures. Each number below names the RESULTS.md section it comes from; change it there first.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

PROFILES = ("standard", "low FP", "low FN")
# (label, standard, low FP, low FN); RESULTS "NAB with a priori scales, round 11" and round 12 (NAB9)
# for twinflow, "Detection quality: NAB (Numenta Anomaly Benchmark), 35-file subset" for the others.
SCORES = (
    ("twinflow dev", 70.75, 67.57, 73.97),
    ("twinflow left out", 68.84, 65.86, 73.04),
    ("twinflow fixed p<=0.001", 70.71, 67.33, 73.80),
    ("ARTime (published)", 67.8, 57.8, 73.7),
    ("HTM (published)", 66.6, 60.8, 71.1),
)
CONFIG_LEFT_OUT, CONFIG_FIXED, TARGET = 68.84, 70.71, 70.0
# (idea, round, left out standard, fixed p <= 0.001 standard), each against the config above
TRIED = (
    ("CUSUM of the evidence", 22, 47.90, 47.37),
    ("block evidence", 22, 66.04, 69.36),
    ("alarm budget split (1 file)", 23, 71.07, 70.94),
    ("window-features member", 23, 66.94, 67.03),
    ("silence member", 24, 0.00, -88.69),
    ("fleet prior", 29, 70.71, 70.09),
    ("spectral residual", 34, 64.69, 67.20),
    ("Cauchy combination", 36, 68.15, 69.49),
    ("left reference distances", 40, 61.60, 54.99),
    ("declustered tail", 40, 59.63, 58.14),
    ("channel weights from their past", 42, 62.96, 57.03),
    ("second neighbour (twin freaks)", 43, 65.42, 64.79),
    ("complexity-invariant distance", 44, 63.38, 63.94),
    ("references clean of own alarms", 48, 63.49, 61.65),
    ("clean of the config's alarms", 48, 58.70, 63.87),
    ("tails anchored at the threshold", 49, 63.96, 63.50),
    ("rungs on the values' PIT", 49, 54.51, 53.44),
    ("segments by mean and SD", 50, 67.90, 68.46),
    ("shape around its mean", 50, 61.30, 61.43),
)
FLOOR = 40.0  # the right panel's axis starts here; a bar below it is drawn to it and labelled


def draw(out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2), gridspec_kw={"width_ratios": [1, 1.25]})
    width = 0.16
    for i, (label, *values) in enumerate(SCORES):
        xs = [k + (i - 2) * width for k in range(len(PROFILES))]
        left.bar(xs, values, width, label=label, color=f"C{i}")
    left.axhline(TARGET, color="k", lw=0.8, ls="--", label="target 70 (standard, left out)")
    left.set_xticks(range(len(PROFILES)), PROFILES)
    left.set_ylim(50, 84)
    left.set_ylabel("NAB score (35-file subset)")
    left.set_title("NAB: the configuration against published detectors", fontsize=10)
    left.legend(fontsize=7, loc="upper left", ncol=2)

    names = [f"{name} (r{rnd})" for name, rnd, _, _ in TRIED]
    ys = range(len(TRIED))
    for offset, column, colour, label in ((-0.2, 2, "C1", "left out"), (0.2, 3, "C2", "fixed p<=0.001")):
        values = [row[column] for row in TRIED]
        right.barh([y + offset for y in ys], [max(v, FLOOR) - FLOOR for v in values], 0.38,
                   left=FLOOR, color=colour, label=label)
        for y, v in zip(ys, values, strict=True):
            if v < FLOOR:
                right.text(FLOOR + 0.5, y + offset, f"{v:.2f}", va="center", fontsize=6)
    right.axvline(CONFIG_LEFT_OUT, color="C1", lw=0.8, ls=":", label=f"config left out {CONFIG_LEFT_OUT}")
    right.axvline(CONFIG_FIXED, color="C2", lw=0.8, ls=":", label=f"config fixed p {CONFIG_FIXED}")
    right.axvline(TARGET, color="k", lw=0.8, ls="--", label="target 70")
    right.set_yticks(list(ys), names, fontsize=7)
    right.invert_yaxis()
    right.set_xlim(FLOOR, 80)  # the legend right of every bar
    right.set_xlabel("NAB standard score")
    right.set_title("Ideas tried since round 22 (none adopted)", fontsize=10)
    right.legend(fontsize=6, loc="lower right")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/nab_quality.png"),
                        help="PNG to write (default: %(default)s)")
    args = parser.parse_args(argv)
    try:
        draw(args.out)
    except OSError as exc:
        print(f"plot_nab_quality: cannot write {args.out}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
