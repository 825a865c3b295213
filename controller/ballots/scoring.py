"""Mark scores: how much of a target's interior is ink, measured against the paper around it.

For each oval the scan is sampled, through the registration's homography, at points
covering the oval's interior (``INTERIOR`` of its size: clear of the printed outline
even when registration is off by half a millimetre) and at points of the paper around
it in its own row (between the oval's outline and the row's lines and text).

The local paper level is the median of those surrounding points (a mark spilling over
the oval's edge, a tick's arm, reach only a few of them), so a coffee stain, a fold's
shadow or a grey recycled sheet lowers the reference together with the target, and ink
is judged against the paper it is on. The black level is measured inside the corner
fiducials. A point is ink when it is darker than ``ink`` of the way from that black to
the local paper. The score is the share of interior points that are ink:
a filled oval scores near 1, a 1 mm line across the target about 0.3 to 0.5, an empty
oval 0. Colour scans are turned to grey by the darkest channel first (``read``), so
blue, red, green and black pens and pencil all read as ink.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from controller.ballots import layout as geo
from controller.ballots.geometry import local_points, project

INTERIOR = 0.62
PAPER_PERCENTILE = 50
PAPER_FLOOR = 0.7  # the local paper level is never taken below this share of the sheet's
_SURROUND_X = 2.4  # mm of paper sampled left and right of the oval
_SURROUND_Y = 1.9  # ... above and below it, short of the row's lines
_SURROUND_STEP = 0.5
_BOX_MARGIN = 0.8  # mm around an oval where a light streak is looked for


class Targets:
    """A style's oval centres (mm), whom they belong to, and the sampling patterns."""

    def __init__(self, sheet: geo.SheetLayout) -> None:
        rows = sheet.rows
        self.keys = [(row.contest, row.option) for row in rows]
        self.centres = np.array([[row.oval.cx, row.oval.cy] for row in rows], dtype=np.float64)
        self._interior: dict[int, np.ndarray] = {}
        self.surround = _surround_offsets()
        half_w, half_h = geo.OVAL_W / 2 + _BOX_MARGIN, geo.OVAL_H / 2 + _BOX_MARGIN
        self._corners = np.array([[-half_w, -half_h], [half_w, -half_h], [half_w, half_h],
                                  [-half_w, half_h]])

    def boxes(self, h: np.ndarray) -> np.ndarray:
        """Each oval with a margin as an upright box in scan pixels (x0, y0, x1, y1), all
        of one size: the largest of them."""
        corners = project(h, self.centres[:, None, :] + self._corners[None, :, :])
        low = corners.min(axis=1)
        size = (corners.max(axis=1) - low).max(axis=0)
        return np.hstack([low, low + size])

    def spans(self, h: np.ndarray) -> np.ndarray:
        """Each oval's centre column in the scan and half its width there (pixels)."""
        centres = local_points(h, self.centres, np.zeros((1, 2)))[:, 0, :]
        along = local_points(h, self.centres, np.array([[geo.OVAL_W / 2, 0.0],
                                                        [0.0, geo.OVAL_H / 2]]))
        reach = along - centres[:, None, :]
        half = np.hypot(reach[:, 0, 0], reach[:, 1, 0])
        return np.stack([centres[:, 0], half], axis=1)

    def interior(self, k: float) -> np.ndarray:
        """Sample points (mm from an oval's centre) covering its interior at ``k`` px/mm."""
        key = int(round(k * 4))
        cached = self._interior.get(key)
        if cached is None:
            cached = _interior_offsets(key / 4)
            self._interior[key] = cached
        return cached


def _interior_offsets(k: float) -> np.ndarray:
    ax = geo.OVAL_W / 2 * INTERIOR
    ay = geo.OVAL_H / 2 * INTERIOR
    # At least one sample per pixel each way, so no line a pixel wide falls between them.
    n = int(np.clip(np.ceil(2 * ax * k), 8, 64))
    m = int(np.clip(np.ceil(2 * ay * k), 6, 48))
    u = (np.arange(n) + 0.5) / n * 2 - 1
    v = (np.arange(m) + 0.5) / m * 2 - 1
    uu, vv = np.meshgrid(u, v)
    inside = uu**2 + vv**2 <= 1
    return np.stack([uu[inside] * ax, vv[inside] * ay], axis=1)


def _surround_offsets() -> np.ndarray:
    half_w = geo.OVAL_W / 2 + _SURROUND_X
    half_h = geo.OVAL_H / 2 + _SURROUND_Y
    xs = np.arange(-half_w, half_w + 1e-9, _SURROUND_STEP)
    ys = np.arange(-half_h, half_h + 1e-9, _SURROUND_STEP)
    xx, yy = np.meshgrid(xs, ys)
    # Outside the oval and its printed outline, with a little room for misregistration.
    outside = (xx / (geo.OVAL_W / 2 + 0.7)) ** 2 + (yy / (geo.OVAL_H / 2 + 0.7)) ** 2 > 1
    return np.stack([xx[outside], yy[outside]], axis=1)


_cache: dict[tuple[str, str, str], Targets] = {}
_cache_lock = threading.Lock()
_CACHE_SIZE = 256


def targets_of(election: Any, style: str, paper: str) -> Targets:
    """The targets of ``style`` on ``paper``, cached per election hash."""
    key = (election.hash, style, paper)
    with _cache_lock:
        hit = _cache.get(key)
    if hit is not None:
        return hit
    targets = Targets(geo.compute_layout(election, style, paper))
    with _cache_lock:
        if len(_cache) >= _CACHE_SIZE:
            _cache.clear()
        _cache[key] = targets
    return targets


def _sample(gray: np.ndarray, px: np.ndarray) -> np.ndarray:
    height, width = gray.shape
    xs = np.clip(px[..., 0].astype(np.intp), 0, width - 1)
    ys = np.clip(px[..., 1].astype(np.intp), 0, height - 1)
    return gray[ys, xs]


def black_level(gray: np.ndarray, h: np.ndarray, paper_name: str, paper: float) -> float:
    """How dark the printed black is in this scan: the median inside the four fiducials
    (a weak lamp or a grey background raises it), at most half the paper level."""
    centres = np.array(geo.fiducial_centres(geo.PAPERS[paper_name]))
    inner = geo.FIDUCIAL * 0.3
    steps = np.linspace(-inner, inner, 7)
    grid = np.stack(np.meshgrid(steps, steps), axis=-1).reshape(-1, 2)
    values = _sample(gray, project(h, centres[:, None, :] + grid[None, :, :]))
    return float(min(np.median(values), 0.5 * paper))


def score_targets(
    gray: np.ndarray, h: np.ndarray, k: float, targets: Targets, paper: float, ink: float,
    black: float = 0.0,
) -> np.ndarray:
    """The score (0 to 1) of every target, in the targets' order.

    A sampled point is ink when it is darker than ``black + ink * (local - black)``,
    ``local`` being the paper level around its target: the same share of the way from
    paper to printed black, whatever the scan's brightness and contrast.
    """
    inside = _sample(gray, local_points(h, targets.centres, targets.interior(k)))
    around = _sample(gray, local_points(h, targets.centres, targets.surround))
    cut = around.shape[1] * PAPER_PERCENTILE // 100
    local = np.partition(around, cut, axis=1)[:, cut].astype(np.float64)
    local = np.clip(local, PAPER_FLOOR * paper, 255.0)
    limit = black + ink * (local - black)
    return (inside < limit[:, None]).mean(axis=1)
