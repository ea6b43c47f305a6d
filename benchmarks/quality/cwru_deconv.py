"""CWRU + IMS, offline: do cepstral pre-whitening (CPW) or deconvolution (MED, MOMEDA) put the
missing defect lines into the fan-end misses without raising them on healthy bearings?

Run: ``.venv/bin/python benchmarks/quality/cwru_deconv.py [--data DIR] [--files SUBSTR,...]
[--no-ims] [--no-momeda] [--momeda-window W]`` (measurement only: nothing here is used by the pipeline).

Every CWRU file of both sets (the recordings of :mod:`benchmarks.quality.cwru`, each set's own
accelerometer, 1 s frames at the file's own rate) and every bearing of the IMS sample records
(0.256 s frames, the IMS benchmark's frames) is taken through the pipeline's own steps (refined
shaft speed, the screened SK band scan, :func:`~twin_models.features.lines.defect_line_features`
with 3 harmonics and the refined tolerance), with these envelope variants:

- ``env``: the pipeline's envelope (|analytic signal| of the scanned band), the reference;
- ``cpw_env``: cepstral pre-whitening first (the real cepstrum zeroed except c0, i.e. the one-sided
  spectrum divided by its own magnitude: ``x_w = irfft(X / |X|)``; Randall & Antoni 2011, Sawalhi
  & Randall), then the envelope of the band the pipeline's scan picks on the raw spectrum;
- ``cpw_scan``: CPW, then the band the same scan picks on the whitened spectrum;
- ``cpw_ses``: CPW, then the squared envelope of 0.05-0.45 fs (Smith & Randall 2015's benchmark
  method: CPW + squared envelope spectrum of the whole band);
- ``med_env``: minimum entropy deconvolution (Wiggins 1978; iterative, FIR length 30 samples at
  12 kHz, scaled with the rate: 2.5 ms, shorter than every defect period here), then the envelope
  of 0.05-0.45 fs of the deconvolved frame.

And MOMEDA (McDonald & Zhao 2017, the non-iterative deconvolution for a known period): for a
target impulse train of period ``T`` samples and an FIR filter of ``L`` taps (``L`` >= 1.2 x the
longest candidate period, so the train's phase needs no search), the optimal filter is
``f = R^-1 g`` with ``R`` the frame's ``L x L`` autocorrelation matrix and ``g[l] = sum_k
x[p_k - l]``; its multi D-norm is ``MDN = sqrt(g' R^-1 g / K)`` (K impulses). One Cholesky per
frame, then one triangular solve per candidate period. Per defect (BPFO, BPFI, 2xBSF) the largest
MDN over its period +- the pipeline's line tolerance (1 % with a refined speed, else 2 %; the
grid fine enough that the train drifts under half a sample over the frame) is divided by the
median MDN of a period scan from 1.5x to 8x shaft
(``mom_<defect>``: ~1 where no period stands out); ``mom_best`` names the defect whose
ratio is largest (the localisation test of the brief).

Per file: the median over its frames of each figure (a 1-frame window's view). Prints a table and
one JSON line.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
from scipy.linalg import cho_factor, cho_solve
from scipy.signal import fftconvolve

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.quality.common import frames_of, resolve_data_dir  # noqa: E402
from benchmarks.quality.cwru import recordings  # noqa: E402
from benchmarks.quality.cwru_files import NOMINAL_RPM, SETS, read_channels, sample_rate_of, truth_of  # noqa: E402
from benchmarks.quality.cwru_variants import _envelope, frame_basis  # noqa: E402
from twin_models.features._spectral import hann_spectrum, raw_rfft  # noqa: E402
from twin_models.features.band_scan import scan_bands  # noqa: E402
from twin_models.features.lines import defect_line_features, line_base_frequency  # noqa: E402
from twin_models.records import BearingGeometry  # noqa: E402

VARIANTS = ("env", "cpw_env", "cpw_scan", "cpw_ses", "med_env")
LINES = ("bpfo", "bpfi", "bsf", "ftf")
MOM = ("bpfo", "bpfi", "bsf")
MOM_SCAN = 400
ZA_2115 = BearingGeometry(n_elements=16, ball_diameter_mm=8.4074, pitch_diameter_mm=71.501,
                          contact_angle_deg=15.17)
IMS_FS, IMS_SHAFT = 20_000.0, 2000.0 / 60.0
IMS_FAILED = {(2, 1), (3, 3)}


def cpw(raw: np.ndarray) -> np.ndarray:
    """Cepstral pre-whitening of a one-sided DFT: unit magnitude, phase kept (DC and zeros 0)."""
    mag = np.abs(raw)
    out = np.zeros_like(raw)
    ok = mag > 1e-12 * max(float(mag.max()), 1e-300)
    out[ok] = raw[ok] / mag[ok]
    out[0] = 0.0
    return out


def _xcorr(a: np.ndarray, b: np.ndarray, taps: int) -> np.ndarray:
    """``out[l] = sum_n a[n] b[n - l]`` for l = 0..taps-1 (FFT)."""
    full = fftconvolve(a, b[::-1])
    return np.asarray(full[b.size - 1 : b.size - 1 + taps], dtype=np.float64)


def _autocorr_factor(x: np.ndarray, taps: int) -> Any:
    """Cholesky factor of the ``taps x taps`` (Toeplitz) autocorrelation matrix of ``x``."""
    r = _xcorr(x, x, taps)
    idx = np.abs(np.arange(taps)[:, None] - np.arange(taps)[None, :])
    return cho_factor(r[idx] + 1e-9 * r[0] * np.eye(taps))


def med(x: np.ndarray, taps: int, iterations: int = 30) -> np.ndarray:
    """Wiggins' minimum entropy deconvolution: the FIR filter maximising the output's kurtosis."""
    x = x - x.mean()
    n = x.size
    c = _autocorr_factor(x, taps)
    f = np.zeros(taps)
    f[taps // 2] = 1.0
    y = x
    for _ in range(iterations):
        y = fftconvolve(x, f)[:n]
        y3 = y**3
        # b[l] = sum_n y[n]^3 x[n - l]
        b = _xcorr(y3, x, taps)
        f = cho_solve(c, b)
        f /= np.linalg.norm(f)
    return np.asarray(fftconvolve(x, f)[:n][taps:], dtype=np.float64)


def momeda_mdn(x: np.ndarray, periods: np.ndarray, taps: int, window: int = 0) -> np.ndarray:
    """MOMEDA's multi D-norm of ``x`` for each target period (samples), filter of ``taps`` taps;
    ``window`` > 0: each target impulse is a rectangle of ``2 window + 1`` samples (McDonald's
    windowed target, tolerating that many samples of jitter)."""
    x = x - x.mean()
    n = x.size
    c = _autocorr_factor(x, taps)
    lags = np.arange(taps)
    g = np.empty((taps, periods.size))
    ks = np.empty(periods.size)
    spread = np.arange(-window, window + 1)
    for j, t in enumerate(periods):
        pos = np.round(taps + window + np.arange(0.0, n - taps - 2 * window, t)).astype(int)
        pos = (pos[:, None] + spread[None, :]).ravel()
        pos = pos[pos < n]
        g[:, j] = x[pos[:, None] - lags[None, :]].sum(axis=0)
        ks[j] = pos.size
    q = np.einsum("ij,ij->j", g, cho_solve(c, g))
    return np.sqrt(np.maximum(q, 0.0) / ks)


def frame_figures(fr: np.ndarray, fs: float, shaft: float, geometry: BearingGeometry,
                  window: int = 0, momeda: bool = True) -> dict[str, Any]:
    """``{variant: {line: snr}}``, ``{"kurt": {signal: kurtosis}}`` and ``{"mom": {defect:
    ratio}}`` (NaN without ``momeda``) of one frame."""
    ref, tol, d, raw, min_width, band = frame_basis(fr, fs, shaft, geometry)
    white = cpw(raw)
    wband = scan_bands(white[None, :], fr.size, fs, np.array([min_width]))[0][0]
    wide = (0.05 * fs, 0.45 * fs)
    deconv = med(fr, max(8, int(round(0.0025 * fs))))
    envs = {"env": (_envelope(raw, fr.size, fs, band, False), fs),
            "cpw_env": (_envelope(white, fr.size, fs, band, False), fs),
            "cpw_scan": (_envelope(white, fr.size, fs, wband, False), fs),
            "cpw_ses": (_envelope(white, fr.size, fs, wide, True), fs),
            "med_env": (_envelope(raw_rfft(deconv), deconv.size, fs, wide, False), fs)}
    out: dict[str, Any] = {}
    for v, (e, _) in envs.items():
        s = hann_spectrum(e, fs)
        feats = defect_line_features(s.freqs, s.amps, d, ref, rel_tol=tol)
        out[v] = {k: feats[f"env_{k}_snr"] for k in LINES}
    # impulsiveness (kurtosis, Gaussian 3) of the frame, of its CPW over 0.05-0.45 fs (the
    # discrete lines that hold a raw kurtosis down removed) and of the MED output
    k = np.arange(raw.size) * fs / fr.size
    white_band = np.fft.irfft(white * ((k > wide[0]) & (k < wide[1])), fr.size)
    out["kurt"] = {"raw": _kurt(fr), "cpw": _kurt(white_band), "med": _kurt(deconv)}
    if not momeda:
        out["mom"] = dict.fromkeys(MOM, float("nan"))
        return out
    # MOMEDA period scan
    base = {k: fs / line_base_frequency(k, d[k]) for k in MOM}
    # the floor: the median over periods 1.5x..8x shaft (a coarse grid: any period between lines
    # is noise-like); each defect: the largest over its period +- the pipeline's line tolerance
    # (1 % with a refined speed, else 2 %), on a grid fine enough that
    # the train drifts less than half a sample over the frame (step T / (2 n))
    scan = np.geomspace(fs / (8.0 * ref), fs / (1.5 * ref), MOM_SCAN)
    cand = {k: np.arange((1.0 - tol) * base[k], (1.0 + tol) * base[k], base[k] / (2.0 * fr.size))
            for k in MOM}
    periods = np.concatenate([scan, *cand.values()])
    taps = int(np.ceil(1.2 * periods.max()))
    mdn = momeda_mdn(fr, periods, taps, window)
    floor = float(np.median(mdn[: scan.size]))
    off = scan.size
    mom = {}
    for k in MOM:
        mom[k] = float(mdn[off : off + cand[k].size].max()) / floor
        off += cand[k].size
    out["mom"] = mom
    return out


def _kurt(x: np.ndarray) -> float:
    """Kurtosis (3 for Gaussian noise)."""
    c = x - x.mean()
    m2 = float(np.mean(c * c))
    return float(np.mean(c**4)) / (m2 * m2) if m2 > 0.0 else 0.0


def summarise(frames: list[dict[str, Any]]) -> dict[str, Any]:
    """Median over frames of every figure, and the defect MOMEDA names most often."""
    out: dict[str, Any] = {}
    for v in (*VARIANTS, "mom", "kurt"):
        keys = frames[0][v].keys()
        out[v] = {k: round(float(np.median([f[v][k] for f in frames])), 2) for k in keys}
    out["kurt_max"] = {k: round(float(np.max([f["kurt"][k] for f in frames])), 2) for k in frames[0]["kurt"]}
    best = [max(MOM, key=lambda k, f=f: f["mom"][k]) for f in frames]
    out["mom_best"] = max(MOM, key=best.count) if np.isfinite(frames[0]["mom"]["bpfo"]) else "-"
    return out


def cwru_rows(data: str | None, wanted: list[str], window: int = 0, momeda: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for rec in recordings(data, "both"):
        if wanted and not any(w in rec.path.name for w in wanted):
            continue
        xs, shaft, _ = read_channels(rec, "own")
        x = next(iter(xs.values()))
        fs = sample_rate_of(rec.path.name, 12_000.0)
        geometry = SETS[rec.set].geometry
        frames = [frame_figures(fr, fs, shaft or NOMINAL_RPM / 60.0, geometry, window, momeda)
                  for fr in frames_of(x, fs, 1.0)]
        out[rec.asset] = {"set": rec.set, "truth": truth_of(rec.path.name), **summarise(frames)}
    return out


def ims_rows(data: str | None, window: int = 0, momeda: bool = True) -> dict[str, Any]:
    """The IMS sample records' rows; a ValueError naming the folder when it holds none."""
    try:
        root = resolve_data_dir(data, "ims-samples", "20*")
    except SystemExit as exc:  # the shared helper's message, for one line and exit 2 in main
        msg = f"IMS samples: {exc.code} (or skip them with --no-ims)"
        raise ValueError(msg) from None
    records = [p for p in sorted(root.iterdir())
               if re.match(r"^\d{4}\.\d{2}\.\d{2}\.\d{2}\.\d{2}\.\d{2}$", p.name)]
    if not records:
        msg = f"no IMS sample records (files named YYYY.MM.DD.hh.mm.ss) in {root} (or use --no-ims)"
        raise ValueError(msg)
    out: dict[str, Any] = {}
    for path in records:
        arr = np.loadtxt(path, ndmin=2)
        test_set = 1 if arr.shape[1] == 8 else (2 if path.name.startswith("2004.02") else 3)
        cols = range(0, 8, 2) if arr.shape[1] == 8 else range(arr.shape[1])
        for b, col in enumerate(cols, start=1):
            frames = [frame_figures(fr, IMS_FS, IMS_SHAFT, ZA_2115, window, momeda)
                      for fr in frames_of(arr[:, col], IMS_FS, 0.256)]
            truth = "bpfo" if (test_set, b) in IMS_FAILED else "healthy"
            out[f"ims-{path.name}-s{test_set}b{b}"] = {"set": "ims", "truth": truth, **summarise(frames)}
    return out


MISSES = ("OR007@12_", "OR007@3_")
CALLED_HEALTHY = ("OR007@3_1", "OR007@3_2", "OR007@3_3", "OR007@12_0", "Drive_End_B007_0")


def verdict_summary(rows: dict[str, Any], bar: float = 4.0) -> dict[str, dict[str, Any]]:
    """Per envelope variant, with the pipeline's bar (``defect_min_snr`` 4) on the median frame:
    IR/OR files whose true line is at the bar and the strongest race line (``race_right``), the 8
    fan-end misses among them, IR/OR files with a wrong race line at the bar above the true one,
    ball files with a race line at the bar, and the largest line of any healthy CWRU file or
    healthy IMS bearing (and how many of them reach the bar). Also the kurtosis medians."""
    out: dict[str, dict[str, Any]] = {}
    race = ("bpfo", "bpfi")
    for v in VARIANTS:
        right = misses = wrong = ball_race = healthy_hits = 0
        n_race = n_miss = n_ball = n_healthy = 0
        healthy_max = 0.0
        for asset, r in rows.items():
            snr, truth = r[v], r["truth"]
            if r["set"] == "ims" and truth != "healthy":
                continue  # the failing IMS bearings: in the table, not counted
            if truth in race:
                n_race += 1
                other = "bpfi" if truth == "bpfo" else "bpfo"
                ok = snr[truth] >= bar and snr[truth] >= snr[other]
                right += ok
                wrong += snr[other] >= bar and snr[other] > snr[truth]
                if r["set"] == "fan-end" and any(m in asset for m in MISSES):
                    n_miss += 1
                    misses += ok
            elif truth == "bsf":
                n_ball += 1
                ball_race += max(snr[k] for k in race) >= bar
            elif truth == "healthy":
                n_healthy += 1
                top = max(snr[k] for k in ("bpfo", "bpfi", "bsf"))
                healthy_max = max(healthy_max, top)
                healthy_hits += top >= bar
        out[v] = {"race_right": f"{right}/{n_race}", "misses_found": f"{misses}/{n_miss}",
                  "wrong_race": wrong, "ball_with_race_line": f"{ball_race}/{n_ball}",
                  "healthy_max": round(healthy_max, 2), "healthy_at_bar": f"{healthy_hits}/{n_healthy}"}
    healthy = [r for r in rows.values() if r["truth"] == "healthy"]
    called = {a: r for a, r in rows.items() if any(c in a for c in CALLED_HEALTHY)}
    for sig in ("raw", "cpw", "med"):
        out[f"kurt_{sig}"] = {"healthy_max": max((r["kurt"][sig] for r in healthy), default=float("nan")),
                              "called_healthy": ", ".join(f"{r['kurt'][sig]:.2f}" for r in called.values())}
    return out


def _fail(problem: str) -> NoReturn:
    """A bad argument or missing data: one line naming it, exit 2."""
    print(f"cwru_deconv: {problem}", file=sys.stderr)
    raise SystemExit(2)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Parse arguments, measure, print the table and the JSON line."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", help="datasets root (default $TWIN_DATASETS)")
    p.add_argument("--files", default="",
                   help="comma-separated substrings: only CWRU files whose name holds one")
    p.add_argument("--no-ims", action="store_true", help="skip the IMS sample records")
    p.add_argument("--no-momeda", action="store_true", help="skip MOMEDA (the slow part)")
    p.add_argument("--momeda-window", type=int, default=0,
                   help="MOMEDA target half-width in samples (0: one-sample impulses)")
    args = p.parse_args(argv)
    wanted = [s for s in args.files.split(",") if s]
    if args.momeda_window < 0:
        _fail(f"--momeda-window must be >= 0, got {args.momeda_window}")
    try:
        rows = cwru_rows(args.data, wanted, args.momeda_window, not args.no_momeda)
        if not args.no_ims:
            rows.update(ims_rows(args.data, args.momeda_window, not args.no_momeda))
    except ValueError as exc:
        _fail(str(exc))
    print(f"{'asset':34} {'truth':7} " + " ".join(f"{v:>19}" for v in (*VARIANTS, "mom o/i/b", "kurt r/c/m"))
          + "  best")
    for asset, r in rows.items():
        cells = ["/".join(f"{r[v][k]:.1f}" for k in (MOM if v == "mom" else LINES[:3]))
                 for v in (*VARIANTS, "mom")]
        cells.append("/".join(f"{r['kurt'][k]:.1f}" for k in ("raw", "cpw", "med")))
        truth = r["truth"] or "?"
        print(f"{asset[:34]:34} {truth:7} " + " ".join(f"{c:>19}" for c in cells) + f"  {r['mom_best']}")
    summary = verdict_summary(rows)
    for v, fig in summary.items():
        print(f"{v:9} " + ", ".join(f"{k} {x}" for k, x in fig.items()))
    doc = {"benchmark": "cwru_deconv", "momeda_window": args.momeda_window, "summary": summary, "files": rows}
    print(json.dumps(doc))
    return doc


if __name__ == "__main__":
    main()
