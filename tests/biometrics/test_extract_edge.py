"""Distance to the edge of the print: measured from a smooth outline, not the staircase
of the foreground's windows, so minutiae beside a slanting edge are not taken for cut
ridges because a block corner reaches towards them."""

from __future__ import annotations

import numpy as np

from controller.biometrics.extract.pipeline import _edge_distances
from controller.biometrics.extract.tiles import STEP

BLOCKS = 20
SIDE = BLOCKS * STEP


def staircase() -> np.ndarray:
    """A print whose edge slants at 45°: block (i, j) is inside when j <= i."""
    grid = np.fromfunction(lambda i, j: j <= i, (BLOCKS, BLOCKS))
    return np.repeat(np.repeat(grid, STEP, axis=0), STEP, axis=1)


def test_points_parallel_to_a_slanting_edge_are_all_as_far_from_it() -> None:
    inside = staircase()
    # The steps' middle line is x = y + STEP / 2; points d pixels inside, along it.
    ys = np.arange(5 * STEP, 15 * STEP, dtype=np.float32)
    for d in (10.0, 20.0, 30.0):
        xs = (ys + STEP / 2 - d * np.sqrt(2.0)).astype(np.float32)
        edge, _ = _edge_distances(inside, xs, ys)
        assert edge.min() >= d - 1.5, (d, float(edge.min()))
        assert edge.max() <= d + 2.5, (d, float(edge.max()))


def test_a_straight_edge_stays_where_it_is() -> None:
    inside = np.zeros((SIDE, SIDE), dtype=bool)
    inside[:, : 10 * STEP] = True
    ys = np.linspace(4 * STEP, 16 * STEP, 40).astype(np.float32)
    for d in (5.0, 20.0):
        xs = np.full(len(ys), 10 * STEP - d, dtype=np.float32)
        edge, border = _edge_distances(inside, xs, ys)
        np.testing.assert_allclose(edge, d, atol=1.0)
        np.testing.assert_allclose(border, np.minimum(xs, np.minimum(ys, SIDE - 1 - ys)))


def test_a_blank_mask_puts_every_point_on_the_edge() -> None:
    inside = np.zeros((SIDE, SIDE), dtype=bool)
    xs = np.array([10.0, 160.0], dtype=np.float32)
    edge, _ = _edge_distances(inside, xs, xs)
    assert (edge == 0).all()
