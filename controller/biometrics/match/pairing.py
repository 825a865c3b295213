"""From local similarities to one score: alignment on the best pairs, then minutiae pairing.

The cylinders say which minutiae look alike locally; whether two templates show the same
finger is decided globally. Each of the few most similar cylinder pairs is taken as an
anchor: it fixes a rotation (the turn between the two central minutiae) and a translation.
Every minutia of the probe is moved by it, and a probe and a candidate minutia pair up
when each is the other's nearest within a tolerance on position and on direction. The
position tolerance grows with the distance from the anchor, because skin stretches more
the further it is from where it pressed hardest. The pairs then refine the alignment
(least-squares rotation and translation) and the pairing is repeated once.

The score of an anchor is s / √(m_probe · m_candidate). s counts the paired minutiae,
each by how alike the two neighbourhoods are (fully from a local similarity of ``ALIKE``
up, less below it) and by how well the two positions and directions agree (fully when
they coincide, nothing at the edge of either tolerance). Minutiae that fall together by
accident after a wrong alignment (an impostor's, or false minutiae in a blot) have
unlike neighbourhoods and lie anywhere within the tolerance, so they count little; a
genuine pair keeps the pairs whose neighbourhoods agree, and since a loose pair counts
little the tolerance can grow with the distance from the anchor as far as a stretched
finger needs. The m are the minutiae of each side that lie where the other side also has
minutiae (the overlap), each at least ``MIN_OVERLAP`` and at least the number of pairs:
the score is the share of the overlap that pairs up, weighed as above. So a small
overlap counts fully when it pairs up fully, yet a handful of paired minutiae can never
give a high score. The template score is the best anchor's; it lies in [0, 1].

Arrays carry a leading batch axis: one call scores a probe against many candidates.
"""

from __future__ import annotations

import numpy as np

from controller.biometrics.match.cylinders import angle_difference

ANCHORS = 8  # most similar cylinder pairs tried as alignments
BASE_TOLERANCE = 8.0  # pixels: position tolerance at the anchor
STRETCH = 0.13  # added tolerance per pixel of distance from the anchor (skin distortion)
MAX_TOLERANCE = 30.0
TURN_TOLERANCE = np.radians(30.0)
OVERLAP_REACH = 40.0  # a minutia lies in the overlap when the other side has one this near
MIN_OVERLAP = 10  # fewer minutiae than this in the overlap are counted as this many
ALIKE = 0.5  # local similarity from which a pair of minutiae counts fully


class Side:
    """The central minutiae of one side of a comparison, batched: (K, n) or (1, n).

    Padding entries of a batch lie at ``FAR`` so that nothing ever pairs with them.
    """

    def __init__(self, x: np.ndarray, y: np.ndarray, angle: np.ndarray) -> None:
        self.x = np.asarray(x, dtype=np.float32)
        self.y = np.asarray(y, dtype=np.float32)
        self.angle = np.asarray(angle, dtype=np.float32)
        self.cos = np.cos(self.angle)
        self.sin = np.sin(self.angle)


FAR = np.float32(1e6)
_COS_TURN = np.float32(np.cos(TURN_TOLERANCE))


class Alignment:
    """The best anchor's alignment per batch entry: probe point p maps to R(rot)(p - centre)
    + target, in the cylinders' frame (500 dpi, y up)."""

    def __init__(self, rot: np.ndarray, centre: tuple, target: tuple) -> None:
        self.rot = rot
        self.centre = centre
        self.target = target


def score(gamma: np.ndarray, a: Side, b: Side) -> np.ndarray:
    """Scores (K,) in [0, 1] from local similarities ``gamma`` (K, na, nb).

    ``a`` is one template (batch of 1) or as many as ``b``; ``b`` holds K templates.
    """
    return score_and_align(gamma, a, b)[0]


def score_and_align(gamma: np.ndarray, a: Side, b: Side) -> tuple[np.ndarray, Alignment]:
    """Scores (K,) as ``score`` gives them, and the alignment that earned each."""
    batch, na, nb = gamma.shape
    if batch == 0 or na == 0 or nb == 0:
        zero = np.zeros(batch, dtype=np.float32)
        return np.zeros(batch), Alignment(zero, (zero, zero), (zero, zero))
    anchors = min(ANCHORS, na * nb)
    flat = gamma.reshape(batch, na * nb)
    top = np.argpartition(flat, flat.shape[1] - anchors, axis=1)[:, -anchors:]
    rows = np.arange(batch)[:, None]
    strength = flat[rows, top]
    ia, ib = np.divmod(top, nb)
    arow = rows if a.x.shape[0] == batch else 0
    # Each anchor aligns the probe: point p goes to R(rot) (p - centre) + target.
    rot = b.angle[rows, ib] - a.angle[arow, ia]
    centre = (a.x[arow, ia], a.y[arow, ia])
    target = (b.x[rows, ib], b.y[rows, ib])
    index = (rows[:, :, None], np.arange(anchors)[None, :, None], np.arange(na)[None, None, :])
    paired, partner, _, _ = _pair(a, b, rot, centre, target, index)
    rot, centre, target = _refine(a, b, paired, partner, rot, centre, target)
    paired, partner, distance2, tolerance = _pair(a, b, rot, centre, target, index)
    n = paired.sum(-1).astype(np.float64)  # (K, A)
    # (K, A, na): for each probe minutia, its partner's local similarity and distance.
    alike = np.minimum(gamma[index[0], index[2], partner] / np.float32(ALIKE), 1.0)
    turn = angle_difference(b.angle[index[0], partner] - a.angle[:, None, :], rot[..., None])
    fit = (1.0 - distance2[index + (partner,)] / (tolerance * tolerance)) * (
        1.0 - (turn / np.float32(TURN_TOLERANCE)) ** 2
    )
    s = np.where(paired, alike * fit, 0.0).sum(-1, dtype=np.float64)
    near = distance2 <= np.float32(OVERLAP_REACH**2)
    m_a = np.maximum(np.maximum(near.any(-1).sum(-1), MIN_OVERLAP), n)
    m_b = np.maximum(np.maximum(near.any(-2).sum(-1), MIN_OVERLAP), n)
    per_anchor = np.where(strength > 0, s / np.sqrt(m_a * m_b), 0.0)
    best = per_anchor.argmax(axis=1)
    k = np.arange(batch)
    alignment = Alignment(
        rot[k, best],
        (centre[0][k, best], centre[1][k, best]),
        (target[0][k, best], target[1][k, best]),
    )
    return np.clip(per_anchor[k, best], 0.0, 1.0), alignment


def _pair(
    a: Side, b: Side, rot: np.ndarray, centre: tuple, target: tuple, index: tuple
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Mutual nearest pairs within tolerance, for every anchor's alignment.

    Returns whether each probe minutia paired (K, A, na), its nearest fitting candidate
    minutia (K, A, na), all squared distances after alignment (K, A, na, nb) and each
    probe minutia's position tolerance (K, A, na).
    """
    c, s = np.cos(rot)[..., None], np.sin(rot)[..., None]
    dx = a.x[:, None, :] - centre[0][..., None]  # (K, A, na)
    dy = a.y[:, None, :] - centre[1][..., None]
    ex = (c * dx - s * dy + target[0][..., None])[..., None] - b.x[:, None, None, :]
    ey = (s * dx + c * dy + target[1][..., None])[..., None] - b.y[:, None, None, :]
    distance2 = ex * ex + ey * ey
    tolerance = np.minimum(BASE_TOLERANCE + STRETCH * np.sqrt(dx * dx + dy * dy), MAX_TOLERANCE)
    # The turn between directions is within tolerance when its cosine is large enough.
    mc = (c * a.cos[:, None, :] - s * a.sin[:, None, :])[..., None]
    ms = (s * a.cos[:, None, :] + c * a.sin[:, None, :])[..., None]
    turn_cos = mc * b.cos[:, None, None, :] + ms * b.sin[:, None, None, :]
    fits = (distance2 <= (tolerance * tolerance)[..., None]) & (turn_cos >= _COS_TURN)
    masked = np.where(fits, distance2, np.float32(np.inf))
    nearest_b = masked.argmin(-1)  # (K, A, na)
    nearest_a = masked.argmin(-2)  # (K, A, nb)
    k, j, i = index
    paired = fits[k, j, i, nearest_b] & (nearest_a[k, j, nearest_b] == i)
    return paired, nearest_b, distance2, tolerance


def _refine(
    a: Side,
    b: Side,
    paired: np.ndarray,
    partner: np.ndarray,
    rot: np.ndarray,
    centre: tuple,
    target: tuple,
) -> tuple[np.ndarray, tuple, tuple]:
    """Least-squares rotation and translation from the pairs (kept where fewer than 3)."""
    w = paired.astype(np.float32)
    count = w.sum(-1)
    enough = count >= 3
    safe = np.maximum(count, 1.0)
    rows = np.arange(partner.shape[0])[:, None, None]
    bx, by = b.x[rows, partner], b.y[rows, partner]
    ax, ay = a.x[:, None, :], a.y[:, None, :]
    amx, amy = (w * ax).sum(-1) / safe, (w * ay).sum(-1) / safe
    bmx, bmy = (w * bx).sum(-1) / safe, (w * by).sum(-1) / safe
    ux, uy = ax - amx[..., None], ay - amy[..., None]
    vx, vy = bx - bmx[..., None], by - bmy[..., None]
    cross = (w * (ux * vy - uy * vx)).sum(-1)
    dot = (w * (ux * vx + uy * vy)).sum(-1)
    new_rot = np.where(enough, np.arctan2(cross, dot), rot)
    new_centre = (np.where(enough, amx, centre[0]), np.where(enough, amy, centre[1]))
    new_target = (np.where(enough, bmx, target[0]), np.where(enough, bmy, target[1]))
    return new_rot, new_centre, new_target
