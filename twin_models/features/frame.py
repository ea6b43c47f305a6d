"""All features of one vibration frame, and a rule-based bearing diagnosis from them.

:func:`frame_features` shares its FFTs: one windowed FFT feeds the amplitude spectrum, the band
energies, the centroid and the shaft lines; one unwindowed FFT feeds the envelope band scan and
the envelope. Keys carry no channel prefix (the caller adds ``vib.``); the key set depends only
on which of ``shaft_hz`` / ``geometry`` are given and on the bands, never on the data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

from twin_models.diagnosis.bearings import defect_frequencies
from twin_models.features._spectral import (
    MIN_SPECTRUM_SAMPLES,
    ComplexArray,
    as_signal,
    check_fs,
    hann_spectrum,
    raw_rfft,
)
from twin_models.features.band_scan import scan_bands
from twin_models.features.envelope import (
    band_bins,
    check_scale,
    deviation,
    envelope_spectrum_from_rfft,
    spectral_kurtosis,
)
from twin_models.features.fft import band_rms_from_spectrum, default_bands, spectral_centroid
from twin_models.features.lines import (
    DEFECT_LINE_REL_TOL,
    defect_line_features,
    line_amplitude,
    line_base_frequency,
    spectral_line_features,
)
from twin_models.features.speed import line_tolerance, refine_shaft_rows
from twin_models.features.time_domain import time_features
from twin_models.records import BearingGeometry

__all__ = ["DIAGNOSIS_MIN_SNR", "DIAGNOSABLE_DEFECTS", "FEATURES_IN", "diagnose_bearing", "frame_features"]

FEATURES_IN = "its features can be computed in"
"""What :data:`~twin_models.features.envelope.ENVELOPE_SCALE` bounds for the frame features: a frame
deviating from its mean by more (or by less, not 0) is refused by :func:`frame_features` and
:func:`~twin_models.features.batch.frame_features_batch` alike, in the same words."""

DIAGNOSIS_MIN_SNR = 3.5
"""Envelope-line SNR a defect needs for :func:`diagnose_bearing`, chosen from noise statistics.

On Gaussian noise (frames of 2560-48000 samples, 12-48 kHz, three bearing geometries, 15-50 Hz
shaft) each defect SNR is the "max of a few bins over their median" of a Rayleigh-like envelope
spectrum: mean 1.4-2.1, standard deviation about 0.3; the largest of the three diagnosable SNRs
of a frame exceeds 2.9 in 1 % and 3.2 in 0.1 % of frames. 3.5 sits about 5 standard deviations
above the noise mean, so a pure-noise frame is practically never diagnosed, while a developed
defect line (CWRU inner/outer race: 10-500) clears it by far."""

ENVELOPE_WIDTH_FACTOR = 4.0
"""With a bearing geometry, the auto-selected envelope band is at least this many times wider
than the highest defect line (BPFI, 2*BSF ...), so that its envelope spectrum holds the three
harmonics used for the SNR plus the shaft sidebands of an inner-race defect."""

DIAGNOSABLE_DEFECTS: tuple[str, ...] = ("bpfo", "bpfi", "bsf")
"""Defects a diagnosis may name; a cage (``ftf``) line is no defect of its own: the twin reads
a held cage comb with no race line as a ball's cage-rate modulation (:mod:`twin_models.diagnosis.ball`)."""


def frame_features(
    samples: npt.ArrayLike,
    fs: float,
    *,
    shaft_hz: float | None = None,
    geometry: BearingGeometry | None = None,
    envelope_band: tuple[float, float] | None = None,
    bands: Sequence[tuple[float, float]] | None = None,
) -> dict[str, float]:
    """Every feature of one frame (keys without channel prefix).

    Always: ``rms, peak, crest_factor, kurtosis, skewness, mean`` (time domain), one
    ``band_<lo>_<hi>hz_rms`` per band (``bands`` or :func:`default_bands`),
    ``spectral_centroid_hz`` and ``env_kurtosis`` — the normalised fourth moment
    ``mean|c|^4 / mean(|c|^2)^2`` of the complex envelope in the envelope band (2 for Gaussian
    noise, 1 for a steady tone, larger for impulses; always >= 1, so safe in log space).
    With ``shaft_hz``: ``shaft_1x_amp, shaft_2x_amp`` and ``env_1x_amp``.
    With ``shaft_hz`` and ``geometry``: ``env_<defect>_amp`` and ``env_<defect>_snr`` for
    bpfo, bpfi, bsf, ftf (:func:`~twin_models.features.lines.defect_line_features`).
    ``envelope_band=None`` picks the band per frame with the screened scan
    :func:`~twin_models.features.band_scan.scan_bands` (the band of
    :func:`~twin_models.features.envelope.select_envelope_band` unless that band ranks below
    the screen's top three or the frame's best screening z is below
    :data:`~twin_models.features.band_scan.CONFIRM_MIN_SCREEN_Z`; with a geometry, among bands at least
    :data:`ENVELOPE_WIDTH_FACTOR` times wider than the highest defect line).
    A frame deviating from its mean by more than 1e60, or by less than 1e-60 and not 0, raises
    ``ValueError`` (:data:`FEATURES_IN`).
    """
    x = as_signal(samples, what="samples", min_len=MIN_SPECTRUM_SAMPLES)
    check_scale(float(deviation(x)), "the frame", FEATURES_IN)
    fs = check_fs(fs)
    if shaft_hz is not None and not shaft_hz > 0.0:
        msg = f"shaft_hz must be positive when given, got {shaft_hz!r}"
        raise ValueError(msg)
    out = time_features(x)
    spec = hann_spectrum(x, fs)
    out.update(band_rms_from_spectrum(spec, fs, default_bands(fs) if bands is None else bands))
    out["spectral_centroid_hz"] = spectral_centroid(spec.freqs, spec.amps)
    tolerance = DEFECT_LINE_REL_TOL
    if shaft_hz is not None:  # the 1x line of the spectrum, if clear, corrects a nominal speed
        refined = float(refine_shaft_rows(spec.amps[None, :], fs / x.size, np.array([shaft_hz]))[0])
        tolerance = line_tolerance(refined != shaft_hz)
        shaft_hz = refined
    raw = raw_rfft(x)
    defects = defect_frequencies(geometry, shaft_hz).as_dict() if geometry and shaft_hz else {}
    band = _envelope_band(raw, x.size, fs, envelope_band, defects)
    out["env_kurtosis"] = spectral_kurtosis(raw, x.size, fs, band) + 2.0
    if shaft_hz is None:
        return out
    out.update(spectral_line_features(spec.freqs, spec.amps, shaft_hz))
    env_freqs, env_amps = envelope_spectrum_from_rfft(raw, x.size, fs, band)
    if not defects:
        out["env_1x_amp"] = line_amplitude(env_freqs, env_amps, shaft_hz)
        return out
    out.update(defect_line_features(env_freqs, env_amps, defects, shaft_hz, rel_tol=tolerance))
    return out


def _envelope_band(
    raw: ComplexArray,
    n: int,
    fs: float,
    envelope_band: tuple[float, float] | None,
    defects: Mapping[str, float],
) -> tuple[float, float]:
    """The given band (clipped at Nyquist, validated) or the selected one (see frame_features)."""
    if envelope_band is not None:
        band = (float(envelope_band[0]), min(float(envelope_band[1]), 0.5 * fs))
        band_bins(n, fs, band)  # raises if the band holds no bins of this frame
        return band
    lines_hz = [line_base_frequency(k, v) for k, v in defects.items()]
    min_width = ENVELOPE_WIDTH_FACTOR * max(lines_hz, default=0.0)
    return scan_bands(raw[None, :], n, fs, np.array([min_width]))[0][0]


def diagnose_bearing(
    features: Mapping[str, float], min_snr: float = DIAGNOSIS_MIN_SNR, *, prefix: str = ""
) -> str | None:
    """The defect (``bpfo``, ``bpfi`` or ``bsf``) whose ``env_<defect>_snr`` is highest and
    above ``min_snr``, else None.

    ``prefix`` is prepended to the feature names (e.g. ``"vib."``). Missing SNRs count as 0.
    The SNR is per frame; a window average of frame SNRs (as the twin sees them) is less noisy,
    so the same threshold is conservative there. See :data:`DIAGNOSIS_MIN_SNR` for its origin.
    """
    best: str | None = None
    best_snr = min_snr
    for name in DIAGNOSABLE_DEFECTS:
        snr = float(features.get(f"{prefix}env_{name}_snr", 0.0))
        if snr > best_snr:
            best, best_snr = name, snr
    return best
