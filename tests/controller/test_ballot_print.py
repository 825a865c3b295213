"""What a printed ballot carries: the packaged typeface with its Kyrgyz letters drawn, the
layout record's exact form and coordinates, timing marks, and a vector PDF that, printed
and scanned (rasterised here), reads like the PNG."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pypdfium2 as pdfium
import pytest
from click.testing import CliRunner
from fontTools import subset
from PIL import Image, ImageDraw, ImageFont

from controller.ballots import fonts as fonts_module
from controller.ballots import layout as geo
from controller.ballots.cli import ballots
from controller.ballots.fonts import FontError, find_fonts, has_kyrgyz, packaged_fonts
from controller.ballots.read import read_ballot
from controller.ballots.render import render_ballot, render_pdf
from controller.ballots.sheet import Text, compose
from controller.election.definition import Election
from controller.election.load import load_election

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "election.json"
REQUIRED = {"dpi", "width_px", "height_px", "election_hash", "style", "targets"}


@pytest.fixture(scope="module")
def election() -> Election:
    return load_election(EXAMPLE)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory, election) -> Path:
    """``shailoo ballots render`` output for both styles at 150 dpi, official."""
    out = tmp_path_factory.mktemp("render")
    result = CliRunner().invoke(ballots, ["render", "--election", str(EXAMPLE), "--dpi", "150",
                                          "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out


def test_the_typeface_comes_from_the_package_and_draws_kyrgyz() -> None:
    fonts = packaged_fonts()
    assert "fontpkg_pt_sans" in fonts.regular and "Bold" in fonts.bold
    assert has_kyrgyz(fonts.regular) and has_kyrgyz(fonts.bold)
    assert find_fonts() == fonts


def test_a_font_without_kyrgyz_letters_is_not_taken(tmp_path, monkeypatch) -> None:
    latin = tmp_path / "latin.ttf"
    options = subset.Options()
    subsetter = subset.Subsetter(options)
    font = subset.load_font(packaged_fonts().regular, options)
    subsetter.populate(text="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
    subsetter.subset(font)
    font.save(str(latin))
    assert not has_kyrgyz(str(latin))
    assert not has_kyrgyz(str(tmp_path / "missing.ttf"))
    (tmp_path / "junk.ttf").write_bytes(b"not a font")
    assert not has_kyrgyz(str(tmp_path / "junk.ttf"))
    monkeypatch.setenv("SHAILOO_FONT", str(latin))
    find_fonts.cache_clear()
    try:
        assert find_fonts() == packaged_fonts()  # refused, the package's face is used
    finally:
        find_fonts.cache_clear()


def test_without_the_package_there_is_a_clear_error(monkeypatch) -> None:
    import fontpkg

    def missing(*args, **kwargs):
        raise fontpkg.FamilyNotInstalled("PT Sans")

    monkeypatch.setattr(fontpkg, "path", missing)
    with pytest.raises(FontError, match="install fontpkg-pt-sans"):
        fonts_module.packaged_fonts()


def _text_box(election, text: str, dpi: int) -> tuple[Text, tuple[int, int, int, int]]:
    """Where the renderer set ``text`` on s-d07, as pixels at ``dpi``."""
    fonts = find_fonts()
    _, drawing = compose(election, "s-d07", "official", None, "A4", fonts)
    item = next(i for i in drawing.items if isinstance(i, Text) and i.text == text)
    k = dpi / 25.4
    width = fonts.width_mm(item.text, item.size, item.bold) * k
    x0, yc = round(item.x * k), round(item.y * k)
    half = item.size * k * 0.66  # ascender to descender, not the line below
    return item, (x0 - 2, int(yc - half), int(x0 + width + 3), int(yc + half))


@pytest.mark.parametrize("name", ["Сыдыков Бакыт Үсөнович", "Кеңжебаев Нурлан Эсенович",
                                  "Өнүгүү жолу"])
def test_kyrgyz_letters_are_drawn_as_the_typeface_draws_them(election, name) -> None:
    dpi = 300
    image, _ = render_ballot(election, "s-d07", dpi=dpi, mode="official")
    item, box = _text_box(election, name, dpi)
    printed = np.array(image.crop(box)) < 128
    face = ImageFont.truetype(packaged_fonts().bold if item.bold else packaged_fonts().regular,
                              round(item.size * dpi / 25.4))

    def drawn(text: str) -> np.ndarray:
        canvas = Image.new("L", image.size, 255)
        ImageDraw.Draw(canvas).text((round(item.x * dpi / 25.4), round(item.y * dpi / 25.4)),
                                    text, font=face, fill=0, anchor="lm")
        return np.array(canvas.crop(box)) < 128

    assert printed.sum() > 200
    assert np.array_equal(printed, drawn(name))
    # With the Kyrgyz letters swapped for their Russian look-alikes, the print differs:
    # the letters on the sheet are the real ң, ө, ү.
    plain = name.translate(str.maketrans("ңөүҢӨҮ", "нoуНОУ"))
    assert (printed != drawn(plain)).sum() > 20


def test_layout_record_has_the_agreed_form(rendered, election) -> None:
    records = sorted(rendered.glob("*.layout.json"))
    assert [r.name for r in records] == [f"kg-2026-jk-{s}-official.layout.json"
                                         for s in sorted(election.styles)]
    for path in records:
        record = json.loads(path.read_text(encoding="utf-8"))
        assert REQUIRED <= set(record)
        with Image.open(path.with_name(path.name.replace(".layout.json", ".png"))) as png:
            assert png.size == (record["width_px"], record["height_px"])
            assert round(png.info["dpi"][0]) == record["dpi"] == 150
        assert record["election_hash"] == election.hash
        for target in record["targets"]:
            assert set(target) == {"contest", "option", "x", "y", "w", "h"}
            assert all(isinstance(target[key], int) for key in "xywh")


def test_a_mark_drawn_at_a_layout_target_is_read_as_that_option(rendered, election) -> None:
    path = rendered / "kg-2026-jk-s-d12-official.png"
    record = json.loads(path.with_suffix("").with_suffix(".layout.json").read_text("utf-8"))
    with Image.open(path) as png:
        blank = png.convert("L")
    for target in record["targets"]:
        page = blank.copy()
        x, y, w, h = target["x"], target["y"], target["w"], target["h"]
        ImageDraw.Draw(page).ellipse((x + 2, y + 2, x + w - 3, y + h - 3), fill=30)
        result = read_ballot(np.array(page), election, mode="official", dpi=150)
        assert result["status"] == "accepted"
        chosen = {c: v for c, v in result["votes"].items() if v}
        assert chosen == {target["contest"]: [target["option"]]}


def test_timing_marks_are_printed_bars_in_the_margins(election) -> None:
    image, record = render_ballot(election, "s-d07", dpi=200)
    gray = np.array(image)
    k = 200 / 25.4
    assert len(record["timing_marks"]) == 2 * 28
    for cx, cy in record["timing_marks"]:
        hw, hh = round(geo.TIMING_W / 2 * k) - 2, round(geo.TIMING_H / 2 * k) - 2
        x, y = round(cx), round(cy)
        assert gray[y - hh:y + hh, x - hw:x + hw].max() == 0
        # Paper around each bar: nothing else is printed within a bar's window.
        ring = gray[y - round(2.6 * k):y + round(2.6 * k), x - round(2.6 * k):x + round(2.6 * k)]
        assert (ring < 128).sum() <= (geo.TIMING_W * geo.TIMING_H * k * k) * 1.15


def test_pdf_is_vector_with_the_typeface_embedded(election) -> None:
    pdf = render_pdf(election, ["s-d07", "s-d12"], mode="test")
    assert pdf.startswith(b"%PDF") and pdf.rstrip().endswith(b"%%EOF")
    assert re.search(rb"/Count 2\b", pdf)  # one page per style
    names = set(re.findall(rb"/BaseFont /[A-Z]{6}\+(PTSans\w*)", pdf))
    assert names == {b"PTSans", b"PTSansBold"}
    assert pdf.count(b"/FontFile2") == 2  # both TrueType faces embedded (as subsets)
    # No raster anywhere: ovals, marks, fiducials and the code are vector shapes.
    assert b"/XObject" not in pdf and b"/Subtype /Image" not in pdf
    page = render_pdf(election, ["s-d07"], mode="official")
    assert b"/MediaBox [0 0 595.28 841.89]" in page  # A4 in points: printed at 100 %


def _rasterise(pdf: Path, dpi: int, renderer: str, folder: Path) -> Image.Image:
    """The PDF's first page as a grey image at ``dpi``, as a printer and scanner would."""
    if renderer == "pdftoppm":
        # .ci/run installs it (Debian package poppler-utils).
        assert shutil.which("pdftoppm"), "pdftoppm is missing: apt-get install poppler-utils"
        subprocess.run(["pdftoppm", "-r", str(dpi), "-gray", "-png", str(pdf),
                        str(folder / "p")], check=True, timeout=60)
        with Image.open(next(folder.glob("p*.png"))) as page:
            return page.convert("L")
    document = pdfium.PdfDocument(pdf.read_bytes())
    try:
        return document[0].render(scale=dpi / 72, grayscale=True).to_pil().convert("L")
    finally:
        document.close()


@pytest.mark.parametrize("renderer", ["pdfium", "pdftoppm"])
@pytest.mark.parametrize("dpi", [150, 200])
def test_a_printed_pdf_scanned_at_any_dpi_reads_like_the_png(tmp_path, election, dpi,
                                                              renderer) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(ballots, ["render", "--election", str(EXAMPLE), "--style",
                                          "s-d07", "--station", "st-0042", "--format", "pdf",
                                          "--out", str(out)])
    assert result.exit_code == 0, result.output
    pdf = out / "kg-2026-jk-s-d07-st-0042-official.pdf"
    scan = _rasterise(pdf, dpi, renderer, tmp_path)
    png, record = render_ballot(election, "s-d07", dpi=dpi, mode="official", station="st-0042")
    # A PDF renderer may round the page size up to whole pixels, the renderer to the nearest.
    assert abs(scan.width - png.width) <= 1 and abs(scan.height - png.height) <= 1
    scan = scan.crop((0, 0, png.width, png.height))
    # The same sheet: pixels agree but for anti-aliasing of edges.
    assert np.abs(np.array(scan, dtype=int) - np.array(png, dtype=int)).mean() < 8
    choices = {"party-list": ["p-ysyk-kol"], "smd-07": ["against-all"]}
    draw = ImageDraw.Draw(scan)
    for target in record["targets"]:
        if target["option"] in choices[target["contest"]]:
            x, y, w, h = target["x"], target["y"], target["w"], target["h"]
            draw.ellipse((x + 1, y + 1, x + w - 2, y + h - 2), fill=20)
    read = read_ballot(np.array(scan), election, mode="official", station="st-0042", dpi=dpi)
    assert read["status"] == "accepted", read["detail"]
    assert read["votes"] == choices
    assert read["registration"]["residual_mm"] < 0.2
