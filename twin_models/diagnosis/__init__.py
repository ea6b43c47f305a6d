"""twin_models.diagnosis: which bearing component is failing, from defect-line evidence.

- :mod:`.bearings` — defect frequencies (BPFO, BPFI, BSF, FTF) from geometry and shaft speed;
- :mod:`.defects` — a window's defect evidence for the asset twin: absolute (an envelope line far
  above its spectral background for some windows in a row) or against the asset's baseline. Pure
  functions: the run counters are passed in and a new copy handed back, so scoring stays pure;
- :mod:`.abnormality` — how abnormal a window is against the physics of a healthy bearing (no
  baseline needed) and the twin's verdict: healthy, anomalous (not localised) or a named defect.
"""

__all__ = ["abnormality", "bearings", "defects"]
