"""Contextual filtering: each window keeps only ridges of its own direction and spacing.

Every window's spectrum is multiplied by a filter that passes a ring around the
window's ridge frequency (radial part) and a wedge around the normal to its ridge
orientation (angular part), in the manner of Chikkerur's short-time Fourier transform
enhancement and equivalent to a Gabor filter tuned per window (Hong, Wan & Jain). The
wedge narrows where the orientation is certain and widens where ridges curve (cores,
deltas) so that curved ridges survive. The filtered windows are added back into one
image; its sign is the binary ridge map.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from controller.biometrics.extract.frequency import wedge
from controller.biometrics.extract.tiles import RADIUS, WINDOW, Tiling, batches

RADIAL_WIDTH = 0.3  # standard deviation of the ring, relative to the ridge frequency
NARROW_WEDGE = np.radians(14.0)  # angular standard deviation where ridges are straight
WIDE_WEDGE = np.radians(32.0)  # ... where the orientation is uncertain


def filters(frequency: np.ndarray, orientation: np.ndarray, certainty: np.ndarray) -> np.ndarray:
    """One spectral filter per window, (n, WINDOW, WINDOW//2+1) float32.

    ``frequency`` (cycles per pixel), ``orientation`` (ridge direction, radians) and
    ``certainty`` (0..1, how far the orientation can be trusted) are (n,) arrays.
    """
    f0 = frequency[:, None, None]
    ring = np.exp(-0.5 * ((RADIUS[None] - f0) / (RADIAL_WIDTH * f0)) ** 2)
    width = NARROW_WEDGE + (1.0 - np.clip(certainty, 0.0, 1.0)) * (WIDE_WEDGE - NARROW_WEDGE)
    across = wedge(orientation + np.pi / 2, width)
    return (ring * across).astype(np.float32)


def enhance(
    tiling: Tiling,
    spectra: np.ndarray,
    mask: np.ndarray,
    frequency: np.ndarray,
    orientation: np.ndarray,
    certainty: np.ndarray,
) -> np.ndarray:
    """The filtered image: positive on valleys, negative on ridges, 0 outside ``mask``.

    ``spectra`` (rows, cols, WINDOW, WINDOW//2+1) and the other arguments are grids of
    windows; only the windows where ``mask`` is True are filtered.
    """
    blocks = np.empty((int(mask.sum()), WINDOW, WINDOW), dtype=np.float32)
    done = 0
    for rows, cols in batches(mask):
        chosen = filters(frequency[rows, cols], orientation[rows, cols], certainty[rows, cols])
        blocks[done : done + len(rows)] = tiling.inverse(spectra[rows, cols] * chosen)
        done += len(rows)
    return tiling.assemble(blocks, mask)


def binarise(enhanced: np.ndarray, inside: np.ndarray, period: float) -> np.ndarray:
    """Ridge pixels: dark after filtering, inside the finger, without specks and pores.

    Specks (dust, sweat drops between ridges) and pinholes (pores on a ridge) smaller
    than a fifth of a square period would each become a false pair of minutiae.
    """
    ridges = (enhanced < 0) & inside
    smallest = max(4, int(0.2 * period * period))
    ridges = _drop_small(ridges, smallest)
    return ~_drop_small(~ridges, smallest) & inside


def _drop_small(binary: np.ndarray, smallest: int) -> np.ndarray:
    """``binary`` without its 4-connected parts of fewer than ``smallest`` pixels."""
    labels, count = ndimage.label(binary)
    if count == 0:
        return binary
    sizes = np.bincount(labels.ravel(), minlength=count + 1)
    keep = sizes >= smallest
    keep[0] = False
    return keep[labels]
