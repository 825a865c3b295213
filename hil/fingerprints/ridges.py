"""Ridge growth: iterated space-variant band-pass filtering, as in SFinGe.

Starting from a few random seeds, each step filters the pattern with a filter tuned to
the local ridge orientation and period, then saturates it. Ridges spread out from the
seeds along the orientation field; where two growing fronts meet out of phase the
pattern has to end or split a ridge, and that is where minutiae come from.

A filter that changes at every pixel cannot be applied with one FFT. Its angular part is
therefore a trigonometric polynomial of degree ``2 * ANGULAR_ORDER`` in the angle of the
frequency vector, which is steerable: the output at any orientation is a weighted sum of
``2 * ANGULAR_ORDER + 1`` fixed filters, with weights that depend only on the local
orientation. The radial part is a blend of two band-pass rings, weighted by the local
period. So one step costs a fixed number of inverse FFTs, whatever the field.
"""

from __future__ import annotations

from math import comb

import numpy as np
from scipy import fft, ndimage

ANGULAR_ORDER = 4  # cos^(2k) angular profile: about ±22° at half power for k = 4


class SteerableBank:
    """The fixed filters for images of one shape, and how to steer them per pixel."""

    def __init__(self, height: int, width: int, short: float, long: float) -> None:
        fy = fft.fftfreq(height)[:, None]
        fx = fft.rfftfreq(width)[None, :]
        rho = np.hypot(fy, fx)
        alpha = np.arctan2(fy, fx)
        self.shape = (height, width)
        self.rings = []
        self.short = short
        self.long = long
        spread = 0.45 * (1.0 / short - 1.0 / long)
        for period in (long, short):
            ring = np.exp(-0.5 * ((rho - 1.0 / period) / spread) ** 2)
            self.rings.append(ring.astype(np.float32))
        k = ANGULAR_ORDER
        # cos^(2k)(u) = 2^-2k [C(2k,k) + 2 sum_m C(2k,k-m) cos(2mu)]
        self.weights = [comb(2 * k, k) / 4.0**k] + [
            2.0 * comb(2 * k, k - m) / 4.0**k for m in range(1, k + 1)
        ]
        self.harmonics = [np.ones_like(alpha, dtype=np.float32)]
        for m in range(1, k + 1):
            self.harmonics.append(np.cos(2 * m * alpha).astype(np.float32))
            self.harmonics.append(np.sin(2 * m * alpha).astype(np.float32))

    def steering(self, normal: np.ndarray, period: np.ndarray) -> list[np.ndarray]:
        """Per-pixel weights of every basis output, for normals (radians) and periods."""
        near_long = np.clip(
            (1.0 / period - 1.0 / self.short) / (1.0 / self.long - 1.0 / self.short), 0.0, 1.0
        ).astype(np.float32)
        radial = [near_long, 1.0 - near_long]
        angular = [np.full(normal.shape, self.weights[0], dtype=np.float32)]
        for m in range(1, ANGULAR_ORDER + 1):
            angular.append((self.weights[m] * np.cos(2 * m * normal)).astype(np.float32))
            angular.append((self.weights[m] * np.sin(2 * m * normal)).astype(np.float32))
        return [r * a for r in radial for a in angular]

    def apply(self, image: np.ndarray, steering: list[np.ndarray]) -> np.ndarray:
        """Filter ``image`` with the filter steered at every pixel."""
        spectrum = fft.rfft2(image, workers=1)
        out = np.zeros(self.shape, dtype=np.float32)
        i = 0
        for ring in self.rings:
            banded = spectrum * ring
            for harmonic in self.harmonics:
                out += steering[i] * fft.irfft2(banded * harmonic, s=self.shape, workers=1)
                i += 1
        return out


def normal_angle(orientation: np.ndarray) -> np.ndarray:
    """Angle of the ridge normal in the (fx, fy) frequency plane of an array (y down)."""
    return (np.pi / 2 - orientation).astype(np.float32)


def grow(
    orientation: np.ndarray,
    period: np.ndarray,
    rng: np.random.Generator,
    seeds: int = 40,
    steps: int = 40,
) -> np.ndarray:
    """A ridge pattern in [-1, 1] (ridges positive) following the two fields.

    The growth runs at half resolution, where ridges are still four pixels or more
    apart, and two final steps at full resolution sharpen the ridge edges.
    """
    height, width = orientation.shape
    h2, w2 = (height + 1) // 2, (width + 1) // 2
    theta2 = _half(orientation, doubled=True)
    period2 = _half(period) / 2.0
    bank = SteerableBank(h2, w2, float(period2.min()), float(period2.max()) + 1e-3)
    steering = bank.steering(normal_angle(theta2), period2)

    pattern = np.zeros((h2, w2), dtype=np.float32)
    ys = rng.integers(0, h2, seeds)
    xs = rng.integers(0, w2, seeds)
    pattern[ys, xs] = rng.choice([-1.0, 1.0], seeds)
    for _ in range(steps):
        filtered = bank.apply(pattern, steering)
        level = float(np.abs(filtered).max()) + 1e-12
        pattern = np.clip(filtered * (4.0 / level), -1.0, 1.0)
    full = ndimage.zoom(pattern, 2, order=1)[:height, :width]
    bank = SteerableBank(height, width, float(period.min()), float(period.max()) + 1e-3)
    steering = bank.steering(normal_angle(orientation), period)
    for _ in range(2):
        filtered = bank.apply(full, steering)
        # Dividing by the local amplitude lifts the faint zones where fronts met, so every
        # dislocation becomes a clean ending or fork instead of a grey smear.
        amplitude = np.sqrt(ndimage.gaussian_filter(filtered * filtered, float(period.mean())))
        full = np.clip(2.0 * filtered / (amplitude + 1e-6), -1.0, 1.0)
    return full.astype(np.float32)


def _half(field: np.ndarray, doubled: bool = False) -> np.ndarray:
    """Field at half resolution; orientations are averaged as doubled angles."""
    if doubled:
        c = _half(np.cos(2 * field))
        s = _half(np.sin(2 * field))
        return (np.mod(np.arctan2(s, c), 2 * np.pi) / 2).astype(np.float32)
    h, w = field.shape
    padded = np.pad(field, ((0, h % 2), (0, w % 2)), mode="edge")
    return padded.reshape(padded.shape[0] // 2, 2, padded.shape[1] // 2, 2).mean(axis=(1, 3))
