"""The part of an image the sensor never saw: a saturated frame round the capture area.

Some sensors correct their optics' geometry in software and hand over the corrected
capture area padded out to a rectangle with pure white or pure black (a trapezoid inside
the image, for instance). Ridges end abruptly where the padding starts, and the step
from ridges to padding is itself ridge-like to a spectral filter, so both would give
false minutiae. The frame is found as pixels at exactly the darkest or brightest grey
level that are connected to the image's edge, filled smoothly from the capture next to
it before any analysis, and afterwards counted as the edge of the print: beyond it the
sensor saw nothing, and the same test also takes in bare glass that an overexposed
optical sensor saturates round the finger, where ridges end because the finger does.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

MIN_SHARE = 0.005  # a frame covers at least this share of the image; less is a few pixels
SOLID = np.ones((5, 5), dtype=bool)  # padding is solid: noise at 0 and 255 is not
FILL_SIGMA = 6.0  # pixels: the reach of the smooth fill into the frame, per pass


def outside(image: np.ndarray) -> np.ndarray | None:
    """Boolean mask of the padding round the capture area of a uint8 image, or None.

    Solid areas of pixels at 0 or at 255 joined to the image's edge form the frame; a
    bright or dark patch inside the print (a blot, glare) does not reach the edge and
    stays, and saturated noise is not solid.
    """
    frame = np.zeros(image.shape, dtype=bool)
    for level in (0, 255):
        at_level = image == level
        if not (
            at_level[0].any() or at_level[-1].any() or at_level[:, 0].any() or at_level[:, -1].any()
        ):
            continue
        at_level = ndimage.binary_opening(at_level, SOLID)
        labels, count = ndimage.label(at_level)
        edge = np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]])
        touching = np.zeros(count + 1, dtype=bool)
        touching[edge] = True
        touching[0] = False
        frame |= touching[labels]
    if frame.mean() < MIN_SHARE or frame.all():
        return None
    return frame


def filled(image: np.ndarray, frame: np.ndarray) -> np.ndarray:
    """``image`` as float32 with the frame replaced by a smooth continuation of the capture.

    Normalised convolution: the capture's grey levels spread into the frame by a
    Gaussian weighted with the capture's own mask, so there is no step left for the
    filters to take for a ridge; beyond the fill's reach the capture's mean level.
    """
    work = image.astype(np.float32)
    seen = (~frame).astype(np.float32)
    total = ndimage.gaussian_filter(work * seen, FILL_SIGMA, mode="nearest", truncate=2.0)
    weight = ndimage.gaussian_filter(seen, FILL_SIGMA, mode="nearest", truncate=2.0)
    mean = float(work[~frame].mean())
    with np.errstate(divide="ignore", invalid="ignore"):
        spread = np.where(weight > 1e-3, total / weight, mean)
    out = work.copy()
    out[frame] = spread[frame]
    return out
