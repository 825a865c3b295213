"""What is printed on a ballot sheet: shapes and fitted texts in millimetres.

``compose`` turns a style's layout (``controller.ballots.layout``) and the election's
texts into a ``Drawing``: a flat list of rectangles, lines, ovals, texts and the QR
symbol, all in millimetres from the top-left corner. The PNG (``raster``) and the PDF
(``pdf``) are two painters of the same drawing, so a printed PDF scanned at any dpi
reads like the PNG rendered at that dpi.

Texts are fitted here, once, with the typeface's own advance widths: the largest size
down to 70 % of the wanted one that fits the box, else the text cut short with "…".
Kyrgyz comes first, then Russian (the official language), English in the general
instructions, so a poll worker from any region and a foreign observer read the sheet.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import segno

from controller.ballots import layout as geo
from controller.ballots.code import BallotCode
from controller.ballots.fonts import FontSet

TEST_BAND = "СЫНАК БЮЛЛЕТЕНИ  ·  ТЕСТОВЫЙ БЮЛЛЕТЕНЬ  ·  TEST BALLOT"
INSTRUCTIONS = (
    "Тандаган вариантыңыздын жанындагы сүйрүнү толугу менен боёңуз. "
    "Ар бир бөлүмдө көрсөтүлгөндөн ашык белгилебеңиз.",
    "Полностью закрасьте овал рядом с выбранным вариантом. "
    "Не отмечайте больше, чем указано в разделе.",
    "Fill in the oval next to your choice completely. Do not mark more than a section allows.",
)
LABELS = {
    "station": ("Участка", "Участок"),
    "style": ("Бюллетендин түрү", "Вид бюллетеня"),
    "any_station": ("Бардык участкалар үчүн", "Для всех участков"),
}
BLACK = 0
WHITE = 255


def vote_for_text(n: int) -> tuple[str, str]:
    """How many marks a contest allows, in Kyrgyz and Russian."""
    if n == 1:
        return "Бир гана сүйрүнү белгилеңиз", "Отметьте только один овал"
    return f"{n} сүйрүдөн ашык белгилебеңиз", f"Отметьте не более {n} овалов"


@dataclass(frozen=True)
class Rect:
    """A rectangle, filled and/or outlined (grey levels, 0 black)."""

    box: geo.Box
    fill: int | None = None
    outline: int | None = None
    width: float = 0.3


@dataclass(frozen=True)
class Line:
    """A straight line from (x0, y0) to (x1, y1)."""

    x0: float
    y0: float
    x1: float
    y1: float
    grey: int
    width: float


@dataclass(frozen=True)
class Oval:
    """An ellipse outline inscribed in ``box``."""

    box: geo.Box
    grey: int
    width: float


@dataclass(frozen=True)
class Text:
    """One line of fitted text. ``anchor``: "l" left at ``x``, "r" right, "m" centred;
    ``y`` is the line's vertical middle (halfway from ascender to descender)."""

    x: float
    y: float
    text: str
    size: float
    bold: bool = False
    grey: int = BLACK
    anchor: str = "l"


@dataclass(frozen=True)
class Symbol:
    """The QR symbol: its modules (rows of booleans, True dark) filling ``box``."""

    box: geo.Box
    modules: tuple[tuple[bool, ...], ...]


@dataclass
class Drawing:
    """Everything printed on one sheet, in painting order."""

    paper: geo.Paper
    items: list[Rect | Line | Oval | Text | Symbol] = field(default_factory=list)


class _Composer:
    def __init__(self, paper: geo.Paper, fonts: FontSet) -> None:
        self.drawing = Drawing(paper)
        self.fonts = fonts

    def add(self, item: Rect | Line | Oval | Text | Symbol) -> None:
        self.drawing.items.append(item)

    def fit(self, text: str, width: float, size: float, bold: bool) -> tuple[str, float]:
        """The text and the size it is set in so that it is at most ``width`` mm wide."""
        smallest = size * 0.7
        while self.fonts.width_mm(text, size, bold) > width and size > smallest:
            size = max(smallest, size * 0.95)
        if self.fonts.width_mm(text, size, bold) <= width:
            return text, size
        while text and self.fonts.width_mm(text + "…", size, bold) > width:
            text = text[:-1]
        return text.rstrip() + "…", size

    def text(self, x: float, y: float, text: str, width: float, size: float,
             bold: bool = False, grey: int = BLACK, anchor: str = "l") -> None:
        shown, fitted = self.fit(text, width, size, bold)
        self.add(Text(x, y, shown, fitted, bold, grey, anchor))

    def wrap(self, text: str, width: float, size: float, bold: bool, max_lines: int
             ) -> list[str]:
        """Greedy word wrap into at most ``max_lines`` lines (the last one fitted later)."""
        lines: list[str] = []
        current = ""
        for word in text.split():
            trial = f"{current} {word}".strip()
            if self.fonts.width_mm(trial, size, bold) <= width or not current:
                current = trial
            else:
                lines.append(current)
                current = word
        if current:
            lines.append(current)
        if len(lines) > max_lines:
            lines = lines[: max_lines - 1] + [" ".join(lines[max_lines - 1:])]
        return lines


def qr_modules(text: str) -> tuple[tuple[bool, ...], ...]:
    """The modules of the ballot code's symbol: version 6, level Q, no quiet zone."""
    symbol = segno.make(text, version=6, error="q", mode="alphanumeric", boost_error=False)
    return tuple(tuple(bool(m) for m in row) for row in symbol.matrix)


def compose(election: Any, style_id: str, mode: str, station: str | None, paper: str,
            fonts: FontSet) -> tuple[geo.SheetLayout, Drawing]:
    """The layout and the drawing of ``style_id``'s sheet."""
    sheet = geo.compute_layout(election, style_id, paper)
    c = _Composer(sheet.paper, fonts)
    half = geo.FIDUCIAL / 2
    for cx, cy in sheet.fiducials:
        c.add(Rect(geo.Box(cx - half, cy - half, geo.FIDUCIAL, geo.FIDUCIAL), fill=BLACK))
    for cx, cy in sheet.timing:
        box = geo.Box(cx - geo.TIMING_W / 2, cy - geo.TIMING_H / 2, geo.TIMING_W, geo.TIMING_H)
        c.add(Rect(box, fill=BLACK))
    code = BallotCode.for_ballot(election, style_id, mode, paper, station)
    c.add(Symbol(sheet.qr, qr_modules(code.encode())))
    _header(c, election, style_id, station, sheet.header)
    if mode == "test":
        for box in (sheet.band, sheet.footer):
            c.add(Rect(box, fill=70))
            c.text(box.cx, box.cy, TEST_BAND, box.w - 4, box.h * 0.55, bold=True, grey=WHITE,
                   anchor="m")
    else:
        box = sheet.footer
        c.text(box.cx, box.cy, f"{election.id} · {style_id} · {election.hash[:16]}", box.w,
               2.2, grey=90, anchor="m")
    box = sheet.instructions
    for i, line in enumerate(INSTRUCTIONS):
        c.text(box.x, box.y + 1.7 + i * 3.4, line, box.w, 2.6, bold=(i == 0))
    for block in sheet.contests:
        _contest(c, election.contest(block.contest), block)
    return sheet, c.drawing


def _header(c: _Composer, election: Any, style_id: str, station: str | None,
            box: geo.Box) -> None:
    y = box.y + 2
    for lang, size, bold in (("ky", 3.6, True), ("ru", 3.0, False)):
        if lang == "ru" and election.title["ru"] == election.title["ky"]:
            continue  # a title given in one language only is printed once
        for line in c.wrap(election.title[lang], box.w, size, bold, 2):
            c.text(box.x, y, line, box.w, size, bold)
            y += size * 1.25
        y += 0.6
    y += 0.6
    details = [election.days]
    district = election.style_districts.get(style_id)
    if district is not None:
        names = election.district(district).name
        same = names["ru"] == names["ky"]
        details.append(names["ky"] if same else f"{names['ky']} / {names['ru']}")
    c.text(box.x, y, "   ".join(details), box.w, 2.6)
    y += 3.4
    ky, ru = LABELS["style"]
    where = f"{LABELS['station'][0]} / {LABELS['station'][1]}: {station}" if station else (
        f"{LABELS['any_station'][0]} / {LABELS['any_station'][1]}"
    )
    line = f"{ky} / {ru}: {style_id}    {where}"
    if c.fonts.width_mm(line, 2.6, False) <= box.w:
        c.text(box.x, y, line, box.w, 2.6)
    else:
        # Long ids (from other tools) get a line each rather than being cut short.
        c.text(box.x, y, f"{ky} / {ru}: {style_id}", box.w, 2.6)
        c.text(box.x, y + 3.4, where, box.w, 2.6)


def _contest(c: _Composer, contest: Any, block: geo.ContestBlock) -> None:
    box, head = block.box, block.head
    c.add(Rect(head, fill=225))
    c.add(Rect(box, outline=BLACK, width=0.35))
    ky_rule, ru_rule = vote_for_text(contest.vote_for)
    rule_w = min(60.0, head.w * 0.38)
    title_w = head.w - rule_w - 6
    if contest.title["ru"] != contest.title["ky"]:
        c.text(head.x + 2, head.y + 4.2, contest.title["ky"], title_w, 3.4, bold=True)
        c.text(head.x + 2, head.y + 9.8, contest.title["ru"], title_w, 2.8)
    else:
        # A title in one language only (a definition from another tool) gets both lines.
        for n, line in enumerate(c.wrap(contest.title["ky"], title_w, 3.0, True, 2)):
            c.text(head.x + 2, head.y + 4.2 + n * 5.6, line, title_w, 3.0, bold=True)
    right = head.x + head.w - 2
    c.text(right, head.y + 4.2, ky_rule, rule_w, 2.6, bold=True, anchor="r")
    c.text(right, head.y + 9.8, ru_rule, rule_w, 2.6, anchor="r")
    for row in block.rows:
        option = contest.option(row.option)
        r = row.box
        if row.number > 1:
            c.add(Line(r.x, r.y, r.x + r.w, r.y, grey=150, width=0.2))
        c.add(Oval(row.oval, grey=BLACK, width=geo.OVAL_STROKE))
        text_x = row.oval.x + row.oval.w + 3
        c.text(text_x, r.cy, f"{row.number}.", 8, 3.0, bold=True)
        name_x = text_x + 8
        name_w = r.x + r.w - name_x - 2
        names = option.names
        if names["ru"] != names["ky"]:
            c.text(name_x, r.y + 3.1, names["ky"], name_w, 3.2, bold=option.against_all)
            c.text(name_x, r.y + 6.6, names["ru"], name_w, 2.5, grey=40)
        else:
            c.text(name_x, r.cy, names["ky"], name_w, 3.4, bold=option.against_all)
