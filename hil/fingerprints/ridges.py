"""Ridge growth: iterated space-variant band-pass filtering, as in SFinGe.

Starting from a few random seeds, each step filters the pattern with a filter tuned to
the local ridge orientation and period, then saturates it. Ridges spread out from the
seeds along the orientation field; where the flow asks for more ridges, or two fronts
meet out of phase, the pattern has to end or split a ridge, and those are minutiae.
Real skin has about as many again that no flow asks for: ``insert_dislocations`` adds
them as pairs of phase singularities.

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

DEAD_ZONE = 0.05  # filtered values below this are zero: ridges only grow from ridges
GAIN = 8.0  # saturation gain per step; higher moves the fronts faster
PAD = 12  # half-resolution pixels of dead band around the growing pattern
FILLED = 0.97  # share of non-zero pixels at which the fronts count as having met
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
        # A ring never narrower than for a 1.5-pixel spread of periods, or the filter rings.
        spread = 0.45 * max(1.0 / short - 1.0 / long, 1.0 / short - 1.0 / (short + 1.5))
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
    seeds: int = 4,
    max_steps: int = 90,
    settle_steps: int = 6,
) -> np.ndarray:
    """A ridge pattern in [-1, 1] (ridges positive) following the two fields.

    Growth starts from ``seeds`` points near the middle and runs until the fronts have
    filled the image (then ``settle_steps`` more), at most ``max_steps``. It runs at half
    resolution, where ridges are still four pixels or more apart; the result is brought
    to full resolution but still soft: ``sharpen`` finishes it.
    """
    height, width = orientation.shape
    theta2 = np.pad(_half(orientation, doubled=True), PAD, mode="edge")
    period2 = np.pad(_half(period) / 2.0, PAD, mode="edge")
    h2, w2 = theta2.shape
    # The FFT wraps around; a dead band around the image keeps fronts from crossing it.
    live = np.zeros((h2, w2), dtype=bool)
    live[PAD:-PAD, PAD:-PAD] = True
    bank = SteerableBank(h2, w2, float(period2.min()), float(period2.max()) + 1e-3)
    steering = bank.steering(normal_angle(theta2), period2)

    pattern = np.zeros((h2, w2), dtype=np.float32)
    ys = PAD + (h2 - 2 * PAD) * rng.uniform(0.3, 0.7, seeds)
    xs = PAD + (w2 - 2 * PAD) * rng.uniform(0.3, 0.7, seeds)
    pattern[ys.astype(int), xs.astype(int)] = rng.choice([-1.0, 1.0], seeds)
    remaining = settle_steps
    for _ in range(max_steps):
        filtered = bank.apply(pattern, steering)
        level = float(np.abs(filtered).max()) + 1e-12
        pattern = np.clip(filtered * (GAIN / level), -1.0, 1.0)
        # The dead zone stops ridges from nucleating out of rounding noise: they only
        # spread from what is already there, as fronts.
        pattern[(np.abs(pattern) < DEAD_ZONE) | ~live] = 0.0
        if np.count_nonzero(pattern) >= FILLED * live.sum():
            remaining -= 1
            if remaining == 0:
                break
    pattern = pattern[PAD:-PAD, PAD:-PAD]
    return ndimage.zoom(pattern, 2, order=1)[:height, :width]


def sharpen(pattern: np.ndarray, orientation: np.ndarray, period: np.ndarray) -> np.ndarray:
    """Two full-resolution filtering steps that give the ridges clean, saturated edges."""
    bank = SteerableBank(*pattern.shape, float(period.min()), float(period.max()) + 1e-3)
    steering = bank.steering(normal_angle(orientation), period)
    for _ in range(2):
        filtered = bank.apply(pattern, steering)
        # Dividing by the local amplitude lifts the faint zones where fronts met, so every
        # dislocation becomes a clean ending or fork instead of a grey smear.
        amplitude = np.sqrt(ndimage.gaussian_filter(filtered * filtered, float(period.mean())))
        pattern = np.clip(2.0 * filtered / (amplitude + 1e-6), -1.0, 1.0)
    return pattern.astype(np.float32)


def insert_dislocations(
    pattern: np.ndarray,
    orientation: np.ndarray,
    period: np.ndarray,
    where: np.ndarray,
    pairs: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """``pattern`` with ``pairs`` dislocation pairs added at random places in ``where``.

    Growth alone leaves only the minutiae that the ridge flow forces; real skin has as
    many again that nothing forces: short ridges, lakes, spurs, ridges that just stop.
    Each pair is a displacement of the ridges by one period times the angle that the
    segment between its two ends subtends, which puts a phase singularity of +1 at one
    end and -1 at the other and leaves the pattern untouched far away.
    """
    height, width = pattern.shape
    ys, xs = np.nonzero(where)
    if pairs <= 0 or len(ys) == 0:
        return pattern
    shift_x = np.zeros(pattern.shape, dtype=np.float64)
    shift_y = np.zeros(pattern.shape, dtype=np.float64)
    for pick in rng.integers(0, len(ys), pairs):
        cy, cx = int(ys[pick]), int(xs[pick])
        p = float(period[cy, cx])
        theta = float(orientation[cy, cx])
        # Half along the ridges (short ridges and lakes), half any way: a lone ending and
        # a lone fork some ridges apart, which is what most minutiae look like.
        if rng.random() < 0.5:
            turn, length = rng.normal(0.0, 0.25), p * min(1.6 + rng.exponential(1.6), 7.0)
        else:
            turn, length = rng.uniform(0.0, np.pi), p * min(1.5 + rng.exponential(1.5), 6.0)
        ux, uy = np.cos(theta + turn), -np.sin(theta + turn)
        x1, y1 = cx - 0.5 * length * ux, cy - 0.5 * length * uy
        x2, y2 = cx + 0.5 * length * ux, cy + 0.5 * length * uy
        reach = int(3.0 * length + 2.0 * p)
        y0, y9 = max(0, cy - reach), min(height, cy + reach + 1)
        x0, x9 = max(0, cx - reach), min(width, cx + reach + 1)
        gy, gx = np.mgrid[y0:y9, x0:x9].astype(np.float64)
        z = gx + 1j * gy
        subtended = np.angle((z - (x1 + 1j * y1)) / (z - (x2 + 1j * y2) + 1e-9))
        r = np.abs(z - (cx + 1j * cy))
        inner = 1.5 * length + p
        taper = np.clip((reach - r) / max(reach - inner, 1.0), 0.0, 1.0)
        taper = np.sin(0.5 * np.pi * taper) ** 2
        burgers = p / (2.0 * np.pi) * rng.choice([-1.0, 1.0])
        # The ridge normal in image axes (x right, y down).
        nx, ny = np.sin(theta), np.cos(theta)
        shift_x[y0:y9, x0:x9] += burgers * nx * subtended * taper
        shift_y[y0:y9, x0:x9] += burgers * ny * subtended * taper
    gy, gx = np.mgrid[0:height, 0:width].astype(np.float64)
    return ndimage.map_coordinates(
        pattern, [gy - shift_y, gx - shift_x], order=1, mode="nearest"
    ).astype(np.float32)


def _half(field: np.ndarray, doubled: bool = False) -> np.ndarray:
    """Field at half resolution; orientations are averaged as doubled angles."""
    if doubled:
        c = _half(np.cos(2 * field))
        s = _half(np.sin(2 * field))
        return (np.mod(np.arctan2(s, c), 2 * np.pi) / 2).astype(np.float32)
    h, w = field.shape
    padded = np.pad(field, ((0, h % 2), (0, w % 2)), mode="edge")
    return padded.reshape(padded.shape[0] // 2, 2, padded.shape[1] // 2, 2).mean(axis=(1, 3))
