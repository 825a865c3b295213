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
number of minutiae. A search reads at most ``HIT_BUDGET`` index entries, the rarest pair
shapes first: on real fingers a few shapes (minutiae on parallel ridges) are in nearly
every template, and looking them up cost most of the time while telling the least.
What the index promises is a ranking in which the true template
is near the top, not a decision: the decision is the matcher's.
"""

from __future__ import annotations

import ctypes
import ctypes.util

import numpy as np

NEIGHBOURS = 12  # pairs per gallery minutia: with its nearest neighbours
PROBE_NEIGHBOURS = 10  # pairs per probe minutia: fewer, so a probe pair is in the gallery
PROBE_PAIRS = 320  # ... fewer still for a probe with more than 32 minutiae
MIN_PROBE_NEIGHBOURS = 6
HIT_BUDGET = 800_000  # index entries a search reads at most: their count sets its time
MIN_DISTANCE = 12.0  # pixels at 500 dpi: closer minutiae are one ridge break
MAX_DISTANCE = 150.0
DISTANCE_BIN = 12.0
DISTANCE_BINS = int(np.ceil((MAX_DISTANCE - MIN_DISTANCE) / DISTANCE_BIN))
ANGLE_BINS = 16
TURN_BINS = 32  # 11.25 degrees each, for the turn that brings the probe onto the template
TURN_SHIFT = 3  # a turn in 2π/256 units, shifted right by this, is its bin
ALIASED = 512 >> TURN_SHIFT  # cells per template before folding (see rank)
TURN_WINDOW = 3  # adjacent turn bins voted together: a turn is known to about 15 degrees
SHORTLIST = 0.15  # share of the templates that the turn votes pass on to the translation
MIN_SHORTLIST = 200  # ... and never fewer than this many
SHIFT_BIN = 24.0  # pixels: translation cells
SHIFT_BINS = 16  # per axis, centred on no shift (the centroids coincide)
EDGE = 0.18  # share of a bin next to its edge where the neighbouring bin is looked up too
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


def _bins(
    value: np.ndarray, width: float, count: int, wrap: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each value's bin, the neighbouring bin on the side it lies nearer to, and whether
    it lies near enough that edge (within ``EDGE`` of a bin) for the neighbour to count."""
    scaled = value / width
    own = np.floor(scaled).astype(np.int64)
    offset = scaled - own
    other = np.where(offset >= 0.5, own + 1, own - 1)
    near = np.minimum(offset, 1.0 - offset) < EDGE
    if wrap:
        return np.mod(own, count), np.mod(other, count), near
    own = np.clip(own, 0, count - 1)
    other = np.clip(other, 0, count - 1)
    return own, other, near & (other != own)


def keys_of(d: np.ndarray, beta_i: np.ndarray, beta_j: np.ndarray) -> np.ndarray:
    """The exact key of each pair."""
    db = np.clip(((d - MIN_DISTANCE) / DISTANCE_BIN).astype(np.int64), 0, DISTANCE_BINS - 1)
    bi = np.mod((beta_i * (ANGLE_BINS / TWO_PI)).astype(np.int64), ANGLE_BINS)
    bj = np.mod((beta_j * (ANGLE_BINS / TWO_PI)).astype(np.int64), ANGLE_BINS)
    return (db * ANGLE_BINS + bi) * ANGLE_BINS + bj


def probe_keys(d: np.ndarray, beta_i: np.ndarray, beta_j: np.ndarray) -> np.ndarray:
    """(pairs, 8) keys: each pair's own cell and its neighbours towards the nearer edges."""
    d0, d1, dn = _bins(d - MIN_DISTANCE, DISTANCE_BIN, DISTANCE_BINS, wrap=False)
    i0, i1, i_near = _bins(beta_i, TWO_PI / ANGLE_BINS, ANGLE_BINS, wrap=True)
    j0, j1, j_near = _bins(beta_j, TWO_PI / ANGLE_BINS, ANGLE_BINS, wrap=True)
    out = np.empty((len(d), 8), dtype=np.int64)
    column = 0
    for db, use_d in ((d0, True), (d1, dn)):
        for bi, use_i in ((i0, True), (i1, i_near)):
            for bj, use_j in ((j0, True), (j1, j_near)):
                key = (db * ANGLE_BINS + bi) * ANGLE_BINS + bj
                # A neighbour far from its edge, or clipped onto the own bin, is not looked
                # up: it would only add hits that a jittered pair rarely lands in.
                out[:, column] = np.where(use_d & use_i & use_j, key, -1)
                column += 1
    return out


class PairIndex:
    """The pairs of many templates, sorted by key, and what a lookup needs of each pair.

    Per pair: its template's number, the direction of its joining line (in 2π/256) and
    its midpoint relative to the template's centroid (whole pixels at 500 dpi).
    """

    def __init__(self) -> None:
        self.offsets = np.zeros(KEYS + 1, dtype=np.int64)
        self.code = np.zeros(0, dtype=np.int64)
        self.middle_x = np.zeros(0, dtype=np.float32)
        self.middle_y = np.zeros(0, dtype=np.float32)
        self.weight = np.zeros(0, dtype=np.float32)
        self.key_weight = np.zeros(KEYS, dtype=np.float64)

    def __len__(self) -> int:
        return len(self.weight)

    @classmethod
    def build(cls, templates: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> PairIndex:
        """Index the minutiae ``(x, y, angle)`` of each template, numbered in order."""
        index = cls()
        if not templates:
            return index
        keep_heap()
        if len(templates) >= 1 << 22:
            raise ValueError("an index holds fewer than %d templates" % (1 << 22))
        keys, codes, mx, my = [], [], [], []
        counts = np.zeros(len(templates), dtype=np.float32)
        for number, (x, y, angle) in enumerate(templates):
            found = pairs(x, y, angle, NEIGHBOURS)
            keys.append(keys_of(found.distance, found.beta_i, found.beta_j))
            # Template and line in one number, so that one subtraction of the probe's line
            # gives both the template (bits 9 up) and the turn modulo 256 (bits 0-7).
            codes.append(number * 512 + 256 + _line_units(found.line).astype(np.int32))
            mx.append(found.middle[:, 0])
            my.append(found.middle[:, 1])
            counts[number] = len(found)
        key = np.concatenate(keys)
        order = np.argsort(key, kind="stable")
        # int64 and float64 throughout: bincount converts anything else first, a whole
        # extra pass over millions of hits.
        index.code = np.concatenate(codes).astype(np.int64)[order]
        index.middle_x = np.concatenate(mx).astype(np.float32)[order]
        index.middle_y = np.concatenate(my).astype(np.float32)[order]
        per_key = np.bincount(key, minlength=KEYS)
        index.offsets[1:] = np.cumsum(per_key)
        # A pair shape that many templates share says little about which one is sought.
        index.key_weight = np.log1p(len(templates) / np.maximum(per_key, 1))
        index.weight = (1.0 / np.sqrt(np.maximum(counts, 1.0))).astype(np.float32)
        return index

    def rank(self, x: np.ndarray, y: np.ndarray, angle: np.ndarray, top: int) -> np.ndarray:
        """The numbers of the ``top`` templates most likely to hold the probe, best first.

        Two passes over the same hits: votes per template and turn pick a shortlist of
        ``SHORTLIST`` of the templates, then the hits of each shortlisted template that agree
        with its best turn vote for a translation, and the strongest translation cell
        ranks the shortlist. Every operation on all hits is one numpy pass: the hits are
        millions, and their count sets the time.
        """
        templates = len(self.weight)
        empty = np.zeros(0, dtype=np.int64)
        if templates == 0 or top <= 0:
            return empty
        # A probe with many minutiae pairs each with fewer neighbours: the hits, and so the
        # time, stay bounded whatever the capture.
        share = PROBE_PAIRS // max(len(x), 1)
        neighbours = int(np.clip(share, MIN_PROBE_NEIGHBOURS, PROBE_NEIGHBOURS))
        found = pairs(x, y, angle, neighbours)
        if len(found) == 0:
            return empty
        keys = probe_keys(found.distance, found.beta_i, found.beta_j)
        looked = np.flatnonzero(keys.ravel() >= 0)
        query = keys.ravel()[looked]
        counts = self.offsets[query + 1] - self.offsets[query]
        if int(counts.sum()) > HIT_BUDGET:
            # The commonest pair shapes bring most of the hits and tell the least (real
            # ridges run parallel, so some shapes are in every finger): the rarest keys
            # are looked up first, until the budget is spent.
            order = np.argsort(counts, kind="stable")
            kept = np.sort(order[np.cumsum(counts[order]) <= HIT_BUDGET])
            looked, query, counts = looked[kept], query[kept], counts[kept]
        lookup_pair = looked // keys.shape[1]
        starts = self.offsets[query]
        total = int(counts.sum())
        if total == 0:
            return empty
        # Every entry of every looked-up cell, as one flat run of entry numbers.
        first = np.cumsum(counts) - counts
        entry = np.repeat(starts - first, counts)
        entry += np.arange(total)
        probe_line = _line_units(found.line).astype(np.int64)[lookup_pair]
        value = self.code[entry]
        value -= np.repeat(probe_line, counts)
        # value >> TURN_SHIFT is template * ALIASED + the turn bin plus, for a turn that
        # wrapped, TURN_BINS: one shift gives the vote's cell, and folding the two
        # aliases gives the votes per template and turn.
        cell = value >> TURN_SHIFT
        weight = np.repeat(self.key_weight[query], counts)
        votes = (
            np.bincount(cell, weights=weight, minlength=templates * ALIASED)
            .reshape(templates, ALIASED // TURN_BINS, TURN_BINS)
            .sum(axis=1)
        )
        window = votes.copy()
        for step in range(1, TURN_WINDOW):
            window += np.roll(votes, -step, axis=1)
        best_turn = window.argmax(axis=1)
        peak = window[np.arange(templates), best_turn]
        # Hits that no turn favours spread evenly over the turns: what stands above that
        # evenness, in units of its own noise, is the finger.
        base = votes.sum(axis=1) * (TURN_WINDOW / TURN_BINS)
        coarse = (peak - base) / np.sqrt(base + 1.0)
        short = _best(coarse, min(max(int(SHORTLIST * templates), MIN_SHORTLIST), templates))
        # The cells whose hits go on: a shortlisted template's, in its best turn window.
        keep = np.zeros((templates, ALIASED), dtype=bool)
        turn_of_cell = np.arange(ALIASED) % TURN_BINS
        keep[short] = (
            np.mod(turn_of_cell[None, :] - best_turn[short][:, None], TURN_BINS) < TURN_WINDOW
        )
        chosen = np.flatnonzero(keep.ravel()[cell])
        local = np.full(templates, -1, dtype=np.int64)
        local[short] = np.arange(len(short))
        slot = local[value[chosen] >> 9]
        # The translation that brings the probe pair's midpoint onto the template's.
        turn = (value[chosen] & 255).astype(np.float32) * np.float32(TWO_PI / 256.0)
        c, s = np.cos(turn), np.sin(turn)
        pair = lookup_pair[np.searchsorted(first, chosen, side="right") - 1]
        px, py = found.middle[pair, 0], found.middle[pair, 1]
        gx, gy = self.middle_x[entry[chosen]], self.middle_y[entry[chosen]]
        half = SHIFT_BINS // 2
        tx = np.floor((gx - (c * px - s * py)) * np.float32(1.0 / SHIFT_BIN)).astype(np.int64)
        ty = np.floor((gy - (s * px + c * py)) * np.float32(1.0 / SHIFT_BIN)).astype(np.int64)
        tx += half
        ty += half
        inside = (tx >= 0) & (tx < SHIFT_BINS) & (ty >= 0) & (ty < SHIFT_BINS)
        grid_cell = (slot.astype(np.int64) * SHIFT_BINS + tx) * SHIFT_BINS + ty
        grid = np.bincount(
            grid_cell[inside],
            weights=weight[chosen][inside],
            minlength=len(short) * SHIFT_BINS**2,
        ).reshape(len(short), SHIFT_BINS, SHIFT_BINS)
        # Cells are summed two by two in both directions: a peak on a cell edge is whole.
        grid[:, :-1] += grid[:, 1:]
        grid[:, :, :-1] += grid[:, :, 1:]
        fine = grid.reshape(len(short), -1).max(axis=1) * self.weight[short]
        return short[_best(fine, min(top, len(short)))]


_HEAP_KEPT = False


def keep_heap() -> None:
    """Let this process keep the memory of large temporaries instead of mapping it anew.

    A search makes a dozen arrays of tens of megabytes. glibc serves blocks that large
    with fresh memory maps and returns them at once, so every search pays page faults
    for all of it: measured, some 40 % of its time. Raising glibc's mmap and trim
    thresholds keeps the freed memory for the next search. Only the C library's malloc
    is touched, and only once; elsewhere than glibc nothing happens.
    """
    global _HEAP_KEPT
    if _HEAP_KEPT:
        return
    _HEAP_KEPT = True
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        mallopt = libc.mallopt if libc is not None else None
    except (OSError, AttributeError):
        return
    if mallopt is None:
        return
    m_trim_threshold, m_mmap_threshold = -1, -3
    mallopt(m_mmap_threshold, 256 << 20)
    mallopt(m_trim_threshold, 512 << 20)


def _best(score: np.ndarray, count: int) -> np.ndarray:
    """Indices of the ``count`` highest scores, highest first (ties by index)."""
    if count >= len(score):
        return np.argsort(-score, kind="stable")
    chosen = np.argpartition(score, len(score) - count)[len(score) - count :]
    return chosen[np.argsort(-score[chosen], kind="stable")]


def _line_units(line: np.ndarray) -> np.ndarray:
    """Directions in units of 2π/256, so that a difference wraps by itself in uint8."""
    return np.mod(np.rint(line * (256.0 / TWO_PI)), 256).astype(np.uint8)
