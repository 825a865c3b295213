"""Synthetic minutiae sets: fingers and their impressions, without images.

The matcher is tested, calibrated and benchmarked on data whose truth is known. Images
through the extractor are the honest test (``bench/biometrics.py`` runs them); this
module makes minutiae directly, thousands per second, for what needs volume: unit tests
across rotation, translation, distortion and partial overlap, and the filler of a
10,000-template gallery.

A finger is a fingertip-sized ellipse at 500 dpi with a flow field from the zero-pole
model (cores and deltas of a loop, whorl or arch), minutiae spread with a minimum
spacing and pointing along the flow. An impression places the finger on a sensor window
with rotation and translation, bends it with a smooth displacement that grows away from
the centre of contact (skin distortion), keeps what falls inside an elliptical contact
area, then loses some minutiae, adds spurious ones and jitters positions and angles as a
real extractor does.
"""

from __future__ import annotations

import numpy as np

from controller.biometrics.template import BIFURCATION, ENDING, Minutiae

FINGER_SIZE = (320.0, 420.0)  # fingertip width and height in pixels at 500 dpi
MIN_SPACING = 14.0  # pixels between minutiae: closer ones are one ridge break
DENSITY = 1.0 / 1900.0  # minutiae per square pixel on a 500-dpi fingertip


class Finger:
    """One synthetic finger: its minutiae in finger coordinates (centre at 0, 0)."""

    def __init__(self, x: np.ndarray, y: np.ndarray, angle: np.ndarray, kind: np.ndarray):
        self.x = x
        self.y = y
        self.angle = angle
        self.kind = kind

    def __len__(self) -> int:
        return len(self.x)


def make_finger(seed: int) -> Finger:
    """The finger number ``seed``: the same seed always gives the same finger."""
    rng = np.random.default_rng([seed, 0xF16E])
    half_w, half_h = FINGER_SIZE[0] / 2, FINGER_SIZE[1] / 2
    area = np.pi * half_w * half_h
    target = int(rng.normal(area * DENSITY, 0.12 * area * DENSITY))
    points = _spread(rng, half_w, half_h, max(target, 8))
    cores, deltas = _singular_points(rng)
    flow = _flow(points[:, 0], points[:, 1], cores, deltas, rng.uniform(-0.3, 0.3))
    # A minutia points along the ridge, one way or the other.
    angle = np.mod(flow + np.pi * rng.integers(0, 2, len(points)), 2 * np.pi)
    kind = np.where(rng.random(len(points)) < 0.55, ENDING, BIFURCATION).astype(np.uint8)
    return Finger(points[:, 0], points[:, 1], angle, kind)


def _spread(rng: np.random.Generator, half_w: float, half_h: float, count: int) -> np.ndarray:
    """Points in the ellipse, no two closer than MIN_SPACING (dart throwing)."""
    kept = np.zeros((0, 2))
    tries = 0
    while len(kept) < count and tries < 40:
        tries += 1
        darts = rng.uniform(-1, 1, (count * 3, 2)) * (half_w, half_h)
        darts = darts[(darts[:, 0] / half_w) ** 2 + (darts[:, 1] / half_h) ** 2 <= 1]
        for p in darts:
            if len(kept) >= count:
                break
            if len(kept) == 0 or np.min(np.hypot(*(kept - p).T)) >= MIN_SPACING:
                kept = np.vstack([kept, p])
    return kept


def _singular_points(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    pattern = rng.choice(["loop", "whorl", "arch"], p=[0.6, 0.3, 0.1])
    core = rng.normal((0, -20), (25, 30))
    if pattern == "loop":
        side = rng.choice([-1, 1])
        return np.array([core]), np.array([core + (side * rng.uniform(70, 120), 110)])
    if pattern == "whorl":
        second = core + rng.normal((0, 30), (8, 8))
        deltas = np.array([core + (-110, 120), core + (110, 120)]) + rng.normal(0, 10, (2, 2))
        return np.array([core, second]), deltas
    return np.zeros((0, 2)), np.zeros((0, 2))


def _flow(
    x: np.ndarray, y: np.ndarray, cores: np.ndarray, deltas: np.ndarray, base: float
) -> np.ndarray:
    """Ridge orientation (radians, as viewed) by the zero-pole model."""
    # Work in the viewed frame where y points up, so angles come out as the template wants.
    theta = np.full(len(x), base)
    for cx, cy in deltas:
        theta += 0.5 * np.arctan2(-(y - cy), x - cx)
    for cx, cy in cores:
        theta -= 0.5 * np.arctan2(-(y - cy), x - cx)
    if len(cores) == 0:
        # Arch: ridges bend upward in the middle.
        theta += 0.6 * np.tanh(x / 80.0) * np.exp(-(((y + 40.0) / 150.0) ** 2))
    return theta


class Capture:
    """How one impression was taken (for tests that need the truth)."""

    def __init__(self, rotation: float, offset: tuple[float, float], source: np.ndarray):
        self.rotation = rotation
        self.offset = offset
        # For each minutia of the impression, the finger's minutia it shows, -1 if spurious.
        self.source = source


def make_impression(
    finger: Finger,
    seed: int,
    width: int = 256,
    height: int = 288,
    rotation_sd: float = 12.0,
    shift_sd: float = 25.0,
    distortion: float = 6.0,
    missing: float = 0.15,
    spurious: float = 0.12,
    position_sd: float = 2.5,
    angle_sd: float = 7.0,
    contact: float = 1.0,
) -> tuple[Minutiae, Capture]:
    """One impression of ``finger`` as a ``width`` x ``height`` 500-dpi sensor sees it.

    ``rotation_sd`` (degrees) and ``shift_sd`` (pixels) spread the placement;
    ``distortion`` is the largest skin displacement in pixels; ``missing`` and
    ``spurious`` are the shares of true minutiae lost and of false ones added;
    ``position_sd`` (pixels) and ``angle_sd`` (degrees) are the extractor's jitter;
    ``contact`` scales the contact ellipse (below 1 the finger touches only partly).
    """
    rng = np.random.default_rng([seed, 0x1C9])
    rotation = float(np.radians(np.clip(rng.normal(0, rotation_sd), -60, 60)))
    offset = (float(rng.normal(0, shift_sd)), float(rng.normal(0, shift_sd)))
    x, y, angle = _distort(finger, rng, distortion)
    # Rotate counterclockwise as viewed (y down), then move to the window.
    c, s = np.cos(rotation), np.sin(rotation)
    ix = c * x + s * y + width / 2 + offset[0]
    iy = -s * x + c * y + height / 2 + offset[1]
    angle = np.mod(angle + rotation, 2 * np.pi)
    centre = rng.normal((width / 2, height / 2), (20, 25))
    radii = np.array([width * 0.55, height * 0.55]) * contact * rng.uniform(0.85, 1.15, 2)
    inside = (((ix - centre[0]) / radii[0]) ** 2 + ((iy - centre[1]) / radii[1]) ** 2 <= 1) & (
        (ix >= 4) & (ix < width - 4) & (iy >= 4) & (iy < height - 4)
    )
    kept = np.flatnonzero(inside & (rng.random(len(ix)) >= missing))
    n = len(kept)
    px = ix[kept] + rng.normal(0, position_sd, n)
    py = iy[kept] + rng.normal(0, position_sd, n)
    pa = angle[kept] + np.radians(rng.normal(0, angle_sd, n))
    kind = finger.kind[kept].copy()
    # An extractor mistakes some endings for bifurcations and back.
    flip = rng.random(n) < 0.15
    kind[flip] = np.where(kind[flip] == ENDING, BIFURCATION, ENDING)
    extra = rng.poisson(spurious * max(n, 1))
    ex, ey = _inside_contact(rng, extra, centre, radii, width, height)
    px = np.concatenate([px, ex])
    py = np.concatenate([py, ey])
    pa = np.concatenate([pa, rng.uniform(0, 2 * np.pi, len(ex))])
    kind = np.concatenate([kind, rng.choice([ENDING, BIFURCATION], len(ex))]).astype(np.uint8)
    px = np.clip(px, 0, width - 1)
    py = np.clip(py, 0, height - 1)
    order = rng.permutation(len(px))
    quality = rng.integers(40, 100, len(px))
    minutiae = Minutiae.from_columns(px[order], py[order], pa[order], kind[order], quality)
    source = np.concatenate([kept, np.full(len(ex), -1)])[order]
    return minutiae, Capture(rotation, offset, source)


def _distort(
    finger: Finger, rng: np.random.Generator, amount: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A smooth displacement: nothing at the centre of contact, up to ``amount`` far out."""
    x, y = finger.x, finger.y
    if amount <= 0:
        return x.copy(), y.copy(), finger.angle.copy()
    centre = rng.normal(0, 30, 2)
    # A few broad bumps make a smooth random field; the radial ramp keeps the core still.
    bumps = rng.normal(0, 140, (4, 2))
    weights = rng.normal(0, 1, (4, 2))

    def field(px: np.ndarray, py: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        r = np.hypot(px - centre[0], py - centre[1])
        ramp = np.clip((r - 40.0) / 160.0, 0, 1)
        d = np.exp(-((px[:, None] - bumps[:, 0]) ** 2 + (py[:, None] - bumps[:, 1]) ** 2) / 2e4)
        dx = (d * weights[:, 0]).sum(1)
        dy = (d * weights[:, 1]).sum(1)
        scale = amount / max(1e-6, float(np.hypot(weights[:, 0], weights[:, 1]).max()))
        return px + ramp * dx * scale, py + ramp * dy * scale

    nx, ny = field(x, y)
    # Carry each angle through the field by moving a point a few pixels along it.
    step = 4.0
    tx, ty = field(x + step * np.cos(finger.angle), y - step * np.sin(finger.angle))
    angle = np.mod(np.arctan2(-(ty - ny), tx - nx), 2 * np.pi)
    return nx, ny, angle


def _inside_contact(
    rng: np.random.Generator,
    count: int,
    centre: np.ndarray,
    radii: np.ndarray,
    width: int,
    height: int,
) -> tuple[np.ndarray, np.ndarray]:
    t = rng.uniform(0, 2 * np.pi, count)
    r = np.sqrt(rng.uniform(0, 1, count))
    x = np.clip(centre[0] + r * radii[0] * np.cos(t), 0, width - 1)
    y = np.clip(centre[1] + r * radii[1] * np.sin(t), 0, height - 1)
    return x, y
