"""Painting sheets' drawings into a PDF for print, with fpdf2.

Everything stays vector: texts in the embedded (subset) typeface, the ovals, the
fiducials, the timing marks and every QR module as filled rectangles. The page is the
paper size in millimetres, so printing at 100 % scale gives the sheet the reader
expects; a printer set to "fit to page" shrinks it and the reader refuses it as
``wrong_scale``.
"""

from __future__ import annotations

from fpdf import FPDF

from controller.ballots.fonts import FontSet
from controller.ballots.sheet import Drawing, Line, Oval, Rect, Symbol, Text

PT_PER_MM = 72 / 25.4
_FAMILY = "ballot"


def pdf_document(drawings: list[Drawing], fonts: FontSet, title: str = "") -> bytes:
    """One PDF page per drawing, in order; returns the file's bytes."""
    if not drawings:
        raise ValueError("a PDF needs at least one sheet")
    first = drawings[0].paper
    pdf = FPDF(unit="mm", format=(first.width, first.height))
    pdf.set_auto_page_break(False)
    pdf.set_margins(0, 0, 0)
    pdf.set_creator("Shailoo")
    if title:
        pdf.set_title(title)
    pdf.add_font(_FAMILY, "", fonts.regular)
    pdf.add_font(_FAMILY, "B", fonts.bold)
    for drawing in drawings:
        pdf.add_page(format=(drawing.paper.width, drawing.paper.height))
        for item in drawing.items:
            _paint(pdf, item, fonts)
    return bytes(pdf.output())


def _paint(pdf: FPDF, item: Rect | Line | Oval | Text | Symbol, fonts: FontSet) -> None:
    if isinstance(item, Rect):
        box = item.box
        if item.fill is not None:
            pdf.set_fill_color(item.fill)
            pdf.rect(box.x, box.y, box.w, box.h, style="F")
        if item.outline is not None:
            # The stroke lies inside the box, as in the raster.
            half = item.width / 2
            pdf.set_draw_color(item.outline)
            pdf.set_line_width(item.width)
            pdf.rect(box.x + half, box.y + half, box.w - item.width, box.h - item.width,
                     style="D")
    elif isinstance(item, Line):
        pdf.set_draw_color(item.grey)
        pdf.set_line_width(item.width)
        pdf.line(item.x0, item.y0, item.x1, item.y1)
    elif isinstance(item, Oval):
        half = item.width / 2
        box = item.box
        pdf.set_draw_color(item.grey)
        pdf.set_line_width(item.width)
        pdf.ellipse(box.x + half, box.y + half, box.w - item.width, box.h - item.width,
                    style="D")
    elif isinstance(item, Text):
        pdf.set_font(_FAMILY, "B" if item.bold else "", item.size * PT_PER_MM)
        pdf.set_text_color(item.grey)
        width = pdf.get_string_width(item.text)
        x = item.x - {"l": 0.0, "r": width, "m": width / 2}[item.anchor]
        pdf.text(x, item.y + fonts.baseline_mm(item.size, item.bold), item.text)
    elif isinstance(item, Symbol):
        _symbol(pdf, item)


def _symbol(pdf: FPDF, symbol: Symbol) -> None:
    n = len(symbol.modules)
    mw, mh = symbol.box.w / n, symbol.box.h / n
    pdf.set_fill_color(0)
    for r, row in enumerate(symbol.modules):
        # One rectangle per run of dark modules in a row: fewer, seamless shapes.
        c = 0
        while c < n:
            if not row[c]:
                c += 1
                continue
            start = c
            while c < n and row[c]:
                c += 1
            pdf.rect(symbol.box.x + start * mw, symbol.box.y + r * mh, (c - start) * mw, mh,
                     style="F")
