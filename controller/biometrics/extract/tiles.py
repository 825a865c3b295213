"""Overlapping square windows over an image, their spectra, and the way back.

Every later stage works on one grid: ``STEP``-pixel blocks, each seen through a
``WINDOW``-pixel window centred on it, so neighbouring windows overlap by half. A window
of 32 pixels holds three or four ridges at 500 dpi, enough for a clean peak in its
spectrum; a step of 16 keeps the orientation and frequency fields fine enough to follow
the ridges round a core.

Windows are tapered with a sine window both before the transform and after filtering;
the squared sine sums to one over half-overlapping windows, so filtered windows add
back into an image without seams (weighted overlap-add).
"""

from __future__ import annotations

import numpy as np
import scipy.fft

WINDOW = 32
STEP = 16
_HALF = (WINDOW - STEP) // 2

CHUNK = 1024  # windows per batch: big images are filtered in cache-sized pieces

_taper_1d = np.sin(np.pi * (np.arange(WINDOW) + 0.5) / WINDOW).astype(np.float32)
TAPER = np.outer(_taper_1d, _taper_1d)

# Spatial frequency (cycles per pixel) of each bin of a real 2-D transform of a window:
# rows are the vertical frequency (y down), columns the horizontal one.
FREQ_Y = np.fft.fftfreq(WINDOW).astype(np.float32)[:, None]
FREQ_X = np.fft.rfftfreq(WINDOW).astype(np.float32)[None, :]
RADIUS = np.hypot(FREQ_Y, FREQ_X)
# Direction of each bin's wave vector, counterclockwise as viewed (y up), modulo π.
WAVE_ANGLE = np.mod(np.arctan2(-FREQ_Y, FREQ_X), np.pi)
WAVE_COS2 = np.cos(2 * WAVE_ANGLE).astype(np.float32)
WAVE_SIN2 = np.sin(2 * WAVE_ANGLE).astype(np.float32)
# A real spectrum stores half the plane: the columns inside the half count twice.
HALF_PLANE_WEIGHT = np.where((FREQ_X > 0) & (FREQ_X < 0.5), 2.0, 1.0).astype(np.float32)


class Tiling:
    """The window grid of an image of ``height`` x ``width`` pixels.

    ``rows`` x ``cols`` windows; window (i, j) is centred on the block of pixels
    ``[STEP*i, STEP*i + STEP) x [STEP*j, STEP*j + STEP)``.
    """

    def __init__(self, height: int, width: int) -> None:
        self.height = height
        self.width = width
        self.rows = -(-height // STEP)
        self.cols = -(-width // STEP)

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, cols) of the window grid."""
        return self.rows, self.cols

    def windows(self, image: np.ndarray) -> np.ndarray:
        """Tapered windows of ``image`` with each window's weighted mean removed.

        Returns float32 (rows, cols, WINDOW, WINDOW). Pixels beyond the image edge are
        the edge mirrored, so windows on the border see ridges rather than a step.
        """
        padded = self._pad(image.astype(np.float32, copy=False))
        view = np.lib.stride_tricks.sliding_window_view(padded, (WINDOW, WINDOW))
        blocks = view[::STEP, ::STEP][: self.rows, : self.cols]
        # Taper-weighted mean of each window: tᵀ X t for the 1-D taper t.
        means = np.einsum("ijab,a,b->ij", blocks, _taper_1d, _taper_1d, optimize=True)
        means /= float(_taper_1d.sum()) ** 2
        out = np.empty(blocks.shape, dtype=np.float32)
        np.subtract(blocks, means[:, :, None, None], out=out)
        out *= TAPER
        return out

    def spectra(self, windows: np.ndarray) -> np.ndarray:
        """Real 2-D spectra (rows, cols, WINDOW, WINDOW//2+1) of ``windows``."""
        return scipy.fft.rfft2(windows, axes=(-2, -1), workers=1)

    def inverse(self, spectra: np.ndarray) -> np.ndarray:
        """Tapered windows (n, WINDOW, WINDOW) back from filtered ``spectra``."""
        blocks = scipy.fft.irfft2(spectra, s=(WINDOW, WINDOW), axes=(-2, -1), workers=1)
        blocks = blocks.astype(np.float32, copy=False)
        blocks *= TAPER
        return blocks

    def assemble(self, blocks: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Overlap-add tapered windows into an image.

        ``blocks`` is (n, WINDOW, WINDOW) for the windows where ``mask`` is True, in
        row-major order; pixels that no chosen window covers are 0. Inside the covered
        area the result is the filtered image; towards the edge of the area it fades,
        keeping its sign.
        """
        full = np.zeros((self.rows, self.cols, WINDOW, WINDOW), dtype=np.float32)
        full[mask] = blocks
        out = np.zeros((STEP * self.rows + 2 * _HALF, STEP * self.cols + 2 * _HALF), np.float32)
        # Windows two steps apart do not overlap: add the four interleaved sets in turn.
        for a in (0, 1):
            for b in (0, 1):
                part = full[a::2, b::2]
                r, c = part.shape[:2]
                if r == 0 or c == 0:
                    continue
                tile = part.transpose(0, 2, 1, 3).reshape(r * WINDOW, c * WINDOW)
                y0, x0 = a * STEP, b * STEP
                out[y0 : y0 + r * WINDOW, x0 : x0 + c * WINDOW] += tile
        return out[_HALF : _HALF + self.height, _HALF : _HALF + self.width]

    def expand(self, grid: np.ndarray) -> np.ndarray:
        """A per-window array repeated over each window's block of pixels."""
        full = np.repeat(np.repeat(grid, STEP, axis=0), STEP, axis=1)
        return full[: self.height, : self.width]

    def _pad(self, image: np.ndarray) -> np.ndarray:
        total_h = STEP * self.rows + 2 * _HALF
        total_w = STEP * self.cols + 2 * _HALF
        bottom = total_h - _HALF - self.height
        right = total_w - _HALF - self.width
        mode = "reflect" if min(self.height, self.width) > WINDOW else "edge"
        return np.pad(image, ((_HALF, bottom), (_HALF, right)), mode=mode)


def batches(mask: np.ndarray, size: int = CHUNK) -> list[np.ndarray]:
    """The (row, col) indices of the True windows of ``mask``, in batches of ``size``.

    Row-major order, so that concatenated results line up with ``grid[mask]``.
    """
    rows, cols = np.nonzero(mask)
    return [np.stack([rows[i : i + size], cols[i : i + size]]) for i in range(0, len(rows), size)]
