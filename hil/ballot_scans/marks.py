"""What voters put in and around a target, each kind with the reading it must get.

Every kind is drawn relative to the target's box (pixels of the base sheet) into a
small coverage patch, with the target's own random stream, so a mark does not change
when marks elsewhere do. Kinds fall into the classes the ground truth uses:

``VOTE_KINDS`` must be read as votes: a filled oval, a partial fill, a cross, a tick,
a 1 mm pencil line across the target (VVSG 1.1.6-H), a lightly pressed fill, a scribble.

``MARGINAL_KINDS`` are marginal by design — a hesitation dot, a short nick — and must
never be counted as votes (they may be flagged).

``ERASED`` is an erased mark: light residue and a few specks left by the eraser. It
must not be counted as a vote.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from hil.ballot_scans.pens import PENS, Canvas, Patch, Pen, lighter

VOTE_KINDS = ("fill", "partial", "cross", "tick", "line", "light", "scribble")
MARGINAL_KINDS = ("dot", "nick")
ERASED = "erased"
KINDS = VOTE_KINDS + MARGINAL_KINDS + (ERASED,)
LIGHT_LIMIT = 0.35  # pens darker than this (grey transmittance) can be pressed lightly


def truth_of(kind: str | None) -> str:
    """The ground truth of a target carrying a mark of ``kind`` (None: no mark)."""
    if kind in VOTE_KINDS:
        return "vote"
    if kind in MARGINAL_KINDS:
        return "marginal"
    return "blank"


class _Target:
    """A target's box inside its patch, in patch pixels, and the scale."""

    def __init__(self, x: float, y: float, w: float, h: float, k: float) -> None:
        self.x, self.y, self.w, self.h, self.k = x, y, w, h, k
        self.cx, self.cy = x + w / 2, y + h / 2

    def at(self, u: float, v: float) -> tuple[float, float]:
        """The point at (u, v) in half-widths and half-heights from the centre."""
        return self.cx + u * self.w / 2, self.cy + v * self.h / 2


def _ellipse(t: _Target, rng: np.random.Generator, low: float, high: float,
             steps: int = 28) -> list[tuple[float, float]]:
    phase = rng.uniform(0, math.tau)
    points = []
    for i in range(steps):
        angle = phase + math.tau * i / steps
        reach = rng.uniform(low, high)
        points.append(t.at(math.cos(angle) * reach, math.sin(angle) * reach))
    return points


def _fill(c: Canvas, t: _Target, pen: Pen, rng: np.random.Generator) -> None:
    c.polygon(_ellipse(t, rng, 0.84, 1.1))
    for _ in range(int(rng.integers(2, 5))):
        v = rng.uniform(-0.6, 0.6)
        c.stroke([t.at(rng.uniform(-1.0, -0.7), v), t.at(rng.uniform(0.7, 1.0),
                                                          v + rng.uniform(-0.3, 0.3))],
                 pen.width_mm * t.k)


def _partial(c: Canvas, t: _Target, pen: Pen, rng: np.random.Generator) -> None:
    points = _ellipse(t, rng, 0.85, 1.0)
    cut = rng.uniform(-0.1, 0.4)
    if rng.random() < 0.5:
        limit = t.cx + cut * t.w / 2 * (1 if rng.random() < 0.5 else -1)
        side = 1 if limit >= t.cx else -1
        if side > 0:
            points = [(min(x, limit), y) for x, y in points]
        else:
            points = [(max(x, limit), y) for x, y in points]
    else:
        limit = t.cy + cut * t.h / 2
        points = [(x, min(y, limit)) for x, y in points]
    c.polygon(points)


def _cross(c: Canvas, t: _Target, pen: Pen, rng: np.random.Generator) -> None:
    for sign in (1, -1):
        reach = rng.uniform(0.75, 1.15)
        slope = rng.uniform(0.7, 1.2) * sign
        shift = rng.uniform(-0.12, 0.12)
        c.stroke([t.at(-reach, -slope * reach + shift), t.at(reach, slope * reach + shift)],
                 pen.width_mm * t.k * rng.uniform(0.9, 1.3))


def _tick(c: Canvas, t: _Target, pen: Pen, rng: np.random.Generator) -> None:
    vertex = t.at(rng.uniform(-0.25, 0.0), rng.uniform(0.2, 0.45))
    start = t.at(rng.uniform(-0.75, -0.5), rng.uniform(-0.25, 0.05))
    end = t.at(rng.uniform(0.6, 1.1), rng.uniform(-1.5, -1.0))
    c.stroke([start, vertex, end], pen.width_mm * t.k * rng.uniform(1.0, 1.4))


def _line(c: Canvas, t: _Target, pen: Pen, rng: np.random.Generator) -> None:
    # VVSG 1.1.6-H: a 1 mm wide pencil line across the target.
    angle = math.radians(rng.uniform(-35, 35))
    offset = rng.uniform(-0.15, 0.15) * t.h
    reach = rng.uniform(0.6, 0.95) * t.w
    dx, dy = math.cos(angle), math.sin(angle)
    ox, oy = -dy * offset, dx * offset
    c.stroke([(t.cx + ox - dx * reach, t.cy + oy - dy * reach),
              (t.cx + ox + dx * reach, t.cy + oy + dy * reach)], 1.0 * t.k)


def _scribble(c: Canvas, t: _Target, pen: Pen, rng: np.random.Generator) -> None:
    turns = int(rng.integers(4, 8))
    points = []
    for i in range(turns + 1):
        v = -0.75 + 1.5 * i / turns + rng.uniform(-0.08, 0.08)
        u = rng.uniform(0.7, 1.0) * (1 if i % 2 else -1)
        points.append(t.at(u, v))
    c.stroke(points, pen.width_mm * t.k * rng.uniform(1.0, 1.6))


def _dot(c: Canvas, t: _Target, pen: Pen, rng: np.random.Generator) -> None:
    x, y = t.at(rng.uniform(-0.3, 0.3), rng.uniform(-0.3, 0.3))
    c.disc(x, y, rng.uniform(0.25, 0.45) * t.k)


def _nick(c: Canvas, t: _Target, pen: Pen, rng: np.random.Generator) -> None:
    x, y = t.at(rng.uniform(-0.3, 0.3), rng.uniform(-0.3, 0.3))
    angle = rng.uniform(0, math.pi)
    half = rng.uniform(0.2, 0.4) * t.k
    c.stroke([(x - math.cos(angle) * half, y - math.sin(angle) * half),
              (x + math.cos(angle) * half, y + math.sin(angle) * half)],
             rng.uniform(0.3, 0.4) * t.k)


_DRAW: dict[str, Callable[[Canvas, _Target, Pen, np.random.Generator], None]] = {
    "fill": _fill, "partial": _partial, "cross": _cross, "tick": _tick, "line": _line,
    "light": _fill, "scribble": _scribble, "dot": _dot, "nick": _nick, ERASED: _fill,
}


def mark_patch(box: tuple[float, float, float, float], kind: str, pen: Pen, k: float,
               rng: np.random.Generator) -> tuple[Patch, Pen]:
    """A mark of ``kind`` with ``pen`` at the target ``box`` (x, y, w, h in pixels of the
    base sheet, ``k`` pixels per millimetre): its coverage patch and the ink it is in."""
    if kind not in _DRAW:
        raise ValueError(f"unknown mark kind {kind!r} (known: {', '.join(KINDS)})")
    x, y, w, h = box
    mx, my = int(w * 1.3) + 4, int(h * 1.8) + 4
    x0, y0 = int(x) - mx, int(y) - my
    canvas = Canvas(int(h) + 2 * my, int(w) + 2 * mx)
    target = _Target(x - x0, y - y0, w, h, k)
    if kind == "line":
        pen = PENS["pencil"]
    _DRAW[kind](canvas, target, pen, rng)
    cover = canvas.coverage()
    if kind == "light" and pen.grey < LIGHT_LIMIT:
        # A pen pressed lightly; pencil is light already and stays as it is.
        pen = lighter(pen, float(rng.uniform(0.65, 0.85)))
    elif kind == ERASED:
        # What an eraser leaves: a faint shadow of the mark and a few specks of ink.
        cover *= np.float32(rng.uniform(0.06, 0.16))
        for _ in range(int(rng.integers(0, 5))):
            sx, sy = target.at(rng.uniform(-0.9, 0.9), rng.uniform(-0.9, 0.9))
            speck = Canvas(*cover.shape)
            speck.disc(sx, sy, rng.uniform(0.08, 0.14) * k)
            cover = np.maximum(cover, speck.coverage() * np.float32(0.6))
    return Patch(x0, y0, cover), pen


def stray_patch(box: tuple[float, float, float, float], pen: Pen, k: float,
                rng: np.random.Generator) -> Patch:
    """A mark in the target's row but clear of the target: an underlined or circled name,
    a tick on the text."""
    x, y, w, h = box
    left = x + w + 1.8 * k  # clear of the oval's outline by well over a millimetre
    x0, y0 = int(x + w), int(y - 3 * k)
    canvas = Canvas(int(h + 6 * k), int(60 * k))
    ox, oy = left - x0, y - y0
    choice = rng.integers(0, 3)
    width = pen.width_mm * k
    if choice == 0:  # underline the name
        base = oy + h + rng.uniform(0.5, 1.5) * k
        canvas.stroke([(ox + 4 * k, base), (ox + rng.uniform(25, 55) * k,
                                            base + rng.uniform(-1, 1) * k)], width)
    elif choice == 1:  # circle the number and the name's start
        cx, cy = ox + rng.uniform(8, 14) * k, oy + h / 2
        pts = [(cx + math.cos(a) * rng.uniform(6, 8) * k, cy + math.sin(a) * 2.6 * k)
               for a in np.linspace(0, math.tau * 1.05, 30)]
        canvas.stroke(pts, width)
    else:  # a tick over the text
        sx, sy = ox + rng.uniform(10, 40) * k, oy + h * 0.6
        canvas.stroke([(sx, sy), (sx + 1.5 * k, sy + 1.5 * k), (sx + 5 * k, sy - 2.5 * k)],
                      width)
    return Patch(x0, y0, canvas.coverage())
