"""``shailoo ballots render`` and ``read`` on files."""

from __future__ import annotations

import json
import re
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from controller.ballots.cli import ballots
from controller.ballots.read import DEFAULT_THRESHOLDS
from controller.ballots.render import render_ballot
from controller.election.load import load_election
from hil.ballot_marking import mark_ballot

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "election.json"


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(ballots, list(args))
    return result.exit_code, result.output


def test_render_every_style_then_read_the_marked_scans(tmp_path: Path) -> None:
    code, out = _run("render", "--election", str(EXAMPLE), "--test", "--dpi", "150", "--out",
                     str(tmp_path))
    assert code == 0, out
    election = load_election(EXAMPLE)
    pngs = sorted(tmp_path.glob("*.png"))
    assert [p.name for p in pngs] == [f"kg-2026-jk-{s}-test.png" for s in sorted(election.styles)]
    choices = {"s-d07": {"party-list": ["p-ala-too"], "smd-07": ["c07-sydykov"]},
               "s-d12": {"party-list": ["against-all"], "smd-12": []}}
    for png in pngs:
        layout = json.loads(png.with_suffix("").with_suffix(".layout.json").read_text())
        assert layout["election_hash"] == election.hash and layout["mode"] == "test"
        with Image.open(png) as image:
            assert image.size == (layout["width_px"], layout["height_px"])
            mark_ballot(image, layout, choices[layout["style"]]).save(png, dpi=(150, 150))
    code, out = _run("read", *map(str, pngs), "--election", str(EXAMPLE), "--test", "--json")
    assert code == 0, out
    records = [json.loads(line) for line in out.splitlines()]
    assert [r["file"] for r in records] == [str(p) for p in pngs]
    for record in records:
        assert record["status"] == "accepted"
        assert record["votes"] == choices[record["style"]]
        assert record["thresholds"] == DEFAULT_THRESHOLDS
        # The PNG states its dpi: the scale was checked against it.
        assert record["registration"]["scale"] == pytest.approx(1.0, abs=0.01)
        assert {m["class"] for m in record["marks"]} <= {"marked", "unmarked"}
    code, out = _run("read", *map(str, pngs), "--election", str(EXAMPLE))
    assert code == 0 and out.count("rejected (test_ballot)") == 2


def test_render_one_style_for_a_station_as_pdf(tmp_path: Path) -> None:
    code, out = _run("render", "--election", str(EXAMPLE), "--style", "s-d12", "--station",
                     "st-0042", "--format", "pdf", "--paper", "letter", "--out", str(tmp_path))
    assert code == 0, out
    pdf = tmp_path / "kg-2026-jk-s-d12-st-0042-official.pdf"
    assert out.strip() == str(pdf)
    assert pdf.read_bytes().startswith(b"%PDF")
    assert b"/MediaBox [0 0 612.00 792.00]" in pdf.read_bytes()  # letter, in points
    # A layout record goes with a PNG, whose pixels it names; a PDF has none.
    assert list(tmp_path.iterdir()) == [pdf]


def test_render_refuses_unknown_style_and_broken_election(tmp_path: Path) -> None:
    code, out = _run("render", "--election", str(EXAMPLE), "--style", "s-x", "--out",
                     str(tmp_path))
    assert code == 1 and "no ballot style s-x" in out
    broken = tmp_path / "broken.json"
    broken.write_text('{"id": "x"}')
    code, out = _run("render", "--election", str(broken), "--out", str(tmp_path))
    assert code == 1 and "missing 'contests'" in out


def test_read_reports_files_that_are_not_images(tmp_path: Path) -> None:
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"\x89PNG\r\n\x1a\n broken")
    tiny = tmp_path / "tiny.png"
    Image.fromarray(np.full((20, 20), 255, dtype=np.uint8)).save(tiny)
    noise = tmp_path / "noise.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (1754, 1240), dtype=np.uint8)
                    ).save(noise)
    code, out = _run("read", str(junk), str(tiny), str(noise), "--election", str(EXAMPLE),
                     "--json")
    assert code == 1
    records = [json.loads(line) for line in out.splitlines()]
    assert records[0]["status"] == "error" and "not an image" in records[0]["error"]
    assert records[1]["status"] == "error" and "too small" in records[1]["error"]
    assert (records[2]["status"], records[2]["reason"]) == ("rejected", "unreadable_code")


def test_read_refuses_bad_thresholds(tmp_path: Path) -> None:
    page = tmp_path / "page.png"
    Image.fromarray(np.full((1754, 1240), 255, dtype=np.uint8)).save(page)
    code, out = _run("read", str(page), "--election", str(EXAMPLE), "--marked", "0.02",
                     "--marginal", "0.05")
    assert code == 1 and "marginal threshold must not be above" in out


@pytest.fixture(scope="module")
def marked_sheet(tmp_path_factory) -> tuple[Image.Image, dict]:
    """A marked official ballot of s-d07 at 150 dpi and the choices on it."""
    election = load_election(EXAMPLE)
    image, layout = render_ballot(election, "s-d07", dpi=150, mode="official")
    choices = {"party-list": ["p-kok-asman"], "smd-07": ["c07-jumabaeva"]}
    return mark_ballot(image, layout, choices, seed=3), choices


@pytest.mark.parametrize(
    ("suffix", "save"),
    [
        (".png", lambda im, p: im.save(p, dpi=(150, 150))),
        (".jpg", lambda im, p: im.save(p, quality=80, dpi=(150, 150))),
        (".tif", lambda im, p: im.save(p, compression="tiff_lzw", dpi=(150, 150))),
        (".pgm", lambda im, p: im.save(p)),
        (".pbm", lambda im, p: im.point(lambda v: 255 if v > 128 else 0).convert("1").save(p)),
        (".ppm", lambda im, p: im.convert("RGB").save(p)),
        (".png", lambda im, p: im.convert("P").save(p)),
        (".png", lambda im, p: Image.fromarray(np.array(im).astype(np.uint16) * 257).save(p)),
    ],
    ids=["png", "jpeg", "tiff", "pgm", "pbm", "ppm", "palette png", "16-bit png"],
)
def test_read_every_image_format(tmp_path, marked_sheet, suffix, save) -> None:
    image, choices = marked_sheet
    path = tmp_path / f"scan{suffix}"
    save(image, path)
    code, out = _run("read", str(path), "--election", str(EXAMPLE), "--json")
    assert code == 0, out
    record = json.loads(out)
    assert record["status"] == "accepted", record
    assert record["votes"] == choices


def test_read_a_colour_scan_with_a_red_pen(tmp_path, marked_sheet) -> None:
    image, choices = marked_sheet
    rgb = np.stack([np.array(image)] * 3, axis=2)
    ink = rgb[:, :, 0] < 128
    rgb[ink] = (200, 30, 30)  # everything dark, marks included, printed in red
    path = tmp_path / "red.png"
    Image.fromarray(rgb).save(path)
    code, out = _run("read", str(path), "--election", str(EXAMPLE), "--json")
    assert code == 0 and json.loads(out)["votes"] == choices


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(
        ">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _bomb(path: Path, width: int = 30000, height: int = 30000) -> None:
    """A valid-looking PNG that declares ``width`` x ``height`` pixels in a few bytes."""
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    data = zlib.compress(b"\0" * 64)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", data)
                     + _chunk(b"IEND", b""))


def _truncated(path: Path, sheet: Image.Image) -> None:
    sheet.save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p, s: p.write_bytes(b"\x89PNG\r\n\x1a\n broken"), "not an image"),
        (lambda p, s: p.write_bytes(b""), "not an image"),
        (lambda p, s: p.write_bytes(b"GIF89a" + bytes(range(256)) * 8), "damaged|not an image"),
        (_truncated, "damaged or truncated"),
        (lambda p, s: _bomb(p), "too large"),
        (lambda p, s: _bomb(p, 9000, 9000), "too large"),
        (lambda p, s: Image.fromarray(np.zeros((1754, 1240), dtype=np.float32)).save(
            p.with_suffix(".tif")) or p.with_suffix(".tif").rename(p), "mode 'F'"),
        (lambda p, s: s.save(p, format="TIFF", save_all=True, append_images=[s]), "2 pages"),
        (lambda p, s: Image.fromarray(np.full((40, 30), 255, dtype=np.uint8)).save(p),
         "too small"),
        (lambda p, s: Image.fromarray(np.full((3000, 600), 255, dtype=np.uint8)).save(p),
         "shape of a ballot sheet"),
        (lambda p, s: p.mkdir(), "a folder"),
    ],
    ids=["broken", "empty", "junk gif", "truncated", "bomb", "too many pixels", "float",
         "two pages", "tiny", "strip", "folder"],
)
def test_a_bad_file_gets_a_clear_error_and_the_others_are_read(
    tmp_path, marked_sheet, make, message
) -> None:
    image, choices = marked_sheet
    good = tmp_path / "good.png"
    image.save(good)
    bad = tmp_path / "bad.png"
    make(bad, image)
    code, out = _run("read", str(bad), str(good), "--election", str(EXAMPLE), "--json")
    assert code == 1, out
    first, second = (json.loads(line) for line in out.splitlines())
    assert first["status"] == "error" and first["file"] == str(bad)
    assert re.search(message, first["error"]), first["error"]
    assert second["status"] == "accepted" and second["votes"] == choices


def test_read_a_missing_file(tmp_path) -> None:
    code, out = _run("read", str(tmp_path / "nope.png"), "--election", str(EXAMPLE), "--json")
    assert code == 1 and json.loads(out)["error"] == "no such file"


def test_read_reports_wrong_scale_from_the_stated_dpi(tmp_path, marked_sheet) -> None:
    image, _ = marked_sheet
    path = tmp_path / "shrunk.png"
    small = image.resize((round(image.width * 0.94), round(image.height * 0.94)))
    page = Image.new("L", image.size, 255)
    page.paste(small, (30, 40))
    page.save(path, dpi=(150, 150))
    code, out = _run("read", str(path), "--election", str(EXAMPLE), "--json")
    record = json.loads(out)
    assert code == 0 and (record["status"], record["reason"]) == ("rejected", "wrong_scale")
    # Told the scanner's dpi outright, the same: 0.94 of 150 dpi is not 150 dpi.
    code, out = _run("read", str(path), "--election", str(EXAMPLE), "--dpi", "150", "--json")
    assert json.loads(out)["reason"] == "wrong_scale"


def test_read_in_test_mode_and_at_a_station(tmp_path, marked_sheet) -> None:
    image, _ = marked_sheet
    path = tmp_path / "scan.png"
    image.save(path)
    code, out = _run("read", str(path), "--election", str(EXAMPLE), "--test")
    assert code == 0 and "rejected (official_ballot)" in out
    code, out = _run("read", str(path), "--election", str(EXAMPLE), "--official",
                     "--station", "st-0001", "--marked", "0.3", "--marginal", "0.1", "--json")
    record = json.loads(out)
    assert record["status"] == "accepted"
    assert record["thresholds"] == {**DEFAULT_THRESHOLDS, "marked": 0.3, "marginal": 0.1}


NIST_EXAMPLE = EXAMPLE.with_name("election.nist.json")


def test_render_every_option_as_png(tmp_path: Path) -> None:
    out = tmp_path / "out"
    code, text = _run("render", "--election", str(EXAMPLE), "--style", "s-d12", "--style",
                      "s-d07", "--style", "s-d12", "--station", "st-0042", "--dpi", "120",
                      "--paper", "letter", "--format", "png", "--test", "--out", str(out))
    assert code == 0, text
    names = ["kg-2026-jk-s-d12-st-0042-test", "kg-2026-jk-s-d07-st-0042-test"]
    assert text.split() == [str(out / f"{n}.png") for n in names]  # each style once, in order
    election = load_election(EXAMPLE)
    for name in names:
        layout = json.loads((out / f"{name}.layout.json").read_text(encoding="utf-8"))
        assert {"dpi", "width_px", "height_px", "election_hash", "style", "targets"} <= set(layout)
        assert (layout["dpi"], layout["paper"], layout["mode"], layout["station"]) == (
            120, "letter", "test", "st-0042")
        assert (layout["width_px"], layout["height_px"]) == (1020, 1320)  # 8.5 x 11 in
        with Image.open(out / f"{name}.png") as png:
            assert png.size == (1020, 1320) and round(png.info["dpi"][0]) == 120
            gray = np.array(png.convert("L"))
        for t in layout["targets"]:  # the record's boxes are the printed ovals
            box = gray[t["y"]:t["y"] + t["h"], t["x"]:t["x"] + t["w"]]
            assert (box[t["h"] // 2, :3] < 128).any() and box[t["h"] // 2, t["w"] // 2] == 255
        read = _run("read", str(out / f"{name}.png"), "--election", str(EXAMPLE), "--test",
                    "--station", "st-0042", "--json")
        record = json.loads(read[1])
        assert (record["status"], record["style"]) == ("accepted", layout["style"])
        assert layout["election_hash"] == election.hash
        other = json.loads(_run("read", str(out / f"{name}.png"), "--election", str(EXAMPLE),
                                "--test", "--station", "st-0007", "--json")[1])
        assert (other["status"], other["reason"]) == ("rejected", "other_station")


def test_render_for_a_station_prints_the_styles_it_issues(tmp_path: Path) -> None:
    code, text = _run("render", "--election", str(NIST_EXAMPLE), "--station", "ps-1207",
                      "--dpi", "100", "--out", str(tmp_path / "home"))
    assert code == 0, text
    assert [Path(p).name for p in text.split()] == ["kg-2026-parl-s-d07-ps-1207-official.png"]
    code, text = _run("render", "--election", str(NIST_EXAMPLE), "--station", "ps-5101",
                      "--dpi", "100", "--out", str(tmp_path / "abroad"))
    assert code == 0 and len(text.split()) == 3  # the station abroad issues every style
    code, text = _run("render", "--election", str(NIST_EXAMPLE), "--station", "ps-1207",
                      "--style", "s-d03", "--out", str(tmp_path / "x"))
    assert code == 1 and "station ps-1207 does not issue ballot style s-d03" in text
    code, text = _run("render", "--election", str(NIST_EXAMPLE), "--station", "ps-9999",
                      "--out", str(tmp_path / "x"))
    assert code == 1 and "names no polling station ps-9999" in text
    code, text = _run("render", "--election", str(EXAMPLE), "--station", "../etc",
                      "--out", str(tmp_path / "x"))
    assert code == 1 and "is not a station id" in text
    assert not list(tmp_path.rglob("*etc*"))  # nothing written outside the folder
