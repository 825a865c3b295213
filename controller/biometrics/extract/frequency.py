"""Ridge frequency per window, from the spectrum across the ridges.

Parallel ridges put their energy at the radius of their frequency, in the direction
normal to them. Each window's frequency is the power-weighted mean radius of the
spectrum inside the ridge band and inside a wedge around that normal, so crossing
creases and noise elsewhere in the spectrum do not pull it. The field is then smoothed
over the foreground, because ridge spacing changes slowly over a finger while a single
window's estimate can be thrown by a scar or a blot.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from controller.biometrics.extract.tiles import (
    HALF_PLANE_WEIGHT,
    RADIUS,
    WAVE_COS2,
    WAVE_SIN2,
    batches,
)

# Ridge periods a 500-dpi fingerprint can have, in pixels (0.1 mm to 0.33 mm).
MIN_PERIOD = 5.0
MAX_PERIOD = 16.0
TYPICAL_PERIOD = 9.0
BAND = (RADIUS >= 1.0 / MAX_PERIOD) & (RADIUS <= 1.0 / MIN_PERIOD)
WEDGE = np.radians(20.0)


def angular_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distance between two orientations modulo π, in [0, π/2]."""
    d = np.mod(a - b, np.pi)
    return np.minimum(d, np.pi - d)


def wedge(direction: np.ndarray, width: np.ndarray | float) -> np.ndarray:
    """Weight of each spectrum bin by how close its wave direction is to ``direction``.

    ``direction`` (n,) is an orientation (radians modulo π), ``width`` the angular
    standard deviation, scalar or (n,). The weight is exp((cos 2Δ - 1) / 4σ²), which is
    the Gaussian exp(-Δ²/2σ²) for small differences Δ and, unlike it, needs no angle
    arithmetic per bin: cos 2Δ expands into products with the bins' fixed cos and sin.
    Returns (n, WINDOW, WINDOW//2+1) float32.
    """
    c = np.cos(2 * direction).astype(np.float32)[:, None, None]
    s = np.sin(2 * direction).astype(np.float32)[:, None, None]
    scale = (0.25 / np.square(np.asarray(width, dtype=np.float32))).reshape(-1, 1, 1)
    return np.exp((c * WAVE_COS2[None] + s * WAVE_SIN2[None] - 1.0) * scale)


def window_frequency(power: np.ndarray, orientation: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Ridge frequency (cycles per pixel) of each window where ``mask`` is True, else 0.

    ``power`` is (rows, cols, WINDOW, WINDOW//2+1), ``orientation`` the grid of ridge
    directions. Squaring the power favours the peak over the spectrum's spread.
    """
    frequency = np.zeros(mask.shape, dtype=np.float32)
    band = (BAND * HALF_PLANE_WEIGHT)[None]
    for rows, cols in batches(mask):
        p = power[rows, cols]
        weight = p * p * (wedge(orientation[rows, cols] + np.pi / 2, WEDGE) * band)
        total = weight.sum(axis=(1, 2))
        mean = (weight * RADIUS[None]).sum(axis=(1, 2)) / np.maximum(total, 1e-20)
        mean = np.where(total > 0, mean, 1.0 / TYPICAL_PERIOD)
        frequency[rows, cols] = np.clip(mean, 1.0 / MAX_PERIOD, 1.0 / MIN_PERIOD)
    return frequency


def smooth_field(frequency: np.ndarray, weight: np.ndarray, sigma: float = 1.5) -> np.ndarray:
    """Frequency grid averaged over weighted neighbours; empty areas get the median.

    ``frequency`` and ``weight`` are grids of windows; where the smoothed weight is
    too small to trust, the weighted median frequency of the whole finger is used.
    """
    w = weight.astype(np.float32)
    if not (w > 0).any():
        return np.full(frequency.shape, 1.0 / TYPICAL_PERIOD, dtype=np.float32)
    # Periods average more evenly than frequencies across a change of spacing.
    period = np.where(w > 0, 1.0 / np.maximum(frequency, 1e-6), 0.0)
    norm = ndimage.gaussian_filter(w, sigma, mode="constant")
    mean = ndimage.gaussian_filter(period * w, sigma, mode="constant") / np.maximum(norm, 1e-6)
    median = float(np.median(period[w > 0]))
    trust = np.clip(norm / 0.2, 0.0, 1.0)
    period = trust * mean + (1.0 - trust) * median
    period = np.clip(period, MIN_PERIOD, MAX_PERIOD)
    return (1.0 / period).astype(np.float32)
