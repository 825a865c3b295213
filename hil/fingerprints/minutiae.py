"""Ground-truth minutiae of a clean ridge pattern, from its skeleton.

The master's ridges are binary after cleaning, so the crossing number on the skeleton
finds exactly the ridge endings (crossing number 1) and bifurcations (3) that the
pattern has. Directions follow the NIST/ISO convention of the bisected "Y": a ridge
ending points from the end into its ridge, a bifurcation points from the fork into the
valley between its two branches. Both are the local ridge orientation, turned towards
the side where more of the minutia's own skeleton lies.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from skimage.morphology import skeletonize

from controller.biometrics.template import BIFURCATION, ENDING, Minutiae

# The eight neighbours in circular order, as (row, column) offsets.
RING = ((-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1), (-1, -1))


def clean_ridges(ridges: np.ndarray, period: float) -> np.ndarray:
    """Binary ridges without the specks and pinholes that no finger has."""
    smallest = int(round(0.8 * period * period))
    binary = _without_small_parts(ridges > 0, smallest)
    return ~_without_small_parts(~binary, smallest)


def _without_small_parts(binary: np.ndarray, smallest: int) -> np.ndarray:
    """``binary`` without the 4-connected parts of ``smallest`` pixels or fewer."""
    labels, count = ndimage.label(binary)
    sizes = np.bincount(labels.ravel(), minlength=count + 1)
    keep = sizes > smallest
    keep[0] = False
    return keep[labels]


def crossing_number(skeleton: np.ndarray) -> np.ndarray:
    """Half the number of 0/1 changes around each pixel's eight neighbours."""
    padded = np.pad(skeleton.astype(np.int8), 1)
    h, w = skeleton.shape
    ring = [padded[1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w] for dy, dx in RING]
    changes = np.zeros((h, w), dtype=np.int8)
    for i in range(8):
        changes += np.abs(ring[(i + 1) % 8] - ring[i])
    return changes // 2


def find_minutiae(
    binary: np.ndarray,
    orientation: np.ndarray,
    valid: np.ndarray,
    period: float,
) -> Minutiae:
    """Endings and bifurcations of ``binary`` ridges inside ``valid``.

    Features closer together than about half a ridge period are dropped in pairs: they are
    spurs, bridges and short breaks of the skeleton that no examiner would mark, and no
    extractor could be expected to agree on.
    """
    skeleton = skeletonize(binary)
    cn = crossing_number(skeleton)
    candidates = skeleton & ((cn == 1) | (cn == 3)) & valid
    ys, xs = np.nonzero(candidates)
    kinds = np.where(cn[ys, xs] == 1, ENDING, BIFURCATION).astype(np.uint8)
    keep = _isolated(xs, ys, 0.6 * period)
    xs, ys, kinds = xs[keep], ys[keep], kinds[keep]
    angles = _directions(skeleton, xs, ys, orientation, radius=int(round(period)))
    return Minutiae.from_columns(
        xs.astype(np.float32), ys.astype(np.float32), angles, kinds, np.full(len(xs), 100)
    )


def _isolated(xs: np.ndarray, ys: np.ndarray, distance: float) -> np.ndarray:
    """Which points have no other point within ``distance``."""
    if len(xs) < 2:
        return np.ones(len(xs), dtype=bool)
    d2 = (xs[:, None] - xs[None, :]) ** 2 + (ys[:, None] - ys[None, :]) ** 2
    np.fill_diagonal(d2, np.iinfo(d2.dtype).max)
    return d2.min(axis=1) >= distance * distance


def _directions(
    skeleton: np.ndarray,
    xs: np.ndarray,
    ys: np.ndarray,
    orientation: np.ndarray,
    radius: int,
) -> np.ndarray:
    """Orientation at each minutia, pointed towards the mass of its own skeleton."""
    labels, _ = ndimage.label(skeleton, structure=np.ones((3, 3)))
    h, w = skeleton.shape
    angles = np.zeros(len(xs), dtype=np.float64)
    for i, (x, y) in enumerate(zip(xs, ys, strict=True)):
        y0, y1 = max(0, y - radius), min(h, y + radius + 1)
        x0, x1 = max(0, x - radius), min(w, x + radius + 1)
        own = labels[y0:y1, x0:x1] == labels[y, x]
        wy, wx = np.nonzero(own)
        dx = (wx + x0 - x).astype(np.float64)
        dy = (wy + y0 - y).astype(np.float64)
        inside = dx * dx + dy * dy <= radius * radius
        theta = float(orientation[y, x])
        # Direction (cos t, -sin t) in image axes; the skeleton's mean offset picks the sign.
        along = np.cos(theta) * dx[inside].sum() - np.sin(theta) * dy[inside].sum()
        angles[i] = theta if along >= 0 else theta + np.pi
    return np.mod(angles, 2 * np.pi)
