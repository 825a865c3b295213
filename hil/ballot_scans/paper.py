"""What happens to the paper before it reaches the scanner: folds, stains, specks of dirt.

None of these is a vote, wherever it falls (VVSG 1.1.6-I): a fold is a soft band of
shadow, at most ``FOLD_MAX`` darker than the paper; a coffee stain is a light tint
with a slightly darker rim, brownish in colour (it absorbs blue most, and even there
stays lighter than ``STAIN_MIN_BLUE``); specks are dots of dust under 0.3 mm.
"""

from __future__ import annotations

import numpy as np

from hil.ballot_scans.pens import Patch

FOLD_MAX = 0.12
STAIN_MIN_BLUE = 0.8


def fold_patch(shape: tuple[int, int], axis: str, position: float, depth: float,
               width_px: float) -> Patch | None:
    """A fold across the whole sheet of ``shape`` (rows, columns) at ``position`` pixels
    along ``axis`` ("h": a horizontal line, "v": a vertical one): a shadow ``depth`` (at
    most ``FOLD_MAX``) deep and about ``width_px`` wide, steeper on one side like a
    crease. None when it misses the sheet."""
    depth = float(np.clip(depth, 0, FOLD_MAX))
    length = shape[0] if axis == "h" else shape[1]
    reach = int(width_px * 2.5) + 2
    start, stop = max(0, int(position) - reach), min(length, int(position) + reach)
    if stop <= start:
        return None
    d = np.arange(start, stop, dtype=np.float32) - np.float32(position)
    sigma = np.where(d < 0, width_px * 0.45, width_px)
    profile = (depth * np.exp(-0.5 * (d / sigma) ** 2)).astype(np.float32)
    if axis == "h":
        return Patch(0, start, np.repeat(profile[:, None], shape[1], axis=1))
    return Patch(start, 0, np.repeat(profile[None, :], shape[0], axis=0))


STAIN_RGB = (0.35, 0.55, 1.0)  # how coffee absorbs red, green and blue


def stain_patch(cx: float, cy: float, radius: float, depth: float,
                rng: np.random.Generator) -> Patch:
    """A coffee ring at (cx, cy) pixels: a tint inside, a rim twice as dark; its shadow
    is to be applied with ``STAIN_RGB`` weights."""
    x0, y0 = int(cx - radius * 1.2), int(cy - radius * 1.2)
    side = int(radius * 2.4) + 2
    ys, xs = np.mgrid[y0 : y0 + side, x0 : x0 + side].astype(np.float32)
    angle = np.arctan2(ys - cy, xs - cx)
    # A ring is never round: its radius wanders with the angle.
    wobble = 1 + 0.08 * np.sin(3 * angle + rng.uniform(0, 6)) + 0.05 * np.sin(
        5 * angle + rng.uniform(0, 6))
    r = np.hypot(xs - cx, ys - cy) / (radius * wobble)
    rim = np.exp(-0.5 * ((r - 1) / 0.04) ** 2)
    tint = np.where(r < 1, 0.5, 0.0) + rim
    strength = min(depth, (1 - STAIN_MIN_BLUE) / 1.5)
    return Patch(x0, y0, (strength * tint).astype(np.float32))


def specks(sheet: np.ndarray, count: int, px_per_mm: float, rng: np.random.Generator) -> None:
    """``count`` dots of dust, each under 0.3 mm across, anywhere on the sheet."""
    height, width = sheet.shape[:2]
    for _ in range(count):
        r = rng.uniform(0.04, 0.14) * px_per_mm
        cx, cy = rng.uniform(0, width), rng.uniform(0, height)
        x0, y0 = max(0, int(cx - r - 1)), max(0, int(cy - r - 1))
        x1, y1 = min(width, int(cx + r + 2)), min(height, int(cy + r + 2))
        if x1 <= x0 or y1 <= y0:
            continue
        ys, xs = np.mgrid[y0:y1, x0:x1]
        cover = np.clip(r + 0.5 - np.hypot(xs + 0.5 - cx, ys + 0.5 - cy), 0, 1)
        shade = np.float32(rng.uniform(0.3, 0.8))
        factor = (1 - cover * shade).astype(np.float32)
        region = sheet[y0:y1, x0:x1]
        if sheet.ndim == 3:
            factor = factor[:, :, None]
        region[...] = (region * factor + 0.5).astype(np.uint8)
