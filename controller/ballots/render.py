"""Rendering ballot sheets: a grey PNG at a dpi with its layout record, or a PDF for print.

Positions come from ``controller.ballots.layout`` (millimetres, independent of text and
resolution), the shapes and fitted texts from ``controller.ballots.sheet``; ``raster``
and ``pdf`` paint that one drawing, so both outputs carry the same sheet.
"""

from __future__ import annotations

import logging
from typing import Any

from PIL import Image

from controller.ballots import raster
from controller.ballots.fonts import find_fonts
from controller.ballots.pdf import pdf_document
from controller.ballots.sheet import Drawing, compose
from controller.election.definition import Election, is_definition_id

log = logging.getLogger("shailoo.ballots")

MIN_DPI = 100
MAX_DPI = 600
MODES = ("test", "official")


def _check(election: Any, style_id: str, mode: str, station: str | None) -> None:
    if mode not in MODES:
        raise ValueError(f"mode must be 'test' or 'official', not {mode!r}")
    if station is not None and not is_definition_id(station):
        raise ValueError(f"station {station!r} is not a station id")
    if style_id not in election.styles:
        raise ValueError(
            f"election {election.id!r} has no ballot style {style_id!r} "
            f"(it has {', '.join(sorted(election.styles))})"
        )


def _check_dpi(dpi: Any) -> None:
    if not isinstance(dpi, int) or isinstance(dpi, bool) or not MIN_DPI <= dpi <= MAX_DPI:
        raise ValueError(f"dpi must be a whole number from {MIN_DPI} to {MAX_DPI}, not {dpi!r}")


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
    the oval targets in pixels of this image, top-left origin: ``{"dpi", "width_px",
    "height_px", "election_hash", "style", "targets": [{"contest", "option", "x", "y",
    "w", "h"}], ...}``.
    """
    _check_dpi(dpi)
    _check(election, style_id, mode, station)
    fonts = find_fonts()
    sheet, drawing = compose(election, style_id, mode, station, paper, fonts)
    image = raster.paint(drawing, dpi, fonts)
    return image, sheet.to_dict(dpi, mode, station) | {"font": fonts.name}


def compose_ballot(election: Election, style_id: str, mode: str = "test",
                   station: str | None = None, paper: str = "A4") -> Drawing:
    """The drawing of ``style_id``'s sheet (for a PDF, or several styles in one)."""
    _check(election, style_id, mode, station)
    return compose(election, style_id, mode, station, paper, find_fonts())[1]


def render_pdf(
    election: Election,
    styles: list[str],
    mode: str = "test",
    station: str | None = None,
    paper: str = "A4",
) -> bytes:
    """A PDF with one page per ballot style in ``styles``, vector, typeface embedded."""
    drawings = [compose_ballot(election, s, mode, station, paper) for s in styles]
    return pdf_document(drawings, find_fonts(), title=f"{election.id} ballots")
