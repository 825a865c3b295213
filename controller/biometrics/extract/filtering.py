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

SPUR = 0.5  # side branches shorter than this (periods) are spurs
ISLAND = 1.0  # ridge pieces shorter than this are dust or fragments
BRIDGE = 1.6  # links between two forks shorter than this, across the flow, are bridges
BRIDGE_ANGLE = np.radians(60.0)  # ... and turned more than this from the ridges
LAKE = 3.0  # two forks joined twice by branches together shorter than this
BREAK = 1.8  # facing endings closer than this are one broken ridge
BREAK_ANGLE = np.radians(40.0)
BORDER = 1.0  # minutiae closer than this to the edge of the print are cut ridges
IMAGE_BORDER = 0.6  # ... and closer than this to the edge of the image
PAIR = 0.6  # two minutiae closer than this cannot both be trusted
CLUSTER = 1.6  # radius within which three more minutiae make a noisy cluster
CLUSTER_SIZE = 3


# Why a candidate was dropped by ``graph_rules`` (0: it was not).
KEPT, ON_NODE, SPUR_RULE, ISLAND_RULE, LOOP_RULE, BRIDGE_RULE, LAKE_RULE = range(7)


def graph_rules(graph: Graph, period: np.ndarray, orientation: np.ndarray) -> np.ndarray:
    """For each candidate, the rule that drops it, or KEPT (uint8 per minutia).

    ``period`` and ``orientation`` are the local ridge period (pixels) and ridge
    direction (radians modulo π) at each minutia.
    """
    verdict = np.zeros(len(graph), dtype=np.uint8)
    if len(graph) == 0:
        return verdict
    verdict[(graph.kind == ENDING) & (graph.branch_of == 0)] = ON_NODE
    ends, forks = graph.ends_of, graph.forks_of
    n_ends = (ends >= 0).sum(axis=1)
    n_forks = (forks >= 0).sum(axis=1)
    # The period where the branch starts stands for the whole (short) branch.
    first = np.where(ends[:, 0] >= 0, ends[:, 0], forks[:, 0])
    local = np.where(first >= 0, period[np.maximum(first, 0)], 9.0)
    length = graph.length

    spur = (n_ends == 1) & (n_forks == 1) & (length < SPUR * local)
    _mark(verdict, ends[spur, 0], SPUR_RULE)
    _mark(verdict, forks[spur, 0], SPUR_RULE)
    island = (n_ends == 2) & (n_forks == 0) & (length < ISLAND * local)
    _mark(verdict, ends[island].ravel(), ISLAND_RULE)
    two = n_forks == 2
    loop = two & (forks[:, 0] == forks[:, 1])
    _mark(verdict, forks[loop, 0], LOOP_RULE)
    link = two & ~loop & (length < BRIDGE * local)
    i, j = forks[link, 0], forks[link, 1]
    if len(i):
        dx = (graph.x[j] - graph.x[i]).astype(np.float64)
        dy = (graph.y[i] - graph.y[j]).astype(np.float64)
        across = angular_distance(np.arctan2(dy, dx), orientation[i])
        bridge = across > BRIDGE_ANGLE
        _mark(verdict, i[bridge], BRIDGE_RULE)
        _mark(verdict, j[bridge], BRIDGE_RULE)
    _mark_lakes(graph, period, two & ~loop, verdict)
    return verdict


def _mark(verdict: np.ndarray, members: np.ndarray, rule: int) -> None:
    """Record ``rule`` for the listed minutiae not already dropped by an earlier one."""
    members = members[members >= 0]
    fresh = verdict[members] == KEPT
    verdict[members[fresh]] = rule


def _mark_lakes(graph: Graph, period: np.ndarray, links: np.ndarray, verdict: np.ndarray) -> None:
    """Drop pairs of forks joined by two branches that together are short."""
    pairs = np.sort(graph.forks_of[links], axis=1)
    if len(pairs) < 2:
        return
    lengths = graph.length[links]
    order = np.lexsort((lengths, pairs[:, 1], pairs[:, 0]))
    pairs, lengths = pairs[order], lengths[order]
    # After sorting, the links of one pair of forks are neighbours, shortest first.
    same_next = (pairs[1:] == pairs[:-1]).all(axis=1)
    group_start = np.ones(len(pairs), dtype=bool)
    group_start[1:] = ~same_next
    first_two = np.nonzero(group_start[:-1] & same_next)[0]
    i, j = pairs[first_two, 0], pairs[first_two, 1]
    total = lengths[first_two] + lengths[first_two + 1]
    lake = total < LAKE * 0.5 * (period[i] + period[j])
    _mark(verdict, i[lake], LAKE_RULE)
    _mark(verdict, j[lake], LAKE_RULE)


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
