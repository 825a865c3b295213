"""Ridge orientation and its coherence from the smoothed gradient tensor.

The gradient tensor of a window (Kass & Witkin; Bazen & Gerez) is the sum of g gᵀ over
its pixels. By Parseval's theorem it equals the sum over the window's spectrum of
|F(k)|² k kᵀ (up to a constant), so it comes straight from the spectra the enhancement
needs anyway; summing only over the ridge band makes it a band-passed gradient that
neither the sensor's shading nor its pixel noise can turn.

The tensor field is then smoothed over neighbouring windows in its doubled-angle form,
which averages orientations without the 0/π ambiguity. Orientation is the ridge
direction, radians modulo π, counterclockwise as viewed; coherence (0..1) says how
strongly one direction dominates.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from controller.biometrics.extract.tiles import FREQ_X, FREQ_Y, HALF_PLANE_WEIGHT

# Smoothing of the tensor field, in windows (one window step is 16 pixels at 500 dpi).
SMOOTHING = 1.0


class Tensor:
    """Gradient tensor components per window in viewed axes (x right, y up)."""

    def __init__(self, xx: np.ndarray, yy: np.ndarray, xy: np.ndarray) -> None:
        self.xx = xx
        self.yy = yy
        self.xy = xy

    @property
    def energy(self) -> np.ndarray:
        """Trace of the tensor: the (band-limited) gradient energy."""
        return self.xx + self.yy

    def orientation(self) -> np.ndarray:
        """Ridge direction, radians in [0, π): perpendicular to the dominant gradient."""
        normal = 0.5 * np.arctan2(2.0 * self.xy, self.xx - self.yy)
        return np.mod(normal + np.pi / 2, np.pi).astype(np.float32)

    def coherence(self) -> np.ndarray:
        """(λ1 - λ2) / (λ1 + λ2): 1 for parallel ridges, 0 for no dominant direction."""
        spread = np.hypot(self.xx - self.yy, 2.0 * self.xy)
        return (spread / np.maximum(self.energy, 1e-12)).astype(np.float32)

    def smoothed(self, weight: np.ndarray, sigma: float | None = None) -> Tensor:
        """The tensor field averaged over neighbouring windows, each counted by ``weight``.

        Windows with weight 0 (the background) neither contribute nor dilute: the sums
        are divided by the smoothed weight.
        """
        sigma = SMOOTHING if sigma is None else sigma
        w = weight.astype(np.float32)
        norm = ndimage.gaussian_filter(w, sigma, mode="nearest")
        norm = np.maximum(norm, 1e-6)

        def smooth(a: np.ndarray) -> np.ndarray:
            return ndimage.gaussian_filter(a * w, sigma, mode="nearest") / norm

        # Normalising each window by its energy first lets a faint but clear window
        # count as much as a dark, contrasty one.
        scale = 1.0 / np.maximum(self.energy, 1e-12)
        return Tensor(smooth(self.xx * scale), smooth(self.yy * scale), smooth(self.xy * scale))


def band_tensor(power: np.ndarray, band: np.ndarray) -> Tensor:
    """Gradient tensor of each window from its power spectrum, limited to ``band``.

    ``power`` is (..., WINDOW, WINDOW//2+1); ``band`` a boolean or weight array over the
    spectrum bins. The y axis is flipped to viewed axes (y up).
    """
    weight = (band * HALF_PLANE_WEIGHT).astype(np.float32)
    fx, fy = FREQ_X, -FREQ_Y
    kernels = np.stack(
        [
            (weight * fx * fx).ravel(),
            (weight * fy * fy).ravel(),
            (weight * fx * fy).ravel(),
        ],
        axis=1,
    )
    flat = power.reshape(power.shape[:-2] + (-1,))
    sums = flat @ kernels
    return Tensor(sums[..., 0], sums[..., 1], sums[..., 2])


def sample(field: np.ndarray, ys: np.ndarray, xs: np.ndarray, step: int) -> np.ndarray:
    """Orientation at pixel positions, interpolated between window centres.

    ``field`` is an orientation grid (radians modulo π) with windows every ``step``
    pixels; interpolation runs on the doubled angle so that directions near 0 and π
    average correctly.
    """
    gy = (np.asarray(ys, dtype=np.float32) - (step - 1) / 2.0) / step
    gx = (np.asarray(xs, dtype=np.float32) - (step - 1) / 2.0) / step
    c = ndimage.map_coordinates(np.cos(2 * field), [gy, gx], order=1, mode="nearest")
    s = ndimage.map_coordinates(np.sin(2 * field), [gy, gx], order=1, mode="nearest")
    return np.mod(0.5 * np.arctan2(s, c), np.pi).astype(np.float32)
