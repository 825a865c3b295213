"""Score thresholds of the matcher, chosen by the false-match rate they allow.

The matcher's score (``controller.biometrics.match``) is not a probability; what a
score means is measured. ``bench/biometrics.py`` compares every impostor pair of a
synthetic set through the real extractor and prints, for each target false-match rate,
the lowest score that no more than that share of impostor pairs reach. The figures
below are its output (docs/biometrics.md has the run); a commission that recalibrates
on its own sensors' images changes them here, nowhere else.
"""

from __future__ import annotations

# target false-match rate -> score threshold (1:1)
# (bench/biometrics.py, 200 fingers x 4 impressions, seed 1: 78,014 impostor pairs)
BY_FALSE_MATCH_RATE = {
    0.01: 0.269,
    0.001: 0.346,
    0.0001: 0.429,
}

# 1:1 verification of a listed voter: a false match gives an impostor that voter's ballot,
# a false non-match sends a voter to the chair, who checks the document and decides.
VERIFY_THRESHOLD = BY_FALSE_MATCH_RATE[0.001]

# 1:N names a voter with no document at all: the chance of naming the wrong voter grows
# with the list, so it takes the strictest measured threshold.
IDENTIFY_THRESHOLD = BY_FALSE_MATCH_RATE[0.0001]


def threshold_for(false_match_rate: float) -> float:
    """The calibrated threshold for one of the measured false-match rates."""
    try:
        return BY_FALSE_MATCH_RATE[false_match_rate]
    except KeyError:
        known = ", ".join("%g" % r for r in sorted(BY_FALSE_MATCH_RATE))
        raise ValueError(
            "no threshold is calibrated for FMR %r; calibrated: %s" % (false_match_rate, known)
        ) from None
