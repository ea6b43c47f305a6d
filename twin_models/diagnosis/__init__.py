"""twin_models.diagnosis: which bearing component is failing, from defect-line evidence.

- :mod:`.bearings` — defect frequencies (BPFO, BPFI, BSF, FTF) from geometry and shaft speed.
"""

__all__ = ["bearings"]
