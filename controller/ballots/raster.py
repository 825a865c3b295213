"""Painting a sheet's drawing into a grey Pillow image at a given dpi.

Outlines (rectangles, ovals) lie inside their boxes, as in the PDF, so the oval's inner
edge is at the same place in millimetres in both. QR modules get whole pixels whose
edges are rounded from their millimetre positions, so the symbol has its printed size
at any dpi.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from controller.ballots import layout as geo
from controller.ballots.fonts import FontSet
from controller.ballots.sheet import Drawing, Line, Oval, Rect, Symbol, Text

_ANCHORS = {"l": "lm", "r": "rm", "m": "mm"}


def paint(drawing: Drawing, dpi: int, fonts: FontSet) -> Image.Image:
    """The sheet as a PIL image of mode "L" (white paper, 0 black) at ``dpi``."""
    k = dpi / geo.MM_PER_INCH
    width, height = round(drawing.paper.width * k), round(drawing.paper.height * k)
    image = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(image)

    def px(mm: float) -> int:
        return round(mm * k)

    for item in drawing.items:
        if isinstance(item, Rect):
            x0, y0, x1, y1 = item.box.px(dpi)
            draw.rectangle((x0, y0, x1 - 1, y1 - 1), fill=item.fill, outline=item.outline,
                           width=max(1, px(item.width)))
        elif isinstance(item, Line):
            draw.line((px(item.x0), px(item.y0), px(item.x1), px(item.y1)), fill=item.grey,
                      width=max(1, px(item.width)))
        elif isinstance(item, Oval):
            x0, y0, x1, y1 = item.box.px(dpi)
            draw.ellipse((x0, y0, x1 - 1, y1 - 1), outline=item.grey,
                         width=max(1, px(item.width)))
        elif isinstance(item, Text):
            font = fonts.font(px(item.size), item.bold)
            draw.text((px(item.x), px(item.y)), item.text, font=font, fill=item.grey,
                      anchor=_ANCHORS[item.anchor])
        elif isinstance(item, Symbol):
            _symbol(image, item, k)
    return image


def _symbol(image: Image.Image, symbol: Symbol, k: float) -> None:
    matrix = np.array(symbol.modules, dtype=bool)
    n = matrix.shape[0]
    box = symbol.box
    edges_x = np.round((box.x + np.arange(n + 1) * box.w / n) * k).astype(int)
    edges_y = np.round((box.y + np.arange(n + 1) * box.h / n) * k).astype(int)
    block = np.repeat(np.repeat(matrix, np.diff(edges_y), axis=0), np.diff(edges_x), axis=1)
    tile = Image.fromarray(np.where(block, 0, 255).astype(np.uint8), mode="L")
    image.paste(tile, (int(edges_x[0]), int(edges_y[0])))
