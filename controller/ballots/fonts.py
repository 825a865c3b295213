"""Fonts for ballots: a TrueType sans-serif face that has the Kyrgyz letters ң ө ү.

Looked for in this order: the files named by ``SHAILOO_FONT`` and ``SHAILOO_FONT_BOLD``,
the usual places of DejaVu Sans, Liberation Sans and Noto Sans on Linux distributions
(Debian: package ``fonts-dejavu-core``), then whatever ``fc-match`` offers for Kyrgyz.
A candidate is used only if it really draws ң, ө and ү. With none, Pillow's built-in
face is used and ``FontSet.cyrillic`` is False: the ballot still reads (positions never
depend on text) but its Cyrillic text is not printable, which the renderer logs loudly.
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

log = logging.getLogger("shailoo.ballots")

_DIRS = (
    "/usr/share/fonts/truetype/dejavu",
    "/usr/share/fonts/dejavu",
    "/usr/share/fonts/TTF",
    "/usr/share/fonts/dejavu-sans-fonts",
    "/usr/share/fonts/truetype/liberation",
    "/usr/share/fonts/liberation-sans",
    "/usr/share/fonts/truetype/noto",
    "/usr/share/fonts/noto",
)
_FACES = (
    ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf"),
    ("LiberationSans-Regular.ttf", "LiberationSans-Bold.ttf"),
    ("NotoSans-Regular.ttf", "NotoSans-Bold.ttf"),
)
PROBE = "ңөү"
FontLike = ImageFont.FreeTypeFont | ImageFont.ImageFont


@dataclass(frozen=True)
class FontSet:
    """The regular and bold face used for ballots."""

    regular: str | None
    bold: str | None
    cyrillic: bool

    def font(self, size_px: int, bold: bool = False) -> FontLike:
        """The face at ``size_px`` pixels (bold falls back to regular)."""
        return _load(self.bold if bold and self.bold else self.regular, max(4, int(size_px)))

    @property
    def name(self) -> str:
        """What the ballot was set in, for the layout record."""
        return Path(self.regular).name if self.regular else "builtin (no Cyrillic)"


@functools.lru_cache(maxsize=256)
def _load(path: str | None, size: int) -> FontLike:
    if path is None:
        return ImageFont.load_default(size)
    return ImageFont.truetype(path, size)


def has_kyrgyz(path: str) -> bool:
    """True when the font file draws ң, ө and ү (not its missing-glyph box)."""
    try:
        font = ImageFont.truetype(path, 24)
    except OSError:
        return False
    missing = _glyph(font, "\ue000")
    return all(_glyph(font, ch) != missing for ch in PROBE)


def _glyph(font: ImageFont.FreeTypeFont, ch: str) -> bytes:
    canvas = Image.new("L", (40, 40), 0)
    ImageDraw.Draw(canvas).text((4, 4), ch, font=font, fill=255)
    return canvas.tobytes()


def _fc_match() -> str | None:
    exe = shutil.which("fc-match")
    if exe is None:
        return None
    try:
        out = subprocess.run(
            [exe, "-f", "%{file}", "sans-serif:lang=ky"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    path = out.stdout.strip()
    return path if path.lower().endswith((".ttf", ".otf")) else None


@functools.lru_cache(maxsize=1)
def find_fonts() -> FontSet:
    """The best font set on this machine (looked up once per process)."""
    regular_env = os.environ.get("SHAILOO_FONT")
    if regular_env:
        if has_kyrgyz(regular_env):
            bold_env = os.environ.get("SHAILOO_FONT_BOLD")
            bold = bold_env if bold_env and has_kyrgyz(bold_env) else None
            return FontSet(regular_env, bold, True)
        log.warning("SHAILOO_FONT=%s has no Kyrgyz letters; looking elsewhere", regular_env)
    for folder in _DIRS:
        for regular, bold in _FACES:
            path = Path(folder, regular)
            if path.is_file() and has_kyrgyz(str(path)):
                bold_path = Path(folder, bold)
                has_bold = bold_path.is_file() and has_kyrgyz(str(bold_path))
                return FontSet(str(path), str(bold_path) if has_bold else None, True)
    matched = _fc_match()
    if matched and has_kyrgyz(matched):
        return FontSet(matched, None, True)
    log.error(
        "no font with Kyrgyz letters found: ballots will print Cyrillic as boxes; "
        "install fonts-dejavu-core or set SHAILOO_FONT"
    )
    return FontSet(None, None, False)
