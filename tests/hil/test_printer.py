"""The ESC/POS driver against the simulated thermal printer over a real pty."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import pytest
import serial
from PIL import Image, ImageChops, ImageDraw, ImageFont

from drivers import escpos, escpos_host
from hil.peripherals.printer import Printer as SimPrinter
from hil.pty import PtyPair

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
FONT_BOLD = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"
SIZE, LINE, TOP, DOTS = 22, 28, 2, 384
VOTER = "Шайлоочу: Өмүрбек Ңаматов"
# (text, bold, width_mult, height_mult, alignment)
SLIP = [
    ("Талон", True, 2, 2, escpos.CENTER),
    ("Участок №1234", False, 1, 1, escpos.LEFT),
    (VOTER, False, 1, 1, escpos.LEFT),
    ("Паспорт: ID1234567", False, 1, 1, escpos.LEFT),
    ("Үй-бүлө: Төлөнбаева ү ө ң", False, 1, 1, escpos.LEFT),
    ("Дата: 2025-11-30 08:15", True, 1, 1, escpos.LEFT),
]
FEED = 2


@pytest.fixture
def sim() -> Iterator[SimPrinter]:
    printer = SimPrinter()
    yield printer
    printer.close()


@pytest.fixture
def driver(sim: SimPrinter) -> Iterator[escpos.Printer]:
    printer = escpos_host.open_serial(sim.device_path, timeout=1.0)
    yield printer
    printer.link.close()  # type: ignore[attr-defined]


def print_slip(p: escpos.Printer) -> None:
    p.reset()
    for text, bold, w, h, where in SLIP:
        p.set_align(where)
        p.set_bold(bold)
        p.set_size(w, h)
        p.line(text)
    p.feed(FEED)
    p.cut()


def reference() -> Image.Image:
    """The slip drawn directly with Pillow: what the paper should look like."""
    strips = []
    for text, bold, w, h, where in SLIP:
        font = ImageFont.truetype(FONT_BOLD if bold else FONT, SIZE)
        width = math.ceil(font.getlength(text))
        img = Image.new("L", (width, LINE), 255)
        ImageDraw.Draw(img).text((0, TOP), text, font=font, fill=0)
        img = img.resize((width * w, LINE * h), Image.NEAREST)
        x = {escpos.LEFT: 0, escpos.CENTER: (DOTS - img.width) // 2}[where]
        strips.append((x, img.point(lambda v: 0 if v < 128 else 255, mode="1")))
    page = Image.new("1", (DOTS, sum(s.height for _, s in strips) + FEED * LINE), 1)
    y = 0
    for x, strip in strips:
        page.paste(strip, (x, y))
        y += strip.height
    return page


def black(img: Image.Image) -> int:
    return img.convert("L").histogram()[0]


def test_check_in_slip_renders_like_the_reference(
    sim: SimPrinter, driver: escpos.Printer, tmp_path: Path
) -> None:
    assert driver.check() == 0
    print_slip(driver)
    assert sim.wait(lambda s: s.cuts == 1)
    png = sim.save(tmp_path / "slip.png")
    paper = Image.open(png)
    ref = reference()
    ref.save(tmp_path / "reference.png")
    assert paper.size == ref.size
    diff = black(ImageChops.logical_xor(paper.convert("1"), ref).point(lambda v: 255 - v))
    assert black(ref) > 1000
    assert diff / (ref.width * ref.height) < 0.002, f"{diff} pixels differ"
    assert sim.codepages == [escpos.CP866]
    assert sim.unknown == []
    # Russian lines travel as CP866 text; the two Kyrgyz lines as raster images.
    assert "Участок №1234" in sim.text_lines
    assert VOTER not in sim.text_lines
    assert len(sim.rasters) == 2
    x, y, w, h = sim.rasters[0]
    assert y == LINE * 2 + LINE  # after the double-height title and one line
    font = ImageFont.truetype(FONT, SIZE)
    for letter in "ӨүҢ":
        start = VOTER.index(letter)
        left = x + math.floor(font.getlength(VOTER[:start]))
        right = x + math.ceil(font.getlength(VOTER[: start + 1]))
        glyph = paper.crop((left, y, right, y + h))
        ref_glyph = ref.crop((left, y, right, y + h))
        assert black(glyph) > 20, f"{letter} is blank"
        assert glyph.convert("L").tobytes() == ref_glyph.convert("L").tobytes()


@pytest.mark.parametrize(
    ("fault", "code", "flags"),
    [
        ("paper_out", escpos.E_PAPER_OUT, escpos.PAPER_OUT | escpos.OFFLINE),
        ("cover_open", escpos.E_COVER_OPEN, escpos.COVER_OPEN | escpos.OFFLINE),
    ],
)
def test_faults_are_reported_by_status(
    sim: SimPrinter, driver: escpos.Printer, fault: str, code: str, flags: int
) -> None:
    setattr(sim, fault, True)
    assert driver.status() & flags == flags
    with pytest.raises(escpos.PrinterError) as err:
        driver.check()
    assert err.value.code == code
    driver.line("Участок")
    driver.cut()
    assert sim.wait(lambda s: s.dropped > 0)
    assert sim.cuts == 0 and sim.text_lines == []
    setattr(sim, fault, False)
    assert driver.check() == 0


def test_paper_near_end_is_a_warning(sim: SimPrinter, driver: escpos.Printer) -> None:
    sim.near_end = True
    assert driver.check() == escpos.PAPER_NEAR_END
    assert escpos.describe(driver.status()) == "paper near end"


def test_silent_printer_times_out() -> None:
    with PtyPair("mute") as pair:
        link = serial.Serial(pair.device_path, timeout=0.2)
        try:
            p = escpos.Printer(link.write, link.read)
            with pytest.raises(escpos.PrinterError) as err:
                p.status()
            assert err.value.code == escpos.E_TIMEOUT
        finally:
            link.close()


def test_garbage_and_truncated_commands_do_not_crash(sim: SimPrinter) -> None:
    link = serial.Serial(sim.device_path, timeout=1.0)
    try:
        garbage = b"\x00\xff\x1bZ\x1d\x99\x07\x10\x05" + b"\x1dv0\x00\xff\xff\xff\xff"
        link.write(garbage + escpos.init() + escpos.encode_cp866("Привет") + b"\n")
        link.write(escpos.status_request(1))
        assert link.read(1) == b"\x12"
        assert sim.text_lines[-1] == "Привет"
        assert b"\x1bZ" in sim.unknown and b"\x1d\x99" in sim.unknown
        assert b"\x1dv0\x00\xff\xff\xff\xff" in sim.unknown
        # Cut short: the printer waits for the rest, then carries on.
        sent = sim.received
        link.write(b"\x1b")
        assert sim.wait(lambda s: s.received == sent + 1)
        link.write(b"E\x01")
        assert sim.wait(lambda s: s.bold)
        image = escpos.raster(1, 2, b"\xf0\x0f")
        link.write(image[:9])
        assert sim.wait(lambda s: s.received == sent + 12)
        assert sim.rasters == []
        link.write(image[9:] + escpos.cut())
        assert sim.wait(lambda s: s.cuts == 1)
        assert len(sim.rasters) == 1
        assert sim._reader.error is None  # type: ignore[attr-defined]
    finally:
        link.close()


def test_python_escpos_dummy_collects_the_same_bytes() -> None:
    from escpos.printer import Dummy

    sent = bytearray()
    print_slip(escpos.Printer(sent.extend, None, escpos_host.rasterise))
    dummy = Dummy()
    print_slip(escpos_host.from_python_escpos(dummy))
    assert dummy.output == bytes(sent)
    assert dummy.output.startswith(b"\x1b@\x1bt\x11")


def test_python_escpos_serial_reads_the_simulators_status(sim: SimPrinter) -> None:
    from escpos.printer import Serial

    device = Serial(devfile=sim.device_path, timeout=0.1)
    try:
        printer = escpos_host.from_python_escpos(device)
        assert printer.check() == 0
        sim.cover_open = True
        with pytest.raises(escpos.PrinterError) as err:
            printer.check()
        assert err.value.code == escpos.E_COVER_OPEN
        printer.line(VOTER)
        assert sim.wait(lambda s: s.dropped > 0)
        sim.cover_open = False
        printer.line(VOTER)
        printer.cut()
        assert sim.wait(lambda s: s.cuts == 1)
        assert len(sim.rasters) == 1
    finally:
        device.close()


def test_device_glyph_rasteriser_prints_kyrgyz_letters(sim: SimPrinter) -> None:
    """The device path: bitmap glyphs made on the host, drawn without Pillow."""
    glyphs = escpos_host.glyph_table(VOTER + "?")
    link = serial.Serial(sim.device_path, timeout=1.0)
    try:
        printer = escpos.Printer(
            link.write, link.read, escpos.glyph_rasteriser(glyphs, escpos_host.LINE_HEIGHT)
        )
        printer.reset()
        printer.line(VOTER)
        printer.cut()
        assert sim.wait(lambda s: s.cuts == 1)
    finally:
        link.close()
    paper = sim.paper()
    x, y, w, h = sim.rasters[0]
    assert h == LINE
    ref = escpos_host.render_line(VOTER)
    got = paper.crop((x, y, x + w, y + h))
    # Glyph by glyph, advances round differently from a laid-out line: close, not equal.
    assert abs(black(got) - black(ref)) < 0.05 * black(ref)
    font = ImageFont.truetype(FONT, SIZE)
    left = sum(math.ceil(font.getlength(ch)) for ch in VOTER[: VOTER.index("Ң")])
    glyph = got.crop((left, 0, left + math.ceil(font.getlength("Ң")), h))
    assert black(glyph) > 20


def test_long_text_wraps_and_keeps_every_letter(sim: SimPrinter) -> None:
    link = serial.Serial(sim.device_path, timeout=1.0)
    try:
        text = "Избирательный участок №1234, город Бишкек, Первомайский район"
        link.write(escpos.init() + escpos.codepage() + escpos.encode_cp866(text) + b"\n")
        link.write(escpos.cut())
        assert sim.wait(lambda s: s.cuts == 1)
    finally:
        link.close()
    assert sim.text_lines == [text]
    paper = sim.paper()
    assert paper.height % LINE == 0 and paper.height >= 2 * LINE
    for top in range(0, paper.height, LINE):
        assert black(paper.crop((0, top, DOTS, top + LINE))) > 100


# -- the simulator's wider paper and its fault modes; host links ---------------------------------


def test_80mm_paper_takes_a_576_dot_line(tmp_path: Path) -> None:
    sim = SimPrinter("wide", paper_dots=escpos_host.PAPER_80MM)
    try:
        link = serial.Serial(sim.device_path, timeout=1.0)
        text = "Шайлоо участкасынын жыйынтыктары: Өмүрбек Ңаматов"
        printer = escpos.Printer(link.write, link.read, escpos_host.rasteriser(576))
        printer.reset()
        printer.line(text)
        printer.cut()
        assert sim.wait(lambda s: s.cuts == 1)
        link.close()
        paper = Image.open(sim.save(tmp_path / "wide.png"))
    finally:
        sim.close()
    assert paper.width == 576
    expected = escpos_host.render_line(text, paper_dots=576)
    assert 384 < expected.width <= 576  # wider than 58 mm paper holds
    x, y, w, h = sim.rasters[0]
    assert paper.crop((x, y, x + w, y + h)).tobytes() == expected.tobytes()
    # On 58 mm paper the same line is cut at 384 dots.
    assert escpos_host.render_line(text).width == DOTS


def test_mute_printer_answers_nothing_but_keeps_printing(sim: SimPrinter) -> None:
    sim.mute = True
    link = serial.Serial(sim.device_path, timeout=0.2)
    try:
        printer = escpos.Printer(link.write, link.read)
        with pytest.raises(escpos.PrinterError) as err:
            printer.status()
        assert err.value.code == escpos.E_TIMEOUT
        assert sim.status_requests == [1]
        printer.line("Участок")
        printer.cut()
        assert sim.wait(lambda s: s.cuts == 1)
        assert sim.text_lines == ["Участок"]
    finally:
        link.close()


def test_babbling_printer_answers_garbage(sim: SimPrinter) -> None:
    sim.babble = b"\xfe\x00\x81"
    link = serial.Serial(sim.device_path, timeout=0.5)
    try:
        printer = escpos.Printer(link.write, link.read)
        with pytest.raises(escpos.PrinterError) as err:
            printer.status()
        assert err.value.code == escpos.E_BAD_STATUS
        assert "0xFE" in str(err.value)
    finally:
        link.close()


def test_fault_after_lines_opens_the_cover_mid_print(
    sim: SimPrinter, driver: escpos.Printer
) -> None:
    with pytest.raises(ValueError, match="no fault mode"):
        sim.fault_after(1, "on_fire")
    sim.fault_after(2, "cover_open")
    driver.reset()
    for n in range(4):
        driver.line(f"Строка {n}")
    driver.cut()
    assert sim.wait(lambda s: s.dropped > 0)
    assert sim.text_lines == ["Строка 0", "Строка 1"] and sim.cuts == 0
    assert driver.status() & escpos.COVER_OPEN
    assert sim.printed == 2


def test_python_escpos_link_failures_are_printer_errors(sim: SimPrinter) -> None:
    from escpos.printer import Serial

    device = Serial(devfile=sim.device_path, timeout=0.2)
    device.open()
    port = device.device
    try:
        printer = escpos_host.from_python_escpos(device)
        assert printer.check() == 0
        sim.mute = True
        with pytest.raises(escpos.PrinterError) as err:
            printer.status()
        assert err.value.code == escpos.E_TIMEOUT
        sim.mute = False
        # Bytes the printer sent unasked are dropped before the question.
        sim.pair.write(b"\xff\xff")
        assert sim.wait(lambda s: True)
        escpos_host.discard_input(device)
        assert printer.status() == 0
        sim.close()  # the printer is unplugged
        with pytest.raises(escpos.PrinterError) as err:
            printer.line("Участок")
        assert err.value.code == escpos_host.E_LINK
        assert "could not send" in str(err.value)
        with pytest.raises(escpos.PrinterError) as err:
            printer.status()
        assert err.value.code in (escpos_host.E_LINK, escpos.E_TIMEOUT)
    finally:
        port.close()
        device._device = False  # closed by hand: python-escpos's own close would flush


def test_python_escpos_serial_read_is_exact() -> None:
    """A one-byte status answer is read as one byte; what follows stays for the next read."""
    from escpos.printer import Serial

    with PtyPair("exact") as pair:
        device = Serial(devfile=pair.device_path, timeout=2.0)
        device.open()
        try:
            read = escpos_host.from_python_escpos(device)._read  # type: ignore[attr-defined]
            pair.write(b"\x12\x16")
            assert read(1) == b"\x12"
            assert read(1) == b"\x16"
        finally:
            device.close()
