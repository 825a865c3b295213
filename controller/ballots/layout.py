"""Where everything sits on a ballot sheet, in millimetres from the top-left corner.

The geometry depends only on the election's structure (which contests a style holds
and how many options each has) and the paper: never on fonts, text lengths or the
resolution. Texts are fitted into their boxes when rendering, never the other way round.
So the renderer and the reader compute the very same positions independently, at any
dpi, and the reader needs no side file.

Fixed features of every sheet:

* four solid square fiducials, one near each corner, on white: the reader finds them
  first; nothing else is printed within ``CORNER_CLEAR`` of a corner;
* a column of timing marks (short bars at a fixed pitch) along the left and the right
  edge between the corners: with the fiducials they give the reader some sixty points
  to fit the scan's geometry to, so one smudged point is outvoted and a sheet that is
  not flat or not fed straight is measured, not assumed;
* the QR code at the top right (its right edge at ``CORNER_CLEAR`` from the right side);
* the header (titles, district, station), a band that says "test ballot" in test mode,
  instructions, then the contests in one column, or two when one is not enough.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

MM_PER_INCH = 25.4


@dataclass(frozen=True)
class Paper:
    """A paper size."""

    name: str
    width: float
    height: float


PAPERS = {"A4": Paper("A4", 210.0, 297.0), "letter": Paper("letter", 215.9, 279.4)}

FIDUCIAL = 7.0  # side of the solid square fiducials
FIDUCIAL_INSET = 12.0  # from each paper edge to a fiducial's centre
CORNER_CLEAR = 36.0  # nothing but the fiducial within this square at each corner
QR_MODULES = 41  # QR version 6: room for the longest code, fixed so its size is known
QR_MODULE = 0.85  # mm per QR module
QR_TOP = 9.0
SIDE = 15.0  # left and right margins of the contest area
HEADER_TOP = 9.0
BAND_TOP = 48.0
BAND_HEIGHT = 8.0
INSTRUCTIONS_TOP = 58.0
CONTESTS_TOP = 70.0
CONTEST_HEAD = 14.0
CONTEST_GAP = 4.0
COLUMN_GAP = 6.0
ROW = 9.0
OVAL_W = 7.0
OVAL_H = 4.5
OVAL_STROKE = 0.35
OVAL_LEFT = 4.0  # from a row's left edge to its oval's left edge
FOOTER_HEIGHT = 8.0
TIMING_INSET = 7.0  # from the left or right paper edge to a timing mark's centre
TIMING_W = 4.0
TIMING_H = 1.5
TIMING_PITCH = 8.0
TIMING_CLEAR = 40.0  # the first and last timing mark from the top and bottom paper edge


class LayoutError(ValueError):
    """A ballot style that cannot be laid out on the sheet."""


@dataclass(frozen=True)
class Box:
    """A rectangle in millimetres: left, top, width, height."""

    x: float
    y: float
    w: float
    h: float

    @property
    def cx(self) -> float:
        """Horizontal centre."""
        return self.x + self.w / 2

    @property
    def cy(self) -> float:
        """Vertical centre."""
        return self.y + self.h / 2

    def px(self, dpi: int) -> tuple[int, int, int, int]:
        """Pixel rectangle ``(x0, y0, x1, y1)`` at ``dpi``, right and bottom exclusive."""
        k = dpi / MM_PER_INCH
        return (
            round(self.x * k),
            round(self.y * k),
            round((self.x + self.w) * k),
            round((self.y + self.h) * k),
        )


@dataclass(frozen=True)
class Row:
    """One option's row: the whole row, and its oval target."""

    contest: str
    option: str
    number: int
    box: Box
    oval: Box


@dataclass(frozen=True)
class ContestBlock:
    """One contest's frame: its heading and its rows."""

    contest: str
    box: Box
    head: Box
    rows: tuple[Row, ...]


@dataclass(frozen=True)
class SheetLayout:
    """Everything positioned on one ballot style's sheet."""

    paper: Paper
    election_hash: str
    style: str
    fiducials: tuple[tuple[float, float], ...]  # centres: TL, TR, BL, BR
    timing: tuple[tuple[float, float], ...]  # centres: the left column, then the right
    qr: Box
    header: Box
    band: Box
    instructions: Box
    footer: Box
    contests: tuple[ContestBlock, ...]

    @property
    def rows(self) -> list[Row]:
        """Every option row, in ballot order."""
        return [row for block in self.contests for row in block.rows]

    def pixel_size(self, dpi: int) -> tuple[int, int]:
        """``(width, height)`` of the sheet in pixels at ``dpi``."""
        k = dpi / MM_PER_INCH
        return round(self.paper.width * k), round(self.paper.height * k)

    def to_dict(self, dpi: int, mode: str, station: str | None) -> dict[str, Any]:
        """The layout record of a rendering at ``dpi`` (pixels, top-left origin)."""
        width, height = self.pixel_size(dpi)
        targets = []
        for row in self.rows:
            x0, y0, x1, y1 = row.oval.px(dpi)
            targets.append(
                {"contest": row.contest, "option": row.option, "x": x0, "y": y0,
                 "w": x1 - x0, "h": y1 - y0}
            )
        k = dpi / MM_PER_INCH
        return {
            "dpi": dpi,
            "width_px": width,
            "height_px": height,
            "paper": self.paper.name,
            "election_hash": self.election_hash,
            "style": self.style,
            "mode": mode,
            "station": station,
            "fiducials": [[round(x * k, 2), round(y * k, 2)] for x, y in self.fiducials],
            "timing_marks": [[round(x * k, 2), round(y * k, 2)] for x, y in self.timing],
            "targets": targets,
        }


def fiducial_centres(paper: Paper) -> tuple[tuple[float, float], ...]:
    """Centres of the four fiducials: top-left, top-right, bottom-left, bottom-right."""
    far_x = paper.width - FIDUCIAL_INSET
    far_y = paper.height - FIDUCIAL_INSET
    return (
        (FIDUCIAL_INSET, FIDUCIAL_INSET),
        (far_x, FIDUCIAL_INSET),
        (FIDUCIAL_INSET, far_y),
        (far_x, far_y),
    )


def timing_centres(paper: Paper) -> tuple[tuple[float, float], ...]:
    """Centres of the timing marks: down the left edge, then down the right edge."""
    count = int((paper.height - 2 * TIMING_CLEAR) // TIMING_PITCH) + 1
    top = (paper.height - (count - 1) * TIMING_PITCH) / 2
    ys = [top + i * TIMING_PITCH for i in range(count)]
    right = paper.width - TIMING_INSET
    return tuple((TIMING_INSET, y) for y in ys) + tuple((right, y) for y in ys)


def qr_box(paper: Paper) -> Box:
    """Where the QR symbol (without its quiet zone) is printed."""
    size = QR_MODULES * QR_MODULE
    return Box(paper.width - CORNER_CLEAR - size, QR_TOP, size, size)


def _block_height(options: int) -> float:
    return CONTEST_HEAD + options * ROW


def compute_layout(election: Any, style_id: str, paper: str = "A4") -> SheetLayout:
    """Lay out the sheet of ``style_id`` of ``election`` on ``paper`` (``A4`` or ``letter``).

    Raises ``KeyError`` for a style the election does not have and ``LayoutError`` when
    the style's contests do not fit on one sheet.
    """
    if paper not in PAPERS:
        raise LayoutError(f"paper {paper!r} is not one of {', '.join(PAPERS)}")
    sheet = PAPERS[paper]
    if style_id not in election.styles:
        raise KeyError(f"election {election.id!r} has no ballot style {style_id!r}")
    contests = [election.contest(cid) for cid in election.styles[style_id]]
    qr = qr_box(sheet)
    area_top = CONTESTS_TOP
    area_bottom = sheet.height - CORNER_CLEAR
    area_height = area_bottom - area_top
    full_width = sheet.width - 2 * SIDE
    heights = [_block_height(len(c.options)) for c in contests]
    total = sum(heights) + CONTEST_GAP * (len(contests) - 1)
    if total <= area_height:
        columns = [(SIDE, full_width)]
    else:
        half = (full_width - COLUMN_GAP) / 2
        columns = [(SIDE, half), (SIDE + half + COLUMN_GAP, half)]
    blocks: list[ContestBlock] = []
    column = 0
    y = area_top
    for contest, height in zip(contests, heights, strict=True):
        if y > area_top and y + height > area_bottom:
            column += 1
            y = area_top
        if column >= len(columns) or y + height > area_bottom:
            raise LayoutError(
                f"ballot style {style_id!r} does not fit on one {paper} sheet "
                f"(contest {contest.id!r} with {len(contest.options)} options)"
            )
        x, width = columns[column]
        rows = []
        for n, option in enumerate(contest.options):
            top = y + CONTEST_HEAD + n * ROW
            row_box = Box(x, top, width, ROW)
            oval = Box(x + OVAL_LEFT, top + (ROW - OVAL_H) / 2, OVAL_W, OVAL_H)
            rows.append(Row(contest.id, option.id, n + 1, row_box, oval))
        blocks.append(
            ContestBlock(contest.id, Box(x, y, width, height), Box(x, y, width, CONTEST_HEAD),
                         tuple(rows))
        )
        y += height + CONTEST_GAP
    return SheetLayout(
        paper=sheet,
        election_hash=election.hash,
        style=style_id,
        fiducials=fiducial_centres(sheet),
        timing=timing_centres(sheet),
        qr=qr,
        header=Box(CORNER_CLEAR, HEADER_TOP, qr.x - 5 - CORNER_CLEAR, BAND_TOP - 2 - HEADER_TOP),
        band=Box(SIDE, BAND_TOP, full_width, BAND_HEIGHT),
        instructions=Box(SIDE, INSTRUCTIONS_TOP, full_width, CONTESTS_TOP - 2 - INSTRUCTIONS_TOP),
        footer=Box(
            CORNER_CLEAR,
            sheet.height - FIDUCIAL_INSET - FOOTER_HEIGHT / 2,
            sheet.width - 2 * CORNER_CLEAR,
            FOOTER_HEIGHT,
        ),
        contests=tuple(blocks),
    )
