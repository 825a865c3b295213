"""Ridge skeleton, its minutiae by crossing number, and the graph of its branches.

The binary ridges are thinned to one-pixel lines. On such a line the crossing number
(half the number of on/off changes around a pixel's eight neighbours) is 1 at a ridge
ending and 3 at a bifurcation. An ending is placed at the end of its ridge skeleton,
which ISO/IEC 19794-2:2011 allows besides the fork of the valley in front of it.
Junction pixels often come in small clusters, so each cluster of pixels with three or
more branches is one node.

Cutting the skeleton at its nodes leaves branches: simple curves whose two ends are
ridge endings or nodes. The graph of which branch touches which minutia is what the
false-minutiae rules need (a spur is a short branch from a node to an ending, a bridge
a short branch between two nodes across the ridge flow, a lake two nodes joined twice).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from skimage.morphology import skeletonize

from controller.biometrics.template import BIFURCATION, ENDING

EIGHT = np.ones((3, 3), dtype=bool)
# The eight neighbours in circular order, as (row, column) offsets.
_RING = ((-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1), (-1, -1))
_AROUND = ((0, 0),) + _RING


def crossing_number(skeleton: np.ndarray) -> np.ndarray:
    """Half the number of 0/1 changes around each pixel's eight neighbours (int8)."""
    padded = np.pad(skeleton, 1).astype(np.int8)
    h, w = skeleton.shape
    ring = [padded[1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w] for dy, dx in _RING]
    changes = np.zeros((h, w), dtype=np.int8)
    for i in range(8):
        changes += ring[(i + 1) % 8] != ring[i]
    return changes // 2


class Graph:
    """The skeleton's minutiae and branches.

    ``x``, ``y``, ``kind``: candidate minutiae (endings, then bifurcations).
    ``ends_of[b]`` and ``forks_of[b]``: the minutia indices of the (up to two) endings
    and forks at the ends of branch ``b``, -1 for none; ``branch_of[i]``: for an
    ending, its branch (0 when it sits right on a node, i.e. a one-pixel spur);
    ``branches_of[i]``: the branches minutia ``i`` touches (three for a fork).
    ``length[b]``: branch length in pixels; ``branch_labels``: the branches as a label
    image (0 off the branches); ``skeleton``: the thinned ridges.
    """

    def __init__(self, skeleton: np.ndarray) -> None:
        self.skeleton = skeleton
        # One pixel of margin lets every neighbourhood below be plain index arithmetic.
        padded = np.pad(skeleton, 1)
        cn = crossing_number(padded)
        jy, jx = np.nonzero(padded & (cn >= 3))
        node_pixels = np.zeros_like(padded)
        for dy, dx in _AROUND:
            node_pixels[jy + dy, jx + dx] = True
        node_pixels &= padded
        labels, count = ndimage.label(padded & ~node_pixels, EIGHT)
        self.branch_labels = labels[1:-1, 1:-1]
        self.length = np.bincount(labels.ravel(), minlength=count + 1).astype(np.float32)
        self.length[0] = 0

        ey, ex = np.nonzero(padded & (cn == 1))
        node_labels, nodes = ndimage.label(node_pixels, EIGHT)
        by, bx, node_branches = _nodes(node_labels, nodes, labels)
        degree = np.array([len(b) for b in node_branches], dtype=np.int32)
        # Four or more branches from one cluster is a crossing or two forks merged into
        # one blot; neither gives a position and direction worth reporting.
        fork = degree == 3
        by, bx = by[fork], bx[fork]
        node_branches = [b for b, f in zip(node_branches, fork, strict=True) if f]

        n_end = len(ey)
        self.x = np.concatenate([ex, bx]).astype(np.int32) - 1
        self.y = np.concatenate([ey, by]).astype(np.int32) - 1
        self.kind = np.concatenate(
            [np.full(n_end, ENDING, np.uint8), np.full(len(bx), BIFURCATION, np.uint8)]
        )
        self.branch_of = np.zeros(len(self.x), dtype=np.int32)
        self.branch_of[:n_end] = labels[ey, ex]
        self.branches_of: list[list[int]] = [
            [int(b)] if b else [] for b in self.branch_of[:n_end]
        ] + [list(b) for b in node_branches]
        # Each branch has two ends; record which endings and forks sit on them.
        self.ends_of = _two_per_branch(self.branch_of[:n_end], np.arange(n_end), count)
        fork_ids = np.repeat(
            np.arange(n_end, n_end + len(node_branches)), [len(b) for b in node_branches]
        )
        fork_branches = np.array([b for bs in node_branches for b in bs], dtype=np.int64)
        self.forks_of = _two_per_branch(fork_branches, fork_ids, count)

    def __len__(self) -> int:
        return len(self.x)


def _two_per_branch(branch: np.ndarray, member: np.ndarray, count: int) -> np.ndarray:
    """(count+1, 2) table of up to two members per branch, -1 where there are fewer.

    A member listed twice for one branch (a fork whose branch loops back to it) fills
    both places.
    """
    table = np.full((count + 1, 2), -1, dtype=np.int64)
    keep = branch > 0
    branch, member = branch[keep], member[keep]
    if len(branch) == 0:
        return table
    order = np.argsort(branch, kind="stable")
    branch, member = branch[order], member[order]
    first = np.ones(len(branch), dtype=bool)
    first[1:] = branch[1:] != branch[:-1]
    table[branch[first], 0] = member[first]
    second = np.zeros(len(branch), dtype=bool)
    second[1:] = ~first[1:] & first[:-1]  # only the first repeat takes the second place
    table[branch[second], 1] = member[second]
    return table


def _nodes(
    node_labels: np.ndarray, count: int, branch_labels: np.ndarray
) -> tuple[np.ndarray, np.ndarray, list[list[int]]]:
    """Centre (rounded) and touching branches of each node cluster."""
    if count == 0:
        empty = np.zeros(0, dtype=np.int32)
        return empty, empty, []
    ys, xs = np.nonzero(node_labels)
    owner = node_labels[ys, xs]
    # Pair every node pixel with the branches among its neighbours.
    span = int(branch_labels.max()) + 1
    codes = []
    for dy, dx in _AROUND:
        b = branch_labels[ys + dy, xs + dx]
        codes.append(owner[b > 0].astype(np.int64) * span + b[b > 0])
    pairs = np.unique(np.concatenate(codes))
    touching: list[list[int]] = [[] for _ in range(count + 1)]
    for n, b in zip((pairs // span).tolist(), (pairs % span).tolist(), strict=True):
        touching[n].append(b)
    size = np.bincount(owner, minlength=count + 1)[1:]
    cy = np.bincount(owner, weights=ys, minlength=count + 1)[1:] / size
    cx = np.bincount(owner, weights=xs, minlength=count + 1)[1:] / size
    return np.round(cy).astype(np.int32), np.round(cx).astype(np.int32), touching[1:]


def thin(ridges: np.ndarray) -> np.ndarray:
    """One-pixel-wide skeleton of the binary ridge map."""
    return skeletonize(ridges)


def directions(graph: Graph, orientation: np.ndarray, radius: int) -> np.ndarray:
    """Direction of each candidate minutia, radians in [0, 2π), counterclockwise as viewed.

    ISO/IEC 19794-2 (like ANSI/NIST-ITL) takes the bisector of the narrowest angle of
    the minutia's "Y": for a bifurcation the two branches that leave the fork side by
    side, so the direction points from the fork into the valley between them; for a
    ridge ending (which is a fork of the valley) it points from the end into the ridge.
    Each branch's direction is the mean offset of its pixels within ``radius``; the
    result is then aligned with the smoother ridge ``orientation`` (modulo π, one value
    per candidate) when the two agree to within 45°.
    """
    n = len(graph)
    if n == 0:
        return np.zeros(0, dtype=np.float32)
    dy, dx = _disk_offsets(radius)
    vx, vy = dx.astype(np.float32), -dy.astype(np.float32)  # viewed axes, y up
    padded = np.pad(graph.branch_labels, radius)
    around = padded[graph.y[:, None] + radius + dy[None], graph.x[:, None] + radius + dx[None]]
    labels = np.zeros((n, 3), dtype=np.int32)
    for i, touching in enumerate(graph.branches_of):
        labels[i, : len(touching)] = touching[:3]
    # Mean offset of each of up to three branches, (n, 3, 2).
    arms = np.zeros((n, 3, 2), dtype=np.float32)
    for k in range(3):
        mine = (around == labels[:, k : k + 1]) & (labels[:, k : k + 1] > 0)
        arms[:, k, 0] = (mine * vx[None]).sum(axis=1)
        arms[:, k, 1] = (mine * vy[None]).sum(axis=1)
    arm_angle = np.arctan2(arms[..., 1], arms[..., 0])
    raw = arm_angle[:, 0].copy()
    forks = np.nonzero(graph.kind == BIFURCATION)[0]
    if len(forks):
        a = arm_angle[forks]
        pairs = ((0, 1), (0, 2), (1, 2))
        gaps = np.stack([_turn(a[:, i], a[:, j]) for i, j in pairs], axis=1)
        narrow = np.argmin(gaps, axis=1)
        first = np.array([p[0] for p in pairs])[narrow]
        second = np.array([p[1] for p in pairs])[narrow]
        rows = np.arange(len(forks))
        ux = np.cos(a[rows, first]) + np.cos(a[rows, second])
        uy = np.sin(a[rows, first]) + np.sin(a[rows, second])
        raw[forks] = np.arctan2(uy, ux)
    # The orientation field, turned to the skeleton's side, is steadier than a few
    # pixels of skeleton; where they disagree (cores, deltas, noise) the skeleton wins.
    aligned = np.where(_turn(raw, orientation) <= np.pi / 2, orientation, orientation + np.pi)
    angle = np.where(_turn(raw, aligned) <= np.pi / 4, aligned, raw)
    return np.mod(angle, 2 * np.pi).astype(np.float32)


def _disk_offsets(radius: int) -> tuple[np.ndarray, np.ndarray]:
    offsets = np.arange(-radius, radius + 1)
    dy, dx = np.meshgrid(offsets, offsets, indexing="ij")
    disk = (dy * dy + dx * dx) <= radius * radius
    return dy[disk], dx[disk]


def _turn(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Absolute difference of two directions, in [0, π]."""
    d = np.mod(a - b, 2 * np.pi)
    return np.minimum(d, 2 * np.pi - d)
