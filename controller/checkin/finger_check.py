"""The finger part of check-in: is the presented finger one of the listed voter's?

A terminal sends what its sensor gives: the raw image of an image-only module
(ZhianTec R30x, 256x288 at 4 bits per pixel) or an ISO/IEC 19794-2 record from a
template-capable one. The controller trusts neither a terminal's verdict nor its
minutiae quality: an image is extracted here, and a capture that is too poor to
compare is answered "place the finger again" (``retry``), never a mismatch, because
a false mismatch sends an eligible voter to the chair.

Verdicts:

* ``match``: the best score over the voter's enrolled views reaches the threshold
  chosen for the target false-match rate;
* ``mismatch``: a usable capture that does not reach it (the chair may override);
* ``retry``: the capture is unusable, with the extractor's reason;
* ``no_reference``: the voter has no enrolled finger, so the document alone decides;
* ``no_finger``: the terminal reports that the voter cannot give a usable finger.

For a voter without a document, :func:`identify` searches the whole station list
(1:N) and names a voter only when the best candidate reaches the stricter
identification threshold and stands clear of the runner-up.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from controller.biometrics import iso19794_2, thresholds
from controller.biometrics.extract import extract
from controller.biometrics.images import ImageInputError, unpack_zhiantec
from controller.biometrics.match import Template, compare
from controller.biometrics.template import Minutiae
from controller.checkin.finger_samples import IMAGE, ISO, FingerSample

MATCH = "match"
MISMATCH = "mismatch"
RETRY = "retry"
NO_REFERENCE = "no_reference"
NO_FINGER = "no_finger"

MIN_MINUTIAE = 8  # below this an ISO record cannot be told from anybody else's

# Score thresholds by the false-match rate they allow (controller/biometrics/thresholds.py).
VERIFY_THRESHOLD = thresholds.VERIFY_THRESHOLD
IDENTIFY_THRESHOLD = thresholds.IDENTIFY_THRESHOLD

# How far the best 1:N candidate must stand above the runner-up: two candidates with
# close scores mean the finger does not single out one voter.
IDENTIFY_MARGIN = 0.02


class FingerSampleError(ValueError):
    """The finger data a terminal sent is not what it says it is."""


@dataclass(frozen=True)
class Verdict:
    """The outcome of comparing a capture; ``score`` is None when nothing was compared."""

    outcome: str
    score: float | None = None
    reason: str | None = None
    quality: int | None = None


def probe_minutiae(sample: FingerSample) -> tuple[Minutiae | None, Verdict | None]:
    """The capture's minutiae, or a ``retry`` verdict saying why there are none.

    Raises ``FingerSampleError`` for data that is malformed rather than merely poor.
    """
    if sample.kind == IMAGE:
        if (sample.width, sample.height, sample.bits) != (256, 288, 4):
            raise FingerSampleError(
                "a ZhianTec image is 256x288 at 4 bits per pixel, not "
                f"{sample.width}x{sample.height} at {sample.bits}"
            )
        try:
            gray = unpack_zhiantec(sample.data, sample.width, sample.height)
        except ImageInputError as err:
            raise FingerSampleError(str(err)) from None
        found = extract(gray)
        if not found.usable:
            return None, Verdict(RETRY, reason=found.reason, quality=found.quality)
        return found.minutiae, None
    if sample.kind == ISO:
        try:
            record = iso19794_2.parse(sample.data)
        except iso19794_2.IsoRecordError as err:
            raise FingerSampleError(f"finger template refused: {err}") from None
        views = [v for v in record.views if len(v.minutiae) >= MIN_MINUTIAE]
        if not views:
            return None, Verdict(RETRY, reason="too_few_minutiae")
        best = max(views, key=lambda v: (v.quality, len(v.minutiae)))
        return best.minutiae, None
    raise FingerSampleError(f"unknown finger kind {sample.kind!r}; expected {IMAGE} or {ISO}")


def verify(
    sample: FingerSample | None,
    enrolled: Sequence[Template],
    threshold: float = VERIFY_THRESHOLD,
) -> Verdict:
    """Compare a capture with the voter's enrolled views (1:1, best view wins)."""
    if not enrolled:
        return Verdict(NO_REFERENCE)
    if sample is None:
        return Verdict(NO_FINGER)
    minutiae, refused = probe_minutiae(sample)
    if refused is not None:
        return refused
    probe = Template.from_minutiae(minutiae)
    score = max(compare(probe, view) for view in enrolled)
    return Verdict(MATCH if score >= threshold else MISMATCH, score=round(score, 4))


def identify(
    sample: FingerSample,
    search: Callable[[Minutiae, int], list[tuple[int, float]]],
    threshold: float = IDENTIFY_THRESHOLD,
) -> tuple[int | None, Verdict]:
    """Find the voter row whose finger this is (1:N), or None.

    ``search(minutiae, top)`` ranks the station's enrolled voters, best first.
    """
    minutiae, refused = probe_minutiae(sample)
    if refused is not None:
        return None, refused
    ranked = search(minutiae, 2)
    if not ranked:
        return None, Verdict(MISMATCH, score=0.0)
    row, best = ranked[0]
    runner_up = ranked[1][1] if len(ranked) > 1 else 0.0
    if best >= threshold and best - runner_up >= IDENTIFY_MARGIN:
        return row, Verdict(MATCH, score=round(best, 4))
    return None, Verdict(MISMATCH, score=round(best, 4))
