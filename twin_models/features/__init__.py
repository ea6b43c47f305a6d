"""twin_models.features: the pure vibration-feature library of twinflow.

Contract: numpy and scipy only — no I/O, no environment, no engine or messaging types, no state.
Every function takes samples (any 1-D array-like, converted to float64) and a sample rate in Hz
and returns plain floats, arrays or ``dict[str, float]``; invalid input raises ``ValueError``
naming the offending value, and no function returns NaN for finite input.

Feature names carry no channel prefix (the caller adds ``vib.`` ...) and are stable: the key set
of :func:`frame_features` depends only on its arguments (bands, shaft speed, geometry), never on
the data. Modules:

- :mod:`.time_domain` — rms, peak, crest factor, kurtosis, skewness, mean;
- :mod:`.fft` — amplitude spectrum, band RMS, spectral centroid, and (re-exported from
  :mod:`.envelope` and :mod:`.lines`) envelope spectrum, envelope band selection, line features;
- :mod:`.frame` — :func:`frame_features` (everything for one frame) and :func:`diagnose_bearing`;
- :mod:`.batch` — :func:`frame_features_batch`: the same features for many equal-length frames at
  once (2-D arrays, one FFT call per batch; what the dataflow uses), each frame with its own
  :class:`FrameSpec`;
- :mod:`.band_scan` — the screened envelope band scan both of them use (a critically sampled SK
  ranks the candidate bands, the exact SK of the best three decides; not re-exported);
- :mod:`.envelope_batch` — :func:`~.envelope_batch.envelope_spectra_batch`: the envelope spectra
  of many equal-length frames at once, each in its exhaustively scanned band (the one-frame
  functions' values; what the backtest report's waterfalls use; not re-exported);
- :mod:`.speed` — the frame's shaft speed refined from its spectrum's 1x line, and the defect-line
  tolerance that follows (both paths call it; not re-exported);
- :mod:`.window` — aggregation of frame features and scalars into one window (not re-exported).
"""

from __future__ import annotations

from twin_models.features.batch import FrameSpec, frame_features_batch
from twin_models.features.envelope import envelope_spectrum, select_envelope_band
from twin_models.features.fft import (
    amplitude_spectrum,
    band_rms,
    default_bands,
    spectral_centroid,
)
from twin_models.features.frame import DIAGNOSIS_MIN_SNR, diagnose_bearing, frame_features
from twin_models.features.lines import (
    defect_line_features,
    line_amplitude,
    spectral_line_features,
)
from twin_models.features.time_domain import (
    crest_factor,
    kurtosis,
    peak,
    rms,
    skewness,
    time_features,
)

__all__ = [
    "DIAGNOSIS_MIN_SNR",
    "FrameSpec",
    "amplitude_spectrum",
    "band_rms",
    "crest_factor",
    "default_bands",
    "defect_line_features",
    "diagnose_bearing",
    "envelope_spectrum",
    "frame_features",
    "frame_features_batch",
    "kurtosis",
    "line_amplitude",
    "peak",
    "rms",
    "select_envelope_band",
    "skewness",
    "spectral_centroid",
    "spectral_line_features",
    "time_features",
]
