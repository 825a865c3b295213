"""Measurements of fingerprint images, to check the generator against real fingers.

Both work on square blocks: a block of ridges has its spectral energy in a ring at the
ridge frequency, a block of background or smear has little energy there.
"""

from __future__ import annotations

import numpy as np

BLOCK = 32
RIDGE_BAND = (6.0, 15.0)  # periods (pixels) that count as ridges at 500 dpi


def _blocks(image: np.ndarray, block: int) -> np.ndarray:
    """Overlapping blocks (half a block apart) as an (n, block, block) float array."""
    if image.ndim != 2 or min(image.shape) < block:
        raise ValueError("need a 2-D image of at least %dx%d pixels" % (block, block))
    step = block // 2
    img = np.asarray(image, dtype=np.float32)
    view = np.lib.stride_tricks.sliding_window_view(img, (block, block))[::step, ::step]
    return view.reshape(-1, block, block)


def _spectra(image: np.ndarray, block: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Power spectra of the windowed blocks, their radii (cycles/pixel) and contrast."""
    blocks = _blocks(image, block)
    contrast = blocks.std(axis=(1, 2))
    window = np.outer(np.hanning(block), np.hanning(block)).astype(np.float32)
    centred = (blocks - blocks.mean(axis=(1, 2), keepdims=True)) * window
    power = np.abs(np.fft.rfft2(centred)) ** 2
    fy = np.fft.fftfreq(block)[:, None]
    fx = np.fft.rfftfreq(block)[None, :]
    return power, np.hypot(fy, fx), contrast


def ridge_blocks(image: np.ndarray, block: int = BLOCK) -> tuple[np.ndarray, np.ndarray]:
    """For every block: whether it shows ridges, and its dominant period in pixels.

    A block shows ridges when most of its energy lies in the ridge band and its grey
    levels vary by more than a little noise.
    """
    power, radius, contrast = _spectra(image, block)
    band = (radius >= 1.0 / RIDGE_BAND[1]) & (radius <= 1.0 / RIDGE_BAND[0])
    total = power[:, radius > 0.5 / block].sum(axis=1) + 1e-9
    share = power[:, band].sum(axis=1) / total
    flat = power.reshape(len(power), -1)
    peak = radius.ravel()[np.argmax(np.where(band.ravel(), flat, -1.0), axis=1)]
    has_ridges = (share > 0.55) & (contrast > 12.0)
    return has_ridges, 1.0 / np.maximum(peak, 1e-6)


def ridge_area(image: np.ndarray) -> float:
    """Share of the image's blocks that show ridges, 0 to 1."""
    has_ridges, _ = ridge_blocks(image)
    return float(has_ridges.mean())


def ridge_period(image: np.ndarray) -> float:
    """Median dominant ridge period (pixels) over the blocks that show ridges; nan if none.

    The peak of a 32-pixel block's spectrum falls on whole cycles per block, so each
    block's period is refined by the energy-weighted mean radius around the peak.
    """
    power, radius, contrast = _spectra(image, BLOCK)
    has_ridges, _ = ridge_blocks(image)
    band = (radius >= 1.0 / RIDGE_BAND[1]) & (radius <= 1.0 / RIDGE_BAND[0])
    if not has_ridges.any():
        return float("nan")
    weights = power[has_ridges][:, band]
    mean_radius = (weights * radius[band]).sum(axis=1) / (weights.sum(axis=1) + 1e-9)
    return float(np.median(1.0 / mean_radius))
