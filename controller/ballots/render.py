"""Rendering a ballot sheet of one style as a grey image, with its layout record.

Positions come from ``controller.ballots.layout`` (millimetres, independent of text and
resolution); this module only draws them at a dpi and fits the texts into their boxes.
Texts are Kyrgyz first, then Russian (the official language), English in the general
instructions, so a sheet printed here is read the same way by a poll worker from any
region and by a foreign observer.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import segno
from PIL import Image, ImageDraw

from controller.ballots import layout as geo
from controller.ballots.code import BallotCode
from controller.ballots.fonts import FontLike, FontSet, find_fonts
from controller.election import Election, is_id

log = logging.getLogger("shailoo.ballots")

MIN_DPI = 100
MAX_DPI = 600
MODES = ("test", "official")

TEST_BAND = "СЫНАК БЮЛЛЕТЕНИ  ·  ТЕСТОВЫЙ БЮЛЛЕТЕНЬ  ·  TEST BALLOT"
INSTRUCTIONS = (
    "Тандаган вариантыңыздын жанындагы сүйрүнү толугу менен боёңуз. "
    "Ар бир бөлүмдө көрсөтүлгөндөн ашык белгилебеңиз.",
    "Полностью закрасьте овал рядом с выбранным вариантом. "
    "Не отмечайте больше, чем указано в разделе.",
    "Fill in the oval next to your choice completely. Do not mark more than a section allows.",
)
LABELS = {
    "district": ("Округ", "Округ"),
    "station": ("Участка", "Участок"),
    "style": ("Бюллетендин түрү", "Вид бюллетеня"),
    "any_station": ("Бардык участкалар үчүн", "Для всех участков"),
}


def vote_for_text(n: int) -> tuple[str, str]:
    """How many marks a contest allows, in Kyrgyz and Russian."""
    if n == 1:
        return "Бир гана сүйрүнү белгилеңиз", "Отметьте только один овал"
    return f"{n} сүйрүдөн ашык белгилебеңиз", f"Отметьте не более {n} овалов"


def _check(election: Any, style_id: str, dpi: int, mode: str, station: str | None) -> None:
    if not isinstance(dpi, int) or isinstance(dpi, bool) or not MIN_DPI <= dpi <= MAX_DPI:
        raise ValueError(f"dpi must be a whole number from {MIN_DPI} to {MAX_DPI}, not {dpi!r}")
    if mode not in MODES:
        raise ValueError(f"mode must be 'test' or 'official', not {mode!r}")
    if station is not None and not is_id(station):
        raise ValueError(f"station {station!r} is not a station id")
    if style_id not in election.styles:
        raise ValueError(
            f"election {election.id!r} has no ballot style {style_id!r} "
            f"(it has {', '.join(sorted(election.styles))})"
        )


class _Painter:
    """Draws texts and shapes given in millimetres onto the sheet."""

    def __init__(self, image: Image.Image, dpi: int, fonts: FontSet) -> None:
        self.image = image
        self.draw = ImageDraw.Draw(image)
        self.dpi = dpi
        self.k = dpi / geo.MM_PER_INCH
        self.fonts = fonts

    def px(self, mm: float) -> int:
        return round(mm * self.k)

    def rect(self, box: geo.Box, fill: int | None = None, outline: int | None = None,
             width_mm: float = 0.3) -> None:
        x0, y0, x1, y1 = box.px(self.dpi)
        self.draw.rectangle(
            (x0, y0, x1 - 1, y1 - 1), fill=fill, outline=outline,
            width=max(1, self.px(width_mm)),
        )

    def line(self, x0: float, y0: float, x1: float, y1: float, fill: int, width_mm: float) -> None:
        self.draw.line(
            (self.px(x0), self.px(y0), self.px(x1), self.px(y1)),
            fill=fill, width=max(1, self.px(width_mm)),
        )

    def fit(self, text: str, width_mm: float, size_mm: float, bold: bool = False
            ) -> tuple[FontLike, str]:
        """The largest font down to 70 % of ``size_mm`` that fits, else the text cut short."""
        limit = self.px(width_mm)
        size = self.px(size_mm)
        smallest = max(4, round(size * 0.7))
        while True:
            font = self.fonts.font(size, bold)
            if self.draw.textlength(text, font=font) <= limit or size <= smallest:
                break
            size -= 1
        if self.draw.textlength(text, font=font) <= limit:
            return font, text
        while text and self.draw.textlength(text + "…", font=font) > limit:
            text = text[:-1]
        return font, text.rstrip() + "…"

    def text(self, x: float, y: float, text: str, width_mm: float, size_mm: float,
             bold: bool = False, fill: int = 0, anchor: str = "lm") -> None:
        """One line, vertically centred on ``y``; ``anchor`` "rm" right-aligns at ``x``."""
        font, shown = self.fit(text, width_mm, size_mm, bold)
        self.draw.text((self.px(x), self.px(y)), shown, font=font, fill=fill, anchor=anchor)

    def wrap(self, text: str, width_mm: float, size_mm: float, bold: bool, max_lines: int
             ) -> list[str]:
        """Greedy word wrap into at most ``max_lines`` lines (the last one cut if needed)."""
        font = self.fonts.font(self.px(size_mm), bold)
        limit = self.px(width_mm)
        lines: list[str] = []
        current = ""
        for word in text.split():
            trial = f"{current} {word}".strip()
            if self.draw.textlength(trial, font=font) <= limit or not current:
                current = trial
            else:
                lines.append(current)
                current = word
        if current:
            lines.append(current)
        if len(lines) > max_lines:
            lines = lines[: max_lines - 1] + [" ".join(lines[max_lines - 1:])]
        return lines

    def qr(self, text: str, box: geo.Box) -> None:
        """The QR symbol filling ``box`` exactly: module edges fall on rounded positions,
        so its size in millimetres is the same at every dpi."""
        symbol = segno.make(text, version=6, error="q", mode="alphanumeric", boost_error=False)
        matrix = np.array(symbol.matrix, dtype=bool)
        n = matrix.shape[0]
        edges_x = np.round((box.x + np.arange(n + 1) * box.w / n) * self.k).astype(int)
        edges_y = np.round((box.y + np.arange(n + 1) * box.h / n) * self.k).astype(int)
        block = np.repeat(np.repeat(matrix, np.diff(edges_y), axis=0), np.diff(edges_x), axis=1)
        tile = Image.fromarray(np.where(block, 0, 255).astype(np.uint8), mode="L")
        self.image.paste(tile, (int(edges_x[0]), int(edges_y[0])))


def render_ballot(
    election: Election,
    style_id: str,
    dpi: int = 150,
    mode: str = "test",
    station: str | None = None,
    paper: str = "A4",
) -> tuple[Image.Image, dict[str, Any]]:
    """Render the ballot of ``style_id``: a white sheet (PIL mode "L") and its layout record.

    ``mode`` "test" prints the test band; ``station`` restricts the ballot to one
    station (None: valid at every station of the election). The layout record gives
    the oval targets in pixels of this image, top-left origin.
    """
    _check(election, style_id, dpi, mode, station)
    sheet = geo.compute_layout(election, style_id, paper)
    width, height = sheet.pixel_size(dpi)
    image = Image.new("L", (width, height), 255)
    fonts = find_fonts()
    p = _Painter(image, dpi, fonts)

    half = geo.FIDUCIAL / 2
    for cx, cy in sheet.fiducials:
        p.rect(geo.Box(cx - half, cy - half, geo.FIDUCIAL, geo.FIDUCIAL), fill=0)
    code = BallotCode(election.hash, style_id, mode, paper, station)
    p.qr(code.encode(), sheet.qr)

    _header(p, election, style_id, station, sheet.header)
    if mode == "test":
        for box in (sheet.band, sheet.footer):
            p.rect(box, fill=70)
            p.text(box.cx, box.cy, TEST_BAND, box.w - 4, box.h * 0.55, bold=True, fill=255,
                   anchor="mm")
    else:
        box = sheet.footer
        p.text(box.cx, box.cy, f"{election.id} · {style_id} · {election.hash[:16]}", box.w,
               2.2, fill=90, anchor="mm")
    box = sheet.instructions
    for i, line in enumerate(INSTRUCTIONS):
        p.text(box.x, box.y + 1.7 + i * 3.4, line, box.w, 2.6, bold=(i == 0))

    for block in sheet.contests:
        _contest(p, election.contest(block.contest), block)
    return image, sheet.to_dict(dpi, mode, station) | {"font": fonts.name}


def _header(p: _Painter, election: Election, style_id: str, station: str | None,
            box: geo.Box) -> None:
    y = box.y + 2
    for lang, size, bold in (("ky", 3.6, True), ("ru", 3.0, False)):
        for line in p.wrap(election.title[lang], box.w, size, bold, 2):
            p.text(box.x, y, line, box.w, size, bold)
            y += size * 1.25
        y += 0.6
    y += 0.6
    details = [election.date]
    district = election.style_districts.get(style_id)
    if district is not None:
        names = election.district(district).name
        details.append(f"{names['ky']} / {names['ru']}")
    p.text(box.x, y, "   ".join(details), box.w, 2.6)
    y += 3.4
    ky, ru = LABELS["style"]
    where = f"{LABELS['station'][0]} / {LABELS['station'][1]}: {station}" if station else (
        f"{LABELS['any_station'][0]} / {LABELS['any_station'][1]}"
    )
    p.text(box.x, y, f"{ky} / {ru}: {style_id}    {where}", box.w, 2.6)


def _contest(p: _Painter, contest: Any, block: geo.ContestBlock) -> None:
    box, head = block.box, block.head
    p.rect(head, fill=225)
    p.rect(box, outline=0, width_mm=0.35)
    ky_rule, ru_rule = vote_for_text(contest.vote_for)
    rule_w = min(60.0, head.w * 0.38)
    title_w = head.w - rule_w - 6
    p.text(head.x + 2, head.y + 4.2, contest.title["ky"], title_w, 3.4, bold=True)
    p.text(head.x + 2, head.y + 9.8, contest.title["ru"], title_w, 2.8)
    right = head.x + head.w - 2
    p.text(right, head.y + 4.2, ky_rule, rule_w, 2.6, bold=True, anchor="rm")
    p.text(right, head.y + 9.8, ru_rule, rule_w, 2.6, anchor="rm")
    stroke = geo.OVAL_STROKE
    for row in block.rows:
        option = contest.option(row.option)
        r = row.box
        if row.number > 1:
            p.line(r.x, r.y, r.x + r.w, r.y, fill=150, width_mm=0.2)
        x0, y0, x1, y1 = row.oval.px(p.dpi)
        p.draw.ellipse((x0, y0, x1 - 1, y1 - 1), outline=0, width=max(1, p.px(stroke)))
        text_x = row.oval.x + row.oval.w + 3
        p.text(text_x, r.cy, f"{row.number}.", 8, 3.0, bold=True)
        name_x = text_x + 8
        name_w = r.x + r.w - name_x - 2
        names = option.names
        if names["ru"] != names["ky"]:
            p.text(name_x, r.y + 3.1, names["ky"], name_w, 3.2, bold=option.against_all)
            p.text(name_x, r.y + 6.6, names["ru"], name_w, 2.5, fill=40)
        else:
            p.text(name_x, r.cy, names["ky"], name_w, 3.4, bold=option.against_all)
