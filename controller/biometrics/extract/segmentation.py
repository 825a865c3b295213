"""Where the finger is: window features and the foreground mask.

A window shows ridges when its spectrum has most of its energy in the ridge band, that
energy is above the sensor's noise, and the band-passed gradient has one dominant
direction. "Above the noise" is also measured against the print itself: an optical
sensor keeps faint ridges of earlier fingers on its glass, and a finger leaves a halo
of faint ridges round where it pressed; both are clear enough in shape but far fainter
than the ridges in contact, and their ridges would end in false minutiae all along the
edge of the real print. Background, blots and smudges fail one test or another: a blank sensor has
only noise (spread evenly over the spectrum), a wet blot has no energy in the band, a
smudge has energy but no direction. The window decisions are then cleaned the way
blocks are in most segmenters (majority vote, holes filled, specks dropped), because
a finger is one connected area.

``contact`` is a second, looser mask: windows noticeably darker than the sensor's bare
glass. Contact without ridges is what a smudged or soaked finger leaves.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from controller.biometrics.extract.frequency import BAND
from controller.biometrics.extract.tiles import HALF_PLANE_WEIGHT, RADIUS, TAPER, WINDOW

# Everything above the sensor's slow shading counts as texture.
TEXTURE = RADIUS >= 1.5 / WINDOW
_PARSEVAL = float(WINDOW * WINDOW * (TAPER * TAPER).sum())

MIN_AMPLITUDE = 5.0  # grey levels (standard deviation) of ridge-band texture
# Share of the print's strong ridge amplitude (its ``STRONG`` percentile over the
# windows that pass the tests) that a window's ridges need: a contrast ratio, so it
# means the same on faint and on contrasty sensors.
RELATIVE_AMPLITUDE = 0.2
STRONG = 90.0
MIN_SHARE = 0.45  # share of the texture energy inside the ridge band
MIN_COHERENCE = 0.25  # of the band-passed gradient tensor, the window's own or ...
NEIGHBOURHOOD = 1.0  # ... smoothed over its neighbours (Gaussian, in windows)
MIN_PART = 4  # windows: smaller separate parts of the mask are specks
# A finger is one area; a separate part under a quarter of the largest is the sensor's
# frame, a streak or residue beside it (a print split by a crease stays in halves).
MIN_SHARE_OF_LARGEST = 0.25
CONTACT_DARKNESS = 35.0  # grey levels below the bare glass
DARK = 90.0  # mean grey level below which a window is never bare glass


class WindowFeatures:
    """Per-window measurements the segmentation and the quality score share.

    ``amplitude``: standard deviation (grey levels) of the window's ridge-band texture;
    ``share``: band energy over all texture energy; ``coherence``: of the window's own
    gradient tensor or, where larger, of the tensor over its neighbourhood; ``mean``: mean
    grey level of the window's pixels.
    """

    def __init__(
        self, amplitude: np.ndarray, share: np.ndarray, coherence: np.ndarray, mean: np.ndarray
    ) -> None:
        self.amplitude = amplitude
        self.share = share
        self.coherence = coherence
        self.mean = mean

    def ridges(self) -> np.ndarray:
        """Windows that pass all three tests for ridges, amplitude also relative to the
        print's own strong ridges."""
        shaped = (self.share >= MIN_SHARE) & (self.coherence >= MIN_COHERENCE)
        found = shaped & (self.amplitude >= MIN_AMPLITUDE)
        if not found.any():
            return found
        strong = float(np.percentile(self.amplitude[found], STRONG))
        return found & (self.amplitude >= RELATIVE_AMPLITUDE * strong)


def measure(power: np.ndarray, coherence: np.ndarray, means: np.ndarray) -> WindowFeatures:
    """Window features from power spectra (rows, cols, WINDOW, WINDOW//2+1)."""
    kernels = np.stack([(TEXTURE * HALF_PLANE_WEIGHT).ravel(), (BAND * HALF_PLANE_WEIGHT).ravel()])
    sums = power.reshape(power.shape[:-2] + (-1,)) @ kernels.T.astype(np.float32)
    texture, band = sums[..., 0], sums[..., 1]
    amplitude = np.sqrt(band / _PARSEVAL)
    share = band / np.maximum(texture, 1e-9)
    return WindowFeatures(amplitude.astype(np.float32), share.astype(np.float32), coherence, means)


def foreground(features: WindowFeatures) -> np.ndarray:
    """The finger's ridge area as a boolean grid of windows."""
    votes = ndimage.uniform_filter(features.ridges().astype(np.float32), 3, mode="constant")
    mask = votes >= 0.5
    mask = ndimage.binary_fill_holes(mask)
    return _without_specks(mask, MIN_PART, MIN_SHARE_OF_LARGEST)


def contact(features: WindowFeatures) -> np.ndarray:
    """Windows where something touched the sensor: ridges, or darker than bare glass.

    The bare glass of an optical sensor is the brightest part of its image, but its
    illumination is uneven by a few tens of grey levels, so only windows well below
    the brightest count; a window darker than ``DARK`` counts whatever the rest does,
    since no sensor shows its empty glass that dark.
    """
    glass = float(np.percentile(features.mean, 95))
    dark = (features.mean <= glass - CONTACT_DARKNESS) | (features.mean < DARK)
    return _without_specks(dark | foreground(features), MIN_PART)


def window_means(image: np.ndarray, rows: int, cols: int, step: int) -> np.ndarray:
    """Mean grey level of each ``step`` x ``step`` block (edge blocks may be partial)."""
    h, w = image.shape
    padded = np.pad(
        image.astype(np.float32), ((0, rows * step - h), (0, cols * step - w)), mode="edge"
    )
    return padded.reshape(rows, step, cols, step).mean(axis=(1, 3))


def _without_specks(mask: np.ndarray, smallest: int, share: float = 0.0) -> np.ndarray:
    """``mask`` without parts of fewer than ``smallest`` windows or, with ``share``,
    smaller than that share of its largest part."""
    labels, count = ndimage.label(mask)
    if count == 0:
        return mask
    sizes = np.bincount(labels.ravel(), minlength=count + 1)
    sizes[0] = 0
    keep = sizes >= max(smallest, share * sizes.max())
    keep[0] = False
    return keep[labels]
