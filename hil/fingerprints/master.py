"""Master fingers: the whole ridge pattern of one synthetic finger, with its minutiae."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from controller.biometrics.template import Minutiae
from hil.fingerprints import fields, ridges
from hil.fingerprints.minutiae import clean_ridges, find_minutiae

MIN_MASTER = (256, 288)
MAX_MASTER = (1024, 1024)
MM2_PER_PIXEL = (25.4 / 500) ** 2
MINUTIAE_PER_MM2 = (0.22, 0.34)  # what each master aims for, drawn per finger
EDGE_MARGIN = 12  # pixels: minutiae this close to the finger's outline are cut ridges


class MasterFinger:
    """One finger as it would print with perfect contact, in master coordinates.

    ``ridges`` is float32 in [-1, 1], ridges positive, with the value proportional to the
    distance from the ridge edge (so a threshold moves every edge alike); ``mask`` is the
    finger's outline; ``orientation`` (radians modulo π, counterclockwise as viewed) and
    ``period`` (pixels) are the fields the ridges were grown from; ``cores`` and ``deltas``
    are (n, 2) arrays of (x, y); ``minutiae`` are the ground truth; ``creases`` is an
    (n, 5) array of (x0, y0, x1, y1, width): the creases and scars of this skin, which
    every impression shows as light lines across the ridges.
    """

    def __init__(
        self,
        seed: int,
        pattern: str,
        ridges: np.ndarray,
        mask: np.ndarray,
        orientation: np.ndarray,
        period: np.ndarray,
        cores: np.ndarray,
        deltas: np.ndarray,
        minutiae: Minutiae,
        creases: np.ndarray | None = None,
    ) -> None:
        self.seed = seed
        self.pattern = pattern
        self.ridges = ridges
        self.mask = mask
        self.orientation = orientation
        self.period = period
        self.cores = cores
        self.deltas = deltas
        self.minutiae = minutiae
        self.creases = np.zeros((0, 5), np.float32) if creases is None else creases

    @property
    def width(self) -> int:
        """Width in pixels."""
        return int(self.ridges.shape[1])

    @property
    def height(self) -> int:
        """Height in pixels."""
        return int(self.ridges.shape[0])

    def __repr__(self) -> str:
        return "MasterFinger(seed=%d, pattern=%r, %dx%d, %d minutiae)" % (
            self.seed,
            self.pattern,
            self.width,
            self.height,
            len(self.minutiae),
        )


def make_master(seed: int, width: int = 400, height: int = 480) -> MasterFinger:
    """Grow the master finger number ``seed`` (any integer ≥ 0) at 500 dpi.

    The same seed and size give the same finger, byte for byte.
    """
    seed = _check_seed(seed)
    if not isinstance(width, int) or not isinstance(height, int):
        raise TypeError("master width and height must be integers")
    if not (MIN_MASTER[0] <= width <= MAX_MASTER[0] and MIN_MASTER[1] <= height <= MAX_MASTER[1]):
        raise ValueError(
            "master size %dx%d outside %dx%d .. %dx%d"
            % (width, height, MIN_MASTER[0], MIN_MASTER[1], MAX_MASTER[0], MAX_MASTER[1])
        )
    rng = np.random.default_rng([seed, 0x5EED])
    pattern = fields.choose_pattern(rng)
    cores, deltas = fields.singular_points(pattern, rng, width, height)
    orientation = fields.orientation_field(pattern, cores, deltas, width, height, rng)
    period = fields.period_field(width, height, cores, rng)
    mask = fields.finger_mask(width, height, rng)
    grown = ridges.sharpen(ridges.grow(orientation, period, rng), orientation, period)
    mean_period = float(period[mask].mean())
    valid = ndimage.binary_erosion(mask, iterations=EDGE_MARGIN, border_value=0)
    # Top up the minutiae that the ridge flow forces to the density of a real finger.
    forced = len(find_minutiae(clean_ridges(grown, mean_period), orientation, valid, mean_period))
    wanted = rng.uniform(*MINUTIAE_PER_MM2) * float(valid.sum()) * MM2_PER_PIXEL
    pairs = int(round(max(0.0, wanted - forced) / 2.0))
    grown = ridges.insert_dislocations(grown, orientation, period, valid, pairs, rng)
    binary = clean_ridges(grown, mean_period)
    minutiae = find_minutiae(binary, orientation, valid, mean_period)
    return MasterFinger(
        seed,
        pattern,
        _edge_distance_profile(binary, period),
        mask,
        orientation,
        period,
        cores.astype(np.float32),
        deltas.astype(np.float32),
        minutiae,
        _creases(mask, rng),
    )


def _creases(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Creases and scars: a few straight light lines, mostly across the finger.

    They are part of the skin, so drawn once per finger; they cut ridges without being
    minutiae, which is one of the ways real captures mislead an extractor.
    """
    count = min(int(rng.poisson(0.9)), 4)
    ys, xs = np.nonzero(mask)
    rows = []
    for _ in range(count):
        pick = int(rng.integers(0, len(ys)))
        cx, cy = float(xs[pick]), float(ys[pick])
        across = rng.random() < 0.7
        angle = rng.normal(0.0, 0.3) if across else rng.uniform(0.0, np.pi)
        length = rng.uniform(40.0, 220.0) if across else rng.uniform(20.0, 90.0)
        width = rng.uniform(1.5, 4.0) if across else rng.uniform(1.0, 2.0)
        dx, dy = 0.5 * length * np.cos(angle), -0.5 * length * np.sin(angle)
        rows.append((cx - dx, cy - dy, cx + dx, cy + dy, width))
    return np.asarray(rows, dtype=np.float32).reshape(-1, 5)


def _edge_distance_profile(binary: np.ndarray, period: np.ndarray) -> np.ndarray:
    """Signed distance to the nearest ridge edge, in quarter periods, clipped to [-1, 1].

    Ridge centres are +1 and valley centres -1, so thresholding at t makes every ridge
    thinner (t > 0) or thicker (t < 0) by the same fraction of its period, which is what
    dry and wet skin do, while the topology of the clean pattern stays the one the ground
    truth was taken from.
    """
    inside = ndimage.distance_transform_edt(binary)
    outside = ndimage.distance_transform_edt(~binary)
    signed = np.where(binary, inside - 0.5, 0.5 - outside)
    return np.clip(signed / (period / 4.0), -1.0, 1.0).astype(np.float32)


def _check_seed(seed: int) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError("seed must be an integer, not %s" % type(seed).__name__)
    if seed < 0:
        raise ValueError("seed must be 0 or more, not %d" % seed)
    return int(seed)
