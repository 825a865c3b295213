"""Score thresholds of the matcher, chosen by the false-match rate they allow.

The matcher's score (``controller.biometrics.match``) is not a probability; what a
score means is measured, on real images. ``bench/biometrics.py --images --calibrate``
extracts every image of the FVC development sets beside the checkout
(``../shared/data/fvc``: FVC2002 DB2 optical at 569 dpi, FVC2002 DB3 capacitive,
FVC2004 DB2 optical with deliberate distortion, dry and wet skin; 10 fingers x 8
impressions each), compares every two usable captures of different fingers, within a
set and across sets, and prints for each target false-match rate the lowest score that
no more than that share of impostor pairs reach. The figures below are its output
(docs/biometrics.md has the run). A commission that recalibrates on its own sensors'
images changes them here, nowhere else.
"""

from __future__ import annotations

# target false-match rate -> score threshold (1:1)
# (bench/biometrics.py --images --calibrate: 3 FVC sets pooled, 240 usable captures,
# 27,840 impostor pairs; the 0.01 % point rests on the 3 highest of them; the matcher
# counting paired minutiae by local similarity and by the fit of position and
# direction, the extractor filling the sensor's padding frame, coherence floor 0.25,
# the print's edge a smoothed outline, the position tolerance growing 0.13 px per px,
# bridges only square across the ridges)
BY_FALSE_MATCH_RATE = {
    0.01: 0.258,
    0.001: 0.316,
    0.0001: 0.347,
}

# Rates too small to count on 27,840 pairs, extrapolated by the same run from the top 1 %
# of impostor scores (an exponential tail).
EXTRAPOLATED = {
    0.00001: 0.429,
    0.000001: 0.486,
}

# FVC's "ZeroFMR" point of the same run: above every impostor score measured, 1:1 (0.377)
# and as a not-enrolled finger's best over 10,000 templates made from real minutiae (0.373).
ZERO_FALSE_MATCH = 0.38

# 1:1 verification of a listed voter: a false match gives an impostor that voter's ballot,
# a false non-match sends a voter to the chair, who checks the document and decides.
VERIFY_THRESHOLD = BY_FALSE_MATCH_RATE[0.001]

# 1:N names a voter with no document at all. The best of a whole list is compared, so a
# search over N templates meets up to N impostors: at 1e-6 per comparison a list of
# 10,000 names a wrong voter in at most 1 % of searches. Never below an impostor score
# actually measured.
IDENTIFY_THRESHOLD = max(EXTRAPOLATED[0.000001], ZERO_FALSE_MATCH)


def threshold_for(false_match_rate: float) -> float:
    """The calibrated threshold for one of the measured false-match rates."""
    try:
        return BY_FALSE_MATCH_RATE[false_match_rate]
    except KeyError:
        known = ", ".join("%g" % r for r in sorted(BY_FALSE_MATCH_RATE))
        raise ValueError(
            "no threshold is calibrated for FMR %r; calibrated: %s" % (false_match_rate, known)
        ) from None
