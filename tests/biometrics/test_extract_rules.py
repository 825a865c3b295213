"""The skeleton graph and the false-minutiae rules on drawn ridge patterns whose every
feature is known: spurs, bridges, lakes, islands, breaks, clusters, and the ISO
directions of endings and forks."""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from skimage.draw import line

from controller.biometrics.extract import filtering, skeleton
from controller.biometrics.template import BIFURCATION, ENDING

PERIOD = 10.0


def ridge_map(*strokes: tuple[int, int, int, int]) -> np.ndarray:
    """Binary ridges: each stroke (y0, y1, x0, x1) fills rows y0..y1-1, columns x0..x1-1."""
    image = np.zeros((100, 120), dtype=bool)
    for y0, y1, x0, x1 in strokes:
        image[y0:y1, x0:x1] = True
    return image


def graph_of(image: np.ndarray) -> skeleton.Graph:
    return skeleton.Graph(skeleton.thin(image))


def verdicts(graph: skeleton.Graph) -> np.ndarray:
    n = len(graph)
    return filtering.graph_rules(graph, np.full(n, PERIOD), np.zeros(n))  # ridges run along x


def near(graph: skeleton.Graph, x: float, y: float, radius: float = 3.0) -> np.ndarray:
    return np.nonzero(np.hypot(graph.x - x, graph.y - y) <= radius)[0]


def test_one_straight_ridge_has_two_endings_and_no_fork() -> None:
    graph = graph_of(ridge_map((40, 43, 10, 110)))
    assert sorted(graph.kind.tolist()) == [ENDING, ENDING]
    assert len(graph.length) == 2 and graph.length[1] >= 95  # one branch, end to end
    assert (verdicts(graph) == filtering.KEPT).all()


def fork(heading: float) -> np.ndarray:
    """A "Y" centred at (60, 50): a stem and two branches 25° either side of ``heading``.

    ``heading`` (radians, counterclockwise as viewed) is where the branches go, which
    is the fork's ISO direction.
    """
    image = np.zeros((100, 120), dtype=bool)
    cx, cy = 60, 50
    for turn, length in ((np.pi, 40), (np.radians(25), 45), (-np.radians(25), 45)):
        a = heading + turn
        rr, cc = line(
            cy, cx, int(round(cy - length * np.sin(a))), int(round(cx + length * np.cos(a)))
        )
        keep = (rr >= 0) & (rr < 100) & (cc >= 0) & (cc < 120)
        image[rr[keep], cc[keep]] = True
    return ndimage.binary_dilation(image, iterations=1)


def test_a_fork_points_between_its_branches() -> None:
    for heading in np.radians([0, 40, 90, 150, 200, 300]):
        graph = graph_of(fork(heading))
        forks = np.nonzero(graph.kind == BIFURCATION)[0]
        assert len(forks) == 1, heading
        assert np.hypot(graph.x[forks[0]] - 60, graph.y[forks[0]] - 50) <= 4.0
        # Orientation as a field would give it: the ridge direction, modulo π.
        orientation = np.full(len(graph), np.mod(heading, np.pi), dtype=np.float32)
        angle = skeleton.directions(graph, orientation, radius=9)[forks[0]]
        assert abs(np.angle(np.exp(1j * (angle - heading)))) < np.radians(10), heading
        # Three endings: the stem's end points back into the stem, towards the fork.
        assert (graph.kind == ENDING).sum() == 3
        assert (verdicts(graph) == filtering.KEPT).all()


def test_the_skeleton_decides_where_the_orientation_field_is_wrong() -> None:
    graph = graph_of(fork(0.0))
    i = int(np.nonzero(graph.kind == BIFURCATION)[0][0])
    wrong = np.full(len(graph), np.radians(80), dtype=np.float32)  # far from the ridges
    angle = skeleton.directions(graph, wrong, radius=9)[i]
    assert abs(np.angle(np.exp(1j * angle))) < np.radians(20)


def test_ending_directions_point_into_their_ridge() -> None:
    graph = graph_of(ridge_map((40, 43, 20, 90)))
    angles = skeleton.directions(graph, np.zeros(len(graph), dtype=np.float32), radius=9)
    left = int(np.argmin(graph.x))
    right = int(np.argmax(graph.x))
    assert abs(np.angle(np.exp(1j * angles[left]))) < 0.1  # points right, into the ridge
    assert abs(np.angle(np.exp(1j * (angles[right] - np.pi)))) < 0.1  # points left


def test_spur_is_dropped_with_its_fork() -> None:
    # A side branch 3 pixels long, well under half a ridge period.
    graph = graph_of(ridge_map((40, 43, 10, 110), (37, 40, 60, 62)))
    v = verdicts(graph)
    tip = near(graph, 61, 37)
    fork = near(graph, 61, 41)
    assert len(tip) == 1 and v[tip[0]] == filtering.SPUR_RULE
    assert len(fork) == 1 and v[fork[0]] == filtering.SPUR_RULE
    ends = np.nonzero(graph.x < 15)[0].tolist() + np.nonzero(graph.x > 105)[0].tolist()
    assert (v[ends] == filtering.KEPT).all()  # the ridge's own ends stay


def test_long_side_branch_is_a_real_fork() -> None:
    graph = graph_of(ridge_map((50, 53, 10, 110), (20, 50, 60, 62)))
    fork = near(graph, 61, 51)
    assert len(fork) == 1 and verdicts(graph)[fork[0]] == filtering.KEPT


def test_bridge_across_the_flow_is_dropped() -> None:
    graph = graph_of(ridge_map((30, 33, 5, 115), (40, 43, 5, 115), (33, 40, 60, 62)))
    v = verdicts(graph)
    forks = np.nonzero(graph.kind == BIFURCATION)[0]
    assert len(forks) == 2
    assert (v[forks] == filtering.BRIDGE_RULE).all()


def test_slanting_link_between_ridges_is_two_real_forks() -> None:
    # A ridge that crosses over to its neighbour at about 45°: on real prints these are
    # mostly true minutiae; only links close to square across the ridges are bridges.
    image = ridge_map((30, 33, 5, 115), (40, 43, 5, 115))
    rows, cols = line(31, 50, 41, 70)
    for dx in range(3):
        image[rows, cols + dx] = True
    graph = graph_of(image)
    forks = np.nonzero(graph.kind == BIFURCATION)[0]
    assert len(forks) == 2
    dx = abs(float(graph.x[forks[1]]) - float(graph.x[forks[0]]))
    dy = abs(float(graph.y[forks[1]]) - float(graph.y[forks[0]]))
    assert np.degrees(np.arctan2(dy, dx)) < np.degrees(filtering.BRIDGE_ANGLE)
    assert (verdicts(graph)[forks] == filtering.KEPT).all()


def test_short_link_along_the_flow_is_not_a_bridge() -> None:
    # Two forks joined along the ridge direction: a short ridge between two Y's.
    image = ridge_map(
        (40, 43, 40, 56),
        (30, 33, 5, 42),
        (50, 53, 5, 42),
        (30, 53, 40, 43),
        (30, 33, 54, 115),
        (50, 53, 54, 115),
        (30, 53, 54, 57),
    )
    graph = graph_of(image)
    linked = (graph.forks_of >= 0).all(axis=1) & (graph.length < filtering.BRIDGE * PERIOD)
    assert linked.sum() == 1  # the two forks really are joined by a short branch
    v = verdicts(graph)
    assert (graph.kind == BIFURCATION).sum() == 2
    assert (v == filtering.KEPT).all()


def test_lake_is_dropped() -> None:
    ring = ridge_map((40, 50, 40, 56), (20, 23, 5, 115))
    ring[43:47, 45:51] = False  # a pore-like hole splits the ridge for 6 pixels
    ring[44:46, 5:40] = True
    ring[44:46, 56:115] = True
    graph = graph_of(ring)
    v = verdicts(graph)
    forks = np.nonzero((graph.kind == BIFURCATION) & (graph.y > 30))[0]
    assert len(forks) == 2
    assert (v[forks] == filtering.LAKE_RULE).all()


def test_dust_island_is_dropped_and_a_real_short_ridge_kept() -> None:
    graph = graph_of(ridge_map((40, 43, 50, 56), (70, 73, 30, 60)))
    v = verdicts(graph)
    dust = np.nonzero(graph.y < 50)[0]
    ridge = np.nonzero(graph.y > 60)[0]
    assert len(dust) == 2 and (v[dust] == filtering.ISLAND_RULE).all()
    assert len(ridge) == 2 and (v[ridge] == filtering.KEPT).all()


def test_facing_endings_across_a_break_are_dropped() -> None:
    x = np.array([40.0, 50.0, 40.0, 40.0])
    y = np.array([30.0, 30.0, 60.0, 70.0])
    # A break in a ridge along x at (40..50, 30), and two endings side by side below.
    angle = np.array([np.pi, 0.0, np.pi, np.pi])
    kind = np.full(4, ENDING)
    keep = filtering.facing_endings(x, y, angle, kind, np.full(4, PERIOD))
    assert keep.tolist() == [False, False, True, True]


def test_endings_pointing_at_each_other_are_not_a_break() -> None:
    # Two ridges that overlap end to end: each ending points towards the other.
    x, y = np.array([40.0, 50.0]), np.array([30.0, 30.0])
    angle = np.array([0.0, np.pi])
    keep = filtering.facing_endings(x, y, angle, np.full(2, ENDING), np.full(2, PERIOD))
    assert keep.all()


def test_close_pairs_and_clusters_are_dropped() -> None:
    x = np.array([10.0, 14.0, 60.0, 64.0, 68.0, 61.0, 100.0])
    y = np.array([10.0, 10.0, 60.0, 61.0, 59.0, 66.0, 10.0])
    keep = filtering.crowded(x, y, np.full(7, PERIOD))
    assert keep.tolist() == [False, False, False, False, False, False, True]


def test_minutiae_near_the_print_or_image_edge_are_dropped() -> None:
    edge = np.array([3.0, 30.0, 30.0, 14.0])
    border = np.array([40.0, 40.0, 2.0, 40.0])
    keep = filtering.inside_print(edge, border, np.full(4, PERIOD))
    assert keep.tolist() == [False, True, False, True]


def test_empty_skeleton_gives_an_empty_graph() -> None:
    graph = graph_of(np.zeros((100, 120), dtype=bool))
    assert len(graph) == 0
    assert len(verdicts(graph)) == 0
    assert len(skeleton.directions(graph, np.zeros(0, np.float32), radius=9)) == 0
