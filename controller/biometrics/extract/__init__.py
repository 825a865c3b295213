"""Minutiae extraction from grey fingerprint images, with a quality verdict.

``extract(gray, dpi)`` returns an ``Extraction``: the minutiae (ISO/IEC 19794-2
conventions, in the image's own pixels), an image quality score 0-100, and for a
capture that should be repeated ``usable`` False with a ``reason`` code whose sentence
for the poll worker is in ``REASONS``.

The stages, one module each: ``tiles`` (overlapping windows and their spectra),
``segmentation`` (where the finger is), ``orientation`` (gradient tensor),
``frequency`` (ridge spacing), ``enhancement`` (contextual filtering, binarisation),
``skeleton`` (thinning, crossing number, branches, directions), ``filtering`` (false
minutiae), ``quality`` (scores and reasons); ``pipeline`` runs them in order.
"""

from controller.biometrics.extract.pipeline import Extraction, extract
from controller.biometrics.extract.quality import REASONS, reason_text

__all__ = ["REASONS", "Extraction", "extract", "reason_text"]
