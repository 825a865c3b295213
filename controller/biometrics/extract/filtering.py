"""Removal of false minutiae, rule by rule, in the spirit of NIST mindtct.

Skin, sensor and thinning all leave features that are not on the finger: spurs (a
ridge's frayed edge becomes a short side branch), bridges (two ridges touching across a
valley), lakes (a pore or a blot splits a ridge in two for a moment), islands (dust or
a fragment of a broken ridge), facing endings across a short break (dry skin), and
features on the edge of the print, where every ridge is cut. Each rule below finds one
of these patterns and drops the minutiae that make it up. All lengths are in ridge
periods of the place where they occur, so the rules mean the same on fine and coarse
ridges.
"""

from __future__ import annotations

import numpy as np

from controller.biometrics.extract.frequency import angular_distance
from controller.biometrics.extract.skeleton import Graph
from controller.biometrics.template import ENDING

SPUR = 0.9  # side branches shorter than this (periods) are spurs
ISLAND = 1.0  # ridge pieces shorter than this are dust or fragments
BRIDGE = 1.6  # links between two forks shorter than this, across the flow, are bridges
BRIDGE_ANGLE = np.radians(40.0)
LAKE = 3.0  # two forks joined twice by branches together shorter than this
BREAK = 1.8  # facing endings closer than this are one broken ridge
BREAK_ANGLE = np.radians(40.0)
BORDER = 1.0  # minutiae closer than this to the edge of the print are cut ridges
IMAGE_BORDER = 0.6  # ... and closer than this to the edge of the image
PAIR = 0.6  # two minutiae closer than this cannot both be trusted
CLUSTER = 1.6  # radius within which three more minutiae make a noisy cluster
CLUSTER_SIZE = 3


def graph_rules(graph: Graph, period: np.ndarray, orientation: np.ndarray) -> np.ndarray:
    """Minutiae that survive the rules on the skeleton's branches (boolean per minutia).

    ``period`` and ``orientation`` are the local ridge period (pixels) and ridge
    direction (radians modulo π) at each minutia.
    """
    n = len(graph)
    keep = np.ones(n, dtype=bool)
    is_end = graph.kind == ENDING
    # An ending on a node: a spur of a pixel or two.
    keep[is_end & (graph.branch_of == 0)] = False
    for b in range(1, len(graph.length)):
        nodes = graph.nodes_of[b]
        ends = int(graph.ends[b])
        if ends == 0 and len(nodes) == 0:
            continue
        length = float(graph.length[b])
        members = _members(graph, b, nodes)
        local = float(np.mean(period[members])) if members else 9.0
        if ends == 1 and len(nodes) == 1 and length < SPUR * local:
            keep[members] = False
        elif ends == 2 and not nodes and length < ISLAND * local:
            keep[members] = False
        elif len(nodes) == 2 and nodes[0] == nodes[1]:
            keep[nodes[0]] = False
        elif len(nodes) == 2 and length < BRIDGE * local:
            i, j = nodes
            dx = float(graph.x[j] - graph.x[i])
            dy = float(graph.y[i] - graph.y[j])
            across = angular_distance(np.arctan2(dy, dx), float(orientation[i]))
            if across > BRIDGE_ANGLE:
                keep[[i, j]] = False
    _drop_lakes(graph, period, keep)
    return keep


def _members(graph: Graph, branch: int, nodes: list[int]) -> list[int]:
    ends = np.nonzero((graph.branch_of == branch) & (graph.kind == ENDING))[0].tolist()
    return ends + list(nodes)


def _drop_lakes(graph: Graph, period: np.ndarray, keep: np.ndarray) -> None:
    """Drop pairs of forks joined by two branches that together are short."""
    joined: dict[tuple[int, int], list[float]] = {}
    for b in range(1, len(graph.length)):
        nodes = graph.nodes_of[b]
        if len(nodes) == 2 and nodes[0] != nodes[1]:
            pair = (min(nodes), max(nodes))
            joined.setdefault(pair, []).append(float(graph.length[b]))
    for (i, j), lengths in joined.items():
        if len(lengths) >= 2:
            shortest_two = sorted(lengths)[:2]
            if sum(shortest_two) < LAKE * 0.5 * (period[i] + period[j]):
                keep[[i, j]] = False


def facing_endings(
    x: np.ndarray, y: np.ndarray, angle: np.ndarray, kind: np.ndarray, period: np.ndarray
) -> np.ndarray:
    """Minutiae that are not one of two endings facing each other across a short break.

    An ending points into its own ridge, so across a break the two endings point away
    from each other, each away from the gap towards the other.
    """
    keep = np.ones(len(x), dtype=bool)
    ends = np.nonzero(kind == ENDING)[0]
    if len(ends) < 2:
        return keep
    ex, ey, ea, ep = x[ends], y[ends], angle[ends], period[ends]
    dx = ex[None, :] - ex[:, None]
    dy = -(ey[None, :] - ey[:, None])  # viewed axes
    dist = np.hypot(dx, dy)
    reach = BREAK * 0.5 * (ep[:, None] + ep[None, :])
    gap = np.arctan2(dy, dx)  # direction from i to j
    # i points away from j, and j points away from i.
    i_away = _angle_between(gap, ea[:, None] + np.pi) < BREAK_ANGLE
    opposed = _angle_between(ea[:, None], ea[None, :] + np.pi) < BREAK_ANGLE
    facing = (dist < reach) & i_away & i_away.T & opposed
    np.fill_diagonal(facing, False)
    keep[ends[facing.any(axis=1)]] = False
    return keep


def inside_print(edge: np.ndarray, border: np.ndarray, period: np.ndarray) -> np.ndarray:
    """Minutiae far enough inside the print (boolean per minutia).

    ``edge`` is each minutia's distance in pixels to the edge of the foreground,
    ``border`` to the edge of the image. Ridges run on beyond the image's edge, so only
    the few pixels that thinning frays there are unsafe; the edge of the print is where
    the finger lifts off and every ridge fades out.
    """
    return (edge >= BORDER * period + 4.0) & (border >= IMAGE_BORDER * period)


def crowded(x: np.ndarray, y: np.ndarray, period: np.ndarray) -> np.ndarray:
    """Minutiae that are neither too close to another nor part of a dense cluster."""
    n = len(x)
    keep = np.ones(n, dtype=bool)
    if n < 2:
        return keep
    dist = np.hypot(x[:, None] - x[None, :], y[:, None] - y[None, :])
    np.fill_diagonal(dist, np.inf)
    local = 0.5 * (period[:, None] + period[None, :])
    keep &= ~(dist < PAIR * local).any(axis=1)
    keep &= (dist < CLUSTER * local).sum(axis=1) < CLUSTER_SIZE
    return keep


def _angle_between(a: np.ndarray | float, b: np.ndarray | float) -> np.ndarray:
    """Absolute difference of two directions, in [0, π]."""
    d = np.mod(np.asarray(a) - np.asarray(b), 2 * np.pi)
    return np.minimum(d, 2 * np.pi - d)
