"""The check-in slip with Kyrgyz text, printed by the real terminal firmware, as paper.

The terminal (``micropython``) prints the slip of an issued ballot on the simulated
printer, which renders it to a PNG. The reference is computed here, on the host, from
the same text: Russian lines drawn with the printer's font (DejaVu Sans, as a printer's
own character generator would), lines with ң ө ү composed from the same glyphs the
terminal has on its flash (``firmware/glyphs.bin``). Those glyphs are checked against
the font itself, letter by letter, so the Kyrgyz letters on the paper are the right
ones, not "?" or a look-alike.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from drivers import escpos, slip
from firmware.glyphs import GlyphFile
from firmware.glyphs_make import CHARS, OUT, make
from tests.firmware.fake_controller import STATION

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
FONT_BOLD = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"
SIZE, LINE, TOP, DOTS = 22, 28, 2, 384
KYRGYZ = "ңөүҢӨҮ"
NAME = "Өмүрбеков Чыңгыз"
STYLE = "kg-2025-a"
ROW = 17

pytestmark = pytest.mark.skipif(not Path(FONT).is_file(), reason="DejaVu Sans not installed")


def text_line(text: str, bold: bool, w: int, h: int) -> np.ndarray:
    """A text line as a printer draws it from its font: True = black."""
    font = ImageFont.truetype(FONT_BOLD if bold else FONT, SIZE)
    width = max(1, math.ceil(font.getlength(text)))
    img = Image.new("L", (width, LINE), 255)
    ImageDraw.Draw(img).text((0, TOP), text, font=font, fill=0)
    img = img.resize((width * w, LINE * h), Image.NEAREST)
    return np.asarray(img) < 128


def glyph(glyphs: GlyphFile, ch: str) -> np.ndarray:
    width, data = glyphs.get(ch)
    stride = (width + 7) // 8
    rows = np.frombuffer(data, dtype=np.uint8).reshape(glyphs.height, stride)
    return np.unpackbits(rows, axis=1)[:, :width].astype(bool)


def raster_line(text: str, bold: bool, glyphs: GlyphFile) -> np.ndarray:
    """A raster line composed from the flash glyphs, as wide as the bytes sent (x 8)."""
    parts = [glyph(glyphs, ch) for ch in text]
    total = max(8, min(DOTS, sum(p.shape[1] for p in parts) + (1 if bold else 0)))
    out = np.zeros((glyphs.height, (total + 7) // 8 * 8), dtype=bool)
    x = 0
    for part in parts:
        end = min(total, x + part.shape[1])
        out[:, x:end] = part[:, : end - x]
        x = end
    if bold:
        out[:, 1:] |= out[:, :-1].copy()
    return out


def reference(lines: list[tuple], glyphs: GlyphFile) -> tuple[np.ndarray, list[tuple]]:
    """The slip's paper (True = black) and where each raster line went: (text, x, y)."""
    placed: list[tuple[int, int, np.ndarray]] = []
    rasters = []
    y = 0
    for text, bold, w, h, where in lines:
        if not text:
            y += LINE * h
            continue
        if escpos.encodable(text):
            img = text_line(text, bold, w, h)
        else:
            img = raster_line(text, bold, glyphs)
            rasters.append((text, bold, y))
        x = {escpos.LEFT: 0, escpos.CENTER: (DOTS - img.shape[1]) // 2}[where]
        placed.append((x, y, img))
        y += img.shape[0]
    page = np.zeros((y + slip.FEED_LINES * LINE, DOTS), dtype=bool)
    for x, top, img in placed:
        page[top : top + img.shape[0], x : x + img.shape[1]] |= img
    return page, rasters


def test_slip_with_kyrgyz_letters_prints_like_the_reference(make_terminal, controller, tmp_path):
    term = make_terminal()
    ctl = controller(term.device)
    ctl.handlers["checkin.request"] = lambda m: ("checkin.result", {
        "txn": m.body["txn"], "status": "issued", "voter": {"row": ROW, "name": NAME},
        "style": STYLE, "reason": ""})
    term.board.start()
    ctl.wait("hello")
    term.present(["I<KGZAN12345670<<<<<<<<<<<<<<<", "8502144F3101012KGZ<<<<<<<<<<<4",
                  "OMURBEKOV<<CHYNGYZ<<<<<<<<<<<<"])
    term.display.wait_screen("checkin", status="issued")
    printer = term.printer
    assert printer.wait(lambda p: p.cuts == 1, 20)
    png = printer.save(tmp_path / "slip.png")
    paper = np.asarray(Image.open(png).convert("L")) < 128

    glyphs = GlyphFile(str(OUT))
    try:
        lines = slip.slip_lines(STATION, ROW, NAME, STYLE, glyphs.width_of)
        assert (slip.STYLE + STYLE, False, 1, 1, escpos.LEFT) in lines  # one line, unwrapped
        expected, rasters = reference(lines, glyphs)
        Image.fromarray(~expected).save(tmp_path / "reference.png")
        assert paper.shape == expected.shape
        differ = int((paper != expected).sum())
        assert differ == 0, f"{differ} dots differ; see {tmp_path}"
        # The Kyrgyz letters are the font's own, where they belong on the paper.
        kyrgyz_lines = [t for t, *_ in lines if t and not escpos.encodable(t)]
        assert [r[0] for r in rasters] == kyrgyz_lines and NAME in kyrgyz_lines
        assert len(printer.rasters) == len(kyrgyz_lines)
        font = ImageFont.truetype(FONT, SIZE)
        checked = 0
        for text, bold, top in rasters:
            x = 0
            for ch in text:
                width = glyphs.get(ch)[0]
                if ch in KYRGYZ:
                    drawn = paper[top : top + LINE, x : x + width]
                    letter = text_line(ch, False, 1, 1)[:, :width]
                    if bold:
                        # Bold widens each stroke one dot to the right; the letter before
                        # may smear into this one's first column: compare from the second.
                        letter[:, 1:] |= letter[:, :-1].copy()
                        assert (drawn[:, 1:] == letter[:, 1:]).all(), (ch, text)
                    else:
                        assert (drawn == letter).all(), (ch, text)
                    assert letter.sum() > 20 and math.ceil(font.getlength(ch)) == width
                    checked += 1
                x += width
        assert checked == sum(ch in KYRGYZ for text, _, _ in rasters for ch in text) >= 5
    finally:
        glyphs.close()


def test_the_glyphs_on_the_flash_are_the_fonts(tmp_path: Path) -> None:
    """firmware/glyphs.bin is what firmware/glyphs_make.py makes from DejaVu Sans (a
    renderer of another version may move a dot or two, no more)."""
    fresh_path = tmp_path / "glyphs.bin"
    fresh_path.write_bytes(make())
    committed, fresh = GlyphFile(str(OUT)), GlyphFile(str(fresh_path))
    try:
        assert committed.count == fresh.count == len(set(CHARS))
        for ch in CHARS:
            a, b = glyph(committed, ch), glyph(fresh, ch)
            assert a.shape == b.shape, ch
            assert (a != b).sum() <= max(2, a.size // 50), ch
        for ch in KYRGYZ:
            assert glyph(committed, ch).sum() > 20, ch
            assert (glyph(committed, ch) == text_line(ch, False, 1, 1)[:, : glyph(
                committed, ch).shape[1]]).all(), ch
    finally:
        committed.close()
        fresh.close()
