"""The ballot typeface: PT Sans, which draws the Kyrgyz letters ң ө ү, from a Python package.

The regular and bold faces come from the package ``fontpkg-pt-sans`` (through
``fontpkg``), so a ballot is set in the same letters on every machine and the PDF
embeds the very file the PNG was drawn with. ``SHAILOO_FONT`` (and
``SHAILOO_FONT_BOLD``) may name other TrueType files, for a commission that prints in
its own typeface; a file that does not draw ң, ө and ү is refused.

Texts are measured in millimetres (``FontSet.width_mm``) from the font's advance
widths, so the PNG and the PDF fit a text into its box identically and the layout
never depends on the resolution.
"""

from __future__ import annotations

import functools
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

log = logging.getLogger("shailoo.ballots")

PROBE = "ңөү"
FAMILY = "PT Sans"
_MEASURE_PX = 1000  # em size at which texts are measured: widths scale linearly with it


class FontError(RuntimeError):
    """No usable typeface with the Kyrgyz letters."""


@dataclass(frozen=True)
class FontSet:
    """The regular and bold TrueType files ballots are set in."""

    regular: str
    bold: str

    def font(self, size_px: int, bold: bool = False) -> ImageFont.FreeTypeFont:
        """The face at an em size of ``size_px`` pixels."""
        return _load(self.bold if bold else self.regular, max(4, int(size_px)))

    def width_mm(self, text: str, size_mm: float, bold: bool = False) -> float:
        """How wide ``text`` is at an em size of ``size_mm`` millimetres."""
        face = _load(self.bold if bold else self.regular, _MEASURE_PX)
        return face.getlength(text) / _MEASURE_PX * size_mm

    def baseline_mm(self, size_mm: float, bold: bool = False) -> float:
        """From the vertical middle of a line (ascender to descender) down to its baseline."""
        face = _load(self.bold if bold else self.regular, _MEASURE_PX)
        ascent, descent = face.getmetrics()
        return (ascent - descent) / 2 / _MEASURE_PX * size_mm

    @property
    def name(self) -> str:
        """What the ballot was set in, for the layout record."""
        return Path(self.regular).name


@functools.lru_cache(maxsize=256)
def _load(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size)


def has_kyrgyz(path: str) -> bool:
    """True when the font file draws ң, ө and ү (not its missing-glyph box)."""
    try:
        font = ImageFont.truetype(path, 24)
    except (OSError, ValueError):
        return False
    missing = _glyph(font, "\ue000")
    return all(_glyph(font, ch) != missing for ch in PROBE)


def _glyph(font: ImageFont.FreeTypeFont, ch: str) -> bytes:
    canvas = Image.new("L", (40, 40), 0)
    ImageDraw.Draw(canvas).text((4, 4), ch, font=font, fill=255)
    return canvas.tobytes()


def packaged_fonts() -> FontSet:
    """PT Sans regular and bold from the ``fontpkg-pt-sans`` package."""
    try:
        import fontpkg

        regular = str(fontpkg.path(FAMILY))
        bold = str(fontpkg.path(FAMILY, weight=700))
    except Exception as err:  # an absent or broken package: say which one to install
        raise FontError(
            f"the ballot typeface {FAMILY} is missing ({err}): install fontpkg-pt-sans"
        ) from None
    return FontSet(regular, bold)


@functools.lru_cache(maxsize=1)
def find_fonts() -> FontSet:
    """The typeface for ballots (looked up once per process); ``FontError`` without one."""
    regular_env = os.environ.get("SHAILOO_FONT")
    if regular_env:
        if has_kyrgyz(regular_env):
            bold_env = os.environ.get("SHAILOO_FONT_BOLD")
            bold = bold_env if bold_env and has_kyrgyz(bold_env) else regular_env
            return FontSet(regular_env, bold)
        log.warning("SHAILOO_FONT=%s does not draw ң ө ү; using %s", regular_env, FAMILY)
    fonts = packaged_fonts()
    if not (has_kyrgyz(fonts.regular) and has_kyrgyz(fonts.bold)):
        raise FontError(f"the packaged {FAMILY} does not draw ң ө ү")
    return fonts
