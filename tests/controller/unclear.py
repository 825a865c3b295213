"""Ballots with a mark the reader is unsure of, whatever the reader's score.

A small mark inside an oval scores somewhere between an empty oval and a filled one.
Which mark lands clearly between the two depends on the reader's score, so it is found
with the real reader: blots of growing size and short lines of growing length are read
beside an empty oval and a filled one, and the one whose score lies nearest half-way is
used. The thresholds
are then half-way between empty and blot (``marginal``) and between blot and fill
(``marked``): the blot is marginal and a fill a vote without depending on the exact
scores of the reader.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
from PIL import ImageDraw

from controller.ballots.read import read_ballot

DPI = 100
# Marks tried: a blot (its width a share of the oval's, its height in proportion) or a
# 2-pixel line through the middle (its length a share of the oval's width).
SHAPES = tuple(
    [("blot", size) for size in (0.06, 0.09, 0.12, 0.16, 0.2, 0.25, 0.3, 0.4, 0.5)]
    + [("line", size) for size in (0.15, 0.25, 0.35, 0.5, 0.7)]
)
MARGIN = 0.03  # how far the mark's score must be from both an empty and a filled oval
Shape = tuple[str, float]
_CHOSEN: dict[str, tuple[Shape, dict[str, float]]] = {}


def _render(election: Any, style: str, mode: str) -> tuple[Any, dict[str, Any]]:
    from controller.ballots.render import render_ballot

    return render_ballot(election, style, dpi=DPI, mode=mode)


def unclear_ballot(
    election: Any,
    style: str,
    votes: dict[str, list[str]],
    unclear: list[tuple[str, str]],
    mode: str = "test",
    shape: Shape | None = None,
) -> np.ndarray:
    """A ballot of ``style`` with the ovals of ``votes`` filled and a small mark in each
    oval of ``unclear`` (``(contest, option)``), as grey rows; ``shape`` is the mark (by
    default the one ``thresholds_for`` found)."""
    kind, size = shape or _choose(election)[0]
    blank, layout = _cached_render(election, style, mode)
    image = blank.copy()
    draw = ImageDraw.Draw(image)
    filled = {(c, o) for c, options in votes.items() for o in options}
    for t in layout["targets"]:
        key = (t["contest"], t["option"])
        x, y, w, h = t["x"], t["y"], t["w"], t["h"]
        if key in filled:
            draw.ellipse([x, y, x + w, y + h], fill=20)
        elif key in unclear:
            half_w, half_h = w * size / 2, h * min(1.0, size * 1.5) / 2
            cx, cy = x + w / 2, y + h / 2
            if kind == "line":
                draw.line([cx - half_w, cy, cx + half_w, cy], fill=20, width=2)
            else:
                draw.ellipse([cx - half_w, cy - half_h, cx + half_w, cy + half_h], fill=20)
    return np.asarray(image, dtype=np.uint8)


@functools.lru_cache(maxsize=8)
def _cached_render(election: Any, style: str, mode: str) -> tuple[Any, dict[str, Any]]:
    return _render(election, style, mode)


def _choose(election: Any) -> tuple[Shape, dict[str, float]]:
    if election.hash in _CHOSEN:
        return _CHOSEN[election.hash]
    style = next(iter(election.styles))
    contest = election.style_contests(style)[0]
    fill_option, blot_option = contest.options[0].id, contest.options[1].id
    best: tuple[float, Shape, dict[str, float]] | None = None
    seen = []
    for shape in SHAPES:
        probe = unclear_ballot(election, style, {contest.id: [fill_option]},
                               [(contest.id, blot_option)], shape=shape)
        marks = read_ballot(probe, election, mode="test")["marks"]
        scores = {m["option"]: m["score"] for m in marks if m["contest"] == contest.id}
        fill, blot = scores.pop(fill_option), scores.pop(blot_option)
        empty = max(scores.values())
        seen.append((shape, round(blot, 3)))
        if empty + MARGIN < blot < fill - MARGIN:
            off = abs(blot - (empty + fill) / 2)
            found = {"marginal": (empty + blot) / 2, "marked": (blot + fill) / 2}
            if best is None or off < best[0]:
                best = (off, shape, found)
    assert best is not None, f"no mark scores between an empty and a filled oval: {seen}"
    _CHOSEN[election.hash] = (best[1], best[2])
    return _CHOSEN[election.hash]


def thresholds_for(election: Any) -> dict[str, float]:
    """Reader thresholds under which the blot is ``marginal`` and a fill ``marked``."""
    return _choose(election)[1]


def unclear_reader(election: Any) -> Any:
    """The real reader with thresholds under which the blot is marginal."""
    return functools.partial(read_ballot, thresholds=thresholds_for(election))
