"""The global shape of a master finger: pattern class, singular points, orientation,
ridge period and the finger's outline.

Orientation is the ridge direction in radians modulo π, measured counterclockwise as
the image is viewed (the convention of ``controller.biometrics.template``). The field
follows the zero-pole model of Sherlock and Monro: each core turns the ridges by half
the argument around it and each delta by minus half, so a core-delta pair cancels far
away and leaves the ridges horizontal, as they run across a finger. A dome term bends
the ridges above the cores along the fingertip and a smooth random term keeps two
fingers of one class from looking alike.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

# Henry classes with the frequencies of the NIST natural distribution; the whorl share is
# split into plain whorls and double loops.
PATTERNS = ("arch", "tented_arch", "left_loop", "right_loop", "whorl", "double_loop")
PATTERN_SHARES = (0.037, 0.029, 0.338, 0.317, 0.240, 0.039)

MIN_PERIOD = 7.5  # pixels at 500 dpi; the extremes of adult fingers
MAX_PERIOD = 11.5


def choose_pattern(rng: np.random.Generator) -> str:
    """Draw a pattern class with the natural class frequencies."""
    shares = np.asarray(PATTERN_SHARES) / sum(PATTERN_SHARES)
    return PATTERNS[int(rng.choice(len(PATTERNS), p=shares))]


def singular_points(
    pattern: str, rng: np.random.Generator, width: int, height: int
) -> tuple[np.ndarray, np.ndarray]:
    """Cores and deltas of ``pattern`` as (n, 2) arrays of (x, y) pixels.

    Positions scale with the master size; deltas may fall outside the finger, as they
    often do on a plain impression.
    """
    s = min(width / 400.0, height / 480.0)
    cx = width / 2.0 + rng.normal(0.0, 18.0) * s
    cy = height * 0.42 + rng.normal(0.0, 18.0) * s
    cores: list[tuple[float, float]] = []
    deltas: list[tuple[float, float]] = []
    if pattern == "tented_arch":
        gap = rng.uniform(45.0, 85.0) * s
        cores.append((cx, cy))
        deltas.append((cx + rng.normal(0.0, 6.0) * s, cy + gap))
    elif pattern in ("left_loop", "right_loop"):
        side = 1.0 if pattern == "left_loop" else -1.0
        cores.append((cx - side * rng.uniform(0.0, 25.0) * s, cy))
        deltas.append(
            (cx + side * rng.uniform(70.0, 130.0) * s, cy + rng.uniform(110.0, 170.0) * s)
        )
    elif pattern == "whorl":
        gap = rng.uniform(10.0, 35.0) * s
        tilt = rng.normal(0.0, 8.0) * s
        cores.append((cx - tilt, cy - gap / 2))
        cores.append((cx + tilt, cy + gap / 2))
        spread = rng.uniform(110.0, 150.0) * s
        drop = rng.uniform(110.0, 160.0) * s
        deltas.append((cx - spread + rng.normal(0, 10) * s, cy + drop + rng.normal(0, 12) * s))
        deltas.append((cx + spread + rng.normal(0, 10) * s, cy + drop + rng.normal(0, 12) * s))
    elif pattern == "double_loop":
        lean = rng.choice([-1.0, 1.0])
        dx = rng.uniform(18.0, 35.0) * s
        dy = rng.uniform(30.0, 55.0) * s
        cores.append((cx - lean * dx, cy - dy / 2))
        cores.append((cx + lean * dx, cy + dy / 2))
        spread = rng.uniform(110.0, 150.0) * s
        drop = rng.uniform(120.0, 170.0) * s
        deltas.append((cx - spread, cy + drop + rng.normal(0, 12) * s))
        deltas.append((cx + spread, cy + drop + rng.normal(0, 12) * s))
    elif pattern != "arch":
        raise ValueError("unknown pattern %r" % pattern)
    return (
        np.asarray(cores, dtype=np.float64).reshape(-1, 2),
        np.asarray(deltas, dtype=np.float64).reshape(-1, 2),
    )


def smooth_noise(rng: np.random.Generator, height: int, width: int, scale: float) -> np.ndarray:
    """Gaussian noise smoothed over ``scale`` pixels, rescaled to unit standard deviation."""
    step = max(1, int(scale / 4))
    small = rng.standard_normal((height // step + 3, width // step + 3))
    small = ndimage.gaussian_filter(small, scale / step, mode="wrap")
    field = ndimage.zoom(small, step, order=1)[:height, :width]
    field = field - field.mean()
    return (field / (field.std() + 1e-12)).astype(np.float32)


def orientation_field(
    pattern: str,
    cores: np.ndarray,
    deltas: np.ndarray,
    width: int,
    height: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Ridge direction (radians, modulo π, counterclockwise as viewed) at every pixel."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    theta = np.zeros((height, width))
    # The argument is taken with y pointing up, so it turns counterclockwise as viewed.
    for x0, y0 in cores:
        theta += 0.5 * np.arctan2(-(yy - y0), xx - x0)
    for x0, y0 in deltas:
        theta -= 0.5 * np.arctan2(-(yy - y0), xx - x0)
    half = width * 0.42
    if len(cores) == 0:
        # A plain arch: a hump across the middle of the finger, flatter towards the crease.
        middle = height * rng.uniform(0.42, 0.55)
        weight = np.exp(-(((yy - middle) / (0.3 * height)) ** 2))
        axis = width / 2.0 + rng.normal(0.0, 0.04 * width)
        theta += _hump(xx, axis, width * rng.uniform(0.22, 0.32), weight * rng.uniform(0.9, 1.7))
        top = middle - 0.15 * height
    else:
        top = float(np.min(cores[:, 1])) - rng.uniform(20.0, 50.0)
    # Above the pattern the ridges follow the fingertip.
    rise = np.clip((top - yy) / (0.5 * height), 0.0, 1.0) ** 0.7
    theta += _hump(xx, width / 2.0, half, rise * rng.uniform(0.5, 0.9))
    theta += rng.uniform(0.06, 0.12) * smooth_noise(rng, height, width, 70.0)
    return np.mod(theta, np.pi).astype(np.float32)


def _hump(xx: np.ndarray, axis: float, half: float, strength: np.ndarray) -> np.ndarray:
    """The turn of ridges that bulge upwards around the vertical line x = ``axis``.

    It is the direction of the curve y = -a exp(-u²/2), u = (x - axis) / ``half``, whose
    slope ``strength`` scales point by point: ridges rise towards the axis (as viewed).
    """
    u = (xx - axis) / half
    return -np.arctan(1.6 * strength * u * np.exp(-0.5 * u * u))


def period_field(
    width: int, height: int, cores: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Ridge period in pixels at every pixel, within [MIN_PERIOD, MAX_PERIOD].

    Each finger draws its mean period; ridges run a little wider above the core towards
    the tip and a little tighter near the crease, plus a smooth random variation.
    """
    mean = rng.uniform(8.3, 10.3)
    yy = np.arange(height, dtype=np.float32)[:, None]
    centre = float(cores[:, 1].mean()) if len(cores) else height * 0.45
    slope = rng.uniform(0.4, 1.0) * np.clip((centre - yy) / (0.5 * height), -1.0, 1.0)
    field = mean + slope + rng.uniform(0.3, 0.6) * smooth_noise(rng, height, width, 60.0)
    return np.clip(field, MIN_PERIOD, MAX_PERIOD).astype(np.float32)


def finger_mask(width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """The finger's outline: a rounded tip on top of straight-ish sides, cut at the crease."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    half_w = width * rng.uniform(0.40, 0.47)
    cx = width / 2.0 + rng.normal(0.0, width * 0.01)
    top = height * rng.uniform(0.01, 0.05)
    tip = half_w * rng.uniform(1.1, 1.35)  # height of the elliptic tip
    bottom = height * rng.uniform(0.95, 1.0)
    u = (xx - cx) / half_w
    in_tip = (u * u + ((yy - (top + tip)) / tip) ** 2) <= 1.0
    in_body = (np.abs(u) <= 1.0 - 0.04 * (yy - top - tip).clip(0) / height) & (yy >= top + tip)
    return (in_tip | in_body) & (yy <= bottom)
