"""Ballots with a mark the reader is unsure of, whatever the reader's score.

A blot inside an oval scores somewhere between an empty oval and a filled one. Which
size of blot lands clearly between the two depends on the reader's score, so the size
is found with the real reader: blots of growing size are read beside an empty oval and
a filled one, and the one whose score lies nearest half-way is used. The thresholds
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
# Blot widths tried, as a share of the oval's width (its height in proportion).
SIZES = (0.06, 0.09, 0.12, 0.16, 0.2, 0.25, 0.3, 0.4, 0.5)
MARGIN = 0.03  # how far the blot's score must be from both an empty and a filled oval
_CHOSEN: dict[str, tuple[float, dict[str, float]]] = {}


def _render(election: Any, style: str, mode: str) -> tuple[Any, dict[str, Any]]:
    from controller.ballots.render import render_ballot

    return render_ballot(election, style, dpi=DPI, mode=mode)


def unclear_ballot(
    election: Any,
    style: str,
    votes: dict[str, list[str]],
    unclear: list[tuple[str, str]],
    mode: str = "test",
    size: float | None = None,
) -> np.ndarray:
    """A ballot of ``style`` with the ovals of ``votes`` filled and a blot in each oval of
    ``unclear`` (``(contest, option)``), as grey rows; ``size`` is the blot's width as a
    share of the oval's (by default the one ``thresholds_for`` found)."""
    if size is None:
        size = _choose(election)[0]
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
            draw.ellipse([cx - half_w, cy - half_h, cx + half_w, cy + half_h], fill=20)
    return np.asarray(image, dtype=np.uint8)


@functools.lru_cache(maxsize=8)
def _cached_render(election: Any, style: str, mode: str) -> tuple[Any, dict[str, Any]]:
    return _render(election, style, mode)


def _choose(election: Any) -> tuple[float, dict[str, float]]:
    if election.hash in _CHOSEN:
        return _CHOSEN[election.hash]
    style = next(iter(election.styles))
    contest = election.style_contests(style)[0]
    fill_option, blot_option = contest.options[0].id, contest.options[1].id
    best: tuple[float, float, dict[str, float]] | None = None
    seen = []
    for size in SIZES:
        probe = unclear_ballot(election, style, {contest.id: [fill_option]},
                               [(contest.id, blot_option)], size=size)
        marks = read_ballot(probe, election, mode="test")["marks"]
        scores = {m["option"]: m["score"] for m in marks if m["contest"] == contest.id}
        fill, blot = scores.pop(fill_option), scores.pop(blot_option)
        empty = max(scores.values())
        seen.append((size, round(blot, 3)))
        if empty + MARGIN < blot < fill - MARGIN:
            off = abs(blot - (empty + fill) / 2)
            found = {"marginal": (empty + blot) / 2, "marked": (blot + fill) / 2}
            if best is None or off < best[0]:
                best = (off, size, found)
    assert best is not None, f"no blot scores between an empty and a filled oval: {seen}"
    _CHOSEN[election.hash] = (best[1], best[2])
    return _CHOSEN[election.hash]


def thresholds_for(election: Any) -> dict[str, float]:
    """Reader thresholds under which the blot is ``marginal`` and a fill ``marked``."""
    return _choose(election)[1]


def unclear_reader(election: Any) -> Any:
    """The real reader with thresholds under which the blot is marginal."""
    return functools.partial(read_ballot, thresholds=thresholds_for(election))
