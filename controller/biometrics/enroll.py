"""Enrollment: several impressions of each finger consolidated into one reference.

One impression shows part of a fingertip, with some minutiae missed and some false
ones added. Several impressions of the same finger, aligned onto each other, show more
of it and disagree about the mistakes. ``consolidate`` aligns every impression onto the
most typical one (the one most like all the others) with the matcher's own alignment,
groups minutiae that land on each other, and keeps a group when enough of the
impressions that saw its place agree that it is there: a minutia that only one of
three impressions shows, where all three touched, is taken for the extractor's mistake;
one that lies where only one impression touched is kept, because nothing contradicts
it. An impression that does not match the others is left out, since it may be another
finger or a capture too poor to trust, and enrolling it would lock the voter out; more
than half of a finger's impressions must agree.

``enroll`` turns the impressions of each of a voter's fingers into one ISO/IEC 19794-2
record: per finger, the consolidated view and the best single impression, so a finger
is still recognised if consolidation were to go wrong for it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from controller.biometrics import thresholds
from controller.biometrics.match.cylinders import angle_difference, convex_hull, hull_distance
from controller.biometrics.match.matcher import Template, align, compare
from controller.biometrics.match.pairing import Alignment
from controller.biometrics.template import DEFAULT_PPCM, FingerRecord, FingerView, Minutiae

MIN_IMPRESSIONS = 2
MAX_IMPRESSIONS = 8
MIN_MINUTIAE = 12  # an impression with fewer cannot be aligned with any confidence
# Impressions of one finger score far above this against each other (docs/biometrics.md):
# the 1:1 threshold for a false-match rate of 0.1 %, as calibrated.
SAME_FINGER = thresholds.BY_FALSE_MATCH_RATE[0.001]
MERGE_DISTANCE = 10.0  # pixels at 500 dpi: two aligned minutiae nearer than this are one
MERGE_TURN = np.radians(35.0)
COVER_MARGIN = 16.0  # pixels beyond an impression's minutiae hull that it still saw
AGREEMENT = 0.5  # share of the impressions covering a place that must show the minutia
BORDER = 8  # pixels of margin around the consolidated minutiae in the record's frame


class EnrollmentError(ValueError):
    """The impressions cannot be enrolled; the message says which and why."""


class Consolidation:
    """What ``consolidate`` made: the minutiae, and which impressions (from 0) went in.

    ``typical`` is the impression the others were aligned onto; ``left_out`` those that
    matched none of the others and were not used.
    """

    def __init__(self, minutiae: Minutiae, used: list[int], left_out: list[int], typical: int):
        self.minutiae = minutiae
        self.used = used
        self.left_out = left_out
        self.typical = typical


def consolidate(impressions: Sequence[Minutiae], ppcm: int = DEFAULT_PPCM) -> Consolidation:
    """One minutiae set from several impressions of one finger, all at ``ppcm``.

    The result is in the frame of the most typical impression, moved so that every
    minutia has coordinates of at least ``BORDER`` pixels. An impression that matches
    none of the others is left out; more than half of the impressions, and at least two,
    must agree, or nothing is enrolled.
    """
    _check_impressions(impressions)
    templates = [Template.from_minutiae(m, ppcm, ppcm) for m in impressions]
    scores = _scores(templates)
    reference = int((scores + scores.T).sum(axis=1).argmax())
    scale = DEFAULT_PPCM / ppcm
    placed = {reference: templates[reference].points}
    # The alignments that take each placed impression into the reference's frame.
    route: dict[int, list[Alignment]] = {reference: []}
    left_out: list[int] = []
    # Each further impression is aligned onto the placed one it resembles most, so that
    # an impression overlapping the reference only a little still joins through another.
    while len(placed) + len(left_out) < len(templates):
        waiting = [k for k in range(len(templates)) if k not in placed and k not in left_out]
        k, j = max(
            ((k, j) for k in waiting for j in placed), key=lambda kj: scores[kj[0], kj[1]]
        )
        value, alignment = align(templates[k], templates[j])
        if alignment is None or value < SAME_FINGER:
            # The most similar pair left is not similar enough: no waiting one will join.
            left_out.extend(sorted(waiting))
            break
        route[k] = [alignment] + route[j]
        points = templates[k].points
        for step in route[k]:
            points = _moved(*points, step)
        placed[k] = points
    needed = max(MIN_IMPRESSIONS, len(templates) // 2 + 1)
    if len(placed) < needed:
        raise EnrollmentError(
            "only %d of the %d impressions match each other, %d must: impression%s %s "
            "may be another finger or a poor capture; take them again"
            % (
                len(placed),
                len(templates),
                needed,
                "s" if len(left_out) > 1 else "",
                ", ".join(str(k + 1) for k in left_out),
            )
        )
    used = sorted(placed)
    xs, ys, angles, owners, qualities, kinds, hulls = [], [], [], [], [], [], []
    for number in used:
        minutiae = impressions[number]
        x, y, angle = placed[number]
        xs.append(x)
        ys.append(y)
        angles.append(angle)
        owners.append(np.full(len(x), number))
        qualities.append(np.asarray(minutiae.quality, dtype=np.float64))
        kinds.append(np.asarray(minutiae.kind))
        hulls.append(convex_hull(x.astype(np.float64), y.astype(np.float64)))
    x = np.concatenate(xs)
    y = np.concatenate(ys)
    angle = np.concatenate(angles)
    owner = np.concatenate(owners)
    quality = np.concatenate(qualities)
    kind = np.concatenate(kinds)
    groups = _groups(x, y, angle, owner)
    kept_x, kept_y, kept_angle, kept_kind, kept_quality = [], [], [], [], []
    for members in groups:
        cx, cy = float(x[members].mean()), float(y[members].mean())
        covering = sum(
            1
            for hull in hulls
            if hull_distance(hull, np.array([cx]), np.array([cy]))[0] <= COVER_MARGIN
        )
        support = len(members)
        if support < AGREEMENT * max(covering, 1):
            continue
        kept_x.append(cx)
        kept_y.append(cy)
        kept_angle.append(_mean_angle(angle[members]))
        kept_kind.append(int(np.bincount(kind[members]).argmax()))
        share = support / max(covering, support)
        kept_quality.append(int(round(float(quality[members].mean()) * share)))
    if len(kept_x) < MIN_MINUTIAE:
        raise EnrollmentError(
            "the impressions agree on only %d minutiae, %d are needed"
            % (len(kept_x), MIN_MINUTIAE)
        )
    # Back to image pixels (y down) at the impressions' resolution, inside the frame.
    px = np.array(kept_x) / scale
    py = -np.array(kept_y) / scale
    px += BORDER - px.min()
    py += BORDER - py.min()
    merged = Minutiae.from_columns(px, py, kept_angle, kept_kind, np.clip(kept_quality, 0, 100))
    return Consolidation(merged, used, left_out, reference)


class Enrollment:
    """A voter's reference ``record``, and per finger the impressions (from 1) left out."""

    def __init__(self, record: FingerRecord, left_out: dict[int, list[int]]) -> None:
        self.record = record
        self.left_out = left_out


def enroll(
    fingers: Mapping[int, Sequence[Minutiae]], ppcm: int = DEFAULT_PPCM, impression: int = 0
) -> Enrollment:
    """A voter's reference record from the impressions of each finger.

    ``fingers`` maps ISO finger positions (1 right thumb .. 10 left little, 0 unknown) to
    that finger's impressions, all at ``ppcm``. Each finger gets two views: 0 the
    consolidated set, 1 the single impression the others were aligned onto.
    """
    if not fingers:
        raise EnrollmentError("no finger to enroll")
    views: list[FingerView] = []
    left_out: dict[int, list[int]] = {}
    for position, impressions in sorted(fingers.items()):
        if not isinstance(position, int) or not 0 <= position <= 10:
            raise EnrollmentError("finger position %r is not 0-10" % (position,))
        try:
            made = consolidate(impressions, ppcm)
        except EnrollmentError as err:
            raise EnrollmentError("finger %d: %s" % (position, err)) from None
        if made.left_out:
            left_out[position] = [k + 1 for k in made.left_out]
        single = _shifted(impressions[made.typical])
        for view, minutiae in ((0, made.minutiae), (1, single)):
            views.append(
                FingerView(
                    minutiae=minutiae,
                    finger=position,
                    view=view,
                    impression=impression,
                    quality=int(np.clip(np.median(minutiae.quality), 0, 100)),
                )
            )
    width = int(max(np.max(v.minutiae.x) for v in views)) + 1 + BORDER
    height = int(max(np.max(v.minutiae.y) for v in views)) + 1 + BORDER
    record = FingerRecord(width=width, height=height, views=views, x_ppcm=ppcm, y_ppcm=ppcm)
    return Enrollment(record, left_out)


def _check_impressions(impressions: Sequence[Minutiae]) -> None:
    if not MIN_IMPRESSIONS <= len(impressions) <= MAX_IMPRESSIONS:
        raise EnrollmentError(
            "a finger is enrolled from %d to %d impressions, not %d"
            % (MIN_IMPRESSIONS, MAX_IMPRESSIONS, len(impressions))
        )
    for number, minutiae in enumerate(impressions):
        if not isinstance(minutiae, Minutiae):
            raise TypeError("impression %d is %s, not Minutiae" % (number + 1, type(minutiae)))
        if len(minutiae) < MIN_MINUTIAE:
            raise EnrollmentError(
                "impression %d has %d minutiae, at least %d are needed: take it again"
                % (number + 1, len(minutiae), MIN_MINUTIAE)
            )


def _scores(templates: list[Template]) -> np.ndarray:
    """[i, j]: the score of impression i compared onto impression j (0 on the diagonal).

    Both directions are compared: the matcher treats probe and reference differently.
    """
    n = len(templates)
    scores = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            if i != j:
                scores[i, j] = compare(templates[i], templates[j])
    return scores


def _moved(
    x: np.ndarray, y: np.ndarray, angle: np.ndarray, alignment: Alignment
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rot = float(alignment.rot[0])
    cx, cy = float(alignment.centre[0][0]), float(alignment.centre[1][0])
    tx, ty = float(alignment.target[0][0]), float(alignment.target[1][0])
    c, s = np.cos(rot), np.sin(rot)
    dx, dy = x - cx, y - cy
    return (
        (c * dx - s * dy + tx).astype(np.float32),
        (s * dx + c * dy + ty).astype(np.float32),
        np.mod(angle + rot, 2 * np.pi).astype(np.float32),
    )


def _groups(x: np.ndarray, y: np.ndarray, angle: np.ndarray, owner: np.ndarray) -> list:
    """Minutiae that land on each other, at most one from each impression per group.

    Pairs from different impressions are joined nearest first, as long as neither group
    already holds a minutia of the other's impressions.
    """
    n = len(x)
    distance = np.hypot(x[:, None] - x[None, :], y[:, None] - y[None, :])
    turn = np.abs(angle_difference(angle[:, None], angle[None, :]))
    close = (
        (distance <= MERGE_DISTANCE)
        & (turn <= MERGE_TURN)
        & (owner[:, None] != owner[None, :])
        & np.triu(np.ones((n, n), dtype=bool), 1)
    )
    i, j = np.nonzero(close)
    order = np.argsort(distance[i, j], kind="stable")
    parent = list(range(n))
    members = {k: {int(owner[k])} for k in range(n)}

    def root(k: int) -> int:
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    for a, b in zip(i[order].tolist(), j[order].tolist(), strict=True):
        ra, rb = root(a), root(b)
        if ra == rb or members[ra] & members[rb]:
            continue
        parent[rb] = ra
        members[ra] |= members.pop(rb)
    grouped: dict[int, list[int]] = {}
    for k in range(n):
        grouped.setdefault(root(k), []).append(k)
    return [np.array(v) for v in grouped.values()]


def _mean_angle(angles: np.ndarray) -> float:
    return float(np.mod(np.arctan2(np.sin(angles).mean(), np.cos(angles).mean()), 2 * np.pi))


def _shifted(minutiae: Minutiae) -> Minutiae:
    """``minutiae`` moved so that its coordinates start at ``BORDER``."""
    x = np.asarray(minutiae.x, dtype=np.float64)
    y = np.asarray(minutiae.y, dtype=np.float64)
    return Minutiae.from_columns(
        x + (BORDER - x.min()),
        y + (BORDER - y.min()),
        minutiae.angle,
        minutiae.kind,
        minutiae.quality,
    )
