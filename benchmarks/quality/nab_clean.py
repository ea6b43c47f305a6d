"""NAB: the rungs' references kept clean of their own alarms (SPOT's rule).

Run: ``.venv/bin/python benchmarks/quality/nab_clean.py [--flags {self,config}] [--data DIR]
[--config FILE] [--cache-dir DIR] [--no-progress]``

Issue 13, round 48 (NAB48; design and adoption rule in RESULTS.md before the first run). A rung's
p-value is the rank of the newest subsequence's nearest-neighbour distance among the stored
subsequences' own nearest-neighbour distances (its references), with an exponential tail beyond
the largest. Today every past incident's subsequences stay among the references: one alarm of a
rung of ``m`` rows leaves up to ``m`` overlapping subsequences far from anything normal at the top
of the references, where they set the tail, and a second incident is judged against the first.
A rank (conformal) p-value wants inliers as its references (Bates, Candes, Lei, Romano and Sesia,
"Testing for outliers with conformal p-values", Ann. Statist. 2023), and SPOT / DSPOT (Siffer,
Fouque, Termier and Largouet, KDD 2017) keep a stream's alarms out of the peaks their tail is
fitted to. Here a rung flags a row when its own p alone makes the row an alarm, ``p <= ALARM_P / K``
(``K`` the channels Bonferroni divides by); a subsequence containing a row the rung flagged stays
stored and searched as a neighbour, but leaves the references. Everything else is the config's.
The config's rows and the variant's are each scored in every regime of ``nab_fixed.py`` and
``nab_diagnose.py``'s losses name the windows gained and lost (:func:`nab_twins.compare`). Final
line: JSON.

``--flags config`` (round 48, NAB48B): NAB48's rung flagged rows by its OWN p, so a flag took the
next subsequences out of the references, the rows after it got tiny p and were flagged in turn (the
exclusion fed itself). With ``config`` the flagged rows are the config's: a row is flagged on a rung
when that rung's p with every stored subsequence as a reference (today's p, the config's channel) is
at most ``ALARM_P / K`` (:class:`ConfigFlags`); the variant's own p never extends the exclusion.
"""

from __future__ import annotations

import argparse
import sys
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.quality.nab_ladder import RESOLUTION, TAIL_K, OfflineCorpus, rung_channel  # noqa: E402
from benchmarks.quality.nab_twins import compare  # noqa: E402
from twin_models.anomaly.event_gate import ALARM_P  # noqa: E402
from twin_models.anomaly.novelty import SubsequenceNovelty  # noqa: E402


class CleanReferences(SubsequenceNovelty):
    """:class:`SubsequenceNovelty` whose references leave out the subsequences that contain a row
    this rung flagged (its p at most ``cut``).

    ``p_value`` notes whether the row it scores is flagged; ``learn`` counts the rows since the last
    flagged one (``since``, that row included: 0) and marks the subsequence it stores clean when
    none of its ``m`` rows was flagged (``since >= m``). Rows never scored are never flagged.
    """

    def __init__(self, m: int, d: int, history: int = 4000, k: int = 20, min_samples: int = 50,
                 cut: float = 0.0):
        super().__init__(m, d, history, k, min_samples)
        self.cut = cut
        self._clean = np.ones(history, dtype=bool)
        self.since = 2**62  # rows since the last flagged one
        self._flagged = False  # the row last scored

    def references(self) -> npt.NDArray[np.float64]:
        """The stored squared nearest-neighbour distances, the unclean ones as inf (not counted)."""
        held = min(self.n, self.history)
        out: npt.NDArray[np.float64] = np.where(self._clean[:held], self._nn[:held], np.inf)
        return out

    def p_value(self, dist: npt.NDArray[np.float64] | None, floor: float) -> tuple[float, float]:
        """The parent's rank p-value and tail among the clean references; the row flagged or not."""
        kept = self._nn
        held = min(self.n, self.history)
        self._nn = np.concatenate([self.references(), kept[held:]])
        try:
            stat, p = super().p_value(dist, floor)
        finally:
            self._nn = kept
        self._flagged = p <= self.cut
        return stat, p

    def learn(self, x: float, v: npt.NDArray[np.float64] | None,
              dist: npt.NDArray[np.float64] | None) -> None:
        """The parent's; the stored subsequence marked clean when no row of it was flagged."""
        self.since = 0 if self._flagged else self.since + 1
        self._flagged = False
        j, before = self.n % self.history, self.n
        super().learn(x, v, dist)
        if self.n > before:
            self._clean[j] = self.since >= self.m


class ConfigFlags(CleanReferences):
    """:class:`CleanReferences` whose flagged rows are given (``flags``, one bool per row, e.g. the
    config's own ``p <= cut``) instead of taken from its own p: a stored subsequence leaves the
    references when one of its ``m`` rows is in ``flags``, whatever p this variant gives.

    Rows are counted by ``learn`` (the twin's order: each row scored, then learnt once); rows past
    the end of ``flags`` are not flagged.
    """

    def __init__(self, m: int, d: int, history: int = 4000, k: int = 20, min_samples: int = 50,
                 flags: npt.ArrayLike = ()):
        super().__init__(m, d, history, k, min_samples, cut=0.0)
        self.flags = np.asarray(flags, dtype=bool)
        self.row = 0  # the row being learnt (rows learnt before it)

    def learn(self, x: float, v: npt.NDArray[np.float64] | None,
              dist: npt.NDArray[np.float64] | None) -> None:
        """The parent's, the row flagged as ``flags`` says (its own p ignored)."""
        self._flagged = bool(self.row < self.flags.size and self.flags[self.row])
        self.row += 1
        super().learn(x, v, dist)


def alarm_cut(channels: int) -> float:
    """The p at which one channel alone makes a row an alarm: ``ALARM_P`` over Bonferroni's ``K``."""
    return ALARM_P / channels


def clean_channels(corpus: OfflineCorpus, flags: str = "self") -> dict[str, np.ndarray]:
    """Per file: the value tails, then one clean-reference column per rung of the config's ladder;
    the flagged rows the rung's own (``flags="self"``, NAB48) or the config's (``"config"``, NAB48B)."""
    nov, warmup = corpus.nov, corpus.warmup
    cut = alarm_cut(2 + len(nov.scales))  # one feature: its two value tails and one per rung

    def channel(k: str, m: int, d: int) -> np.ndarray:
        if flags == "config":  # today's p of this rung: the config's channel
            novelty = partial(ConfigFlags, flags=corpus.rung(m, d)[k] <= cut)
        else:
            novelty = partial(CleanReferences, cut=cut)
        return rung_channel(corpus.vals[k], corpus.tails[k][:, 2], warmup, m, d, nov.history, TAIL_K, novelty)

    tag = "rung-clean" if flags == "self" else f"rung-clean-{flags}-flags"
    rungs = [corpus.cached([tag, warmup, m, d, nov.history, TAIL_K, RESOLUTION, cut],
                           lambda k, m=m, d=d: channel(k, m, d), f"clean rung {m}x{d} ({flags} flags)")
             for m, d in nov.scales]
    return {k: np.concatenate([corpus.tails[k][:, :2], *(r[k][:, None] for r in rungs)], axis=1)
            for k in corpus.series}


FLAGS = {"self": "clean references", "config": "clean of the config's flags"}
FLAGS_HELP = "rows flagged by the variant's own p (NAB48) or by the config's (NAB48B)"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """The config and the clean-reference variant (``--flags``: whose flags, the rung's own or the
    config's): every regime, and windows gained / lost; JSON last."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--flags", choices=list(FLAGS), default="self",
                     help=FLAGS_HELP)
    args, rest = pre.parse_known_args(argv)
    # compare's parser prints --help: its description names --flags too
    about = f"{(__doc__ or '').splitlines()[0]} Also --flags {{self,config}} (default self): {FLAGS_HELP}."
    return compare("nab_clean", about, FLAGS[args.flags],
                   partial(clean_channels, flags=args.flags), rest)


if __name__ == "__main__":
    main()
