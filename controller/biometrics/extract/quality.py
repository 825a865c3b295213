"""How good a capture is, and why a bad one is refused.

The image score follows the idea of NFIQ: judge each window by what a matcher needs
from it (ridges that stand out from the noise, energy where ridges belong in the
spectrum, one clear direction), average the scores over the print, and weigh the
average by how much finger the capture shows. A minutia's quality is the local score
where it sits, lowered near the edge of the print.

A refused capture carries a short reason code; ``REASONS`` gives the poll worker's
sentence for each, which always ends in what to do next.
"""

from __future__ import annotations

import numpy as np

from controller.biometrics.extract.segmentation import DARK, MIN_AMPLITUDE, WindowFeatures

MM2_PER_PIXEL = (25.4 / 500) ** 2
MIN_AREA_MM2 = 40.0  # a print smaller than this holds too few minutiae to match
FULL_AREA_MM2 = 100.0  # from this area on, more finger no longer raises the score
TRACE_AREA_MM2 = 3.0  # below this, nothing touched the sensor at all
MIN_QUALITY = 20  # image score below which a capture is refused
MIN_MINUTIAE = 6  # fewer than this cannot be matched at all
MIN_MINUTIA_QUALITY = 25  # minutiae below this are more often false than true
SMUDGED_SHARE = 0.55  # ridge-band share of the contact area below which it is a smudge
CLEAR = 60  # a score from which a refusal is not blamed on the image
FLAT = 3.0  # grey levels: an image whose standard deviation is below this is blank

REASONS = {
    "no_finger": "No finger on the sensor. Place the finger flat on the glass.",
    "too_small": "Too little of the finger touched the sensor. Place the finger again, "
    "flat and centred, pressing gently.",
    "low_contrast": "The ridges are too faint or the image too dark. Wipe the finger and "
    "the glass dry, then place the finger again without pressing hard.",
    "smudged": "The print is smudged: the ridges cannot be seen. Keep the finger still, "
    "wipe it and the glass, then place it again.",
    "too_few_minutiae": "Too few ridge details could be read. Place the finger again, "
    "flat and centred.",
}


def reason_text(reason: str) -> str:
    """The poll worker's sentence for a refusal code (the code itself if unknown)."""
    return REASONS.get(reason, reason)


def window_quality(features: WindowFeatures) -> np.ndarray:
    """Score of each window, 0 (useless) to 1 (clear ridges).

    The geometric mean of three parts, so that a window bad in any one respect scores
    low: texture amplitude, ridge-band share of the spectrum, gradient coherence.
    """
    amp = np.clip((features.amplitude - MIN_AMPLITUDE) / 15.0, 0.0, 1.0)
    share = np.clip((features.share - 0.35) / 0.45, 0.0, 1.0)
    coherence = np.clip((features.coherence - 0.25) / 0.5, 0.0, 1.0)
    return np.cbrt(amp * share * coherence).astype(np.float32)


def image_quality(local: np.ndarray, foreground: np.ndarray, window_area: float) -> int:
    """Image score 0-100: mean window score over the print, weighed by the print's area."""
    if not foreground.any():
        return 0
    area = float(foreground.sum()) * window_area * MM2_PER_PIXEL
    coverage = min(1.0, area / FULL_AREA_MM2) ** 0.5
    return int(round(100.0 * float(local[foreground].mean()) * coverage))


def minutia_quality(
    local: np.ndarray, certainty: np.ndarray, edge_distance: np.ndarray, period: np.ndarray
) -> np.ndarray:
    """Quality 0-100 of each minutia from the score and orientation certainty where it
    lies, lowered within three ridge periods of the edge of the print."""
    edge = np.clip(edge_distance / (3.0 * period), 0.5, 1.0)
    q = 100.0 * np.sqrt(np.clip(local, 0.0, 1.0) * np.clip(certainty, 0.0, 1.0)) * edge
    return np.clip(np.round(q), 1, 100).astype(np.uint8)


def blank_reason(image: np.ndarray) -> str | None:
    """The refusal of an image with nothing on it, or None when there is something."""
    if float(image.std()) >= FLAT:
        return None
    return "no_finger" if float(image.mean()) >= DARK else "low_contrast"


def area_reason(
    features: WindowFeatures,
    foreground: np.ndarray,
    contact: np.ndarray,
    window_area: float,
) -> str | None:
    """The refusal when the print is too small to use, or None when it is big enough.

    When something touched the glass but left few ridges, the reason is what the
    contact looks like: dark and flat (soaked, pressed hard, or a dark image) or
    bright and blurred (smudged).
    """
    ridge_area = float(foreground.sum()) * window_area * MM2_PER_PIXEL
    if ridge_area >= MIN_AREA_MM2:
        return None
    contact_area = float(contact.sum()) * window_area * MM2_PER_PIXEL
    if contact_area >= MIN_AREA_MM2 and contact_area >= 2.0 * ridge_area:
        blotted = contact & ~foreground
        if float(np.median(features.mean[blotted])) < DARK:
            return "low_contrast"
        return "smudged"
    if max(ridge_area, contact_area) < TRACE_AREA_MM2:
        return "no_finger"
    return "too_small"


def quality_reason(features: WindowFeatures, contact: np.ndarray) -> str:
    """The main weakness of a print whose score is too low: smudged or faint.

    A smudge spreads the energy of the print over the whole spectrum (blur, blots,
    movement), so little of it stays in the ridge band; a faint or dark print keeps its
    ridges in the band but with little amplitude.
    """
    inside = contact if contact.any() else np.ones_like(contact)
    if float(np.median(features.share[inside])) < SMUDGED_SHARE:
        return "smudged"
    amplitude = float(np.median(features.amplitude[inside]))
    if amplitude < 2.0 * MIN_AMPLITUDE or float(np.median(features.mean[inside])) < DARK:
        return "low_contrast"
    return "smudged"
