"""Registration: where the printed sheet lies in the scan, as a homography from millimetres.

1. The QR symbol's four corners (from the code reader) give a first affine estimate,
   whatever way round the sheet was fed.
2. The four corner fiducials are looked for near where that estimate puts them; all
   four must be found (a missing one is never guessed) and they fix an exact
   homography.
3. Every timing mark is looked for where that homography puts it. A mark is found when
   a bar of about its size is alone in its window; marks that are absent, smudged or
   covered are left out, never guessed, and too few found refuses the sheet.
4. One homography is fitted to all points found; points that disagree with it by more
   than ``MAX_RESIDUAL_MM`` are dropped one by one (a stray mark beside a bar shifts its
   centre), but never a fiducial.

Refusals: ``cannot_register`` (marks missing, not the printed rectangle, a sheet
seen in a mirror), ``wrong_scale`` (the sheet measures more than ``SCALE_TOLERANCE``
off its printed size, when the scanner's resolution is known).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from controller.ballots import layout as geo
from controller.ballots.geometry import fit_affine, fit_homography, jacobian, project

SEARCH_MM = 5.0  # how far from its first estimate a fiducial is looked for
TIMING_WINDOW_MM = 2.6  # half side of the window a timing mark is looked for in
MIN_TIMING_SHARE = 0.75  # of the timing marks that must be found and agree
MAX_RESIDUAL_MM = 0.6
MAX_ANISOTROPY = 0.04
SCALE_TOLERANCE = 0.04
CODE_TOLERANCE_MM = 3.0
SOLID = 0.2  # of a fiducial's side: a row or column that dark is part of the square
STRAY_SHARE = 0.05  # of a fiducial's area: dust around it that is let be
CORNER_NAMES = ("top-left", "top-right", "bottom-left", "bottom-right")
_NEAREST_THE_CODE_FIRST = (1, 0, 3, 2)


class RegistrationError(Exception):
    """The sheet cannot be registered; ``reason`` is the rejection reason."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class Registration:
    """The fitted map and how well it fits."""

    homography: np.ndarray  # sheet millimetres → scan pixels
    px_per_mm: float  # at the sheet's centre
    points: int  # fiducials and timing marks the fit used
    residual_mm: float  # the largest distance of a used point from the fit
    orientation: int  # 0, 90, 180 or 270: how far the sheet is turned clockwise in the scan


def qr_corners_mm(paper: geo.Paper) -> np.ndarray:
    """The printed QR symbol's corners: top-left, top-right, bottom-right, bottom-left."""
    qr = geo.qr_box(paper)
    return np.array(
        [[qr.x, qr.y], [qr.x + qr.w, qr.y], [qr.x + qr.w, qr.y + qr.h], [qr.x, qr.y + qr.h]]
    )


def _box_sums(integral: np.ndarray, side: int) -> np.ndarray:
    """Sums over every ``side`` x ``side`` box, indexed by the box's top-left corner."""
    return (
        integral[side:, side:]
        - integral[:-side, side:]
        - integral[side:, :-side]
        + integral[:-side, :-side]
    )


def find_fiducial(
    gray: np.ndarray, guess: np.ndarray, k: float, paper: float
) -> np.ndarray | None:
    """The centre (px) of the solid square fiducial near ``guess``, or None."""
    height, width = gray.shape
    step = max(1, round(k / 4))
    side = geo.FIDUCIAL * k / step
    inner = max(3, int(side * 0.8))
    ring_in = int(side * 1.25)
    ring_out = int(side * 1.75)
    # Room for the whole ring around any centre within SEARCH_MM of the guess.
    reach = SEARCH_MM * k + ring_out * step / 2 + step
    x0, y0 = int(max(0, guess[0] - reach)), int(max(0, guess[1] - reach))
    x1, y1 = int(min(width, guess[0] + reach)), int(min(height, guess[1] + reach))
    window = gray[y0:y1:step, x0:x1:step]
    if min(window.shape) <= ring_out:
        return None
    darkness = np.int32(paper) - window.astype(np.int32)
    integral = np.zeros((window.shape[0] + 1, window.shape[1] + 1), dtype=np.int32)
    np.cumsum(np.cumsum(darkness, axis=0), axis=1, out=integral[1:, 1:])
    outer = _box_sums(integral, ring_out)
    a = (ring_out - inner) // 2
    b = (ring_out - ring_in) // 2
    rows, cols = outer.shape
    inner_mean = _box_sums(integral, inner)[a : a + rows, a : a + cols] / inner**2
    middle = _box_sums(integral, ring_in)[b : b + rows, b : b + cols]
    ring_mean = (outer - middle) / (ring_out**2 - ring_in**2)
    best = np.unravel_index(int(np.argmax(inner_mean - ring_mean)), outer.shape)
    if inner_mean[best] < 0.5 * paper or ring_mean[best] > 0.2 * paper:
        return None
    centre = np.array([x0 + (best[1] + ring_out / 2) * step, y0 + (best[0] + ring_out / 2) * step])
    # Refine at full resolution: the centroid of the square's dark pixels in a box a
    # little larger than the square around what was found.
    side = geo.FIDUCIAL * k
    area = side**2
    half = side * 0.75
    ry0, ry1 = int(max(0, centre[1] - half)), int(min(height, centre[1] + half))
    rx0, rx1 = int(max(0, centre[0] - half)), int(min(width, centre[0] + half))
    dark = gray[ry0:ry1, rx0:rx1] < paper * 0.5
    # The square is where rows and columns are solidly dark; a speck of dust in the box
    # darkens a pixel or two of a row and is neither the square nor a reason to refuse.
    rows = np.flatnonzero(dark.sum(axis=1) >= SOLID * side)
    cols = np.flatnonzero(dark.sum(axis=0) >= SOLID * side)
    if not len(rows) or not len(cols):
        return None
    if rows[0] == 0 or cols[0] == 0 or rows[-1] == dark.shape[0] - 1 or (
        cols[-1] == dark.shape[1] - 1
    ):
        return None  # dark up to the box's edge: not a square of its size alone
    pad = int(np.ceil(side * 0.1)) + 1  # the corners of a square on the skew
    sy0, sx0 = max(0, rows[0] - pad), max(0, cols[0] - pad)
    square = dark[sy0 : rows[-1] + pad + 1, sx0 : cols[-1] + pad + 1]
    per_row = square.sum(axis=1)
    per_column = square.sum(axis=0)
    count = int(per_row.sum())
    if not 0.6 * area <= count <= 1.4 * area or int(dark.sum()) - count > STRAY_SHARE * area:
        return None  # not a square of its size, or something more than dust beside it
    return np.array([rx0 + sx0 + per_column @ np.arange(len(per_column)) / count + 0.5,
                     ry0 + sy0 + per_row @ np.arange(len(per_row)) / count + 0.5])


def find_timing_marks(
    gray: np.ndarray, predicted: np.ndarray, k: float, paper: float
) -> tuple[np.ndarray, np.ndarray]:
    """Centres (px) of the timing marks near ``predicted`` and which of them were found."""
    height, width = gray.shape
    step = max(1, round(k / 4))
    half = int(TIMING_WINDOW_MM * k / step)
    offsets = np.arange(-half, half + 1) * step
    centre = np.round(predicted).astype(np.intp)
    ys = centre[:, 1, None, None] + offsets[None, :, None]
    xs = centre[:, 0, None, None] + offsets[None, None, :]
    inside = ((ys >= 0) & (ys < height)) & ((xs >= 0) & (xs < width))
    values = gray[np.clip(ys, 0, height - 1), np.clip(xs, 0, width - 1)]
    dark = (values < paper * 0.5) & inside
    side = len(offsets)
    flat = dark.reshape(len(centre), side * side).astype(np.float32)
    counts = flat.sum(axis=1)
    area = geo.TIMING_W * geo.TIMING_H * k * k / (step * step)
    border = (
        dark[:, 0, :].sum(axis=1) + dark[:, -1, :].sum(axis=1)
        + dark[:, :, 0].sum(axis=1) + dark[:, :, -1].sum(axis=1)
    )
    found = (counts >= 0.55 * area) & (counts <= 1.6 * area) & (border == 0)
    found &= inside.all(axis=(1, 2))
    safe = np.maximum(counts, 1)
    grid = offsets.astype(np.float32)
    dy = flat @ np.repeat(grid, side) / safe
    dx = flat @ np.tile(grid, side) / safe
    # Each sample is one pixel, whose centre is half a pixel in from its corner.
    centres = centre + np.stack([dx, dy], axis=1) + 0.5
    return centres, found


def _orientation(h: np.ndarray, paper: geo.Paper) -> int:
    """How far the sheet is turned clockwise in the scan, to the nearest quarter."""
    centre = np.array([[paper.width / 2, paper.height / 2], [paper.width / 2, 0.0]])
    c, top = project(h, centre)
    up = top - c
    angle = np.degrees(np.arctan2(up[0], -up[1]))
    return int(round(angle / 90.0)) % 4 * 90


def register(
    gray: np.ndarray,
    qr_px: np.ndarray,
    paper_name: str,
    paper: float,
    dpi: int | None,
) -> Registration:
    """Fit the sheet's homography; ``RegistrationError`` with the rejection reason."""
    sheet = geo.PAPERS[paper_name]
    qr_mm = qr_corners_mm(sheet)
    coarse = fit_affine(qr_mm, qr_px)
    k_coarse = float(np.sqrt(abs(np.linalg.det(coarse[:2, :2]))))
    if not k_coarse > 0 or np.linalg.det(coarse[:2, :2]) < 0:
        raise RegistrationError("cannot_register", "the code's corners are degenerate")
    corners_mm = np.array(geo.fiducial_centres(sheet))
    corners_px = np.zeros((4, 2))
    # Nearest the code first; each corner found sharpens the guess of the next one, so a
    # sheet that is not quite flat still has its far corners looked for in the right place.
    known_mm, known_px = [qr_mm], [qr_px]
    for index in _NEAREST_THE_CODE_FIRST:
        guess = project(fit_affine(np.vstack(known_mm), np.vstack(known_px)),
                        corners_mm[index])
        centre = find_fiducial(gray, guess, k_coarse, paper)
        if centre is None:
            raise RegistrationError(
                "cannot_register", f"the {CORNER_NAMES[index]} corner mark was not found"
            )
        corners_px[index] = centre
        known_mm.append(corners_mm[index : index + 1])
        known_px.append(centre[None, :])
    first = fit_homography(corners_mm, corners_px)
    if first is None:
        raise RegistrationError("cannot_register", "the corner marks are degenerate")
    timing_mm = np.array(geo.timing_centres(sheet))
    k_first = _scale(first, sheet)[0]
    timing_px, found = find_timing_marks(gray, project(first, timing_mm), k_first, paper)
    needed = int(np.ceil(MIN_TIMING_SHARE * len(timing_mm)))
    if int(found.sum()) < needed:
        raise RegistrationError(
            "cannot_register",
            f"only {int(found.sum())} of {len(timing_mm)} timing marks were found",
        )
    src = np.vstack([corners_mm, timing_mm[found]])
    dst = np.vstack([corners_px, timing_px[found]])
    keep = np.ones(len(src), dtype=bool)
    while True:
        h = fit_homography(src[keep], dst[keep])
        if h is None:
            raise RegistrationError("cannot_register", "the sheet's marks are degenerate")
        k_here = _scale(h, sheet)[0]
        residual = np.linalg.norm(project(h, src) - dst, axis=1) / k_here
        worst = int(np.argmax(np.where(keep, residual, -1.0)))
        if residual[worst] <= MAX_RESIDUAL_MM:
            break
        if worst < len(corners_mm):
            raise RegistrationError(
                "cannot_register",
                f"the {CORNER_NAMES[worst]} corner mark is {residual[worst]:.1f} mm off "
                "the printed rectangle",
            )
        keep[worst] = False
        if int(keep.sum()) - len(corners_mm) < needed:
            raise RegistrationError(
                "cannot_register", "too many timing marks are out of place: the sheet is "
                "not flat or not the printed one"
            )
    k, anisotropy = _scale(h, sheet)
    if anisotropy > MAX_ANISOTROPY:
        raise RegistrationError(
            "cannot_register", "the sheet is stretched in one direction: feed it again"
        )
    drift = float(np.linalg.norm(project(h, qr_mm) - qr_px, axis=1).max()) / k
    if drift > CODE_TOLERANCE_MM:
        raise RegistrationError(
            "cannot_register", f"the code is {drift:.1f} mm from its printed place"
        )
    if dpi is not None:
        nominal = dpi / geo.MM_PER_INCH
        if abs(k / nominal - 1) > SCALE_TOLERANCE:
            raise RegistrationError(
                "wrong_scale", f"the sheet measures {k / nominal:.3f} of its printed size"
            )
    used = residual[keep]
    return Registration(h, k, int(keep.sum()), float(used.max()), _orientation(h, sheet))


def _scale(h: np.ndarray, paper: geo.Paper) -> tuple[float, float]:
    """Pixels per millimetre at the sheet's centre, and how unequal the two axes are."""
    singular = np.linalg.svd(jacobian(h, paper.width / 2, paper.height / 2), compute_uv=False)
    return float(np.sqrt(singular[0] * singular[1])), float(singular[0] / singular[1] - 1)
