"""Pens and how their ink darkens paper.

Ink is modelled as a filter: each pen lets through a share of the light in each colour
channel (its transmittance, paper = 1). Where a stroke covers a pixel by ``a`` (0 to 1,
anti-aliased edges), the pixel becomes ``pixel * (1 - a * (1 - t))`` per channel, so
overlapping strokes darken further and a light stroke over paper stays light. A grey
scan sees the luminance of that filter. Pencil graphite has grain: its coverage is
broken up per pixel.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

LUMA = np.array([0.299, 0.587, 0.114])
_SHIFT = 4  # sub-pixel bits for cv2 drawing
_ONE = 1 << _SHIFT


@dataclass(frozen=True)
class Patch:
    """A field over part of a sheet (float32, 0 to 1: ink coverage or shadow), its
    top-left corner at (x0, y0) pixels."""

    x0: int
    y0: int
    field: np.ndarray


@dataclass(frozen=True)
class Pen:
    """A writing instrument: RGB transmittance of its ink, stroke width, graininess."""

    name: str
    rgb: tuple[float, float, float]
    width_mm: float
    grain: float = 0.0  # 0 solid ink; up to 1 for graphite that leaves paper showing

    @property
    def grey(self) -> float:
        """The transmittance a grey scanner sees."""
        return float(np.dot(LUMA, self.rgb))


PENS = {
    "black": Pen("black", (0.10, 0.10, 0.12), 0.5),
    "blue": Pen("blue", (0.16, 0.22, 0.62), 0.5),
    "red": Pen("red", (0.80, 0.14, 0.14), 0.5),
    "green": Pen("green", (0.14, 0.50, 0.22), 0.5),
    "felt": Pen("felt", (0.08, 0.08, 0.10), 1.0),
    "pencil": Pen("pencil", (0.42, 0.42, 0.45), 0.5, grain=0.35),
}


def lighter(pen: Pen, strength: float) -> Pen:
    """The same pen pressed lightly: only ``strength`` (0 to 1) of its darkening."""
    rgb = tuple(1 - (1 - c) * strength for c in pen.rgb)
    return Pen(pen.name + "-light", rgb, pen.width_mm, pen.grain)  # type: ignore[arg-type]


class Canvas:
    """A coverage patch (0 to 1 per pixel) that strokes are drawn into, in patch pixels."""

    def __init__(self, height: int, width: int) -> None:
        self.cover = np.zeros((height, width), dtype=np.uint8)

    @staticmethod
    def _pt(x: float, y: float) -> tuple[int, int]:
        return int(round(x * _ONE)), int(round(y * _ONE))

    def stroke(self, points: list[tuple[float, float]], width_px: float) -> None:
        """A polyline of the given width with round ends."""
        # Anti-aliasing adds about a pixel of partial cover to cv2's thickness.
        thickness = max(1, int(round(width_px - 0.5)))
        pts = np.array([self._pt(x, y) for x, y in points], dtype=np.int32)
        cv2.polylines(self.cover, [pts], False, 255, thickness, cv2.LINE_AA, _SHIFT)

    def polygon(self, points: list[tuple[float, float]]) -> None:
        """A filled polygon."""
        pts = np.array([self._pt(x, y) for x, y in points], dtype=np.int32)
        cv2.fillPoly(self.cover, [pts], 255, cv2.LINE_AA, _SHIFT)

    def disc(self, x: float, y: float, radius_px: float) -> None:
        """A filled disc."""
        cx, cy = self._pt(x, y)
        cv2.circle(self.cover, (cx, cy), max(1, int(round(radius_px * _ONE))), 255, -1,
                   cv2.LINE_AA, _SHIFT)

    def coverage(self) -> np.ndarray:
        """The coverage as float32 from 0 to 1."""
        return self.cover.astype(np.float32) * (1 / 255)


def apply_ink(sheet: np.ndarray, x0: int, y0: int, cover: np.ndarray, pen: Pen,
              rng: np.random.Generator, strength: float = 1.0) -> None:
    """Darken ``sheet`` (grey HxW or colour HxWx3, uint8) in place where ``cover`` lies,
    its top-left at (x0, y0); the parts outside the sheet are dropped."""
    h, w = cover.shape
    ys0, xs0 = max(0, y0), max(0, x0)
    ys1, xs1 = min(sheet.shape[0], y0 + h), min(sheet.shape[1], x0 + w)
    if ys1 <= ys0 or xs1 <= xs0:
        return
    a = cover[ys0 - y0 : ys1 - y0, xs0 - x0 : xs1 - x0] * np.float32(strength)
    if pen.grain:
        a = a * (1 - pen.grain * rng.random(a.shape, dtype=np.float32))
    region = sheet[ys0:ys1, xs0:xs1]
    if sheet.ndim == 2:
        factor = 1 - a * np.float32(1 - pen.grey)
        region[...] = (region * factor + 0.5).astype(np.uint8)
    else:
        absorb = np.float32(1) - np.array(pen.rgb, dtype=np.float32)
        factor = 1 - a[:, :, None] * absorb[None, None, :]
        region[...] = (region * factor + 0.5).astype(np.uint8)


def apply_shade(sheet: np.ndarray, x0: int, y0: int, shade: np.ndarray,
                rgb: tuple[float, float, float] = (1.0, 1.0, 1.0)) -> None:
    """Darken ``sheet`` in place by ``shade`` (0 to 1), weighted per colour channel by
    ``rgb`` (a grey sheet by its luminance): folds, stains."""
    h, w = shade.shape
    ys0, xs0 = max(0, y0), max(0, x0)
    ys1, xs1 = min(sheet.shape[0], y0 + h), min(sheet.shape[1], x0 + w)
    if ys1 <= ys0 or xs1 <= xs0:
        return
    a = shade[ys0 - y0 : ys1 - y0, xs0 - x0 : xs1 - x0]
    region = sheet[ys0:ys1, xs0:xs1]
    weights = np.array(rgb, dtype=np.float32)
    if sheet.ndim == 2:
        factor = 1 - a * np.float32(np.dot(LUMA, weights))
    else:
        factor = 1 - a[:, :, None] * weights[None, None, :]
    region[...] = (region * factor + 0.5).astype(np.uint8)
