"""Plane geometry for registration: affine and projective fits between millimetres and pixels.

A homography ``H`` (3x3) maps sheet millimetres ``(x, y, 1)`` to scan pixels up to a
scale factor. It covers everything a flat sheet on a scanner does — translation,
rotation by any angle (the four feed orientations included), scale, shear, and the
mild perspective of a sheet that is photographed rather than scanned.
"""

from __future__ import annotations

import numpy as np


def fit_affine(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares affine map ``src`` → ``dst`` as a 3x3 matrix (last row 0 0 1)."""
    design = np.hstack([src, np.ones((len(src), 1))])
    # Normal equations: three unknowns per coordinate, a handful of points.
    solution = np.linalg.solve(design.T @ design, design.T @ dst)
    return np.vstack([solution.T, [0.0, 0.0, 1.0]])


def _normaliser(points: np.ndarray) -> np.ndarray:
    centre = points.mean(axis=0)
    spread = np.sqrt(((points - centre) ** 2).sum(axis=1)).mean()
    s = np.sqrt(2) / spread if spread > 0 else 1.0
    return np.array([[s, 0, -s * centre[0]], [0, s, -s * centre[1]], [0, 0, 1]])


def fit_homography(src: np.ndarray, dst: np.ndarray) -> np.ndarray | None:
    """Least-squares homography ``src`` → ``dst`` (at least 4 points, normalised DLT).

    None when the points are degenerate (three in a line, say).
    """
    if len(src) < 4:
        return None
    ts, td = _normaliser(src), _normaliser(dst)
    s = src @ ts[:2, :2].T + ts[:2, 2]
    d = dst @ td[:2, :2].T + td[:2, 2]
    n = len(s)
    # With the last entry of H fixed at 1: two equations per point in eight unknowns,
    # solved in the least-squares sense through the 8x8 normal equations.
    a = np.zeros((2 * n, 8))
    a[0::2, 0:2] = s
    a[0::2, 2] = 1
    a[0::2, 6:8] = -d[:, :1] * s
    a[1::2, 3:5] = s
    a[1::2, 5] = 1
    a[1::2, 6:8] = -d[:, 1:] * s
    b = d.reshape(-1)
    normal = a.T @ a
    try:
        solution = np.linalg.solve(normal, a.T @ b)
    except np.linalg.LinAlgError:
        return None
    if not np.all(np.isfinite(solution)):
        return None
    h = np.append(solution, 1.0).reshape(3, 3)
    undo = np.array([[1 / td[0, 0], 0, -td[0, 2] / td[0, 0]],
                     [0, 1 / td[1, 1], -td[1, 2] / td[1, 1]], [0, 0, 1.0]])
    h = undo @ h @ ts
    if abs(np.linalg.det(h[:2, :2])) < 1e-12 * abs(h[2, 2]) ** 2:
        return None
    return h / h[2, 2]


def project(h: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Map points (..., 2) through the homography ``h``."""
    x = points[..., 0]
    y = points[..., 1]
    w = h[2, 0] * x + h[2, 1] * y + h[2, 2]
    u = (h[0, 0] * x + h[0, 1] * y + h[0, 2]) / w
    v = (h[1, 0] * x + h[1, 1] * y + h[1, 2]) / w
    return np.stack([u, v], axis=-1)


def jacobian(h: np.ndarray, x: float, y: float) -> np.ndarray:
    """The 2x2 derivative of the map at ``(x, y)``: pixels per millimetre, locally."""
    w = h[2, 0] * x + h[2, 1] * y + h[2, 2]
    u = (h[0, 0] * x + h[0, 1] * y + h[0, 2]) / w
    v = (h[1, 0] * x + h[1, 1] * y + h[1, 2]) / w
    return np.array(
        [
            [(h[0, 0] - u * h[2, 0]) / w, (h[0, 1] - u * h[2, 1]) / w],
            [(h[1, 0] - v * h[2, 0]) / w, (h[1, 1] - v * h[2, 1]) / w],
        ]
    )


def local_points(h: np.ndarray, centres: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """``centres[i] + offsets[j]`` (millimetres) mapped to pixels, shape (N, M, 2).

    Within a few millimetres of a centre the map is affine to far below a pixel, so each
    centre is mapped exactly and its offsets through the local derivative: one small
    product instead of a projective division per point.
    """
    x, y = centres[:, 0], centres[:, 1]
    w = h[2, 0] * x + h[2, 1] * y + h[2, 2]
    u = (h[0, 0] * x + h[0, 1] * y + h[0, 2]) / w
    v = (h[1, 0] * x + h[1, 1] * y + h[1, 2]) / w
    jac = np.empty((len(centres), 2, 2))
    jac[:, 0, 0] = (h[0, 0] - u * h[2, 0]) / w
    jac[:, 0, 1] = (h[0, 1] - u * h[2, 1]) / w
    jac[:, 1, 0] = (h[1, 0] - v * h[2, 0]) / w
    jac[:, 1, 1] = (h[1, 1] - v * h[2, 1]) / w
    return np.stack([u, v], axis=1)[:, None, :] + offsets @ jac.transpose(0, 2, 1)
