"""twin_models.quality: the data-quality stream (issue 13), pure like the rest of twin_models.

Contract: numpy and river only (River: the drift check's regression), no I/O, no state outside
the objects passed in. Per asset and channel, every window is judged BEFORE the models see it:

- :mod:`.stats` — :class:`ChannelStats`: what the checks need of one channel's window, computed
  vectorised (a scalar channel's samples; a waveform channel's per-frame figures, taken from the
  frames' samples as one 2-D batch where the frames are featurised); a window of one-reading
  scalar channels (a C-MAPSS cycle) keeps them compact (:class:`~.stats.OneReadings`: each
  reading's time and value), materialised once per judgement;
- :mod:`.checks` — the checks (``flatline``, ``clipping``, ``spike``, ``gap``, ``clock``,
  ``sample_rate``, ``disconnect``) against :class:`QualityLimits` (the sensor's metadata: range,
  physical limits, cadence, sample rate) and the channel's learnt behaviour;
- :mod:`.clock` — :class:`~.clock.AssetClock`: the clock check at admission (before the window
  step), each record's event time against the asset's other channels; a jumped channel's records
  are rejected (the flow dead-letters them as ``clock_skew``) and the window learns of them as a
  :class:`~.clock.ClockSkew` (state ``suspect``, check ``clock``: the values are kept);
- :mod:`.drift` — :class:`~.drift.DriftTracker`: a temperature's or a current's slow departure
  from what its asset's other channels predict (River regression + CUSUM), not shared by its
  coupled channels (``drift``: ``suspect``, then ``bad``);
- :mod:`.monitor` — :class:`QualityMonitor`: per channel, the learnt behaviour and the state
  (``ok`` / ``suspect`` / ``bad`` with the check and a reason), judged then learnt (prequential;
  a window that is not ``ok`` teaches nothing);
- :mod:`.gate` — bad channels' features masked before the twin (they neither teach the baseline
  nor raise a condition alert on their own) and :class:`SensorAlerts`: ``sensor`` alert episodes,
  one per (asset, channel, check), deduplicated like the condition alerts.
"""

from __future__ import annotations

from twin_models.quality.checks import CHECKS, QualityLimits, limits_of
from twin_models.quality.gate import SensorAlerts, gate_window, quality_step
from twin_models.quality.monitor import QualityMonitor
from twin_models.quality.stats import (
    ChannelStats,
    frame_quality,
    scalar_channel_stats,
    waveform_channel_stats,
)

__all__ = [
    "CHECKS",
    "ChannelStats",
    "QualityLimits",
    "QualityMonitor",
    "SensorAlerts",
    "frame_quality",
    "gate_window",
    "limits_of",
    "quality_step",
    "scalar_channel_stats",
    "waveform_channel_stats",
]
