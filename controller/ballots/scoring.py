"""Mark scores: how far a voter's ink goes across a target, measured against the paper
around it.

A fill fraction alone punishes thin strokes: a tick of a 0.3 mm ballpoint covers a
tenth of an oval, little more than a 1 mm dot. What tells them apart is length, so the
score is the largest of four measures, each a share from 0 to 1:

* ``fill``: the share of the oval's interior (``INTERIOR`` of its size, clear of the
  printed outline even when registration is off by half a millimetre) that is ink, as
  a share of ``FILL_FULL``. Fills, partial fills, heavy scribbles.
* ``reach``: the length of the longest connected piece of pen stroke inside the oval
  (up to ``REACH_MARGIN`` from its outline), as a share of ``REACH_FULL`` (2.9 mm, the
  height of that region). A stroke's length is the largest of its extents across, down
  and along both diagonals, counting only its points at least ``HALF`` as dark as its
  dark end (the level its darkest tenth reaches, ``PIECE_DARK``), so the scanner's blur
  does not lengthen a dot, while a blot where the pen landed does not make the rest of
  a light stroke halo. Ticks, crosses, slashes, lines.
* ``ring``: how far round the oval, in a band of paper just outside its outline and
  short of the row's lines and text, a stroke goes (directions out of ``RING_RAYS``,
  gaps of up to ``RING_GAP`` closed, single directions left out), as a share of
  ``RING_FULL``. A circle drawn round the oval.
* ``edge``: the length of the longest piece of pen stroke at the printed outline, as a
  share of ``REACH_FULL``: inside the oval and outside it up to ``EDGE_OUT``, pieces
  on either side of the outline's band (``EDGE_BAND`` each side of its middle line,
  where the outline and its blur leave no paper to see ink against) joined across it
  where a straight piece, carried on along its own line through the band, meets another
  (``EDGE_LINE``). A slash or line that
  clips the oval's end or a corner, a stroke through the outline at a slant, a circle
  drawn tight round the oval, ink most of which the outline itself hides. Only where
  nothing else scores in full and stroke ink lies beside the band.

Ink: for each oval the scan is sampled, through the registration's homography, inside
it, in the band around it, and at points of the paper around it in its own row. The
local paper level is the median of those surrounding points (a mark spilling over the
oval's edge, a tick's arm, reach only a few of them), so a coffee stain, a fold's shadow
or a grey recycled sheet lowers the reference together with the target. The black level
is measured inside the corner fiducials. For the fill a point is ink when it is darker
than ``ink`` of the way from that black to the local paper. A point of a pen stroke
(reach and ring) is ``FAINT`` darker than the paper and ``FAINT_EDGE`` darker than the
lightest point within ``FAINT_REACH`` of it: a fine ballpoint blurred by the scanner
is far lighter than ``ink`` asks, while a fold's shadow or a stain's rim is wider than
that window and stands out from nothing. Colour scans are turned to grey by the darkest
channel first (``read``), so pens of any colour and pencil all read as ink.

Measured (docs/ballots.md, seeds 2, 5, 6 and 7): a vote of either mark model scores from
about 0.6 up, most 1; a hesitation dot of up to a millimetre at most about 0.39 (hand
model) and 0.53 (first model), the first model's nicks up to 0.55 where a speck of dust
lies beside one, a speck about 0.3.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage

from controller.ballots import layout as geo
from controller.ballots.geometry import local_points, project

INTERIOR = 0.62  # of the oval's size: where ink is counted for the fill
# Where pieces of ink are measured: the oval inside its outline, less a margin for
# misregistration and the outline's blur (at 0.3 mm the blur of a soft scan shows).
REACH_MARGIN = 0.45
REACH_FULL = 2.9  # mm: a stroke this long inside the oval scores 1
FILL_FULL = 0.3  # a fill of this share of the interior scores 1: no accident fills that much
RING_RAYS = 32  # directions in which the band around the oval is looked at
RING_IN = 0.25  # mm beyond the oval's box, and 1.5 pixels more, where the band starts:
# clear of the outline and of its blur at any resolution
RING_FULL = 0.75  # a ring inked in this share of directions scores 1: a circle drawn round
RING_GAP = 2  # rays: where a circle dips into the outline for this few, it is still there
RING_OUT = (2.6, 1.6)  # mm beyond the box, less 1.5 pixels, where it ends, across and
# down: short of the row's text (3 mm to the right) and lines (2.25 mm above and below)
_EIGHT = np.ones((3, 3), dtype=bool)  # a thin diagonal stroke is one piece
# A point of a stroke: this much darker than the paper around the target, of the way to
# black (a 0.25 mm line of a pale ink under the most blur is about 0.25) ...
FAINT = 0.16
FAINT_EDGE = 0.15  # ... and this much darker than the lightest point beside it
FAINT_REACH = 0.45  # mm: how far "beside" reaches; a shadow is wider than that
HALF = 0.5  # a piece of ink is as long as its points this share as dark as its dark end
PIECE_DARK = 0.9  # its dark end: the level this share of its points are lighter than
PAPER_PERCENTILE = 50
PAPER_FLOOR = 0.7  # the local paper level is never taken below this share of the sheet's
_SURROUND_X = 2.4  # mm of paper sampled left and right of the oval
_SURROUND_Y = 1.9  # ... above and below it, short of the row's lines
_SURROUND_STEP = 0.5
_BOX_MARGIN = 0.8  # mm around an oval where a light streak is looked for
# Where a stroke at the printed outline is looked for: inside the oval and outside it
# within an ellipse EDGE_OUT (mm, across and down) wider than the outline's middle line:
# at the ends 1.3 mm beyond the box, short of the row's text (3 mm) and of the first
# model's circled names (1.8 mm), above and below 0.8 mm, well short of the row's lines
# (2.25 mm) where a neighbouring row's tick may cross.
EDGE_OUT = (1.5, 1.0)
# mm each side of the outline's middle line left out: the printed 0.35 mm, widened by
# rendering and the softest scan's blur, is 16 % dark (a stroke's level) out to 0.5 mm
# in the worst direction of the worst generated scans.
EDGE_BAND = 0.55
EDGE_PIECE = 0.1  # mm²: smaller pieces (a JPEG's ringing, noise, dust) are no stroke here
# A straight piece is carried on along its line through the band for up to EDGE_LINE mm
# (a stroke at a slant or along the outline hides under it that long), by rays fanned
# _FAN round its direction; straight: EDGE_STRAIGHT times as long as wide, and at least
# EDGE_LINE_MIN long.
EDGE_LINE = 5.0
_FAN = np.radians([-8.0, 0.0, 8.0])
EDGE_STRAIGHT = 1.5
EDGE_LINE_MIN = 0.4
EDGE_NEAR = 0.4  # mm: a stroke this near the outline's band, inside or out, is looked at
# Pieces are found per target: connected within the rows and columns of one target only.
_FLAT = np.zeros((3, 3, 3), dtype=bool)
_FLAT[1] = True


class Targets:
    """A style's oval centres (mm), whom they belong to, and the sampling patterns."""

    def __init__(self, sheet: geo.SheetLayout) -> None:
        rows = sheet.rows
        self.keys = [(row.contest, row.option) for row in rows]
        self.centres = np.array([[row.oval.cx, row.oval.cy] for row in rows], dtype=np.float64)
        self._grids: dict[int, Grid] = {}
        self._rings: dict[int, np.ndarray] = {}
        self._edges: dict[int, EdgeGrid] = {}
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

    def grid(self, k: float) -> Grid:
        """The interior's sample grid at ``k`` px/mm (cached per quarter px/mm)."""
        return _per_quarter_px(self._grids, _grid, k)

    def edge(self, k: float) -> EdgeGrid:
        """The sample grid round an oval's outline at ``k`` px/mm (cached)."""
        return _per_quarter_px(self._edges, _edge_grid, k)

    def ring(self, k: float) -> np.ndarray:
        """Sample points (mm from an oval's centre) of the band around it at ``k`` px/mm,
        ray after ray (``RING_RAYS``), each ray from the inside of the band outwards."""
        return _per_quarter_px(self._rings, _ring_offsets, k)


def _per_quarter_px(cache: dict[int, Any], build: Any, k: float) -> Any:
    """``build`` at ``k`` rounded to a quarter px/mm, made once per rounded value: scans
    of one batch share a resolution, so a handful of grids serve every sheet."""
    key = int(round(k * 4))
    value = cache.get(key)
    if value is None:
        value = cache[key] = build(key / 4)
    return value


@dataclass(frozen=True)
class Grid:
    """A rectangular grid over an oval's inside: ``offsets`` (mm from the centre, row
    after row), which of them count for the fill (``fill``, the ``INTERIOR`` ellipse) and
    for pieces of ink (``reach``, the oval inside its outline less ``REACH_MARGIN``), which
    of those lie within ``EDGE_NEAR`` of that region's rim (``rim``), the
    grid's ``rows`` and ``cols`` and its ``step`` (mm across, mm down)."""

    offsets: np.ndarray
    fill: np.ndarray
    reach: np.ndarray
    rim: np.ndarray
    rows: int
    cols: int
    step: tuple[float, float]


@dataclass(frozen=True)
class EdgeGrid:
    """A square grid, about one point per pixel, over an oval and ``EDGE_OUT`` beyond its
    outline: ``offsets`` (mm from the centre, row after row), ``rows``, ``cols``,
    ``step`` (mm), which points are looked at (``region``: inside the oval or outside it
    up to ``EDGE_OUT``, never in the outline's band), which lie in the band (``band``)
    and which of the others are within two points of it (``beside``)."""

    offsets: np.ndarray
    rows: int
    cols: int
    step: float
    region: np.ndarray
    band: np.ndarray
    beside: np.ndarray


def _outline_distance(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """About how far (mm) each point is from the middle line of the printed outline,
    negative inside: the ellipse's level over the length of its gradient."""
    a, b = geo.OVAL_W / 2 - geo.OVAL_STROKE / 2, geo.OVAL_H / 2 - geo.OVAL_STROKE / 2
    r = np.sqrt((x / a) ** 2 + (y / b) ** 2)
    grad = np.hypot(x / a**2, y / b**2) / np.maximum(r, 1e-9)
    return (r - 1) / np.maximum(grad, 1e-9)


def _edge_grid(k: float) -> EdgeGrid:
    step = 1.0 / k
    half_w = geo.OVAL_W / 2 - geo.OVAL_STROKE / 2 + EDGE_OUT[0]
    half_h = geo.OVAL_H / 2 - geo.OVAL_STROKE / 2 + EDGE_OUT[1]
    xs = np.arange(-half_w, half_w + 1e-9, step)
    ys = np.arange(-half_h, half_h + 1e-9, step)
    xx, yy = np.meshgrid(xs, ys)
    distance = _outline_distance(xx, yy)
    band = np.abs(distance) <= EDGE_BAND
    region = ~band & ((xx / half_w) ** 2 + (yy / half_h) ** 2 <= 1)
    beside = region & ndimage.binary_dilation(band, _EIGHT, iterations=2)
    return EdgeGrid(np.stack([xx.ravel(), yy.ravel()], axis=1), len(ys), len(xs), step,
                    region, band, beside)


def _edge_pieces(values: np.ndarray, local: np.ndarray, black: float, grid: EdgeGrid
                 ) -> np.ndarray:
    """Per target, the length (mm) of its longest piece of pen stroke at and across its
    outline. Strokes are found as ``_strokes`` says inside the oval and outside it up to
    ``EDGE_OUT``, pieces smaller than ``EDGE_PIECE`` left out; in the outline's band,
    where the printed black hides them, straight pieces are carried on along their line
    (``_extend_lines``): the points carried on join pieces but add no length."""
    reach = int(np.ceil(FAINT_REACH / grid.step))
    stroke, dark = _strokes(values, local, black, (2 * reach + 1, 2 * reach + 1))
    stroke &= grid.region[None, :, :]
    labels, found = ndimage.label(stroke, _FLAT)
    if found:
        area = np.bincount(labels.ravel(), minlength=found + 1) * grid.step ** 2
        area[0] = 0
        stroke = area[labels] >= EDGE_PIECE
        labels[~stroke] = 0
    joined = stroke.copy()
    if found:
        _extend_lines(labels, joined, grid)
    return _longest_pieces(joined, np.where(stroke, dark, 0.0), (grid.step, grid.step))


def _extend_lines(labels: np.ndarray, joined: np.ndarray, grid: EdgeGrid) -> None:
    """Carry every straight piece of stroke on into the outline's band, from both its
    ends along its own direction, for as long as the band lasts (at most
    ``EDGE_LINE``): a stroke that crosses the outline at a slant, or runs along it for a
    while, hides under it longer than the band is wide, and comes out where its line
    leads. The points carried on are set in ``joined`` (targets, rows, columns), so the
    piece meets what lies on the far side. A piece is straight when it is at least
    ``EDGE_STRAIGHT`` times as long as it is wide and ``EDGE_LINE_MIN`` long: dots and
    specks are not, and are never carried anywhere."""
    which, ys, xs = np.nonzero(labels)
    if not which.size:
        return
    piece = labels[which, ys, xs]
    order = np.argsort(piece, kind="stable")
    which, ys, xs, piece = which[order], ys[order], xs[order], piece[order]
    starts = np.flatnonzero(np.r_[True, piece[1:] != piece[:-1]])
    ends = np.r_[starts[1:], len(piece)]
    _, rows, cols = labels.shape
    reach = np.arange(1, int(np.ceil(EDGE_LINE / grid.step)) + 1, dtype=np.float64)
    # Only pieces that come up to the band have anything to carry on into it.
    touching = np.maximum.reduceat(grid.beside[ys, xs], starts)
    for start, end in zip(starts[touching].tolist(), ends[touching].tolist(), strict=True):
        if end - start < 3:
            continue
        py, px = ys[start:end].astype(np.float64), xs[start:end].astype(np.float64)
        cy, cx = py.mean(), px.mean()
        cov = np.cov(np.stack([px - cx, py - cy]))
        spread, axes = np.linalg.eigh(cov)
        ux, uy = axes[0, 1], axes[1, 1]
        along = (px - cx) * ux + (py - cy) * uy
        across = -(px - cx) * uy + (py - cy) * ux
        length = (along.max() - along.min() + 1) * grid.step
        width = (across.max() - across.min() + 1) * grid.step
        if length < EDGE_LINE_MIN or length < EDGE_STRAIGHT * width:
            continue
        target = which[start]
        for sign, t0 in ((1.0, along.max()), (-1.0, along.min())):
            # From the end of the piece's middle line, a fan of rays round its direction
            # (a short piece's direction is known to a few degrees only).
            ey, ex = cy + uy * t0, cx + ux * t0
            for turn in _FAN:
                dx = sign * (ux * np.cos(turn) - uy * np.sin(turn))
                dy = sign * (ux * np.sin(turn) + uy * np.cos(turn))
                ry = np.rint(ey + dy * reach).astype(np.intp)
                rx = np.rint(ex + dx * reach).astype(np.intp)
                inside = (ry >= 0) & (ry < rows) & (rx >= 0) & (rx < cols)
                ry, rx = ry[inside], rx[inside]
                # Only as long as the band lasts without a break.
                run = np.cumprod(grid.band[ry, rx]) > 0
                joined[target, ry[run], rx[run]] = True


def _grid(k: float) -> Grid:
    margin = geo.OVAL_STROKE + REACH_MARGIN
    ax, ay = geo.OVAL_W / 2 - margin, geo.OVAL_H / 2 - margin
    # At least one sample per pixel each way, so no line a pixel wide falls between them.
    n = int(np.clip(np.ceil(2 * ax * k), 10, 80))
    m = int(np.clip(np.ceil(2 * ay * k), 6, 48))
    u = (np.arange(n) + 0.5) / n * 2 - 1
    v = (np.arange(m) + 0.5) / m * 2 - 1
    xx, yy = np.meshgrid(u * ax, v * ay)
    fill = (xx / (geo.OVAL_W / 2 * INTERIOR)) ** 2 + (yy / (geo.OVAL_H / 2 * INTERIOR)) ** 2 <= 1
    reach = (xx / ax) ** 2 + (yy / ay) ** 2 <= 1
    rim = reach & ((xx / (ax - EDGE_NEAR)) ** 2 + (yy / (ay - EDGE_NEAR)) ** 2 > 1)
    return Grid(np.stack([xx.ravel(), yy.ravel()], axis=1), fill.ravel(), reach, rim,
                m, n, (2 * ax / n, 2 * ay / m))


def _ring_offsets(k: float) -> np.ndarray:
    half_w, half_h = geo.OVAL_W / 2, geo.OVAL_H / 2
    start = RING_IN + 1.5 / k
    end_x, end_y = RING_OUT[0] - 1.5 / k, RING_OUT[1] - 1.5 / k
    steps = max(4, int(np.ceil((end_x - start) * k)) + 1)
    t = np.linspace(0, 1, steps)
    angles = (np.arange(RING_RAYS) + 0.5) / RING_RAYS * 2 * np.pi
    rx = half_w + start + t * (end_x - start)
    ry = half_h + start + t * (end_y - start)
    x = np.cos(angles)[:, None] * rx[None, :]
    y = np.sin(angles)[:, None] * ry[None, :]
    return np.stack([x.ravel(), y.ravel()], axis=1)


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


def _frames(h: np.ndarray, centres: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each centre (mm) in scan pixels and the map's derivative there (pixels per mm, one
    column per sheet axis), in single precision: what ``_sample_around`` needs."""
    centre = local_points(h, centres, np.zeros((1, 2)))[:, 0, :]
    jac = local_points(h, centres, np.eye(2)) - centre[:, None, :]
    return centre.astype(np.float32), jac.astype(np.float32)


def _sample_around(gray: np.ndarray, frames: tuple[np.ndarray, np.ndarray],
                   offsets: np.ndarray) -> np.ndarray:
    """The scan's levels at each centre of ``frames`` plus ``offsets[j]`` (mm), shape
    (centres, offsets): each centre mapped exactly, its offsets through the map's local
    derivative (as ``local_points``), in single precision and one flat lookup, since this
    is done for some seventy thousand points a sheet."""
    height, width = gray.shape
    centre, jac = frames
    ox = offsets[:, 0].astype(np.float32)[None, :]
    oy = offsets[:, 1].astype(np.float32)[None, :]
    xs = centre[:, 0:1] + jac[:, 0, 0:1] * ox + jac[:, 1, 0:1] * oy
    ys = centre[:, 1:2] + jac[:, 0, 1:2] * ox + jac[:, 1, 1:2] * oy
    np.clip(xs, 0, width - 1, out=xs)
    np.clip(ys, 0, height - 1, out=ys)
    index = ys.astype(np.intp)
    index *= width
    index += xs.astype(np.intp)
    return gray.ravel()[index]


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


def _local_paper(gray: np.ndarray, frames: tuple[np.ndarray, np.ndarray], targets: Targets,
                 paper: float) -> np.ndarray:
    """Per target, the level of the paper around it (the median of its surroundings)."""
    around = _sample_around(gray, frames, targets.surround)
    cut = around.shape[1] * PAPER_PERCENTILE // 100
    local = np.partition(around, cut, axis=1)[:, cut].astype(np.float64)
    return np.clip(local, PAPER_FLOOR * paper, 255.0)


def _strokes(values: np.ndarray, local: np.ndarray, black: float, size: tuple[int, ...]
             ) -> tuple[np.ndarray, np.ndarray]:
    """Points of pen strokes, however thin or pale: a fine ballpoint blurred by the
    scanner is far lighter than ``ink`` asks. Such a point is ``FAINT`` darker than the
    paper around the target (of the way to black) and ``FAINT_EDGE`` darker than the
    lightest point within ``size`` (a window over the last axes, about ``FAINT_REACH``
    mm) of it, where the stroke's own paper shows. A fold's shadow or a stain's rim is as
    wide as the window or wider, so no point of it stands out that far from its
    neighbours (the middle of a wide fill does not either: the fill counts by itself).
    The window's values are smoothed over 3 points first, so the scanner's noise does
    not make the lightest point lighter than the paper is. Returns the points and every
    point's darkness (0 paper, 1 printed black)."""
    span = (local - black)[(slice(None),) + (None,) * (values.ndim - 1)]
    level = values.astype(np.float32)
    smooth = ndimage.uniform_filter(level, size=(1,) + (3,) * (values.ndim - 1))
    lightest = ndimage.maximum_filter(smooth, size=(1,) + size)
    dark = (local[(slice(None),) + (None,) * (values.ndim - 1)] - level) / span
    return (dark >= FAINT) & ((lightest - level) / span >= FAINT_EDGE), dark


def _around(rays: np.ndarray) -> np.ndarray:
    """How far round each target ink goes: the share of ``rays`` (targets x directions,
    in order round the oval) inked, once gaps of up to ``RING_GAP`` directions between
    inked ones are closed (a circle dipping into the outline) and single inked directions
    left out (a speck, a tick's arm crossing the band)."""
    def grow(a: np.ndarray, by: int) -> np.ndarray:
        out = a.copy()
        for shift in range(1, by + 1):
            out |= np.roll(a, shift, axis=1) | np.roll(a, -shift, axis=1)
        return out

    def shrink(a: np.ndarray, by: int) -> np.ndarray:
        return ~grow(~a, by)

    half = (RING_GAP + 1) // 2
    closed = shrink(grow(rays, half), half) | rays
    return grow(shrink(closed, 1), 1).mean(axis=1)


def _longest_pieces(ink: np.ndarray, dark: np.ndarray, step: tuple[float, float]
                    ) -> np.ndarray:
    """Per target, the length (mm) of its longest piece of ink: the largest of the
    piece's widths across, down and along both diagonals, which is a stroke's length
    whichever way it runs and a dot's diameter. ``ink`` is (targets, rows, columns) of
    the grid, ``dark`` how dark each point is, ``step`` the grid's spacing (mm across,
    mm down). Ink a point apart is one piece (pencil on the paper's tooth, a ballpoint
    that skipped), but a piece is measured by its own points only, and only by those at
    least ``HALF`` as dark as its darkest: the scanner's blur widens a mark by a halo
    that is lighter the darker the mark is, and the halo is not the mark."""
    count, rows, cols = ink.shape
    # One image of all targets, each followed by empty rows, so pieces never join
    # across targets and one labelling pass does them all.
    stacked = np.zeros((count, rows + 3, cols), dtype=bool)
    stacked[:, :rows] = ink
    flat = stacked.reshape(count * (rows + 3), cols)
    labels, found = ndimage.label(ndimage.binary_dilation(flat, _EIGHT), _EIGHT)
    longest = np.zeros(count)
    if not found:
        return longest
    ys, xs = np.nonzero(flat)
    which = labels[ys, xs]
    # Points grouped by piece, so every per-piece figure is one reduceat.
    order = np.argsort(which, kind="stable")
    ys, xs, which = ys[order], xs[order], which[order]
    level = dark[ys // (rows + 3), ys % (rows + 3), xs]
    # Points that only join pieces (darkness 0: carried on through the outline) are no ink.
    seen = level > 0
    ys, xs, which, level = ys[seen], xs[seen], which[seen], level[seen]
    if not which.size:
        return longest
    starts = np.flatnonzero(np.r_[True, which[1:] != which[:-1]])
    counts = np.diff(np.r_[starts, len(which)])
    # How dark the piece is: the level its darkest tenth reaches, not its single darkest
    # point, which may be a blot where the pen landed on a stroke otherwise light.
    by_level = level[np.lexsort((level, which))]
    dark_end = by_level[starts + ((counts - 1) * PIECE_DARK).astype(np.intp)]
    core = level >= HALF * np.repeat(dark_end, counts)
    ys, xs, which = ys[core], xs[core], which[core]
    starts = np.flatnonzero(np.r_[True, which[1:] != which[:-1]])
    x, y = xs * step[0], (ys % (rows + 3)) * step[1]
    length = np.zeros(len(starts))
    for along in (x, y, (x + y) * np.sqrt(0.5), (x - y) * np.sqrt(0.5)):
        span = np.maximum.reduceat(along, starts) - np.minimum.reduceat(along, starts)
        np.maximum(length, span, out=length)
    # A piece of one point is a point's width long, as a line one point wide is.
    length += min(step)
    np.maximum.at(longest, ys[starts] // (rows + 3), length)
    return longest


def measure_targets(
    gray: np.ndarray, h: np.ndarray, k: float, targets: Targets, paper: float, ink: float,
    black: float = 0.0,
) -> dict[str, np.ndarray]:
    """What each target holds, in the targets' order: ``fill`` (the share of its interior
    that is ink), ``reach`` (the length of its longest piece of pen stroke as a share of
    ``REACH_FULL``, at most 1), ``ring`` (how far round it, in the band just outside
    its outline, a stroke goes: a share of the directions) and ``score``, the largest of
    ``fill / FILL_FULL``, ``reach`` and ``ring / RING_FULL``, at most 1. Where the fill
    already scores 1, reach and ring are not measured and left at 0; where the fill or
    the reach does, the ring is not.

    For the fill a point is ink when it is darker than ``black + ink * (local - black)``,
    ``local`` being the paper level around its target: the same share of the way from
    paper to printed black, whatever the scan's brightness and contrast. Strokes are
    found as ``_strokes`` says.
    """
    count = len(targets.keys)
    frames = _frames(h, targets.centres)
    local = _local_paper(gray, frames, targets, paper)
    limit = black + ink * (local - black)
    # Below this level a point may belong to a stroke; a target without one is blank
    # paper, and the stroke analysis (most of the work) is spent on the others only.
    faint = local - FAINT * (local - black)
    grid = targets.grid(k)
    inside = _sample_around(gray, frames, grid.offsets)
    inked = inside < limit[:, None]
    fill = (inked & grid.fill[None, :]).sum(axis=1) / grid.fill.sum()
    reach = np.zeros(count)
    # A target whose fill scores in full needs no strokes measured either.
    some = np.flatnonzero(((inside < faint[:, None]) & grid.reach.ravel()[None, :]).any(axis=1)
                          & (fill < FILL_FULL))
    # Targets with a stroke near the outline, inside it or just outside (below): only
    # there can a stroke hidden in part by the outline be (``edge``).
    near = np.zeros(count, dtype=bool)
    if some.size:
        values = inside[some].reshape(some.size, grid.rows, grid.cols)
        across = 2 * int(np.ceil(FAINT_REACH / grid.step[0])) + 1
        down = 2 * int(np.ceil(FAINT_REACH / grid.step[1])) + 1
        stroke, dark = _strokes(values, local[some], black, (down, across))
        stroke &= grid.reach[None, :, :]
        near[some] = (stroke & grid.rim[None, :, :]).any(axis=(1, 2))
        reach[some] = np.minimum(_longest_pieces(stroke, dark, grid.step) / REACH_FULL, 1.0)
    ring = np.zeros(count)
    # A target whose inside scores in full needs no look around it.
    looked = np.flatnonzero(np.maximum(fill / FILL_FULL, reach) < 1)
    band = _sample_around(gray, (frames[0][looked], frames[1][looked]), targets.ring(k))
    inked_band = (band < faint[looked, None]).any(axis=1)
    some = looked[inked_band]
    if some.size:
        band = band[inked_band].reshape(some.size, RING_RAYS, -1)
        # Along a ray the band is 1 to 2 mm deep: its lightest point is the paper
        # beside a pen line that crosses it.
        ring_ink = _strokes(band, local[some], black, (1, band.shape[2]))[0]
        ring[some] = _around(ring_ink.any(axis=2))
        # The band's first samples out from the outline, up to EDGE_NEAR.
        first = max(2, int(np.ceil(EDGE_NEAR * k)))
        near[some] |= ring_ink[:, :, :first].any(axis=(1, 2))
    score = np.minimum(np.maximum(np.maximum(fill / FILL_FULL, reach), ring / RING_FULL), 1.0)
    edge = np.zeros(count)
    # Where nothing scores in full yet and a stroke lies near the outline on either side.
    some = np.flatnonzero(near & (score < 1))
    if some.size:
        egrid = targets.edge(k)
        values = _sample_around(gray, (frames[0][some], frames[1][some]), egrid.offsets)
        edge[some] = np.minimum(_edge_pieces(values.reshape(some.size, egrid.rows, egrid.cols),
                                             local[some], black, egrid) / REACH_FULL, 1.0)
        score = np.maximum(score, edge)
    return {"fill": fill, "reach": reach, "ring": ring, "edge": edge, "score": score}


def score_targets(
    gray: np.ndarray, h: np.ndarray, k: float, targets: Targets, paper: float, ink: float,
    black: float = 0.0,
) -> np.ndarray:
    """The score (0 to 1) of every target, in the targets' order (``measure_targets``)."""
    return measure_targets(gray, h, k, targets, paper, ink, black)["score"]
