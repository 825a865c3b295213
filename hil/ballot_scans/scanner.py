"""What the scanner does to a sheet: where it lies, how sharp, how bright, how noisy.

``placement`` builds the homography from base-sheet pixels to scan pixels: the sheet
slightly out of flat (its corners moved by up to ``perspective`` mm), turned by
``rotation`` degrees and one of the four feed orientations, scaled (printer and scanner
both a little off), shifted on a white bed a few millimetres larger than the turned
sheet. The rest works on the scan: optical blur, the sensor's noise, a streak down one
column (a dirty or dead sensor element), the paper and black levels, JPEG compression.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

_NOISE_BANK = 2
_NOISE_STEP = 512  # pixels: the size classes of stored noise fields
_NOISE_KEPT = 16
_noise: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}


def placement(
    sheet_px: tuple[int, int],
    base_k: float,
    scan_k: float,
    rotation: float,
    scale: float,
    orientation: int,
    perspective: tuple[tuple[float, float], ...],
    margins: tuple[float, float, float, float],
) -> tuple[np.ndarray, tuple[int, int]]:
    """The homography base pixels → scan pixels and the scan's (width, height).

    ``perspective`` moves the four paper corners (TL, TR, BR, BL) by (dx, dy) mm;
    ``margins`` are the bed around the turned sheet (left, top, right, bottom) in mm.
    """
    width, height = sheet_px
    corners = np.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=np.float64)
    moved = corners + np.array(perspective, dtype=np.float64) * base_k
    bend = cv2.getPerspectiveTransform(corners.astype(np.float32), moved.astype(np.float32))
    theta = math.radians(rotation + orientation)
    factor = scale * scan_k / base_k
    cos, sin = math.cos(theta) * factor, math.sin(theta) * factor
    cx, cy = width / 2, height / 2
    # Clockwise in the image (y down) for a positive angle.
    turn = np.array([[cos, -sin, 0.0], [sin, cos, 0.0], [0.0, 0.0, 1.0]]) @ np.array(
        [[1, 0, -cx], [0, 1, -cy], [0, 0, 1.0]]
    )
    h = turn @ bend
    placed = cv2.perspectiveTransform(corners.reshape(1, -1, 2), h)[0]
    left, top, right, bottom = (m * scan_k for m in margins)
    x_min, y_min = placed.min(axis=0)
    x_max, y_max = placed.max(axis=0)
    shift = np.array([[1, 0, left - x_min], [0, 1, top - y_min], [0, 0, 1.0]])
    size = (int(math.ceil(x_max - x_min + left + right)),
            int(math.ceil(y_max - y_min + top + bottom)))
    return shift @ h, size


def warp(sheet: np.ndarray, h: np.ndarray, size: tuple[int, int], bed: int = 255
         ) -> np.ndarray:
    """The sheet as the scanner sees it, on a bed of grey level ``bed``."""
    border = (bed, bed, bed) if sheet.ndim == 3 else bed
    return cv2.warpPerspective(sheet, h, size, flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_CONSTANT, borderValue=border)


def blur(scan: np.ndarray, sigma: float) -> np.ndarray:
    """Optical blur (Gaussian, ``sigma`` pixels)."""
    if sigma <= 0.05:
        return scan
    return cv2.GaussianBlur(scan, (0, 0), sigma)


def _noise_fields(sigma: int, index: int, shape: tuple[int, int]
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Stored Gaussian noise of a whole number ``sigma``, as its positive and negative
    parts (uint8, so adding it is two saturating byte operations), large enough for
    ``shape``. A field's size depends only on the scan's size class, never on the scans
    made before, so a spec gives the same pixels whatever was generated earlier; scans
    of one class (a paper at a dpi, placed within the tolerances) share it."""
    side = -(-int(max(shape) * 1.1) // _NOISE_STEP) * _NOISE_STEP + 64
    key = (sigma, index, side)
    fields = _noise.get(key)
    if fields is None:
        rng = np.random.default_rng([1000, sigma, index, side])
        values = rng.standard_normal((side, side), dtype=np.float32) * sigma
        values = np.clip(np.round(values), -255, 255).astype(np.int16)
        fields = (np.clip(values, 0, 255).astype(np.uint8),
                  np.clip(-values, 0, 255).astype(np.uint8))
        if len(_noise) >= _NOISE_KEPT:
            _noise.pop(next(iter(_noise)))
        _noise[key] = fields
    return fields


def noise(scan: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Sensor noise of about ``sigma`` grey levels (rounded to a whole number): a crop of
    a stored field at a random place."""
    level = int(round(sigma))
    if level <= 0:
        return scan
    height, width = scan.shape[:2]
    plus, minus = _noise_fields(level, int(rng.integers(0, _NOISE_BANK)), (height, width))
    y = int(rng.integers(0, plus.shape[0] - height + 1))
    x = int(rng.integers(0, plus.shape[1] - width + 1))
    up, down = plus[y : y + height, x : x + width], minus[y : y + height, x : x + width]
    if scan.ndim == 3:
        up, down = cv2.merge([up, up, up]), cv2.merge([down, down, down])
    return cv2.subtract(cv2.add(scan, up), down)


def levels(scan: np.ndarray, paper: int, black: int) -> np.ndarray:
    """Map white to ``paper`` and black to ``black`` (a dull sheet, a weak lamp)."""
    if paper == 255 and black == 0:
        return scan
    lut = np.round(black + np.arange(256) / 255 * (paper - black)).astype(np.uint8)
    return cv2.LUT(scan, lut)


def streak(scan: np.ndarray, column: int, width: int, value: int) -> None:
    """A streak down the scan direction: ``width`` columns from ``column`` stuck at
    ``value`` (0 dirt, 255 a dead element that reads white)."""
    scan[:, max(0, column) : column + width] = value


def jpeg(scan: np.ndarray, quality: int) -> np.ndarray:
    """The scan through JPEG at ``quality`` and back."""
    colour = scan.ndim == 3
    data = scan[:, :, ::-1] if colour else scan
    ok, encoded = cv2.imencode(".jpg", data, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    decoded = cv2.imdecode(encoded, cv2.IMREAD_COLOR if colour else cv2.IMREAD_GRAYSCALE)
    return decoded[:, :, ::-1].copy() if colour else decoded


def warp_patch(field: np.ndarray, x0: int, y0: int, h: np.ndarray, size: tuple[int, int]
               ) -> tuple[int, int, np.ndarray] | None:
    """A field drawn on the base sheet at (x0, y0) as it lies in the scan: its place there
    and the warped field (None when it falls outside the scan)."""
    ph, pw = field.shape
    corners = np.array([[[x0, y0], [x0 + pw, y0], [x0 + pw, y0 + ph], [x0, y0 + ph]]],
                       dtype=np.float64)
    placed = cv2.perspectiveTransform(corners, h)[0]
    bx0 = max(0, int(math.floor(placed[:, 0].min())) - 1)
    by0 = max(0, int(math.floor(placed[:, 1].min())) - 1)
    bx1 = min(size[0], int(math.ceil(placed[:, 0].max())) + 2)
    by1 = min(size[1], int(math.ceil(placed[:, 1].max())) + 2)
    if bx1 <= bx0 or by1 <= by0:
        return None
    shift = np.array([[1, 0, -bx0], [0, 1, -by0], [0, 0, 1.0]])
    origin = np.array([[1, 0, x0], [0, 1, y0], [0, 0, 1.0]])
    warped = cv2.warpPerspective(field, shift @ h @ origin, (bx1 - bx0, by1 - by0),
                                 flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                                 borderValue=0)
    return bx0, by0, warped
