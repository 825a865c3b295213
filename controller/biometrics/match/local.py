"""Local similarity between every cylinder of one template and every cylinder of another.

For two bit cylinders a and b the similarity is counted only over the cells valid in
both (the matchable cells): with n_a and n_b the set bits of each there and n_x the bits
where they differ, it is 1 - sqrt(n_x) / (sqrt(n_a) + sqrt(n_b)). It is 0 when fewer
than MIN_MATCHABLE of the cells can be compared, or when the two central minutiae point
more than MAX_TURN apart (no finger turns that much on a sensor).

Because a cylinder's bits are clear outside its own valid cells, all four counts come
from matrix products of 0/1 matrices, which BLAS does faster than any popcount loop:
``a·b`` for the bits set in both, ``a·mask_b`` and ``mask_a·b`` for the set bits that lie
in the other's valid cells, ``mask_a·mask_b`` for the matchable cells.
"""

from __future__ import annotations

import numpy as np

from controller.biometrics.match.cylinders import (
    BITS,
    CELLS,
    CIRCLE_CELLS,
    DIRECTIONAL,
    angle_difference,
)

MIN_MATCHABLE = 0.60  # min_ME: share of a cylinder's cells that must be comparable
MAX_TURN = np.pi / 2  # delta_theta


class Unpacked:
    """Cylinders as float32 0/1 matrices, ready for the products above."""

    def __init__(self, bits: np.ndarray, valid: np.ndarray, angle: np.ndarray) -> None:
        self.bits = unpack(bits, BITS)  # (n, BITS)
        self.valid = unpack(valid, CELLS)  # (n, CELLS)
        # Set bits per spatial cell summed over the layers, for the products with masks.
        self.column = self.bits.reshape(len(self.bits), DIRECTIONAL, CELLS).sum(1)
        self.angle = np.asarray(angle, dtype=np.float32)

    def __len__(self) -> int:
        return len(self.angle)


def unpack(packed: np.ndarray, width: int) -> np.ndarray:
    """Packed uint8 rows to float32 0/1 rows of ``width`` values."""
    return np.unpackbits(packed, axis=1, count=width).astype(np.float32)


def similarity(a: Unpacked, b: Unpacked) -> np.ndarray:
    """(len(a), len(b)) local similarities in [0, 1]."""
    both = a.bits @ b.bits.T
    in_b = a.column @ b.valid.T
    in_a = a.valid @ b.column.T
    matchable = a.valid @ b.valid.T
    return combine(both, in_b, in_a, matchable, a.angle[:, None], b.angle[None, :])


def combine(
    both: np.ndarray,
    in_b: np.ndarray,
    in_a: np.ndarray,
    matchable: np.ndarray,
    angle_a: np.ndarray,
    angle_b: np.ndarray,
) -> np.ndarray:
    """Local similarities from the four products and the central minutiae's directions."""
    differ = np.maximum(in_b + in_a - 2.0 * both, 0.0)
    norms = np.sqrt(in_b) + np.sqrt(in_a)
    with np.errstate(divide="ignore", invalid="ignore"):
        value = 1.0 - np.sqrt(differ) / norms
    usable = (
        (norms > 0)
        & (matchable >= MIN_MATCHABLE * CIRCLE_CELLS)
        & (np.abs(angle_difference(angle_a, angle_b)) <= MAX_TURN)
    )
    return np.where(usable, value, 0.0).astype(np.float32)
