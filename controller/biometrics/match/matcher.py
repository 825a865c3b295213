"""Comparison: prepared templates, and the score between a probe and one or many of them."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from controller.biometrics.match.cylinders import Cylinders, make_cylinders
from controller.biometrics.match.local import Unpacked, combine, similarity
from controller.biometrics.match.pairing import FAR, Alignment, Side, score, score_and_align
from controller.biometrics.template import DEFAULT_PPCM, Minutiae

# Candidates scored in one batch: large enough to amortise numpy's per-call cost, small
# enough that the (batch, anchors, n, n) pairing arrays stay in cache.
BATCH = 32


class Template:
    """A minutiae set prepared for matching: its cylinders and its minutiae at 500 dpi.

    Preparing costs a few milliseconds; comparing two prepared templates well under
    one, so a template compared more than once should be prepared once. ``points`` are
    all the minutiae (x, y with y up, angle) at 500 dpi, which the 1:N index pairs up.
    """

    def __init__(
        self, cylinders: Cylinders, points: tuple[np.ndarray, np.ndarray, np.ndarray]
    ) -> None:
        self.cylinders = cylinders
        self.points = points
        self._unpacked: Unpacked | None = None
        self._side: Side | None = None

    @classmethod
    def from_minutiae(
        cls, minutiae: Minutiae, x_ppcm: int = DEFAULT_PPCM, y_ppcm: int = DEFAULT_PPCM
    ) -> Template:
        """Prepare ``minutiae`` captured at ``x_ppcm`` x ``y_ppcm`` pixels per cm."""
        points = (
            (np.asarray(minutiae.x, dtype=np.float32) * np.float32(DEFAULT_PPCM / x_ppcm)),
            (-np.asarray(minutiae.y, dtype=np.float32) * np.float32(DEFAULT_PPCM / y_ppcm)),
            np.asarray(minutiae.angle, dtype=np.float32),
        )
        return cls(make_cylinders(minutiae, x_ppcm, y_ppcm), points)

    def __len__(self) -> int:
        return len(self.cylinders)

    @property
    def unpacked(self) -> Unpacked:
        """The cylinders as 0/1 matrices (made on first use and kept)."""
        if self._unpacked is None:
            c = self.cylinders
            self._unpacked = Unpacked(c.bits, c.valid, c.angle)
        return self._unpacked

    def side(self) -> Side:
        """The central minutiae as a batch of one, for consolidation."""
        if self._side is None:
            c = self.cylinders
            self._side = Side(c.x[None, :], c.y[None, :], c.angle[None, :])
        return self._side


def compare(a: Template, b: Template) -> float:
    """Similarity of two prepared templates in [0, 1]; higher is more alike."""
    if len(a) == 0 or len(b) == 0:
        return 0.0
    gamma = similarity(a.unpacked, b.unpacked)
    return float(score(gamma[None, :, :], a.side(), b.side())[0])


def align(a: Template, b: Template) -> tuple[float, Alignment | None]:
    """The score of ``a`` against ``b`` and the alignment that brings ``a`` onto ``b``.

    The alignment maps points in the cylinders' frame (500 dpi, y up); None when either
    template has no cylinders.
    """
    if len(a) == 0 or len(b) == 0:
        return 0.0, None
    gamma = similarity(a.unpacked, b.unpacked)
    scores, alignment = score_and_align(gamma[None, :, :], a.side(), b.side())
    return float(scores[0]), alignment


def compare_many(probe: Template, candidates: Sequence[Template]) -> np.ndarray:
    """Similarities of ``probe`` to each candidate, as ``compare`` gives them, in batches."""
    out = np.zeros(len(candidates), dtype=np.float64)
    if len(probe) == 0:
        return out
    for start in range(0, len(candidates), BATCH):
        chunk = candidates[start : start + BATCH]
        out[start : start + len(chunk)] = _batch(probe, chunk)
    return out


def _batch(probe: Template, candidates: Sequence[Template]) -> np.ndarray:
    """Scores of one batch: the cylinders of all candidates stacked into one product."""
    sizes = np.array([len(c) for c in candidates])
    width = int(sizes.max()) if len(sizes) else 0
    if width == 0:
        return np.zeros(len(candidates))
    cyl = [c.cylinders for c in candidates if len(c)]
    stacked = Unpacked(
        np.concatenate([c.bits for c in cyl]),
        np.concatenate([c.valid for c in cyl]),
        np.concatenate([c.angle for c in cyl]),
    )
    a = probe.unpacked
    flat = combine(
        a.bits @ stacked.bits.T,
        a.column @ stacked.valid.T,
        a.valid @ stacked.column.T,
        a.valid @ stacked.valid.T,
        a.angle[:, None],
        stacked.angle[None, :],
    )
    # Candidate k's cylinder j is column starts[k] + j; padding points at a zero column.
    flat = np.concatenate([flat, np.zeros((len(flat), 1), dtype=flat.dtype)], axis=1)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    j = np.arange(width)[None, :]
    columns = np.where(j < sizes[:, None], starts[:, None] + j, flat.shape[1] - 1)
    gamma = np.ascontiguousarray(flat[:, columns].transpose(1, 0, 2))  # (K, na, width)
    xs = np.full((len(candidates), width), FAR, dtype=np.float32)
    ys = xs.copy()
    angles = np.zeros_like(xs)
    for k, c in enumerate(candidates):
        n = len(c)
        xs[k, :n], ys[k, :n], angles[k, :n] = c.cylinders.x, c.cylinders.y, c.cylinders.angle
    return score(gamma, probe.side(), Side(xs, ys, angles))


def match(probe: Minutiae, candidate: Minutiae) -> float:
    """Similarity of two 500-dpi minutiae sets in [0, 1]; higher is more alike."""
    return compare(Template.from_minutiae(probe), Template.from_minutiae(candidate))

