"""The results protocol on a thermal printer: the simulated printer on a real pty.

The printer is ``hil.peripherals.printer`` on a pseudo-terminal; the station reaches it
through python-escpos's ``Serial`` (pyserial), as it reaches a printer on
``/dev/ttyUSB0``. What the simulator draws is compared with a reference drawn here
from the same lines with the same font, rule by rule as a printer draws: printer text
in the regular or bold face, lines with ң ө ү as the rasteriser's images, the QR
code as its dots. A difference of one pixel fails.
"""

from __future__ import annotations

import json
import math
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import serial
import zxingcpp
from PIL import Image, ImageChops, ImageDraw, ImageFont

from controller.election.load import load_election
from controller.polls.state import PollsError
from controller.printing.config import PrintConfigError, load_settings, parse_settings
from controller.printing.device import open_printer
from controller.printing.job import FEED_BEFORE_CUT, PrintFailed, print_protocol
from controller.printing.protocol_layout import (
    LayoutError,
    Paper,
    Section,
    printable,
    protocol_sections,
    results_sha256,
)
from controller.station.app import Station
from drivers import escpos, escpos_host
from hil.peripherals.printer import Printer as SimPrinter
from tests.conftest import ROOT
from tests.controller.helpers import DeviceKey, make_voters, station_id, write_station

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
FONT_BOLD = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"
LINE, TOP, SIZE = 28, 2, 22
TIMEOUT = 0.5


@pytest.fixture(scope="module")
def election() -> Any:
    return load_election(ROOT / "examples" / "election.json")


@pytest.fixture(scope="module")
def results(election: Any) -> dict[str, Any]:
    contests = {
        c.id: {
            "options": {o.id: 3 * i + 1 for i, o in enumerate(c.options)},
            "undervotes": 2,
            "overvotes": 1,
            "blank": 4,
        }
        for c in election.contests
    }
    return {
        "station": "s-0417",
        "election": election.id,
        "election_hash": election.hash,
        "mode": "test",
        "closed_at": "2026-11-29T20:00:05Z",
        "ballots_issued": 130,
        "ballots_cast": 128,
        "contests": contests,
        "checks": {"polls_closed": True, "issued_ge_cast": True, "audit_chain_intact": False},
        "scanner_counters": {"scan-1": 128},
    }


@pytest.fixture
def sim() -> Iterator[SimPrinter]:
    printer = SimPrinter("protocol")
    yield printer
    printer.close()


def settings_for(sim: SimPrinter, **extra: Any) -> Any:
    paper = "80mm" if sim.paper_dots == escpos_host.PAPER_80MM else "58mm"
    doc = {"printer": f"serial:{sim.device_path}", "paper": paper, "timeout": TIMEOUT}
    return parse_settings({**doc, **extra})


# -- the reference: how a printer draws these lines ----------------------------------------------


def text_image(text: str, bold: bool, size: int) -> Image.Image:
    font = ImageFont.truetype(FONT_BOLD if bold else FONT, SIZE)
    width = max(1, math.ceil(font.getlength(text)))
    img = Image.new("L", (width, LINE), 255)
    ImageDraw.Draw(img).text((0, TOP), text, font=font, fill=0)
    img = img.resize((width * size, LINE * size), Image.NEAREST)
    return img.point(lambda v: 0 if v < 128 else 255, mode="1")


def bitmap(width_bytes: int, height: int, data: bytes) -> Image.Image:
    return Image.frombytes("1", (width_bytes * 8, height), bytes(b ^ 0xFF for b in data))


def reference(copies: list[list[Section]], dots: int) -> Image.Image:
    strips: list[tuple[int, int, Image.Image]] = []
    y = 0
    for sections in copies:
        for section in sections:
            for line in section.lines:
                if line.image is not None:
                    img = bitmap(*line.image)
                elif not line.text:
                    y += LINE * line.size
                    continue
                elif escpos.encodable(line.text):
                    img = text_image(line.text, line.bold, line.size)
                else:
                    img = escpos_host.render_line(line.text, line.bold, line.size, line.size, dots)
                x = {escpos.LEFT: 0, escpos.CENTER: (dots - img.width) // 2}[line.align]
                strips.append((x, y, img))
                y += img.height
        y += FEED_BEFORE_CUT * LINE
    page = Image.new("1", (dots, y), 1)
    for x, top, img in strips:
        page.paste(img, (x, top))
    return page


def differing(a: Image.Image, b: Image.Image) -> int:
    """Pixels that differ; -1 when the sizes do."""
    if a.size != b.size:
        return -1
    return black(ImageChops.logical_xor(a.convert("1"), b.convert("1")).point(lambda v: 255 - v))


def black(img: Image.Image) -> int:
    return img.convert("L").histogram()[0]


def layouts(
    results: dict[str, Any], election: Any, settings: Any, when: str, seal: str | None = None
) -> list:
    count = settings.copies
    return [
        protocol_sections(results, election, settings, n, count, when, seal)
        for n in range(1, count + 1)
    ]


# -- printing whole protocols ---------------------------------------------------------------------


@pytest.mark.parametrize("paper", [escpos.PAPER_DOTS, escpos_host.PAPER_80MM], ids=["58mm", "80mm"])
@pytest.mark.parametrize("language", ["ky", "ru"])
def test_protocol_prints_like_the_reference(
    election: Any, results: dict[str, Any], tmp_path: Path, paper: int, language: str
) -> None:
    sim = SimPrinter("protocol", paper_dots=paper)
    try:
        settings = settings_for(sim, language=language)
        done = print_protocol(settings, results, election)
        assert sim.wait(lambda s: s.cuts == 1)
        png = sim.save(tmp_path / f"protocol-{language}-{paper}.png")
    finally:
        sim.close()
    assert done.checked and done.copies == 1 and done.sha256 == results_sha256(results)
    expected = layouts(results, election, settings, done.printed_at)
    ref = reference(expected, paper)
    ref.save(tmp_path / "reference.png")
    paper_img = Image.open(png)
    assert paper_img.size == ref.size
    assert differing(paper_img, ref) == 0
    assert sim.unknown == [] and sim.dropped == 0
    # Russian lines travel as CP866 text, lines with Kyrgyz letters as raster images.
    lines = [line for sections in expected for s in sections for line in s.lines]
    texts = [ln.text for ln in lines if ln.image is None and escpos.encodable(ln.text)]
    assert sim.text_lines == texts
    kyrgyz = [ln for ln in lines if ln.image is None and not escpos.encodable(ln.text)]
    assert len(sim.rasters) == len(kyrgyz) + 1  # and the QR code
    if language == "ky":
        assert any(set("ңөүҢӨҮ") & set(ln.text) for ln in kyrgyz)
    # The QR code on the paper carries the protocol's hash.
    found = zxingcpp.read_barcodes(paper_img.convert("L"))
    assert [b.text for b in found] == [f"sha256:{results_sha256(results)}"]
    # Every count is on the paper.
    option = election.contests[0].options[1]
    name = option.names[language]
    row = next(ln.text for ln in lines if ln.text.startswith(name))
    assert row.endswith(" 4")


def test_kyrgyz_letters_are_on_the_paper(
    sim: SimPrinter, election: Any, results: dict[str, Any]
) -> None:
    settings = settings_for(sim, language="ky")
    done = print_protocol(settings, results, election)
    assert sim.wait(lambda s: s.cuts == 1)
    lines = [ln for s in layouts(results, election, settings, done.printed_at)[0] for ln in s.lines]
    rastered = [ln for ln in lines if ln.image is None and not escpos.encodable(ln.text)]
    assert len(sim.rasters) == len(rastered) + 1  # and the QR code
    paper = sim.paper()
    for letter in "ңүөҮӨ":
        at = next(i for i, line in enumerate(rastered) if letter in line.text)
        line = rastered[at]
        x, y, w, h = sim.rasters[at]
        strip = paper.crop((x, y, x + w, y + h))
        drawn = escpos_host.render_line(line.text, line.bold, line.size, line.size, paper.width)
        assert strip.tobytes() == drawn.tobytes()
        font = ImageFont.truetype(FONT_BOLD if line.bold else FONT, SIZE)
        left = math.floor(font.getlength(line.text[: line.text.index(letter)])) * line.size
        right = math.ceil(font.getlength(line.text[: line.text.index(letter) + 1])) * line.size
        glyph = strip.crop((left, 0, right, h))
        assert black(glyph) > 20, f"{letter} is blank in {line.text!r}"


def test_copies_are_numbered_and_whole(
    sim: SimPrinter, election: Any, results: dict[str, Any]
) -> None:
    settings = settings_for(sim, copies=2, language="en")
    done = print_protocol(settings, results, election)
    assert sim.wait(lambda s: s.cuts == 2)
    assert done.copies == 2
    assert "Copy 1 of 2" in sim.text_lines and "Copy 2 of 2" in sim.text_lines
    expected = layouts(results, election, settings, done.printed_at)
    assert differing(sim.paper(), reference(expected, sim.paper_dots)) == 0


def test_commission_members_each_get_a_signature_line(
    sim: SimPrinter, election: Any, results: dict[str, Any]
) -> None:
    members = [
        {"role": "chair", "name": "Асанова Гүлнара"},
        {"role": "secretary", "name": "Petrov Ivan"},
        {"role": "member", "name": ""},
    ]
    settings = settings_for(sim, language="ru", commission=members)
    print_protocol(settings, results, election)
    assert sim.wait(lambda s: s.cuts == 1)
    signatures = [t for t in sim.text_lines if t.startswith("Подпись:")]
    assert len(signatures) == 3 and all(t.endswith("____") for t in signatures)
    assert "Секретарь: Petrov Ivan" in sim.text_lines
    assert any(t.startswith("Член комиссии: ____") for t in sim.text_lines)
    # The chair's name has a Kyrgyz letter: it went out as an image.
    assert "Председатель: Асанова Гүлнара" not in sim.text_lines


# -- faults -------------------------------------------------------------------------------------


def test_paper_out_prints_nothing_and_the_reprint_is_whole(
    sim: SimPrinter, election: Any, results: dict[str, Any]
) -> None:
    settings = settings_for(sim, language="en")
    sim.paper_out = True
    with pytest.raises(PrintFailed) as err:
        print_protocol(settings, results, election)
    assert err.value.code == escpos.E_PAPER_OUT and err.value.state == "paper-out"
    assert err.value.done == 0
    assert "nothing was printed" in str(err.value) and "load paper" in str(err.value)
    # Only status requests reached the printer: nothing was sent into the void.
    assert sim.received == 3 * len(sim.status_requests) and sim.dropped == 0
    sim.paper_out = False
    done = print_protocol(settings, results, election)
    assert sim.wait(lambda s: s.cuts == 1)
    expected = layouts(results, election, settings, done.printed_at)
    assert differing(sim.paper(), reference(expected, sim.paper_dots)) == 0


def test_cover_opened_mid_print_is_reported_and_the_reprint_is_whole(
    sim: SimPrinter, election: Any, results: dict[str, Any]
) -> None:
    settings = settings_for(sim, language="en")
    sim.fault_after(12, "cover_open")
    with pytest.raises(PrintFailed) as err:
        print_protocol(settings, results, election)
    failure = err.value
    assert failure.code == escpos.E_COVER_OPEN and failure.state == "cover-open"
    assert 0 < failure.done < failure.total
    assert f"stopped after part {failure.done} of {failure.total}" in str(failure)
    assert "close the printer cover" in str(failure)
    assert sim.dropped > 0 and sim.cuts == 0
    partial = sim.paper()
    sim.cover_open = False
    done = print_protocol(settings, results, election)
    assert sim.wait(lambda s: s.cuts == 1)
    expected = reference(layouts(results, election, settings, done.printed_at), 384)
    page = sim.paper()
    assert page.height == partial.height + expected.height
    assert differing(page.crop((0, partial.height, 384, page.height)), expected) == 0


def test_silent_printer_times_out_with_a_clear_error(
    sim: SimPrinter, election: Any, results: dict[str, Any]
) -> None:
    sim.mute = True
    with pytest.raises(PrintFailed) as err:
        print_protocol(settings_for(sim, timeout=0.2), results, election)
    assert err.value.code == escpos.E_TIMEOUT and err.value.state == "no-answer"
    assert "did not answer" in str(err.value) and "nothing was printed" in str(err.value)
    assert sim.printed == 0


def test_babbling_printer_gives_a_clear_error(
    sim: SimPrinter, election: Any, results: dict[str, Any]
) -> None:
    sim.babble = b"\xff\xfe\x00garbage" * 20
    with pytest.raises(PrintFailed) as err:
        print_protocol(settings_for(sim), results, election)
    assert err.value.code == escpos.E_BAD_STATUS and err.value.state == "bad-answer"
    assert "malformed status byte 0xFF" in str(err.value) and "baud rate" in str(err.value)
    assert sim.printed == 0


def test_stale_bytes_are_not_taken_for_the_answer(
    sim: SimPrinter, election: Any, results: dict[str, Any]
) -> None:
    settings = settings_for(sim)
    with open_printer(settings) as link:
        sim.pair.write(b"\xff\x00\xff")  # sent unasked, before the question
        assert sim.wait(lambda s: True)
        assert link.status() == 0


def test_a_printer_that_is_not_there() -> None:
    for spec in ("serial:/dev/shailoo-no-such-port", "usb:ffff:fffe", "tcp:127.0.0.1:1"):
        settings = parse_settings({"printer": spec, "timeout": TIMEOUT})
        with pytest.raises(escpos.PrinterError) as err:
            open_printer(settings)
        assert err.value.code == escpos_host.E_LINK
        assert f"cannot open printer {settings.target}" in str(err.value)


def test_write_only_file_target_holds_the_same_protocol(
    tmp_path: Path, sim: SimPrinter, election: Any, results: dict[str, Any]
) -> None:
    out = tmp_path / "lp0"
    settings = parse_settings({"printer": f"file:{out}", "language": "ru"})
    done = print_protocol(settings, results, election)
    assert not done.checked and done.warnings == []
    # The bytes in the file, fed to a printer, draw the protocol.
    link = serial.Serial(sim.device_path, timeout=1)
    try:
        link.write(out.read_bytes())
        assert sim.wait(lambda s: s.cuts == 1)
    finally:
        link.close()
    expected = layouts(results, election, settings, done.printed_at)
    assert differing(sim.paper(), reference(expected, sim.paper_dots)) == 0


def test_network_printer_through_python_escpos(
    sim: SimPrinter, election: Any, results: dict[str, Any]
) -> None:
    """A raw TCP port (9100-style) in front of the simulator."""
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    uart = serial.Serial(sim.device_path, timeout=0.05)

    def bridge() -> None:
        conn, _ = server.accept()
        conn.settimeout(0.05)
        with conn:
            while True:
                try:
                    data = conn.recv(65536)
                    if not data:
                        return
                    uart.write(data)
                except TimeoutError:
                    pass
                back = uart.read(64)
                if back:
                    conn.sendall(back)

    thread = threading.Thread(target=bridge, daemon=True)
    thread.start()
    try:
        settings = parse_settings({"printer": f"tcp:127.0.0.1:{port}", "timeout": 2.0})
        done = print_protocol(settings, results, election)
        assert done.checked
        assert sim.wait(lambda s: s.cuts == 1)
    finally:
        thread.join(5)
        uart.close()
        server.close()
    expected = layouts(results, election, settings, done.printed_at)
    assert differing(sim.paper(), reference(expected, sim.paper_dots)) == 0


# -- layout ---------------------------------------------------------------------------------------


def test_every_line_fits_the_paper(election: Any, results: dict[str, Any]) -> None:
    for paper in ("58mm", "80mm"):
        for language in ("ky", "ru", "en"):
            settings = parse_settings({"printer": "file:/x", "paper": paper, "language": language})
            fit = Paper(settings.paper_dots)
            for section in protocol_sections(results, election, settings):
                for line in section.lines:
                    if line.image is None:
                        assert fit.fits(line.text, line.bold, line.size), (paper, line.text)
                    else:
                        assert line.image[0] * 8 <= settings.paper_dots


def test_forged_texts_cannot_command_the_printer(
    sim: SimPrinter, election: Any, results: dict[str, Any]
) -> None:
    forged = json.loads(json.dumps(results))
    forged["station"] = "s-1\x1bi\x1dV\x00"
    forged["contests"]["party-list"]["options"]["x\x10\x04\x01\x1b@"] = 5
    forged["checks"]["\x1b\x21\x30huge"] = True
    print_protocol(settings_for(sim, language="en"), forged, election)
    assert sim.wait(lambda s: s.cuts == 1)
    assert sim.unknown == [] and sim.codepages == [escpos.CP866]
    # Only the status requests of the checks: the forged DLE EOT went out as "?".
    assert sim.status_requests == [1, 2, 4] * (len(sim.status_requests) // 3)
    assert any(t.startswith("x????@ ") for t in sim.text_lines)
    assert any(t.endswith(" s-1?i?V?") for t in sim.text_lines)
    assert printable("a\x1bb\nc") == "a?b?c"


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda r: r.pop("contests"), "'contests' is missing"),
        (lambda r: r.update(ballots_cast=-1), "ballots_cast must be a count"),
        (lambda r: r.update(ballots_issued=True), "ballots_issued must be a count"),
        (lambda r: r["contests"].update(x=[1, 2]), "contest 'x' has no option counts"),
        (lambda r: r["contests"]["party-list"]["options"].update(a="7"), "must be a count"),
        (lambda r: r.update(scanner_counters=[1]), "'scanner_counters' must be an object"),
        (lambda r: r.update(station=None), "'station' is missing"),
    ],
)
def test_malformed_results_give_a_clear_error(
    election: Any, results: dict[str, Any], change: Any, words: str
) -> None:
    broken = json.loads(json.dumps(results))
    change(broken)
    with pytest.raises(LayoutError, match=words.replace("(", r"\(")):
        protocol_sections(broken, election, parse_settings("file:/x"))


def test_huge_results_still_fit(election: Any, results: dict[str, Any]) -> None:
    big = json.loads(json.dumps(results))
    big["ballots_cast"] = 10**30
    big["contests"]["party-list"]["options"]["p-ala-too"] = 10**12
    big["station"] = "s" * 500
    settings = parse_settings({"printer": "file:/x"})
    fit = Paper(settings.paper_dots)
    for section in protocol_sections(big, election, settings):
        for line in section.lines:
            assert line.image is not None or fit.fits(line.text, line.bold, line.size)


# -- settings -------------------------------------------------------------------------------------


def test_settings_forms() -> None:
    full = parse_settings(
        {
            "printer": "serial:/dev/ttyUSB0:19200",
            "paper": 80,
            "language": "en",
            "copies": 2,
            "timeout": 1,
            "qr": False,
            "commission": [{"role": "chair", "name": " Асель "}],
        }
    )
    assert (full.target.kind, full.target.path, full.target.number) == (
        "serial",
        "/dev/ttyUSB0",
        19200,
    )
    assert (full.paper_dots, full.paper_mm, full.copies, full.qr) == (576, 80, 2, False)
    assert full.commission[0].name == "Асель" and full.signers == full.commission
    assert parse_settings("usb:04b8:0E15").target.__str__() == "usb:04b8:0e15"
    assert str(parse_settings("serial:/dev/ttyACM0").target) == "serial:/dev/ttyACM0:9600"
    assert str(parse_settings("tcp:printer.local").target) == "tcp:printer.local:9100"
    assert not parse_settings("file:/dev/usb/lp0").target.can_read
    blank = parse_settings("usb:1:2").signers
    assert [m.role for m in blank[:3]] == ["chair", "deputy", "secretary"] and len(blank) == 7


@pytest.mark.parametrize(
    ("doc", "words"),
    [
        ("usb:04b8", "write usb:VID:PID"),
        ("usb:04b8:zz", "PID must be 1 to 4 hex digits"),
        ("usb:12345:1", "VID must be 1 to 4 hex digits"),
        ("serial:ttyUSB0", "write serial:/dev/ttyUSB0"),
        ("serial:/dev/ttyUSB0:12345", "baud rate 12345 is not one of"),
        ("tcp:host:99999", "port must be 1..65535"),
        ("tcp:", "write tcp:HOST"),
        ("file:relative", "file:/absolute/path"),
        ("lpt:1", "must be usb:, serial:, tcp: or file:"),
        ("serial:/dev/tty\x1b[2J", "printable"),
        ("x" * 600, "at most 512"),
        ({"printer": 5}, "printer must be a string"),
        ({"printer": "usb:1:2", "paper": "A4"}, "paper must be '58mm' or '80mm'"),
        ({"printer": "usb:1:2", "language": "de"}, "language must be one of ky, ru, en"),
        ({"printer": "usb:1:2", "copies": 0}, "copies must be 1..5"),
        ({"printer": "usb:1:2", "copies": True}, "copies must be a whole number"),
        ({"printer": "usb:1:2", "timeout": 600}, "timeout must be 0.1..30 seconds"),
        ({"printer": "usb:1:2", "qr": "yes"}, "qr must be true or false"),
        ({"printer": "usb:1:2", "colour": 1}, "unknown field(s) colour"),
        ({"printer": "usb:1:2", "commission": {}}, "commission must be a list"),
        ({"printer": "usb:1:2", "commission": [{"role": "king"}]}, "role must be one of"),
        ({"printer": "usb:1:2", "commission": [{"role": "chair", "x": 1}]}, "unknown field"),
        ({"printer": "usb:1:2", "commission": [{"role": "chair", "name": "A\x1bi"}]}, "control"),
        ({"printer": "usb:1:2", "commission": [{"role": "member", "name": "A" * 101}]}, "longer"),
        ({"printer": "usb:1:2", "commission": [{"role": "member"}] * 31}, "more than 30"),
        ([1, 2], "expected a JSON object"),
    ],
)
def test_bad_settings_name_the_problem(doc: Any, words: str) -> None:
    with pytest.raises(PrintConfigError) as err:
        parse_settings(doc)
    assert words in str(err.value)


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"{not json", "not valid JSON"),
        (b'{"printer": "usb:1:2"', "not valid JSON"),
        (b"\xff\xfe{}", "not UTF-8"),
        (b"[" * 50_000 + b"]" * 50_000, "larger than"),
        (b"[" * 30_000 + b"]" * 30_000, "nested too deeply"),
        (b'{"printer": "usb:1:2", "printer": "usb:3:4"}', "appears twice"),
        (b"null", "expected a JSON object"),
    ],
)
def test_broken_settings_files(tmp_path: Path, content: bytes, words: str) -> None:
    path = tmp_path / "print.json"
    path.write_bytes(content)
    with pytest.raises(PrintConfigError) as err:
        load_settings(path)
    assert words in str(err.value) and str(path) in str(err.value)


def test_settings_file_and_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "print.json"
    path.write_text(json.dumps({"printer": "usb:04b8:0e15", "paper": "80mm"}))
    assert load_settings(path).paper_dots == 576
    with pytest.raises(PrintConfigError, match="cannot read print settings"):
        load_settings(tmp_path / "missing.json")


# -- the station ----------------------------------------------------------------------------------


@pytest.fixture
def station_files(tmp_path: Path) -> tuple[Path, Path]:
    sid = station_id("pr")
    setup = write_station(
        tmp_path / sid, sid, [DeviceKey("scan-1", "scanner")], make_voters(3), "test", "open"
    )
    return setup, tmp_path / sid / "data"


def audit_entries(station: Station, kind: str) -> list[dict[str, Any]]:
    assert station.store is not None
    with station.store.read() as conn:
        rows = conn.execute("SELECT detail FROM audit WHERE kind = ? ORDER BY id", (kind,))
        return [json.loads(r[0]) for r in rows]


def test_station_prints_on_close_and_reprints(
    station_files: tuple[Path, Path], sim: SimPrinter
) -> None:
    setup, data = station_files
    station = Station(setup, data, printer=settings_for(sim, language="en"))
    station.start(http=False, mqtt=False)
    try:
        assert station.printer_status()["state"] == "ready"
        results = station.close_polls()
        job = station.printer.last_job  # type: ignore[union-attr]
        assert job is not None and job.wait(20)
        assert job.state == "printed", job.error
        assert sim.wait(lambda s: s.cuts == 1)
        closed = audit_entries(station, "polls.closed")[0]
        assert job.sha256 == results_sha256(results) == closed["results_sha256"]
        printed = audit_entries(station, "results.printed")
        assert printed[0]["results_sha256"] == closed["results_sha256"]
        status = station.status()["printer"]
        assert status["state"] == "ready" and status["job"]["state"] == "printed"
        # Closing again returns the stored results and prints nothing new.
        station.close_polls()
        assert station.printer.last_job is job  # type: ignore[union-attr]
        again = station.print_results(copies=1)
        assert again["id"] == job.id + 1
        assert station.printer.last_job.wait(20)  # type: ignore[union-attr]
        assert sim.wait(lambda s: s.cuts == 2)
        found = zxingcpp.read_barcodes(sim.paper().convert("L"))
        assert {b.text for b in found} == {f"sha256:{closed['results_sha256']}"}
    finally:
        station.stop()


def test_station_reports_paper_out_at_close_and_reprints_whole(
    station_files: tuple[Path, Path], sim: SimPrinter
) -> None:
    setup, data = station_files
    station = Station(setup, data, printer=settings_for(sim, language="en"))
    station.start(http=False, mqtt=False)
    try:
        sim.paper_out = True
        station.close_polls()
        job = station.printer.last_job  # type: ignore[union-attr]
        assert job is not None and job.wait(20)
        assert job.state == "failed" and job.code == escpos.E_PAPER_OUT
        status = station.printer_status(refresh=False)
        assert status["state"] == "paper-out" and "out of paper" in status["message"]
        assert "nothing was printed" in status["job"]["error"]
        failed = audit_entries(station, "results.print_failed")
        assert failed[0]["code"] == escpos.E_PAPER_OUT and failed[0]["sections"] == 0
        assert sim.printed == 0
        sim.paper_out = False
        assert station.printer_status()["state"] == "ready"
        station.print_results()
        assert station.printer.last_job.wait(20)  # type: ignore[union-attr]
        assert station.printer.last_job.state == "printed"  # type: ignore[union-attr]
        assert sim.wait(lambda s: s.cuts == 1)
        settings = settings_for(sim, language="en")
        when = station.printer.last_job.printed_at  # type: ignore[union-attr]
        seal = station.paper_code()  # the closing seal's code, printed under the hash
        assert seal is not None
        expected = layouts(station.results(), station.election, settings, when, seal)
        assert differing(sim.paper(), reference(expected, sim.paper_dots)) == 0
    finally:
        station.stop()


def test_station_without_printer(station_files: tuple[Path, Path]) -> None:
    setup, data = station_files
    station = Station(setup, data).start(http=False, mqtt=False)
    try:
        assert station.printer_status() == {"configured": False}
        assert "printer" not in station.status()
        with pytest.raises(PollsError, match="no printer"):
            station.print_results()
    finally:
        station.stop()


def test_reprint_needs_closed_polls(station_files: tuple[Path, Path], sim: SimPrinter) -> None:
    setup, data = station_files
    station = Station(setup, data, printer=settings_for(sim)).start(http=False, mqtt=False)
    try:
        with pytest.raises(PollsError, match="close the polls first"):
            station.print_results()
        with pytest.raises(PollsError, match="copies must be 1..5") as err:
            station.print_results(copies=9)
        assert err.value.status == 422
        assert sim.printed == 0
    finally:
        station.stop()


# -- the command line -----------------------------------------------------------------------------


def test_cli_status(sim: SimPrinter, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from controller.printing.cli import printer

    spec = f"serial:{sim.device_path}"
    ok = CliRunner().invoke(printer, ["status", spec])
    assert ok.exit_code == 0 and f"{spec}:9600: ready" in ok.output
    sim.cover_open = True
    settings = tmp_path / "print.json"
    settings.write_text(json.dumps({"printer": spec, "timeout": 0.3}))
    open_cover = CliRunner().invoke(printer, ["status", str(settings), "--json"])
    assert open_cover.exit_code == 1
    assert json.loads(open_cover.output)["state"] == "cover-open"
    bad = CliRunner().invoke(printer, ["status", "lpt:1"])
    assert bad.exit_code == 1 and "must be usb:, serial:, tcp: or file:" in bad.output


def test_cli_reprints_a_closed_stations_protocol(
    station_files: tuple[Path, Path], sim: SimPrinter
) -> None:
    from click.testing import CliRunner

    from controller.printing.cli import printer

    setup, data = station_files
    station = Station(setup, data).start(http=False, mqtt=False)
    try:
        args = ["protocol", "--setup", str(setup), "--data", str(data)]
        args += ["--printer", f"serial:{sim.device_path}"]
        still_open = CliRunner().invoke(printer, args)
        assert still_open.exit_code == 1 and "close the polls first" in still_open.output
        results = station.close_polls()
    finally:
        station.stop()
    sim.paper_out = True
    out = CliRunner().invoke(printer, args)
    assert out.exit_code == 1 and "protocol not printed: printer is out of paper" in out.output
    sim.paper_out = False
    done = CliRunner().invoke(printer, [*args, "--copies", "2"])
    assert done.exit_code == 0, done.output
    assert f"SHA-256 {results_sha256(results)}" in done.output
    assert sim.wait(lambda s: s.cuts == 2)
    assert any(results["station"] in t for t in sim.text_lines)
    missing = CliRunner().invoke(printer, [*args[:4], str(setup.parent), *args[5:]])
    assert missing.exit_code == 1 and "no station database" in missing.output


def test_printer_endpoints(station_files: tuple[Path, Path], sim: SimPrinter) -> None:
    from fastapi.testclient import TestClient

    from controller.dashboard.api import create_app
    from tests.controller.helpers import sign_in

    setup, data = station_files
    station = Station(setup, data, printer=settings_for(sim, language="en"))
    station.start(http=False, mqtt=False)
    try:
        client = TestClient(create_app(station))
        sign_in(client, "chair")
        assert client.get("/api/printer").json()["state"] == "ready"
        refused = client.post("/api/results/print")
        assert refused.status_code == 409 and "close the polls" in refused.json()["detail"]
        station.close_polls()
        assert station.printer.last_job.wait(20)  # type: ignore[union-attr]
        sim.paper_out = True
        assert client.get("/api/printer").json()["state"] == "paper-out"
        sim.paper_out = False
        assert client.post("/api/results/print", params={"copies": 0}).status_code == 422
        job = client.post("/api/results/print", params={"copies": 1})
        assert job.status_code == 202 and job.json()["copies"] == 1
        assert station.printer.last_job.wait(20)  # type: ignore[union-attr]
        assert sim.wait(lambda s: s.cuts == 2)
    finally:
        station.stop()
