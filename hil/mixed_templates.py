"""Many minutiae sets made from a few real ones, to fill a large 1:N gallery.

Ten thousand extracted fingers are not at hand, but a gallery's search cost and its
false hits depend on what real minutiae look like: their density, their directions
along curved ridge flow, their neighbours. ``MixedTemplates`` turns real minutiae
sets (extracted from real images) into new ones the way captures of other fingers
would differ: each is a real set turned by any angle and moved, often joined along a
random line with a second real set of another finger (so no two made sets share
their whole layout), cut to a partial window of a sensor's size, with a few minutiae
lost and a few spurious ones added. The result keeps the local structure of real
fingers while being nobody's finger.

Coordinates are 500-dpi pixels, y down, angles as ``controller.biometrics.template``
defines them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from controller.biometrics.template import Minutiae

MIN_MINUTIAE = 12  # fewer than the extractor itself would ever return
WINDOW_W = (200.0, 330.0)  # sensor window width range in 500-dpi pixels
WINDOW_H = (240.0, 420.0)
MIX_SHARE = 0.7  # share of made sets joined from two real fingers
DROP_MAX = 0.15  # highest share of minutiae lost
ADD_MAX = 3  # most spurious minutiae added


def _turned(m: Minutiae, theta: float, dx: float, dy: float) -> Minutiae:
    """``m`` turned by ``theta`` (counter-clockwise as viewed) about its centre, then moved."""
    cx, cy = float(np.mean(m.x)), float(np.mean(m.y))
    c, s = np.cos(theta), np.sin(theta)
    x0, y0 = m.x - cx, m.y - cy
    # With y pointing down, a turn that looks counter-clockwise is (x c + y s, -x s + y c).
    x = x0 * c + y0 * s + dx
    y = -x0 * s + y0 * c + dy
    return Minutiae.from_columns(x, y, m.angle + theta, m.kind, m.quality)


def _select(m: Minutiae, keep: np.ndarray) -> Minutiae:
    return Minutiae.from_columns(m.x[keep], m.y[keep], m.angle[keep], m.kind[keep], m.quality[keep])


def _joined(a: Minutiae, b: Minutiae, normal: float, offset: float) -> Minutiae:
    """``a`` on one side of a line through the origin (moved by ``offset``), ``b`` on the other."""
    nx, ny = np.cos(normal), np.sin(normal)
    side_a = a.x * nx + a.y * ny >= offset
    side_b = b.x * nx + b.y * ny < offset
    return Minutiae.from_columns(
        np.concatenate([a.x[side_a], b.x[side_b]]),
        np.concatenate([a.y[side_a], b.y[side_b]]),
        np.concatenate([a.angle[side_a], b.angle[side_b]]),
        np.concatenate([a.kind[side_a], b.kind[side_b]]),
        np.concatenate([a.quality[side_a], b.quality[side_b]]),
    )


class MixedTemplates:
    """A source of minutiae sets made from ``sources``, reproducible from ``seed``.

    ``sources`` are real minutiae sets at 500 dpi, each with the label of its finger
    (two sets are joined only when their labels differ). Raises ``ValueError`` with
    fewer than two sources of at least ``MIN_MINUTIAE`` minutiae or fewer than two
    fingers.
    """

    def __init__(self, sources: Sequence[tuple[object, Minutiae]], seed: int = 0) -> None:
        usable = [(label, m) for label, m in sources if len(m) >= MIN_MINUTIAE]
        if len(usable) < 2 or len({label for label, _ in usable}) < 2:
            raise ValueError(
                "needs real minutiae sets of two or more fingers with %d or more minutiae each"
                % MIN_MINUTIAE
            )
        self.labels = [label for label, _ in usable]
        # Centred once, so a made set is placed around the origin and then moved.
        self.sources = [_turned(m, 0.0, 0.0, 0.0) for _, m in usable]
        self.rng = np.random.default_rng([seed, 0x6A11])

    def make(self) -> Minutiae:
        """One new minutiae set with at least ``MIN_MINUTIAE`` minutiae."""
        while True:
            made = self._attempt()
            if len(made) >= MIN_MINUTIAE:
                return made

    def _attempt(self) -> Minutiae:
        rng = self.rng
        first = int(rng.integers(len(self.sources)))
        made = _turned(self.sources[first], rng.uniform(-np.pi, np.pi), 0.0, 0.0)
        if rng.random() < MIX_SHARE:
            others = [k for k, label in enumerate(self.labels) if label != self.labels[first]]
            second = others[int(rng.integers(len(others)))]
            other = _turned(
                self.sources[second],
                rng.uniform(-np.pi, np.pi),
                rng.normal(0.0, 25.0),
                rng.normal(0.0, 25.0),
            )
            made = _joined(made, other, rng.uniform(0, 2 * np.pi), rng.normal(0.0, 40.0))
        # A sensor's window over part of it.
        w, h = rng.uniform(*WINDOW_W), rng.uniform(*WINDOW_H)
        left, top = rng.normal(-w / 2, 40.0), rng.normal(-h / 2, 40.0)
        inside = (made.x >= left) & (made.x < left + w) & (made.y >= top) & (made.y < top + h)
        inside &= rng.random(len(made)) >= rng.uniform(0.0, DROP_MAX)
        made = _select(made, inside)
        extra = int(rng.integers(0, ADD_MAX + 1))
        x = np.concatenate([made.x, rng.uniform(left, left + w, extra)])
        y = np.concatenate([made.y, rng.uniform(top, top + h, extra)])
        angle = np.concatenate([made.angle, rng.uniform(0, 2 * np.pi, extra)])
        kind = np.concatenate([made.kind, rng.integers(1, 3, extra).astype(np.uint8)])
        quality = np.concatenate([made.quality, np.full(extra, 40, dtype=np.uint8)])
        # Into positive image coordinates, as a capture would have them.
        shift_x, shift_y = 16.0 - left, 16.0 - top
        return Minutiae.from_columns(x + shift_x, y + shift_y, angle, kind, quality)
