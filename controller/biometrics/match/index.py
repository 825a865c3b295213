"""A geometric hash of minutia pairs: the short list that 1:N search starts from.

Comparing a probe with every enrolled template costs well under a millisecond each,
which over a whole station list is still far too slow. So 1:N search first asks an
index which templates can possibly hold the finger, and only those few are compared.

The index keys are minutia pairs. Each minutia is paired with its nearest neighbours;
a pair is described by what neither moving nor turning the finger changes: the distance
between the two minutiae and the direction of each relative to the line that joins
them. The three are quantised into a key, and the index keeps, per key, which
templates hold such a pair and the direction of the joining line. A probe's pairs look
up their keys, with the neighbouring bin in each dimension when a value lies near a
bin edge (a jittered value still finds its cell), and each hit votes for its template
and for the turn between the two joining lines. The same finger turned by some angle
gives many votes in one turn bin; a different finger gives votes scattered over all of
them. A template's score is its strongest pair of adjacent turn bins, over the square
root of its pair count, so that templates with many minutiae do not win by size.

Only neighbours are paired (``NEIGHBOURS`` in the gallery, fewer for the probe): close
pairs survive skin distortion and partial contact, and the index stays linear in the
number of minutiae. What the index promises is a ranking in which the true template
is near the top, not a decision: the decision is the matcher's.
"""

from __future__ import annotations

import numpy as np

NEIGHBOURS = 8  # pairs per gallery minutia: with its nearest neighbours
PROBE_NEIGHBOURS = 6  # pairs per probe minutia (its k-th neighbour is in the gallery's 8)
MIN_DISTANCE = 12.0  # pixels at 500 dpi: closer minutiae are one ridge break
MAX_DISTANCE = 150.0
DISTANCE_BIN = 12.0
DISTANCE_BINS = int(np.ceil((MAX_DISTANCE - MIN_DISTANCE) / DISTANCE_BIN))
ANGLE_BINS = 16
TURN_BINS = 32  # 11.25 degrees each, for the turn that brings the probe onto the template
TURN_SHIFT = 3  # a turn in 2π/256 units, shifted right by this, is its bin
TURN_WINDOW = 3  # adjacent turn bins voted together: a turn is known to about 15 degrees
SHORTLIST = 1500  # templates that the turn votes pass on to the translation votes
SHIFT_BIN = 24.0  # pixels: translation cells
SHIFT_BINS = 16  # per axis, centred on no shift (the centroids coincide)
KEYS = DISTANCE_BINS * ANGLE_BINS * ANGLE_BINS
TWO_PI = 2.0 * np.pi


class Pairs:
    """Ordered neighbour pairs of one minutiae set, as parallel arrays.

    ``distance`` between the two minutiae; ``line`` the direction from minutia i to
    minutia j; ``beta_i``, ``beta_j`` the two minutiae's directions relative to it, in
    [0, 2π); ``middle`` (n, 2) the pair's midpoint relative to the set's centroid.
    """

    def __init__(self, distance, beta_i, beta_j, line, middle) -> None:  # noqa: ANN001
        self.distance = distance
        self.beta_i = beta_i
        self.beta_j = beta_j
        self.line = line
        self.middle = middle

    def __len__(self) -> int:
        return len(self.distance)


def pairs(x: np.ndarray, y: np.ndarray, angle: np.ndarray, neighbours: int) -> Pairs:
    """Each minutia paired with its ``neighbours`` nearest, within the distance limits.

    ``x``, ``y`` at 500 dpi with y up and ``angle`` in radians, as cylinders keep them.
    """
    n = len(x)
    if n < 2:
        z = np.zeros(0, dtype=np.float32)
        return Pairs(z, z, z, z, np.zeros((0, 2), dtype=np.float32))
    x = np.asarray(x, dtype=np.float32)
    y = np.asarray(y, dtype=np.float32)
    angle = np.asarray(angle, dtype=np.float32)
    x = x - x.mean()
    y = y - y.mean()
    dx = x[None, :] - x[:, None]
    dy = y[None, :] - y[:, None]
    distance = np.hypot(dx, dy)
    np.fill_diagonal(distance, np.inf)
    k = min(neighbours, n - 1)
    nearest = np.argpartition(distance, k - 1, axis=1)[:, :k]
    i = np.repeat(np.arange(n), k)
    j = nearest.ravel()
    d = distance[i, j]
    keep = (d >= MIN_DISTANCE) & (d < MAX_DISTANCE)
    i, j, d = i[keep], j[keep], d[keep]
    line = np.mod(np.arctan2(dy[i, j], dx[i, j]), TWO_PI)
    middle = np.stack([(x[i] + x[j]) * 0.5, (y[i] + y[j]) * 0.5], axis=1)
    return Pairs(
        d,
        np.mod(angle[i] - line, TWO_PI),
        np.mod(angle[j] - line, TWO_PI),
        line,
        middle,
    )


def _bins(value: np.ndarray, width: float, count: int, wrap: bool) -> tuple[np.ndarray, np.ndarray]:
    """Each value's bin and the neighbouring bin on the side it lies nearer to."""
    scaled = value / width
    own = np.floor(scaled).astype(np.int64)
    other = np.where(scaled - own >= 0.5, own + 1, own - 1)
    if wrap:
        return np.mod(own, count), np.mod(other, count)
    own = np.clip(own, 0, count - 1)
    return own, np.clip(other, 0, count - 1)


def keys_of(d: np.ndarray, beta_i: np.ndarray, beta_j: np.ndarray) -> np.ndarray:
    """The exact key of each pair."""
    db = np.clip(((d - MIN_DISTANCE) / DISTANCE_BIN).astype(np.int64), 0, DISTANCE_BINS - 1)
    bi = np.mod((beta_i * (ANGLE_BINS / TWO_PI)).astype(np.int64), ANGLE_BINS)
    bj = np.mod((beta_j * (ANGLE_BINS / TWO_PI)).astype(np.int64), ANGLE_BINS)
    return (db * ANGLE_BINS + bi) * ANGLE_BINS + bj


def probe_keys(d: np.ndarray, beta_i: np.ndarray, beta_j: np.ndarray) -> np.ndarray:
    """(pairs, 8) keys: each pair's own cell and its neighbours towards the nearer edges."""
    d0, d1 = _bins(d - MIN_DISTANCE, DISTANCE_BIN, DISTANCE_BINS, wrap=False)
    i0, i1 = _bins(beta_i, TWO_PI / ANGLE_BINS, ANGLE_BINS, wrap=True)
    j0, j1 = _bins(beta_j, TWO_PI / ANGLE_BINS, ANGLE_BINS, wrap=True)
    out = np.empty((len(d), 8), dtype=np.int64)
    column = 0
    for db in (d0, d1):
        for bi in (i0, i1):
            for bj in (j0, j1):
                out[:, column] = (db * ANGLE_BINS + bi) * ANGLE_BINS + bj
                column += 1
    # Where the nearer neighbour of a distance is clipped onto its own bin, the same cell
    # would be looked up twice and vote twice.
    same = d0 == d1
    out[same, 4:] = -1
    return out


class PairIndex:
    """The pairs of many templates, sorted by key, and what a lookup needs of each pair.

    Per pair: its template's number, the direction of its joining line (in 2π/256) and
    its midpoint relative to the template's centroid (whole pixels at 500 dpi).
    """

    def __init__(self) -> None:
        self.offsets = np.zeros(KEYS + 1, dtype=np.int64)
        self.template = np.zeros(0, dtype=np.int32)
        self.line = np.zeros(0, dtype=np.uint8)
        self.middle = np.zeros((0, 2), dtype=np.int16)
        self.weight = np.zeros(0, dtype=np.float32)
        self.key_weight = np.zeros(KEYS, dtype=np.float32)

    def __len__(self) -> int:
        return len(self.weight)

    @classmethod
    def build(cls, templates: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> PairIndex:
        """Index the minutiae ``(x, y, angle)`` of each template, numbered in order."""
        index = cls()
        if not templates:
            return index
        keys, owners, lines, middles = [], [], [], []
        counts = np.zeros(len(templates), dtype=np.float32)
        for number, (x, y, angle) in enumerate(templates):
            found = pairs(x, y, angle, NEIGHBOURS)
            keys.append(keys_of(found.distance, found.beta_i, found.beta_j))
            owners.append(np.full(len(found), number, dtype=np.int32))
            lines.append(_line_units(found.line))
            middles.append(np.rint(found.middle).astype(np.int16))
            counts[number] = len(found)
        key = np.concatenate(keys)
        order = np.argsort(key, kind="stable")
        index.template = np.concatenate(owners)[order]
        index.line = np.concatenate(lines)[order]
        index.middle = np.concatenate(middles)[order]
        per_key = np.bincount(key, minlength=KEYS)
        index.offsets[1:] = np.cumsum(per_key)
        # A pair shape that many templates share says little about which one is sought.
        index.key_weight = np.log1p(len(templates) / np.maximum(per_key, 1)).astype(np.float32)
        index.weight = (1.0 / np.sqrt(np.maximum(counts, 1.0))).astype(np.float32)
        return index

    def rank(self, x: np.ndarray, y: np.ndarray, angle: np.ndarray, top: int) -> np.ndarray:
        """The numbers of the ``top`` templates most likely to hold the probe, best first.

        Two passes over the same hits: votes per template and turn pick a shortlist of
        ``SHORTLIST`` templates, then the hits of each shortlisted template that agree
        with its best turn vote for a translation, and the strongest translation cell
        ranks the shortlist.
        """
        templates = len(self.weight)
        if templates == 0 or top <= 0:
            return np.zeros(0, dtype=np.int64)
        hits = self._hits(x, y, angle)
        if hits is None:
            return np.zeros(0, dtype=np.int64)
        owner, turn, weight, probe_middle, entry = hits
        votes = np.bincount(
            owner.astype(np.int64) * TURN_BINS + (turn >> TURN_SHIFT),
            weights=weight,
            minlength=templates * TURN_BINS,
        ).reshape(templates, TURN_BINS)
        paired = votes.copy()
        for step in range(1, TURN_WINDOW):
            paired += np.roll(votes, -step, axis=1)
        best_turn = paired.argmax(axis=1)
        peak = paired[np.arange(templates), best_turn]
        # Hits that no turn favours spread evenly over the turns: what stands above that
        # evenness, in units of its own noise, is the finger.
        base = votes.sum(axis=1) * (TURN_WINDOW / TURN_BINS)
        coarse = (peak - base) / np.sqrt(base + 1.0)
        short = _best(coarse, min(SHORTLIST, templates))
        local = np.full(templates, -1, dtype=np.int64)
        local[short] = np.arange(len(short))
        slot = local[owner]
        bin_ = (turn >> TURN_SHIFT).astype(np.int64)
        agree = (slot >= 0) & (np.mod(bin_ - best_turn[owner], TURN_BINS) < TURN_WINDOW)
        slot, turn, weight = slot[agree], turn[agree], weight[agree]
        probe_middle, entry = probe_middle[agree], entry[agree]
        # The translation that brings the probe pair's midpoint onto the template's.
        rot = turn.astype(np.float32) * np.float32(TWO_PI / 256.0)
        c, s = np.cos(rot), np.sin(rot)
        px, py = probe_middle[:, 0], probe_middle[:, 1]
        gx = self.middle[entry, 0].astype(np.float32)
        gy = self.middle[entry, 1].astype(np.float32)
        tx = np.floor((gx - (c * px - s * py)) / SHIFT_BIN).astype(np.int64) + SHIFT_BINS // 2
        ty = np.floor((gy - (s * px + c * py)) / SHIFT_BIN).astype(np.int64) + SHIFT_BINS // 2
        inside = (tx >= 0) & (tx < SHIFT_BINS) & (ty >= 0) & (ty < SHIFT_BINS)
        cell = (slot * SHIFT_BINS + tx) * SHIFT_BINS + ty
        grid = np.bincount(
            cell[inside], weights=weight[inside], minlength=len(short) * SHIFT_BINS**2
        ).reshape(len(short), SHIFT_BINS, SHIFT_BINS)
        # Cells are summed two by two in both directions: a peak on a cell edge is whole.
        grid[:, :-1] += grid[:, 1:]
        grid[:, :, :-1] += grid[:, :, 1:]
        fine = grid.reshape(len(short), -1).max(axis=1) * self.weight[short]
        return short[_best(fine, min(top, len(short)))]

    def _hits(self, x: np.ndarray, y: np.ndarray, angle: np.ndarray) -> tuple | None:
        """Every index entry that a probe pair's cells hold, with what voting needs.

        Returns the entries' templates, the turn from the probe pair's line to the entry's
        (2π/256 units), the key weights, the probe pair midpoints and the entry numbers;
        None when nothing is hit.
        """
        found = pairs(x, y, angle, PROBE_NEIGHBOURS)
        if len(found) == 0:
            return None
        keys = probe_keys(found.distance, found.beta_i, found.beta_j)
        looked = keys >= 0
        query = keys[looked]
        source = np.broadcast_to(np.arange(len(found))[:, None], keys.shape)[looked]
        starts = self.offsets[query]
        counts = self.offsets[query + 1] - starts
        total = int(counts.sum())
        if total == 0:
            return None
        # Every entry of every looked-up cell, as one flat run of entry numbers.
        first = np.cumsum(counts) - counts
        entry = np.repeat(starts - first, counts) + np.arange(total)
        pair = np.repeat(source, counts)
        turn = (self.line[entry] - _line_units(found.line)[pair]).astype(np.uint8)
        weight = np.repeat(self.key_weight[query], counts)
        return self.template[entry], turn, weight, found.middle[pair], entry


def _best(score: np.ndarray, count: int) -> np.ndarray:
    """Indices of the ``count`` highest scores, highest first (ties by index)."""
    if count >= len(score):
        return np.argsort(-score, kind="stable")
    chosen = np.argpartition(score, len(score) - count)[len(score) - count :]
    return chosen[np.argsort(-score[chosen], kind="stable")]


def _line_units(line: np.ndarray) -> np.ndarray:
    """Directions in units of 2π/256, so that a difference wraps by itself in uint8."""
    return np.mod(np.rint(line * (256.0 / TWO_PI)), 256).astype(np.uint8)
