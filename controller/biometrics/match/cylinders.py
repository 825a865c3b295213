"""Minutia Cylinder-Code: the local structure around each minutia, as bits.

After Cappelli, Ferrara and Maltoni, "Minutia Cylinder-Code: a new representation and
matching technique for fingerprint recognition" (IEEE TPAMI 32(12), 2010). Each minutia
gets a cylinder of radius R centred on it and turned with its direction, cut into
Ns x Ns spatial cells and Nd directional layers. A cell's bit is set when some other
minutia lies near that cell (Gaussian in distance) with a direction difference, relative
to the central minutia, near that layer's (Gaussian integrated over the layer). Cells
outside the radius, or too far outside the convex hull of all minutiae (where the sensor
saw nothing), are invalid and stay clear; their own mask says so. Everything is measured
relative to the central minutia, so cylinders do not change when the finger is moved or
turned on the sensor.

The parameters are the paper's for 500-dpi images; ``make_cylinders`` scales other
resolutions to 500 dpi first.
"""

from __future__ import annotations

import numpy as np
from scipy.special import erf

from controller.biometrics.template import DEFAULT_PPCM, Minutiae

RADIUS = 70.0  # R, pixels at 500 dpi
SPATIAL = 16  # Ns: cells along each side
DIRECTIONAL = 6  # Nd: direction layers
SIGMA_S = 28.0 / 3.0  # spatial Gaussian
SIGMA_D = 2.0 * np.pi / 9.0  # directional Gaussian
BIT_THRESHOLD = 0.01  # mu_psi: a cell's bit is set above this contribution
HULL_MARGIN = 50.0  # omega: how far outside the minutiae's convex hull cells stay valid
MIN_VALID_CELLS = 0.75  # min_VC: share of a cylinder's cells that must be valid
MIN_NEIGHBOURS = 2  # min_M: minutiae needed near the centre for a cylinder to count

CELLS = SPATIAL * SPATIAL  # spatial cells per layer, square including the corners
BITS = CELLS * DIRECTIONAL
CELL_SIZE = 2.0 * RADIUS / SPATIAL
_offsets = (np.arange(SPATIAL) - (SPATIAL - 1) / 2.0) * CELL_SIZE
_grid_u, _grid_v = np.meshgrid(_offsets, _offsets, indexing="ij")
GRID_U = _grid_u.ravel()  # cell centres in the cylinder's own frame, along its direction
GRID_V = _grid_v.ravel()  # ... and to its left
IN_CIRCLE = np.hypot(GRID_U, GRID_V) <= RADIUS
CIRCLE_CELLS = int(IN_CIRCLE.sum())
LAYER_EDGES = -np.pi + np.arange(DIRECTIONAL + 1) * (2.0 * np.pi / DIRECTIONAL)
EDGE_SCALE = 1.0 / (SIGMA_D * np.sqrt(2.0))
AXIS = ((np.arange(SPATIAL) - (SPATIAL - 1) / 2.0) * CELL_SIZE).astype(np.float32)
REACH = RADIUS + 3.0 * SIGMA_S


class Cylinders:
    """The valid cylinders of one template, packed, with their central minutiae.

    ``x``, ``y`` are at 500 dpi with y pointing up (so angles need no flipping);
    ``angle`` in radians; ``bits`` is uint8 (n, BITS/8), layer after layer, each layer
    the SPATIAL x SPATIAL cells row by row; ``valid`` is uint8 (n, CELLS/8).
    """

    def __init__(
        self, x: np.ndarray, y: np.ndarray, angle: np.ndarray, bits: np.ndarray, valid: np.ndarray
    ) -> None:
        self.x = x
        self.y = y
        self.angle = angle
        self.bits = bits
        self.valid = valid

    def __len__(self) -> int:
        return len(self.x)

    @classmethod
    def empty(cls) -> Cylinders:
        """No cylinders (too few minutiae)."""
        z = np.zeros(0, dtype=np.float32)
        return cls(
            z,
            z.copy(),
            z.copy(),
            np.zeros((0, BITS // 8), dtype=np.uint8),
            np.zeros((0, CELLS // 8), dtype=np.uint8),
        )


def angle_difference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a - b wrapped into [-π, π)."""
    return np.mod(a - b + np.pi, 2 * np.pi) - np.pi


def make_cylinders(
    minutiae: Minutiae, x_ppcm: int = DEFAULT_PPCM, y_ppcm: int = DEFAULT_PPCM
) -> Cylinders:
    """Build the cylinders of ``minutiae`` captured at the given resolution."""
    n = len(minutiae)
    if n < MIN_NEIGHBOURS + 1:
        return Cylinders.empty()
    x = np.asarray(minutiae.x, dtype=np.float64) * (DEFAULT_PPCM / x_ppcm)
    y = -np.asarray(minutiae.y, dtype=np.float64) * (DEFAULT_PPCM / y_ppcm)
    theta = np.asarray(minutiae.angle, dtype=np.float64)
    dx = x[None, :] - x[:, None]  # [i, t]: from minutia i to minutia t
    dy = y[None, :] - y[:, None]
    # Minutiae further than 3 sigma from every cell add nothing (the paper's cut-off).
    near = (np.hypot(dx, dy) <= REACH) & ~np.eye(n, dtype=bool)
    counts = near.sum(1)
    keep = np.flatnonzero(counts >= MIN_NEIGHBOURS)
    if keep.size == 0:
        return Cylinders.empty()
    valid = _valid_cells(x, y, theta, keep)
    enough = valid.sum(1) >= MIN_VALID_CELLS * CIRCLE_CELLS
    keep, valid = keep[enough], valid[enough]
    if keep.size == 0:
        return Cylinders.empty()
    # Each kept minutia's neighbours, padded to a common count with a weightless entry.
    width = int(counts[keep].max())
    order = np.argsort(~near[keep], axis=1, kind="stable")[:, :width]
    real = np.take_along_axis(near[keep], order, axis=1)
    ndx = np.take_along_axis(dx[keep], order, axis=1)
    ndy = np.take_along_axis(dy[keep], order, axis=1)
    c, s = np.cos(theta[keep])[:, None], np.sin(theta[keep])[:, None]
    # Neighbours in each kept minutia's own frame: u along its direction, v to its left.
    lu = (c * ndx + s * ndy).astype(np.float32)
    lv = (-s * ndx + c * ndy).astype(np.float32)
    # The spatial Gaussian of a cell at (gu, gv) separates into one factor per axis.
    gu = np.exp((AXIS[None, None, :] - lu[:, :, None]) ** 2 * np.float32(-0.5 / SIGMA_S**2))
    gv = np.exp((AXIS[None, None, :] - lv[:, :, None]) ** 2 * np.float32(-0.5 / SIGMA_S**2))
    gu *= (real * np.float32(1.0 / (SIGMA_S * np.sqrt(2.0 * np.pi))))[:, :, None]
    # The directional part depends on the pair only: the Gaussian integrated over a layer.
    relative = angle_difference(
        theta[keep][:, None],
        np.take_along_axis(np.broadcast_to(theta, (len(keep), n)), order, axis=1),
    )
    edges = erf(angle_difference(LAYER_EDGES[None, None, :], relative[:, :, None]) * EDGE_SCALE)
    # A layer that straddles ±π wraps: its far edge comes out below its near edge.
    directional = np.diff(edges, axis=2)
    directional[directional < 0] += 2.0
    directional = (0.5 * directional).astype(np.float32)
    spatial = (gu[:, :, :, None] * gv[:, :, None, :]).reshape(len(keep), width, CELLS)
    value = np.matmul(directional.transpose(0, 2, 1), spatial)  # (kept, DIRECTIONAL, CELLS)
    bits = (value > BIT_THRESHOLD) & valid[:, None, :]
    return Cylinders(
        x[keep].astype(np.float32),
        y[keep].astype(np.float32),
        theta[keep].astype(np.float32),
        np.packbits(bits.reshape(len(keep), BITS), axis=1),
        np.packbits(valid, axis=1),
    )


def _valid_cells(x: np.ndarray, y: np.ndarray, theta: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """(kept, CELLS) bool: cells inside the radius and near the minutiae's convex hull.

    "Near" is within HULL_MARGIN of every edge's line: the hull grown with mitred
    corners, a little more generous than a rounded margin at sharp corners only.
    """
    c, s = np.cos(theta[keep])[:, None], np.sin(theta[keep])[:, None]
    px = x[keep][:, None] + c * GRID_U[None, :] - s * GRID_V[None, :]
    py = y[keep][:, None] + s * GRID_U[None, :] + c * GRID_V[None, :]
    hull = convex_hull(x, y)
    if len(hull) < 3:
        near = hull_distance(hull, px.ravel(), py.ravel()).reshape(px.shape) <= HULL_MARGIN
    else:
        edge = np.roll(hull, -1, axis=0) - hull
        outward = np.stack([edge[:, 1], -edge[:, 0]], axis=1)
        outward /= np.maximum(np.hypot(outward[:, 0], outward[:, 1]), 1e-9)[:, None]
        reach = (outward * hull).sum(1) + HULL_MARGIN  # (edges,)
        points = np.stack([px.ravel(), py.ravel()], axis=1)
        near = ((points @ outward.T) <= reach[None, :]).all(1).reshape(px.shape)
    return near & IN_CIRCLE[None, :]


def convex_hull(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Counterclockwise convex hull vertices (k, 2) by the monotone chain."""
    points = sorted(set(zip(x.tolist(), y.tolist(), strict=True)))
    if len(points) <= 2:
        return np.array(points, dtype=np.float64).reshape(-1, 2)

    def cross(o: tuple, a: tuple, b: tuple) -> float:
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    lower: list[tuple] = []
    for p in points:
        while len(lower) >= 2 and cross(lower[-2], lower[-1], p) <= 0:
            lower.pop()
        lower.append(p)
    upper: list[tuple] = []
    for p in reversed(points):
        while len(upper) >= 2 and cross(upper[-2], upper[-1], p) <= 0:
            upper.pop()
        upper.append(p)
    return np.array(lower[:-1] + upper[:-1], dtype=np.float64)


def hull_distance(hull: np.ndarray, px: np.ndarray, py: np.ndarray) -> np.ndarray:
    """Distance of each point from the polygon ``hull`` (0 inside)."""
    if len(hull) == 1:
        return np.hypot(px - hull[0, 0], py - hull[0, 1])
    a = hull
    b = np.roll(hull, -1, axis=0)
    if len(hull) == 2:
        a, b = a[:1], b[:1]
    ex, ey = (b - a).T
    rx = px[:, None] - a[None, :, 0]
    ry = py[:, None] - a[None, :, 1]
    length2 = np.maximum(ex * ex + ey * ey, 1e-12)
    t = np.clip((rx * ex + ry * ey) / length2, 0.0, 1.0)
    distance = np.hypot(rx - t * ex, ry - t * ey).min(1)
    if len(hull) >= 3:
        inside = ((ex * ry - ey * rx) >= 0).all(1)
        distance[inside] = 0.0
    return distance
