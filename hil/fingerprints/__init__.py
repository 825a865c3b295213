"""Synthetic fingerprints with exact ground truth, for testing fingerprint verification.

``make_master(seed)`` grows one finger's whole ridge pattern (pattern class, orientation
and ridge-period fields, finger outline, minutiae); ``make_impression(master, seed)``
captures it the way an optical 500-dpi sensor would, with displacement, rotation,
plastic distortion, partial contact, skin condition and sensor noise, and carries the
master's minutiae into image coordinates as ground truth. ``dataset`` makes (and caches)
whole sets of fingers and impressions; ``python -m hil.fingerprints`` writes them to a
folder and ``load_folder`` reads such a folder back.
"""

from hil.fingerprints.impression import CONDITIONS, UNUSABLE, Impression, make_impression
from hil.fingerprints.master import MasterFinger, make_master
from hil.fingerprints.sets import TruthError, dataset, load_folder, load_impression

__all__ = [
    "CONDITIONS",
    "UNUSABLE",
    "TruthError",
    "dataset",
    "load_folder",
    "load_impression",
    "Impression",
    "MasterFinger",
    "make_impression",
    "make_master",
]
