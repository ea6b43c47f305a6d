""":func:`frame_features_batch`: the features of many equal-length frames at once, the same values
as :func:`~twin_models.features.frame.frame_features` frame by frame: to float rounding, except the
envelope features (``env_*``), computed in single precision (:func:`_single_raw`; within 2e-5
relative of the float64 reference, on the same envelope band).

Why: per frame, ``frame_features`` makes about a hundred small numpy/scipy calls (two FFTs, a
band scan of ~35 inverse FFTs, the envelope's FFTs, band sums), each paying Python and dispatch
overhead on a 4096-sample array. Over a 2-D array of frames each of those becomes one call for the
batch: one rfft for all frames, one inverse FFT per candidate band for all frames (the screened
scan of :mod:`~twin_models.features.band_scan`), one envelope transform per distinct envelope
band. Only the line features (a few bins around each line, per frame's own shaft speed) stay per
frame.

Each frame keeps its own settings (:class:`FrameSpec`: shaft speed, bearing geometry, envelope
band), so a batch may mix assets; only the sample rate and the frame length are shared.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from twin_models.diagnosis.bearings import defect_frequencies
from twin_models.features import _fft
from twin_models.features._line_rows import HARMONICS, defect_lines_rows, line_amplitude_rows
from twin_models.features._rows import (
    as_frames,
    envelope_rows,
    hann_rows,
    refuse_non_finite,
    sk_rows,
    time_rows,
)
from twin_models.features._spectral import MIN_SPECTRUM_SAMPLES, ComplexArray, FloatArray, check_fs
from twin_models.features.band_scan import scan_bands
from twin_models.features.envelope import band_bins, fallback_band, scale_ok, scale_problem
from twin_models.features.fft import band_name, default_bands
from twin_models.features.frame import ENVELOPE_WIDTH_FACTOR, FEATURES_IN
from twin_models.features.lines import DEFECT_LINE_REL_TOL, line_base_frequency
from twin_models.features.speed import line_tolerance, refine_shaft_rows
from twin_models.records import BearingGeometry
from twin_models.text import and_more

__all__ = ["FrameSpec", "OutOfScale", "frame_features_batch"]

Band = tuple[float, float]
AnyComplex = npt.NDArray[np.complex64] | ComplexArray


@dataclass(frozen=True, slots=True)
class FrameSpec:
    """One frame's settings: ``frame_features``'s keyword arguments except ``bands``."""

    shaft_hz: float | None = None
    geometry: BearingGeometry | None = None
    envelope_band: Band | None = None


class OutOfScale(ValueError):
    """Frames of a batch whose features cannot be computed at their scale (round 41, TIDY41b; see
    :data:`~twin_models.features.frame.FEATURES_IN`): ``rows`` (their indices) and ``deviations``
    (each one's largest deviation from its mean). The message is the first's, as ``frame_features``
    words it for one frame, naming it ``frame <row>``."""

    def __init__(self, rows: list[int], deviations: list[float]) -> None:
        self.rows, self.deviations = rows, deviations
        more = and_more(len(rows), 1, "frame")
        more = f" ({more.lstrip()})" if more else ""
        super().__init__(scale_problem(deviations[0], f"frame {rows[0]}", FEATURES_IN) + more)


def frame_features_batch(
    frames: npt.ArrayLike,
    fs: float,
    specs: Sequence[FrameSpec] | None = None,
    *,
    bands: Sequence[Band] | None = None,
    moments: dict[str, FloatArray] | None = None,
) -> list[dict[str, float]]:
    """``[frame_features(row, fs, **spec, bands=bands) for row, spec in zip(frames, specs)]``,
    computed over the 2-D array ``frames`` (one frame per row); ``specs=None``: no settings.

    Same keys in the same order and the same values to float rounding (``env_*``: to single
    precision, see :func:`_single_raw`); invalid input raises ``ValueError`` naming the offending
    frame (row index) or value; frames out of scale, :class:`OutOfScale` naming them all (the
    caller may compute the others without them).

    ``moments``: a dict to fill with each row's ``mean``, ``std`` (population), ``max`` and ``min``
    (float64), found on the way: what :func:`~twin_models.quality.stats.frame_quality` needs, the
    same values to the bit as ``x.mean(axis=1, dtype=np.float64)`` and ``x.std(...)`` of the frames
    (the same sums in the same order), so the data-quality figures need no pass of their own
    (round 43, PERF43: those passes were ~10 % of the featurization's CPU).
    """
    x = as_frames(frames, min_len=MIN_SPECTRUM_SAMPLES, finite=False)
    hi, lo = x.max(axis=1), x.min(axis=1)
    refuse_non_finite(x, np.isfinite(hi) & np.isfinite(lo))  # no pass of its own: see there
    fs = check_fs(fs)
    rows, n = x.shape
    specs = list(specs) if specs is not None else [FrameSpec()] * rows
    if len(specs) != rows:
        msg = f"got {len(specs)} frame specs for {rows} frames"
        raise ValueError(msg)
    defects = [_defects(i, s) for i, s in enumerate(specs)]
    with np.errstate(over="ignore", invalid="ignore"):  # a sum past the float64 limit: inf, refused
        mean = x.mean(axis=1)
        # the peak |sample| of the centred rows, exactly: rounding is monotonic, so max(x - m) = max(x) - m
        peak = np.maximum(np.maximum(hi - mean, mean - lo), 0.0)
    if not (ok := scale_ok(peak)).all():
        bad = np.flatnonzero(~ok).tolist()
        raise OutOfScale(bad, peak[bad].tolist())
    centred = x - mean[:, None]
    columns = time_rows(centred, mean, hi, lo, moments)
    if moments is not None:
        moments.update(mean=mean, max=hi, min=lo)
    spectrum = _fft.rfft(centred, axis=1)  # the one transform of the rows (round 45, PERF45)
    del centred  # 2 MB back before the spectra's temporaries
    amps, power = hann_rows(spectrum, n)
    specs, defects, tolerance = _refined_speeds(specs, defects, amps, fs / n)
    columns.update(_band_rms_rows(power, n, fs, default_bands(fs) if bands is None else bands))
    freqs = np.arange(amps.shape[1], dtype=np.float64) * (fs / n)
    total = amps.sum(axis=1)
    columns["spectral_centroid_hz"] = np.divide(np.einsum("ij,j->i", amps, freqs), total,
                                                out=np.zeros(rows), where=total > 0.0)
    scale, raw = _single_raw(spectrum, peak)
    chosen, sk = _envelope_bands(raw, n, fs, specs, defects)
    lined = [i for i, s in enumerate(specs) if s.shaft_hz is not None]
    env = _lined_envelopes(raw, scale, chosen, lined, specs, defects, n, fs, sk)
    _missing_sk(raw, n, fs, chosen, sk)
    columns["env_kurtosis"] = sk + 2.0
    names = list(columns)
    table = np.column_stack([columns[k] for k in names]).tolist() if rows else []
    out = [dict(zip(names, values, strict=True)) for values in table]
    _line_features(out, specs, defects, amps, env, lined, fs / n, tolerance)
    return out


def _single_raw(spectrum: ComplexArray, peak: FloatArray) -> tuple[FloatArray, npt.NDArray[np.complex64]]:
    """``(scale, raw)``: each row's ``peak`` |sample| (1 for a zero row) and the unwindowed DFT of
    the row (``spectrum``, float64) divided by it, rounded to single precision: the input of the
    envelope band scan, its spectral kurtosis and the envelope spectra.

    Why single precision: these transforms (a band scan of ~30 inverse FFTs, the exact SK of a
    few bands, a full-length envelope and its spectrum per frame) were ~60 % of the
    featurization, and single-precision FFTs run ~2x faster. Their results (a kurtosis, line
    amplitudes and SNRs) change by ~1e-6 relative, far below their frame-to-frame spread; the
    band choice compares SK significances with ~1e-5 resolution (``benchmarks/RESULTS.md``,
    "Waveform path, round 3"). Dividing by the peak keeps every power in range whatever the
    units; the envelope amplitudes are scaled back. Since round 45 (PERF45) the DFT is the
    float64 one the Hann spectrum is made from (:func:`~twin_models.features._rows.hann_rows`),
    rounded once, not a single-precision transform of its own: closer to the float64
    reference, one transform fewer."""
    scale = np.where(peak > 0.0, peak, 1.0)
    raw = np.empty(spectrum.shape, dtype=np.complex64)  # divided in float64, rounded once: as astype
    # the real and imaginary parts divided as reals (a complex division by a real is the same
    # quotients, at ~3x the cost)
    np.divide(spectrum.view(np.float64), scale[:, None], out=raw.view(np.float32), casting="same_kind")
    return scale, raw


def _defects(row: int, spec: FrameSpec) -> dict[str, float]:
    """The frame's defect frequencies (empty without geometry and shaft speed); checks shaft_hz."""
    if spec.shaft_hz is not None and not spec.shaft_hz > 0.0:
        msg = f"shaft_hz must be positive when given, got {spec.shaft_hz!r} (frame {row})"
        raise ValueError(msg)
    if spec.geometry and spec.shaft_hz:
        return defect_frequencies(spec.geometry, spec.shaft_hz).as_dict()
    return {}


def _refined_speeds(specs: list[FrameSpec], defects: list[dict[str, float]], amps: FloatArray,
                    df: float) -> tuple[list[FrameSpec], list[dict[str, float]], FloatArray]:
    """Specs and defect frequencies at each frame's shaft speed refined from its spectrum
    (:func:`~twin_models.features.speed.refine_shaft_rows`; frames without a speed unchanged),
    and each frame's defect-line tolerance (:func:`~twin_models.features.speed.line_tolerance`)."""
    tolerance = np.full(len(specs), DEFECT_LINE_REL_TOL)
    lined = [i for i, s in enumerate(specs) if s.shaft_hz is not None]
    if not lined:
        return specs, defects, tolerance
    nominal = np.array([float(specs[i].shaft_hz) for i in lined])  # type: ignore[arg-type]
    refined = refine_shaft_rows(amps[lined], df, nominal).tolist()
    specs, defects = list(specs), list(defects)
    for i, old, new in zip(lined, nominal.tolist(), refined, strict=True):
        tolerance[i] = line_tolerance(new != old)
        if new != old:
            specs[i] = replace(specs[i], shaft_hz=new)
            defects[i] = _defects(i, specs[i])
    return specs, defects, tolerance


def _band_rms_rows(power: FloatArray, n: int, fs: float, bands: Sequence[Band]) -> dict[str, FloatArray]:
    """``fft.band_rms_from_spectrum`` for every row (the bins are the same for all rows): each
    row's band power the pairwise sum of its slice, as there (round 45, PERF45: no ``cumsum``
    over every bin)."""
    size = power.shape[1]
    df = float(fs / n)
    out: dict[str, FloatArray] = {}
    for lo, hi in bands:
        if not (0.0 <= lo < hi):
            msg = f"band edges must satisfy 0 <= lo < hi, got ({lo!r}, {hi!r})"
            raise ValueError(msg)
        k_lo = min(size, math.ceil(lo / df - 1e-9))
        k_hi = size if hi >= fs / 2.0 else math.ceil(hi / df - 1e-9)
        k_hi = min(size, max(k_lo, k_hi))
        out[band_name((lo, hi))] = np.sqrt(power[:, k_lo:k_hi].sum(axis=1))
    return out


def _envelope_bands(
    raw: AnyComplex, n: int, fs: float, specs: Sequence[FrameSpec], defects: Sequence[dict[str, float]]
) -> tuple[list[Band], FloatArray]:
    """Each frame's envelope band (given, or scanned by :func:`~twin_models.features.band_scan.scan_bands`
    as ``frame._envelope_band`` does) and the spectral kurtosis of its complex envelope there when
    the scan computed it; NaN where it did not (a given band, the fallback band): the envelope
    spectra (:func:`_lined_envelopes`) or :func:`_missing_sk` give those."""
    rows = len(specs)
    chosen: list[Band] = [fallback_band(fs)] * rows
    sk = np.full(rows, math.nan)
    scan = [i for i, s in enumerate(specs) if s.envelope_band is None]
    for i, spec in enumerate(specs):
        if spec.envelope_band is not None:
            band = (float(spec.envelope_band[0]), min(float(spec.envelope_band[1]), 0.5 * fs))
            band_bins(n, fs, band)  # raises if the band holds no bins of this frame
            chosen[i] = band
    if scan:
        min_width = np.array([ENVELOPE_WIDTH_FACTOR * max(
            (line_base_frequency(k, v) for k, v in defects[i].items()), default=0.0) for i in scan])
        scanned = raw if len(scan) == rows else raw[scan]  # no 2 MB copy when every frame scans
        found = scan_bands(scanned, n, fs, min_width, fallback_sk=False)
        for i, band, value in zip(scan, *found, strict=True):
            chosen[i], sk[i] = band, value
    return chosen, sk


def _missing_sk(raw: AnyComplex, n: int, fs: float, chosen: Sequence[Band], sk: FloatArray) -> None:
    """The spectral kurtosis of the frames whose ``sk`` is still NaN, in place (frames without a
    shaft speed, hence no envelope spectrum): ``sk_rows`` on their band, one call per band."""
    missing = np.flatnonzero(np.isnan(sk)).tolist()
    for band in dict.fromkeys(chosen[i] for i in missing):
        idx = [i for i in missing if chosen[i] == band]
        k_lo, k_hi = band_bins(n, fs, band)
        sk[idx] = sk_rows(raw[idx, k_lo:k_hi])


def _lined_envelopes(
    raw: AnyComplex, scale: FloatArray, chosen: Sequence[Band], lined: Sequence[int],
    specs: Sequence[FrameSpec], defects: Sequence[dict[str, float]], n: int, fs: float, sk: FloatArray,
) -> dict[int, FloatArray]:
    """The envelope spectra of the frames with a shaft speed (``lined``), in their own units
    (``raw`` holds peak-scaled spectra, see :func:`_single_raw`), the bins the line features
    read; fills those frames' NaN ``sk`` from the same transforms."""
    if not lined:
        return {}
    df = fs / n
    bases = [line_base_frequency(k, v) for i in lined for k, v in defects[i].items()]
    top = max([max(float(specs[i].shaft_hz) for i in lined), *bases])  # type: ignore[arg-type]
    env = _envelope_spectra(raw, [chosen[i] for i in lined], lined, n, fs, _envelope_bins(top, df), sk)
    return {i: spectrum * scale[i] for i, spectrum in env.items()}


def _line_features(
    out: list[dict[str, float]], specs: Sequence[FrameSpec], defects: Sequence[dict[str, float]],
    amps: FloatArray, env: dict[int, FloatArray], lined: Sequence[int], df: float,
    tolerance: FloatArray,
) -> None:
    """Shaft lines and envelope lines of the frames that have a shaft speed (``lined``), added
    in place; ``env``: their envelope spectra (:func:`_lined_envelopes`)."""
    if not lined:
        return
    shaft = np.array([float(specs[i].shaft_hz) for i in lined])  # type: ignore[arg-type]
    rows = np.array(lined)
    one = line_amplitude_rows(amps, rows, shaft, df).tolist()
    two = line_amplitude_rows(amps, rows, 2.0 * shaft, df).tolist()
    for i, a1, a2 in zip(lined, one, two, strict=True):
        out[i]["shaft_1x_amp"] = a1
        out[i]["shaft_2x_amp"] = a2
    with_defects = [k for k, i in enumerate(lined) if defects[i]]
    plain = [k for k, i in enumerate(lined) if not defects[i]]
    if with_defects:
        idx = [lined[k] for k in with_defects]
        spectra = np.stack([env[i] for i in idx])
        lines = defect_lines_rows(spectra, df, shaft[with_defects], [defects[i] for i in idx], tolerance[idx])
        for i, feats in zip(idx, lines, strict=True):
            out[i].update(feats)
    if plain:
        idx = [lined[k] for k in plain]
        spectra = np.stack([env[i] for i in idx])
        values = line_amplitude_rows(spectra, np.arange(len(idx)), shaft[plain], df).tolist()
        for i, value in zip(idx, values, strict=True):
            out[i]["env_1x_amp"] = value


def _envelope_bins(top_hz: float, df: float) -> int:
    """Envelope-spectrum bins the line features can read when no line (shaft or defect base
    frequency) exceeds ``top_hz``: background medians reach ``(3 + 0.5) x`` a base frequency,
    line windows ``3 x (1 + 2 %)`` of it or 2 bins beyond; 4 bins of margin."""
    return math.floor((HARMONICS + 0.5) * top_hz / df) + 4


def _envelope_spectra(
    raw: AnyComplex, bands: Sequence[Band], rows: Sequence[int], n: int, fs: float, keep: int,
    sk: FloatArray,
) -> dict[int, FloatArray]:
    """Envelope amplitude spectrum of each of ``rows`` in its band, its first ``keep`` bins (all
    the line features read): one transform per band; a row whose ``sk`` is NaN gets its
    spectral kurtosis from the same transform (``envelope_rows(..., sk=...)``)."""
    out: dict[int, FloatArray] = {}
    by_bins: dict[tuple[int, int], list[int]] = {}
    for row, band in zip(rows, bands, strict=True):
        by_bins.setdefault(band_bins(n, fs, band), []).append(row)
    for (k_lo, k_hi), idx in by_bins.items():
        missing = np.isnan(sk[idx])
        kurt = np.empty(len(idx)) if missing.any() else None
        spectra = envelope_rows(raw[idx, k_lo:k_hi], k_lo, n, keep, kurt)
        if kurt is not None:
            sk[np.asarray(idx)[missing]] = kurt[missing]
        out.update(zip(idx, spectra, strict=True))
    return out
