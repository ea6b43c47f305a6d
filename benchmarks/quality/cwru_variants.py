"""CWRU, offline: do other envelope variants or the other accelerometer carry the missing lines?

Run: ``.venv/bin/python benchmarks/quality/cwru_variants.py [--data DIR] [--channel own|other]
[--files SUBSTR,...]`` (measurement only: nothing here is used by the pipeline).

For every CWRU file of both sets (the same recordings as :mod:`benchmarks.quality.cwru`), each
1 s frame at the file's own rate is taken through the pipeline's own steps: the shaft speed
refined from the frame's spectrum (:func:`~twin_models.features.speed.refine_shaft_rows`), the
envelope band of the screened scan (:func:`~twin_models.features.band_scan.scan_bands`), the
defect-line SNRs of :func:`~twin_models.features.lines.defect_line_features` (3 harmonics,
+-1 % around the refined orders). Variants of the envelope:

- ``env``: the pipeline's envelope (|analytic signal| in the scanned band);
- ``ses``: the squared envelope in the same band;
- ``ar_env`` / ``ar_ses``: the frame pre-whitened by a linear-prediction (AR) filter first (order
  32 at 12 kHz, 64 at 48 kHz: about 2.7 ms of memory, shorter than the bearing's impact spacing,
  so impacts are kept while the shaft and gear lines and the resonances' colour are removed), then
  the envelope / squared envelope of 0.05-0.45 fs;
- ``wide_ses``: the squared envelope of 0.05-0.45 fs without whitening.

Per file and variant, two figures of BPFO / BPFI / 2xBSF / FTF: ``med`` the median over the
file's frames of each frame's SNR (what a 1-frame window sees), ``avg`` the SNR of the frames'
envelope spectra averaged (the longest averaging a twin could do per asset). Prints a table and
one JSON line.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from scipy.linalg import solve_toeplitz
from scipy.signal import lfilter

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.quality.common import frames_of  # noqa: E402
from benchmarks.quality.cwru import recordings  # noqa: E402
from benchmarks.quality.cwru_files import NOMINAL_RPM, SETS, read_channels, sample_rate_of, truth_of  # noqa: E402
from twin_models.diagnosis.bearings import defect_frequencies  # noqa: E402
from twin_models.features import _fft  # noqa: E402
from twin_models.features._spectral import hann_spectrum, raw_rfft  # noqa: E402
from twin_models.features.band_scan import scan_bands  # noqa: E402
from twin_models.features.envelope import _taper, band_bins  # noqa: E402
from twin_models.features.lines import defect_line_features, line_base_frequency  # noqa: E402
from twin_models.features.speed import line_tolerance, refine_shaft_rows  # noqa: E402

VARIANTS = ("env", "ses", "ar_env", "ar_ses", "wide_ses")
LINES = ("bpfo", "bpfi", "bsf", "ftf")


def _envelope(raw: np.ndarray, n: int, fs: float, band: tuple[float, float], squared: bool) -> np.ndarray:
    """|analytic signal| (or its square) of the band (FFT-domain band-pass, the pipeline's taper)."""
    k_lo, k_hi = band_bins(n, fs, band)
    full = np.zeros(n, dtype=np.complex128)
    full[k_lo:k_hi] = 2.0 * raw[k_lo:k_hi] * _taper(k_hi - k_lo)
    mag = np.abs(_fft.ifft(full))
    return mag * mag if squared else mag


def ar_whiten(x: np.ndarray, order: int) -> np.ndarray:
    """Residual of the order-``order`` linear predictor of ``x`` (Yule-Walker, FFT autocorrelation)."""
    x = x - x.mean()
    nfft = 1 << (2 * x.size - 1).bit_length()
    spec = np.fft.rfft(x, nfft)
    r = np.fft.irfft(np.abs(spec) ** 2, nfft)[: order + 1] / x.size
    a = solve_toeplitz(r[:order], r[1 : order + 1])
    return np.asarray(lfilter(np.r_[1.0, -a], [1.0], x)[order:], dtype=np.float64)


class FrameBasis(NamedTuple):
    """What every envelope variant of a frame starts from, by the pipeline's own steps."""

    ref: float
    """The shaft speed refined from the frame's spectrum (Hz)."""
    tol: float
    """The defect lines' relative tolerance (1 % with a refined speed, else 2 %)."""
    lines: dict[str, float]
    """The bearing's defect frequencies at ``ref``."""
    raw: np.ndarray
    """The frame's one-sided DFT."""
    min_width: float
    """The narrowest band the scan may pick: 4x the highest defect line's base frequency."""
    band: tuple[float, float]
    """The envelope band of the screened scan."""


def frame_basis(fr: np.ndarray, fs: float, shaft: float, geometry: Any) -> FrameBasis:
    """The refined speed, tolerance, defect lines, DFT and scanned band of one frame."""
    spec = hann_spectrum(fr, fs)
    ref = float(refine_shaft_rows(spec.amps[None, :], fs / fr.size, np.array([shaft]))[0])
    d = defect_frequencies(geometry, ref).as_dict()
    raw = raw_rfft(fr)
    min_width = 4.0 * max(line_base_frequency(k, v) for k, v in d.items())
    band = scan_bands(raw[None, :], fr.size, fs, np.array([min_width]))[0][0]
    return FrameBasis(ref, line_tolerance(ref != shaft), d, raw, min_width, band)


def _frame_spectra(fr: np.ndarray, fs: float, shaft: float, geometry: Any) -> dict[str, tuple[Any, ...]]:
    """Per variant: (envelope freqs, amps, refined shaft, line tolerance) of one frame."""
    ref, tol, _, raw, _, band = frame_basis(fr, fs, shaft, geometry)
    white = ar_whiten(fr, 32 if fs < 20_000 else 64)
    raw_w = raw_rfft(white)
    wide = (0.05 * fs, 0.45 * fs)
    envs = {"env": _envelope(raw, fr.size, fs, band, False), "ses": _envelope(raw, fr.size, fs, band, True),
            "ar_env": _envelope(raw_w, white.size, fs, wide, False),
            "ar_ses": _envelope(raw_w, white.size, fs, wide, True),
            "wide_ses": _envelope(raw, fr.size, fs, wide, True)}
    out = {}
    for v, e in envs.items():
        s = hann_spectrum(e, fs)  # the AR residual is shorter by the order: its own bins
        out[v] = (s.freqs, s.amps, ref, tol)
    return out


def file_figures(x: np.ndarray, fs: float, shaft: float,
                 geometry: Any) -> dict[str, dict[str, dict[str, float]]]:
    """``{variant: {"med": {line: snr}, "avg": {line: snr}}}`` of one recording's channel."""
    per: dict[str, list[dict[str, float]]] = {v: [] for v in VARIANTS}
    spectra: dict[str, list[tuple[Any, ...]]] = {v: [] for v in VARIANTS}
    for fr in frames_of(x, fs, 1.0):
        for v, (f, a, ref, tol) in _frame_spectra(fr, fs, shaft, geometry).items():
            feats = defect_line_features(f, a, defect_frequencies(geometry, ref).as_dict(), ref, rel_tol=tol)
            per[v].append({k: feats[f"env_{k}_snr"] for k in LINES})
            spectra[v].append((f, a, ref, tol))
    out = {}
    for v in VARIANTS:
        med = {k: round(float(np.median([p[k] for p in per[v]])), 2) for k in LINES}
        f = spectra[v][0][0]
        mean_amps = np.mean([s[1] for s in spectra[v]], axis=0)
        ref = float(np.mean([s[2] for s in spectra[v]]))
        feats = defect_line_features(f, mean_amps, defect_frequencies(geometry, ref).as_dict(), ref,
                                     rel_tol=spectra[v][0][3])
        out[v] = {"med": med, "avg": {k: round(feats[f"env_{k}_snr"], 2) for k in LINES}}
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Parse arguments, measure, print the table and the JSON line."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", help="datasets root holding cwru/ and cwru-fan-end/ (default $TWIN_DATASETS)")
    p.add_argument("--channel", default="own", choices=["own", "other"],
                   help="the set's own accelerometer (default) or the other one of the same file")
    p.add_argument("--files", default="", help="comma-separated substrings: only files whose name holds one")
    args = p.parse_args(argv)
    try:
        recs = recordings(args.data, "both")
    except ValueError as exc:
        p.error(str(exc))
    wanted = [s for s in args.files.split(",") if s]
    doc: dict[str, Any] = {"benchmark": "cwru_variants", "channel": args.channel, "files": {}}
    print(f"{'asset':30} {'truth':7} " + " ".join(f"{v + ' med|avg':>36}" for v in VARIANTS))
    for rec in recs:
        if wanted and not any(w in rec.path.name for w in wanted):
            continue
        xs, shaft, _ = read_channels(rec, "both")
        own = SETS[rec.set].channel.lower()
        ch = own if args.channel == "own" else next((c for c in xs if c != own), None)
        if ch is None:
            continue
        fs = sample_rate_of(rec.path.name, 12_000.0)
        figs = file_figures(xs[ch], fs, shaft or NOMINAL_RPM / 60.0, SETS[rec.set].geometry)
        doc["files"][rec.asset] = {"truth": truth_of(rec.path.name), "channel": ch, **figs}
        cells = [" ".join("/".join(f"{figs[v][s][k]:.1f}" for k in LINES) for s in ("med", "avg"))
                 for v in VARIANTS]
        truth = truth_of(rec.path.name) or "?"
        print(f"{rec.asset[:30]:30} {truth:7} " + " ".join(f"{c:>36}" for c in cells))
    print(json.dumps(doc))
    return doc


if __name__ == "__main__":
    main()
