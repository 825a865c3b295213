"""Impressions: what an optical sensor captures when a master finger touches it.

An impression places the master (``placement``), decides which part of the skin touches
the glass (an ellipse of contact whose pressure falls off towards its rim), and prints
the ridges there as the skin condition dictates: dry skin leaves thin, broken ridges,
wet skin thick ridges with filled valleys. The sensor adds its own background, uneven
brightness and contrast, blur and noise; the skin adds pores, creases and scars. The image is
8-bit grey at 500 dpi, ridges dark on light.

Ground truth is the master's minutiae carried through the placement and kept where the
skin touched the glass firmly enough to print ridges.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage, signal
from skimage.draw import line_aa

from controller.biometrics.template import Minutiae
from hil.fingerprints.fields import smooth_noise
from hil.fingerprints.master import MasterFinger, _check_seed
from hil.fingerprints.placement import Placement

CONDITIONS = ("good", "normal", "dry", "wet", "poor")
UNUSABLE = ("no_contact", "black", "smeared")
MIN_SIZE = (256, 288)  # the ZhianTec R30x frame
MAX_SIZE = (640, 480)
VISIBLE_PRESSURE = 0.45  # minutiae where the skin pressed less than this do not count
BORDER = 6  # pixels: minutiae this close to the image edge do not count


class Impression:
    """One capture of one master finger, with its ground truth.

    ``image`` is uint8 (height, width); ``minutiae`` the ground truth in image
    coordinates; ``master_index[i]`` is the master minutia that ``minutiae[i]`` came
    from, so two impressions of one finger can be paired exactly; ``contact`` is where
    ridges were printed; ``rotation`` (radians, counterclockwise as viewed) and
    ``offset`` (dx, dy) are the rigid part of ``placement``; ``pattern`` is the master's
    pattern class. ``usable`` is False for the
    failed captures of ``UNUSABLE``, whose ground truth is empty.
    """

    def __init__(
        self,
        image: np.ndarray,
        minutiae: Minutiae,
        master_index: np.ndarray,
        contact: np.ndarray,
        placement: Placement,
        condition: str,
        finger_seed: int,
        seed: int,
        pattern: str = "",
    ) -> None:
        self.image = image
        self.minutiae = minutiae
        self.master_index = master_index
        self.contact = contact
        self.placement = placement
        self.condition = condition
        self.finger_seed = finger_seed
        self.seed = seed
        self.pattern = pattern

    @property
    def rotation(self) -> float:
        """Rotation of the finger on the sensor, radians counterclockwise as viewed."""
        return self.placement.rotation

    @property
    def offset(self) -> tuple[float, float]:
        """Where the master's centre lands, relative to the image centre (dx, dy)."""
        return self.placement.offset

    @property
    def usable(self) -> bool:
        """False for a failed capture that a sensor should ask to repeat."""
        return self.condition in CONDITIONS

    def __repr__(self) -> str:
        return "Impression(finger_seed=%d, seed=%d, %s, %dx%d, %d minutiae)" % (
            self.finger_seed,
            self.seed,
            self.condition,
            self.image.shape[1],
            self.image.shape[0],
            len(self.minutiae),
        )


class _Style:
    """The random draw of one capture: how it was placed and printed."""

    def __init__(self, condition: str, rng: np.random.Generator) -> None:
        u = rng.uniform
        self.condition = condition
        hard = condition in ("poor",) or condition in UNUSABLE
        # Placement
        limit = 25.0 if hard else 20.0
        self.rotation = np.radians(
            np.clip(
                rng.normal(0.0, {"good": 5.0, "normal": 9.0}.get(condition, 11.0)), -limit, limit
            )
        )
        spread = {"good": 18.0, "normal": 30.0}.get(condition, 38.0)
        self.offset = (rng.normal(0.0, spread), rng.normal(0.0, spread))
        # Contact ellipse (master pixels): a firm press covers the whole frame.
        if condition == "good":
            radii = (u(140, 185), u(175, 230))
        elif condition == "poor":
            radii = (u(70, 150), u(90, 190))
        elif condition == "no_contact":
            radii = (u(14, 28), u(16, 34))
        else:
            radii = (u(95, 180), u(125, 225))
        self.contact_radii = radii
        self.contact_tilt = rng.normal(0.0, 0.25)
        self.contact_shift = (rng.normal(0.0, 25.0), rng.normal(0.0, 30.0))
        # Plastic distortion
        self.twist = np.radians(rng.normal(0.0, {"good": 2.0, "normal": 4.0}.get(condition, 5.0)))
        big = {"good": 4.0, "normal": 9.0}.get(condition, 12.0)
        self.shift = (rng.normal(0.0, big), rng.normal(0.0, big))
        self.inner = u(0.2, 0.45)
        self.brake = u(35.0, 75.0)
        # Skin: ridge threshold (positive: thin ridges) and its variation
        self.threshold = {
            "good": u(-0.15, 0.15),
            "normal": u(-0.3, 0.35),
            "dry": u(0.35, 0.6),
            "wet": u(-0.75, -0.4),
            "poor": u(-0.6, 0.6),
            "no_contact": u(0.0, 0.4),
            "black": u(-0.9, -0.7),
            "smeared": u(-0.5, 0.0),
        }[condition]
        self.threshold_var = {"good": 0.08, "normal": 0.15}.get(condition, 0.22)
        self.breaks = {"good": u(0.0, 0.05), "normal": u(0.03, 0.15), "dry": u(0.2, 0.35)}.get(
            condition, u(0.1, 0.3) if condition == "poor" else u(0.0, 0.08)
        )
        self.blots = {"wet": u(0.1, 0.25), "poor": u(0.0, 0.2), "normal": u(0.0, 0.06)}.get(
            condition, 0.0
        )
        self.roughness = {"good": u(0.05, 0.12)}.get(condition, u(0.1, 0.22))
        self.tone = {"good": u(0.05, 0.2)}.get(condition, u(0.15, 0.4))
        self.pores = u(0.0, 0.004) if condition != "black" else 0.0
        # Sensor
        self.background = u(200, 240)
        self.contrast = {
            "good": u(170, 210),
            "dry": u(90, 150),
            "poor": u(70, 150),
            "black": u(185, 215),
        }.get(condition, u(120, 190))
        self.shading = u(0.0, 25.0)
        self.blur = {
            "good": u(0.5, 0.8),
            "wet": u(0.9, 1.4),
            "poor": u(0.9, 1.6),
            "smeared": u(2.5, 3.5),
        }.get(condition, u(0.6, 1.1))
        self.noise = {"good": u(2, 5), "poor": u(8, 16)}.get(condition, u(4, 10))
        self.smear = u(14.0, 30.0) if condition == "smeared" else 0.0
        self.smear_angle = u(0.0, np.pi)


def make_impression(
    master: MasterFinger,
    seed: int,
    width: int = 256,
    height: int = 288,
    condition: str = "normal",
) -> Impression:
    """Capture ``master`` once; the same master, seed, size and condition give the same bytes.

    ``condition`` is one of ``CONDITIONS`` ("good" .. "poor") for a usable capture, or one
    of ``UNUSABLE`` ("no_contact", "black", "smeared") for a failed one.
    """
    seed = _check_seed(seed)
    if not isinstance(master, MasterFinger):
        raise TypeError("master must be a MasterFinger, not %s" % type(master).__name__)
    if condition not in CONDITIONS and condition not in UNUSABLE:
        raise ValueError(
            "unknown condition %r (one of %s)" % (condition, ", ".join(CONDITIONS + UNUSABLE))
        )
    check_size(width, height)
    rng = np.random.default_rng([master.seed, seed, 0x1A7E])
    style = _Style(condition, rng)
    placement = _place(master, style, width, height)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    mx, my = placement.to_master(xx, yy)
    pressure = _pressure(master, style, placement.centre, mx, my, rng)
    ink = _print_ridges(master, style, mx, my, pressure, rng)
    image = _sensor(ink, style, rng)
    contact = pressure > VISIBLE_PRESSURE
    if condition in UNUSABLE:
        minutiae, index = Minutiae.empty(), np.zeros(0, dtype=np.int32)
    else:
        minutiae, index = _visible_minutiae(master, placement, contact)
    return Impression(
        image, minutiae, index, contact, placement, condition, master.seed, seed, master.pattern
    )


def check_size(width: int, height: int) -> None:
    """Raise ValueError unless width x height is a sensor size the generator makes."""
    if isinstance(width, bool) or isinstance(height, bool):
        raise TypeError("image width and height must be integers")
    if not isinstance(width, (int, np.integer)) or not isinstance(height, (int, np.integer)):
        raise TypeError("image width and height must be integers")
    if not (MIN_SIZE[0] <= width <= MAX_SIZE[0] and MIN_SIZE[1] <= height <= MAX_SIZE[1]):
        raise ValueError(
            "image size %dx%d outside %dx%d .. %dx%d"
            % (width, height, MIN_SIZE[0], MIN_SIZE[1], MAX_SIZE[0], MAX_SIZE[1])
        )


def _place(master: MasterFinger, style: _Style, width: int, height: int) -> Placement:
    # The contact centre is the master point that lands under the sensor's centre, moved
    # by where the finger's pad actually met the glass.
    mw, mh = master.width, master.height
    c, s = np.cos(style.rotation), np.sin(style.rotation)
    ox, oy = style.offset
    # Master point under the image centre, before distortion (inverse rigid motion).
    ux, uy = -ox, -oy
    under_x = c * ux - s * uy + mw / 2.0
    under_y = s * ux + c * uy + mh / 2.0
    centre = (under_x + style.contact_shift[0], under_y + style.contact_shift[1])
    radii = style.contact_radii
    return Placement(
        (mw, mh),
        (width, height),
        style.rotation,
        style.offset,
        centre,
        (radii[0] * style.inner, radii[1] * style.inner),
        style.brake,
        style.twist,
        style.shift,
    )


def _pressure(
    master: MasterFinger,
    style: _Style,
    centre: tuple[float, float],
    mx: np.ndarray,
    my: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """How firmly the skin at each image pixel presses on the glass, 0 to 1."""
    cx, cy = centre
    a, b = style.contact_radii
    ct, st = np.cos(style.contact_tilt), np.sin(style.contact_tilt)
    ux, uy = mx - cx, my - cy
    rho = np.sqrt(((ct * ux + st * uy) / a) ** 2 + ((-st * ux + ct * uy) / b) ** 2)
    h, w = mx.shape
    # The rim of the contact is not a clean ellipse: skin lifts off unevenly.
    rho = rho + 0.05 * smooth_noise(rng, h, w, 40.0)
    pressure = np.clip((1.0 - rho) / 0.25, 0.0, 1.0)
    inside = ndimage.map_coordinates(master.mask.astype(np.float32), [my, mx], order=1, cval=0.0)
    return (pressure * np.clip((inside - 0.3) / 0.4, 0.0, 1.0)).astype(np.float32)


def _print_ridges(
    master: MasterFinger,
    style: _Style,
    mx: np.ndarray,
    my: np.ndarray,
    pressure: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """Ink at each pixel, 0 (nothing) to 1 (ridge in full contact)."""
    h, w = mx.shape
    profile = ndimage.map_coordinates(master.ridges, [my, mx], order=1, cval=-1.0)
    # Ridge edges are never smooth: the skin's texture frays them a little.
    profile = profile + style.roughness * smooth_noise(rng, h, w, 1.2)
    # Light pressure near the rim thins the ridges; skin varies from place to place.
    threshold = (
        style.threshold
        + style.threshold_var * smooth_noise(rng, h, w, 30.0)
        + 0.5 * (1.0 - pressure)
    )
    ink = 1.0 / (1.0 + np.exp(-(profile - threshold) / 0.12))
    if style.breaks > 0:
        # Dry skin prints in pieces: small blobs of no contact along the ridges.
        gaps = smooth_noise(rng, h, w, 2.5)
        cut = np.quantile(gaps, 1.0 - style.breaks)
        ink *= np.clip((cut - gaps) / 0.4 + 1.0, 0.0, 1.0) ** 2
    if style.blots > 0:
        # Sweat fills valleys in ragged patches; the ridges still show through a little.
        wet = smooth_noise(rng, h, w, 8.0) + 0.6 * smooth_noise(rng, h, w, 2.5)
        cut = np.quantile(wet, 1.0 - style.blots)
        ink = np.maximum(ink, np.clip((wet - cut) / 0.4, 0.0, 0.75))
    if style.pores > 0:
        # Sweat pores: light specks of a pixel or two on the crest of the ridges.
        pores = (rng.random((h, w)) < style.pores) & (profile > 0.7)
        holes = ndimage.binary_dilation(pores, structure=ndimage.generate_binary_structure(2, 1))
        ink[holes] *= 0.45
    # Ridges in contact are not equally dark: moisture and pressure vary over the pad.
    ink *= 1.0 - style.tone * np.clip(0.5 + 0.35 * smooth_noise(rng, h, w, 18.0), 0.0, 1.0)
    for crease in master.creases:
        _crease(ink, mx, my, crease)
    ink *= np.clip(pressure / VISIBLE_PRESSURE, 0.0, 1.0)
    if style.condition == "black":
        # Soaked or over-pressed: the whole glass reads as contact.
        ink = np.maximum(ink, 0.9 + 0.1 * rng.random((h, w)))
    return ink.astype(np.float32)


def _crease(ink: np.ndarray, mx: np.ndarray, my: np.ndarray, crease: np.ndarray) -> None:
    """Lighten ``ink`` in place along one crease of the skin, given in master coordinates."""
    x0, y0, x1, y1, width = (float(v) for v in crease)
    ux, uy = x1 - x0, y1 - y0
    t = np.clip(((mx - x0) * ux + (my - y0) * uy) / (ux * ux + uy * uy + 1e-12), 0.0, 1.0)
    distance = np.hypot(mx - (x0 + t * ux), my - (y0 + t * uy))
    # Full depth inside the crease, fading over a pixel at its edges.
    ink *= np.clip(distance - 0.5 * width + 0.5, 0.0, 1.0) * 0.9 + 0.1


def _sensor(ink: np.ndarray, style: _Style, rng: np.random.Generator) -> np.ndarray:
    """The grey image the sensor delivers for ``ink``."""
    h, w = ink.shape
    if style.smear > 0:
        ink = _motion_blur(ink, style.smear, style.smear_angle)
    ink = ndimage.gaussian_filter(ink, style.blur)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    tilt = rng.uniform(0, 2 * np.pi)
    shading = style.shading * (
        (np.cos(tilt) * (xx - w / 2) + np.sin(tilt) * (yy - h / 2)) / max(h, w)
    )
    grey = style.background + shading - style.contrast * ink
    grey = grey + style.noise * rng.standard_normal((h, w)).astype(np.float32)
    return np.clip(np.round(grey), 0, 255).astype(np.uint8)


def _motion_blur(image: np.ndarray, length: float, angle: float) -> np.ndarray:
    """Average along a line of ``length`` pixels: a finger that slid during the capture."""
    size = int(length) | 1
    kernel = np.zeros((size, size), dtype=np.float32)
    half = size // 2
    dy, dx = half * np.sin(angle), half * np.cos(angle)
    rr, cc, val = line_aa(
        int(round(half - dy)), int(round(half - dx)), int(round(half + dy)), int(round(half + dx))
    )
    kernel[rr, cc] = val
    return signal.fftconvolve(image, kernel / kernel.sum(), mode="same").astype(np.float32)


def _visible_minutiae(
    master: MasterFinger, placement: Placement, contact: np.ndarray
) -> tuple[Minutiae, np.ndarray]:
    m = master.minutiae
    x, y = placement.to_image(m.x, m.y)
    angle = placement.angles_to_image(m.x, m.y, m.angle)
    h, w = contact.shape
    inside = (x >= BORDER) & (x < w - BORDER) & (y >= BORDER) & (y < h - BORDER)
    index = np.nonzero(inside)[0]
    ix = np.round(x[index]).astype(int)
    iy = np.round(y[index]).astype(int)
    firm = ndimage.binary_erosion(contact, iterations=3)
    index = index[firm[iy, ix]]
    return (
        Minutiae.from_columns(x[index], y[index], angle[index], m.kind[index], m.quality[index]),
        index.astype(np.int32),
    )
