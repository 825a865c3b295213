"""Marking a rendered ballot as a voter does with a pen.

``mark_ballot(image, layout, choices, seed)`` fills the ovals of the chosen options:
a slightly irregular blot of ink that covers most of the oval, spills a little over its
edge here and there, and leaves a few paper specks inside — clearly a mark, never a
perfect fill. The same seed gives the same marks. The rig feeds these sheets straight,
as printed; scans with every kind of mark, dirt and distortion, with their ground truth,
come from ``hil.ballot_scans``.
"""

from __future__ import annotations

import math
import random
import zlib
from typing import Any

import numpy as np
from PIL import Image, ImageDraw


def _targets(layout: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    try:
        return {(t["contest"], t["option"]): t for t in layout["targets"]}
    except (KeyError, TypeError) as err:
        raise ValueError(f"not a ballot layout record: {err}") from None


def _blot(draw: ImageDraw.ImageDraw, target: dict[str, Any], rng: random.Random) -> None:
    cx = target["x"] + target["w"] / 2 + rng.uniform(-0.06, 0.06) * target["w"]
    cy = target["y"] + target["h"] / 2 + rng.uniform(-0.06, 0.06) * target["h"]
    ink = rng.randint(15, 70)
    # A closed wobbly outline around the oval: a voter's fill rarely follows the line.
    points = []
    steps = 28
    phase = rng.uniform(0, math.tau)
    for i in range(steps):
        angle = phase + math.tau * i / steps
        reach = rng.uniform(0.82, 1.08)
        points.append(
            (cx + math.cos(angle) * target["w"] / 2 * reach,
             cy + math.sin(angle) * target["h"] / 2 * reach)
        )
    draw.polygon(points, fill=ink)
    # Back-and-forth strokes, as the pen moves while filling.
    width = max(1, round(target["h"] / 9))
    for _ in range(rng.randint(2, 4)):
        y = cy + rng.uniform(-0.4, 0.4) * target["h"]
        x0 = cx - target["w"] * rng.uniform(0.4, 0.6)
        x1 = cx + target["w"] * rng.uniform(0.4, 0.6)
        draw.line((x0, y, x1, y + rng.uniform(-0.15, 0.15) * target["h"]), fill=ink, width=width)


def _specks(image: Image.Image, target: dict[str, Any], rng: random.Random) -> None:
    """Leave a few pixels of paper inside the blot, as ink never covers fully."""
    x0, y0, w, h = target["x"], target["y"], target["w"], target["h"]
    box = (x0 + w // 4, y0 + h // 4, x0 + w - w // 4, y0 + h - h // 4)
    patch = np.array(image.crop(box))
    np_rng = np.random.default_rng(rng.getrandbits(32))
    count = max(1, (w * h) // 25)
    ys = np_rng.integers(0, patch.shape[0], size=count)
    xs = np_rng.integers(0, patch.shape[1], size=count)
    patch[ys, xs] = np.maximum(patch[ys, xs], 200)
    image.paste(Image.fromarray(patch, mode="L"), box[:2])


def mark_ballot(
    image: Image.Image | np.ndarray,
    layout: dict[str, Any],
    choices: dict[str, list[str]],
    seed: int = 0,
) -> Image.Image:
    """Return a copy of ``image`` with the ovals of ``choices`` filled by "pen".

    ``layout`` is the record ``render_ballot`` returned with the image; ``choices``
    maps contest ids to option ids (several in one contest make an overvote, as a
    voter can). ``ValueError`` for a choice the layout has no target for.
    """
    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    if not isinstance(image, Image.Image):
        raise TypeError(f"a ballot image is a PIL image or a numpy array, not {type(image)}")
    marked = image.convert("L")
    targets = _targets(layout)
    if (marked.width, marked.height) != (layout.get("width_px"), layout.get("height_px")):
        raise ValueError("the image does not have the size its layout record gives")
    wanted = []
    for contest, options in choices.items():
        for option in options:
            if (contest, option) not in targets:
                raise ValueError(f"the ballot has no target for {contest!r} / {option!r}")
            wanted.append(targets[(contest, option)])
    draw = ImageDraw.Draw(marked)
    for target in wanted:
        # One stream per target so adding a mark elsewhere does not change this one.
        key = f"{seed}:{target['contest']}:{target['option']}".encode()
        rng = random.Random(zlib.crc32(key))
        _blot(draw, target, rng)
        _specks(marked, target, rng)
    return marked
