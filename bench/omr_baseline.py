"""A plain OpenCV mark reader, the yardstick ``bench/omr.py`` compares Shailoo's reader with.

What a simple optical mark reader does, and no more:

1. Otsu's threshold turns the scan into ink and paper.
2. Contours of the ink (outer ones and holes) below the header whose bounding box has
   the size of a target at the nominal resolution are the ovals (an empty oval gives
   its outline and its hole, a filled one a blob; both are kept once).
3. The ovals found are matched to the style's targets: the set is shifted so that its
   centre falls on the layout's centre, then a rotation, scale and shift is fitted to
   the nearest pairs within a radius that shrinks from four times ``MATCH_MM`` (no
   fiducials, no timing marks). A sheet on
   which fewer than half of the targets get an oval within ``MATCH_MM`` is not read.
4. A target's score is the share of ink pixels inside the inner part of its box at
   the fitted place; ``MARKED`` and above is a vote.

It is told the ballot style (it reads no code) and the scanner's resolution.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

MM_PER_INCH = 25.4
OVAL_MM = (7.0, 4.5)
SIZE_TOLERANCE = 0.25
COLUMN_GAP_MM = 20.0
HEADER_MARGIN_MM = 15.0
MARKED = 0.45


def read_baseline(gray: np.ndarray, layout: dict[str, Any], dpi: int) -> dict[str, Any]:
    """Read ``gray`` against ``layout`` (a render's layout record at ``dpi``).

    Returns ``{"status": "accepted", "marks": [{"contest", "option", "score", "class"}]}``
    or ``{"status": "rejected", "reason": ...}``.
    """
    k = dpi / MM_PER_INCH
    _, ink = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY_INV | cv2.THRESH_OTSU)
    contours, _ = cv2.findContours(ink, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    want_w, want_h = OVAL_MM[0] * k, OVAL_MM[1] * k
    # Only below the header, where the layout has targets (the code's finder patterns
    # have the size of an oval too).
    top = min(t["y"] for t in layout["targets"]) - HEADER_MARGIN_MM * k
    boxes = []
    for contour in contours:
        x, y, w, h = cv2.boundingRect(contour)
        if y > top and abs(w - want_w) <= SIZE_TOLERANCE * want_w and abs(h - want_h) <= (
            SIZE_TOLERANCE * want_h
        ):
            boxes.append((x + w / 2, y + h / 2))
    centres = _unique(np.array(boxes, dtype=np.float64).reshape(-1, 2), 2.0 * k)
    targets = layout["targets"]
    if len(centres) != len(targets):
        return {"status": "rejected",
                "reason": f"found {len(centres)} ovals, the style has {len(targets)}"}
    marks = []
    for target, (cx, cy) in zip(targets, _reading_order(centres, COLUMN_GAP_MM * k),
                                strict=True):
        hw, hh = target["w"] * 0.3, target["h"] * 0.3
        window = ink[max(0, int(cy - hh)): int(cy + hh) + 1,
                     max(0, int(cx - hw)): int(cx + hw) + 1]
        score = float(window.mean() / 255) if window.size else 0.0
        marks.append({"contest": target["contest"], "option": target["option"],
                      "score": round(score, 4),
                      "class": "marked" if score >= MARKED else "unmarked"})
    return {"status": "accepted", "marks": marks}


def _reading_order(centres: np.ndarray, gap: float) -> list[tuple[float, float]]:
    """Columns from left to right (split where ovals are ``gap`` apart across), each
    from top to bottom: the order in which the layout lists its targets."""
    by_x = centres[np.argsort(centres[:, 0])]
    splits = np.flatnonzero(np.diff(by_x[:, 0]) > gap) + 1
    ordered: list[tuple[float, float]] = []
    for column in np.split(by_x, splits):
        ordered.extend((float(x), float(y)) for x, y in column[np.argsort(column[:, 1])])
    return ordered


def _unique(points: np.ndarray, radius: float) -> np.ndarray:
    """``points`` without those within ``radius`` of one kept before them."""
    kept: list[np.ndarray] = []
    for p in points:
        if all(np.hypot(*(p - q)) > radius for q in kept):
            kept.append(p)
    return np.array(kept).reshape(-1, 2)
