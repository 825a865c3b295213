"""Reading ballots: render → mark → read gives back the ground truth; foreign and broken
sheets are refused with the right reason."""

from __future__ import annotations

import copy
import dataclasses
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import segno
import zxingcpp
from PIL import Image, ImageDraw

from controller.ballots import read as reader
from controller.ballots.read import (
    DEFAULT_THRESHOLDS,
    REASONS,
    BallotImageError,
    check_image,
    read_ballot,
)
from controller.ballots.render import render_ballot
from controller.election.definition import Election
from controller.election.load import load_election
from hil.ballot_marking import mark_ballot

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "election.json"


@pytest.fixture(scope="module")
def election() -> Election:
    return load_election(EXAMPLE)


@pytest.fixture(scope="module")
def sheets(election: Election) -> dict[tuple[str, str, str | None], tuple[Image.Image, dict]]:
    """Rendered blank sheets by (style, mode, station), rendered once for the module."""
    out = {}
    for style in election.styles:
        for mode in ("test", "official"):
            for station in (None, "st-0042"):
                out[(style, mode, station)] = render_ballot(election, style, 150, mode, station)
    return out


def scan(
    image: Image.Image,
    angle: float = 0.0,
    shift: tuple[int, int] = (0, 0),
    scale: float = 1.0,
    margin: int = 0,
) -> np.ndarray:
    """A scan of ``image``: scaled, rotated about its centre, shifted, on a white bed."""
    w, h = image.size
    sheet = image
    if scale != 1.0:
        sheet = sheet.resize((round(w * scale), round(h * scale)), Image.BILINEAR)
    if angle:
        sheet = sheet.rotate(angle, resample=Image.BILINEAR, fillcolor=255, expand=True)
    bed = Image.new("L", (w + 2 * margin, h + 2 * margin), 255)
    bed.paste(
        sheet,
        ((bed.width - sheet.width) // 2 + shift[0], (bed.height - sheet.height) // 2 + shift[1]),
    )
    return np.array(bed)


def random_choices(election: Election, style: str, rng: random.Random) -> dict[str, list[str]]:
    """What a voter marks: usually valid, sometimes blank, undervoted or overvoted."""
    choices = {}
    for contest in election.style_contests(style):
        ids = [o.id for o in contest.options]
        roll = rng.random()
        if roll < 0.15:
            count = 0
        elif roll < 0.30:
            count = rng.randint(contest.vote_for + 1, len(ids))
        else:
            count = rng.randint(1, contest.vote_for)
        choices[contest.id] = sorted(rng.sample(ids, count))
    return choices


def expected_verdict(election: Election, contest_id: str, chosen: list[str]) -> str:
    contest = election.contest(contest_id)
    if not chosen:
        return "blank"
    if len(chosen) > contest.vote_for:
        return "overvote"
    if contest.against_all and contest.against_all.id in chosen and len(chosen) > 1:
        return "overvote"
    return "undervote" if len(chosen) < contest.vote_for else "ok"


@pytest.mark.parametrize("style", ["s-d07", "s-d12"])
@pytest.mark.parametrize("seed", range(6))
def test_round_trip_gives_back_the_ground_truth(election, sheets, style, seed) -> None:
    rng = random.Random(f"{style}-{seed}")
    mode = "test" if seed % 2 else "official"
    image, layout = sheets[(style, mode, None)]
    choices = random_choices(election, style, rng)
    marked = mark_ballot(image, layout, choices, seed=seed)
    result = read_ballot(np.array(marked), election, mode=mode, station="st-0001")
    assert result["status"] == "accepted", result["detail"]
    assert result["reason"] is None
    assert result["style"] == style
    assert {c: sorted(v) for c, v in result["votes"].items()} == choices
    for contest_id, chosen in choices.items():
        assert result["contests"][contest_id] == expected_verdict(election, contest_id, chosen)
    assert len(result["marks"]) == len(layout["targets"])
    for mark in result["marks"]:
        chosen = mark["option"] in choices[mark["contest"]]
        assert mark["class"] == ("marked" if chosen else "unmarked")
        # Far from the thresholds both ways: a pen mark is clear, an empty oval empty.
        assert (mark["score"] > 0.5) if chosen else (mark["score"] < 0.02)
    assert result["thresholds"] == DEFAULT_THRESHOLDS


def test_blank_ballot_is_accepted_as_blank(election, sheets) -> None:
    image, _ = sheets[("s-d07", "test", None)]
    result = read_ballot(np.array(image), election)
    assert result["status"] == "accepted"
    assert result["votes"] == {"party-list": [], "smd-07": []}
    assert result["contests"] == {"party-list": "blank", "smd-07": "blank"}
    assert {m["class"] for m in result["marks"]} == {"unmarked"}


def test_overvote_and_against_all_with_another_mark(election, sheets) -> None:
    image, layout = sheets[("s-d12", "test", None)]
    choices = {"party-list": ["p-yntymak", "p-el-unu"], "smd-12": ["c12-mamytova", "against-all"]}
    result = read_ballot(np.array(mark_ballot(image, layout, choices)), election)
    assert result["status"] == "accepted"
    assert result["contests"] == {"party-list": "overvote", "smd-12": "overvote"}
    assert sorted(result["votes"]["smd-12"]) == ["against-all", "c12-mamytova"]


def test_against_all_alone_is_a_valid_vote(election, sheets) -> None:
    image, layout = sheets[("s-d12", "official", None)]
    choices = {"party-list": ["against-all"], "smd-12": ["c12-ormonov"]}
    result = read_ballot(np.array(mark_ballot(image, layout, choices)), election, "official")
    assert result["contests"] == {"party-list": "ok", "smd-12": "ok"}
    assert result["votes"] == choices


@pytest.mark.parametrize(
    ("ballot", "reading", "reason"),
    [
        (("test", None), ("official", None), "test_ballot"),
        (("official", None), ("test", None), "official_ballot"),
        (("test", "st-0042"), ("test", "st-0007"), "other_station"),
        (("official", "st-0042"), ("official", "st-0007"), "other_station"),
    ],
)
def test_ballot_for_another_mode_or_station_is_rejected(
    election, sheets, ballot, reading, reason
) -> None:
    image, layout = sheets[("s-d07", ballot[0], ballot[1])]
    marked = mark_ballot(image, layout, {"party-list": ["p-ala-too"]})
    result = read_ballot(np.array(marked), election, mode=reading[0], station=reading[1])
    assert result["status"] == "rejected"
    assert result["reason"] == reason
    assert result["style"] == "s-d07"
    assert result["votes"] == {} and result["marks"] == [] and result["contests"] == {}
    assert reason in REASONS and result["detail"]


def test_station_rules(election, sheets) -> None:
    anywhere, _ = sheets[("s-d07", "test", None)]
    own, _ = sheets[("s-d07", "test", "st-0042")]
    assert read_ballot(np.array(anywhere), election, station="st-0007")["status"] == "accepted"
    assert read_ballot(np.array(own), election, station="st-0042")["status"] == "accepted"
    assert read_ballot(np.array(own), election, station=None)["status"] == "accepted"


def test_ballot_of_another_election_is_rejected(election) -> None:
    other_doc = copy.deepcopy(election.to_dict())
    other_doc["contests"][0]["options"][0]["name"]["ru"] = "Единство"
    other = Election.from_dict(other_doc)
    image, layout = render_ballot(other, "s-d07", mode="test")
    marked = mark_ballot(image, layout, {"party-list": ["p-ala-too"]})
    result = read_ballot(np.array(marked), election, mode="test")
    assert result["status"] == "rejected"
    assert result["reason"] == "other_election"
    assert other.hash[:16] in result["detail"]
    assert result["votes"] == {}


def test_forged_style_is_rejected(election) -> None:
    # A code carrying this election's hash but a style it does not have.
    forged = dataclasses.replace(election, styles={**election.styles, "s-d99": ["party-list"]})
    image, _ = render_ballot(forged, "s-d99", mode="test")
    result = read_ballot(np.array(image), election, mode="test")
    assert (result["status"], result["reason"]) == ("rejected", "unknown_style")


def _page_with(text: str) -> np.ndarray:
    page = Image.new("L", (1240, 1754), 255)
    matrix = np.array(segno.make(text, error="m").matrix, dtype=bool)
    modules = np.kron(matrix, np.ones((6, 6), dtype=bool))
    gray = np.array(page)
    gray[60:60 + modules.shape[0], 850:850 + modules.shape[1]][modules] = 0
    return gray


@pytest.mark.parametrize(
    "make",
    [
        lambda: np.random.default_rng(1).integers(0, 256, (1754, 1240), dtype=np.uint8),
        lambda: np.full((1754, 1240), 255, dtype=np.uint8),
        lambda: np.zeros((1754, 1240), dtype=np.uint8),
    ],
    ids=["noise", "blank page", "black page"],
)
def test_non_ballots_are_unreadable(election, make) -> None:
    result = read_ballot(make(), election, mode="test")
    assert result["status"] == "rejected"
    assert result["reason"] == "unreadable_code"
    assert result["style"] is None and result["votes"] == {}


@pytest.mark.parametrize(
    "text",
    [
        "https://example.org/not-a-ballot",
        "SH2:0123456789ABCDEF:0:X:A:*",
        "SH2:0123:0:T:A:*",
        "SH2:" + "0" * 16 + ":S-D07:T:A:*",
        "SH2:" + "0" * 16 + ":0:T:A",
    ],
    ids=["url", "bad mode", "short hash", "bad style", "missing field"],
)
def test_qr_codes_that_are_not_ballot_codes_are_unreadable(election, text) -> None:
    page = _page_with(text)
    # The symbol itself reads: it is its content that is refused.
    assert [b.text for b in zxingcpp.read_barcodes(page)] == [text]
    result = read_ballot(page, election, mode="test")
    assert (result["status"], result["reason"]) == ("rejected", "unreadable_code")


def test_code_without_corner_marks_cannot_register(election, sheets) -> None:
    image, layout = sheets[("s-d07", "test", None)]
    page = image.copy()
    # Keep the code, wipe the bottom-right corner mark.
    draw = ImageDraw.Draw(page)
    draw.rectangle((page.width - 120, page.height - 120, page.width, page.height), fill=255)
    result = read_ballot(np.array(page), election)
    assert (result["status"], result["reason"]) == ("rejected", "cannot_register")
    assert "bottom-right" in result["detail"]
    assert result["style"] == "s-d07"


def test_corner_mark_out_of_place_cannot_register(election, sheets) -> None:
    image, _ = sheets[("s-d07", "test", None)]
    page = image.copy()
    draw = ImageDraw.Draw(page)
    draw.rectangle((1240 - 120, 1754 - 120, 1240, 1754), fill=255)
    # The same square 5 mm higher: found, but off the printed rectangle.
    x0, y0 = 1240 - 71 - 21, 1754 - 71 - 21 - 30
    draw.rectangle((x0, y0, x0 + 41, y0 + 41), fill=0)
    result = read_ballot(np.array(page), election)
    assert (result["status"], result["reason"]) == ("rejected", "cannot_register")
    # The misplaced mark throws the timing marks' predicted places off: never guessed.
    assert "timing marks" in result["detail"] or "off the printed rectangle" in result["detail"]


@pytest.mark.parametrize(
    ("angle", "shift", "scale"),
    [
        (2.0, (0, 0), 1.0),
        (-2.0, (0, 0), 1.0),
        (0.0, (31, -17), 1.0),
        (1.3, (-20, 25), 1.0),
        (-1.7, (12, 9), 0.98),
        (0.8, (-5, -30), 1.02),
    ],
)
def test_small_rotation_shift_and_scale_still_read_right(
    election, sheets, angle, shift, scale
) -> None:
    image, layout = sheets[("s-d12", "official", "st-0042")]
    choices = {"party-list": ["p-kok-asman"], "smd-12": ["c12-esengulova"]}
    marked = mark_ballot(image, layout, choices, seed=7)
    gray = scan(marked, angle, shift, scale, margin=40)
    result = read_ballot(gray, election, mode="official", station="st-0042")
    assert result["status"] == "accepted", result["detail"]
    assert result["votes"] == choices
    unmarked = [m["score"] for m in result["marks"] if m["class"] == "unmarked"]
    assert len(unmarked) == len(layout["targets"]) - 2 and max(unmarked) < 0.02


def test_upside_down_sheet_still_registers(election, sheets) -> None:
    image, layout = sheets[("s-d07", "test", None)]
    choices = {"party-list": ["p-onuguu"], "smd-07": ["c07-sydykov"]}
    marked = mark_ballot(image, layout, choices)
    result = read_ballot(np.array(marked.rotate(180)), election)
    assert result["status"] == "accepted", result["detail"]
    assert result["votes"] == choices


def test_other_resolutions_and_letter_paper(election) -> None:
    choices = {"party-list": ["p-jany-muun"], "smd-07": ["against-all"]}
    for dpi, paper in ((200, "letter"), (100, "A4"), (300, "A4")):
        image, layout = render_ballot(election, "s-d07", dpi=dpi, paper=paper)
        gray = np.array(mark_ballot(image, layout, choices))
        result = read_ballot(gray, election, dpi=dpi)
        assert result["status"] == "accepted", (dpi, paper, result["detail"])
        assert result["votes"] == choices


def test_wrong_scale_needs_the_scanner_dpi(election, sheets) -> None:
    image, _ = sheets[("s-d07", "test", None)]
    shrunk = scan(image, scale=0.9, margin=30)
    assert read_ballot(shrunk, election)["status"] == "accepted"
    result = read_ballot(shrunk, election, dpi=150)
    assert (result["status"], result["reason"]) == ("rejected", "wrong_scale")
    assert read_ballot(np.array(image), election, dpi=150)["status"] == "accepted"


def test_darker_paper_and_grey_ink_read_the_same(election, sheets) -> None:
    image, layout = sheets[("s-d07", "test", None)]
    choices = {"party-list": ["p-ysyk-kol"], "smd-07": ["c07-osmonova"]}
    gray = np.array(mark_ballot(image, layout, choices)).astype(np.float32)
    dull = (gray * 0.75 + 10).astype(np.uint8)  # grey recycled paper, weaker contrast
    result = read_ballot(dull, election)
    assert result["status"] == "accepted" and result["votes"] == choices


def _dot(image: Image.Image, target: dict[str, Any], diameter_mm: float) -> Image.Image:
    out = image.copy()
    r = diameter_mm / 2 * 150 / 25.4
    cx, cy = target["x"] + target["w"] / 2, target["y"] + target["h"] / 2
    ImageDraw.Draw(out).ellipse((cx - r, cy - r, cx + r, cy + r), fill=20)
    return out


def test_hesitation_dot_is_marginal_and_not_a_vote(election, sheets) -> None:
    image, layout = sheets[("s-d07", "test", None)]
    target = next(t for t in layout["targets"] if t["option"] == "p-yntymak")
    result = read_ballot(np.array(_dot(image, target, 0.9)), election)
    mark = next(m for m in result["marks"] if m["option"] == "p-yntymak")
    assert DEFAULT_THRESHOLDS["marginal"] <= mark["score"] < DEFAULT_THRESHOLDS["marked"]
    assert mark["class"] == "marginal"
    assert result["votes"]["party-list"] == []
    assert result["contests"]["party-list"] == "blank"


def test_thresholds_are_configuration_and_reported(election, sheets) -> None:
    image, layout = sheets[("s-d07", "test", None)]
    target = next(t for t in layout["targets"] if t["option"] == "p-yntymak")
    dotted = np.array(_dot(image, target, 0.9))
    strict = {"marked": 0.9, "marginal": 0.8}
    result = read_ballot(dotted, election, thresholds=strict)
    assert result["thresholds"] == {**DEFAULT_THRESHOLDS, **strict}
    assert next(m for m in result["marks"] if m["option"] == "p-yntymak")["class"] == "unmarked"
    lax = read_ballot(dotted, election, thresholds={"marked": 0.2, "marginal": 0.1})
    assert lax["votes"]["party-list"] == ["p-yntymak"]


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ([[255] * 600] * 800, "numpy array, not list"),
        (np.zeros((800, 600), dtype=np.float32), "uint8"),
        (np.zeros((800, 600, 2), dtype=np.uint8), "3 colour channels"),
        (np.zeros((4, 800, 600, 3), dtype=np.uint8), "3 colour channels"),
        (np.zeros((10, 10), dtype=np.uint8), "too small"),
        (np.zeros((0, 0), dtype=np.uint8), "too small"),
        (np.broadcast_to(np.uint8(255), (20000, 14000)), "too large"),
        (np.zeros((5000, 600), dtype=np.uint8), "shape of a ballot sheet"),
    ],
    ids=["list", "float", "two channels", "4-D", "tiny", "empty", "huge", "strip"],
)
def test_arrays_that_cannot_be_a_sheet_are_refused(election, bad, message) -> None:
    with pytest.raises(BallotImageError, match=message):
        read_ballot(bad, election)


def test_bad_arguments_are_refused(election, sheets) -> None:
    gray = np.array(sheets[("s-d07", "test", None)][0])
    with pytest.raises(ValueError, match="mode"):
        read_ballot(gray, election, mode="training")
    with pytest.raises(ValueError, match="station"):
        read_ballot(gray, election, station="Station 1\n")
    with pytest.raises(ValueError, match="unknown thresholds: mark"):
        read_ballot(gray, election, thresholds={"mark": 0.2})
    with pytest.raises(ValueError, match="between 0 and 1"):
        read_ballot(gray, election, thresholds={"marked": 1.5})
    with pytest.raises(ValueError, match="marginal threshold must not be above"):
        read_ballot(gray, election, thresholds={"marked": 0.1, "marginal": 0.2})
    with pytest.raises(ValueError, match="dpi"):
        read_ballot(gray, election, dpi=0)


def test_reading_leaves_the_scan_alone_and_repeats(election, sheets) -> None:
    image, layout = sheets[("s-d12", "test", None)]
    gray = np.array(mark_ballot(image, layout, {"smd-12": ["c12-abdykadyrov"]}))
    before = gray.copy()
    first = read_ballot(gray, election)
    assert np.array_equal(gray, before)
    assert read_ballot(gray, election) == first
    view = np.asfortranarray(gray)
    assert read_ballot(view, election) == first


def test_check_image_accepts_a_landscape_scan() -> None:
    assert check_image(np.zeros((1240, 1754), dtype=np.uint8)).shape == (1240, 1754)


def test_layout_cache_is_keyed_by_election(election) -> None:
    reader._cache.clear()
    image, layout = render_ballot(election, "s-d07")
    read_ballot(np.array(image), election)
    assert (election.hash, "s-d07", "A4") in reader._cache


NIST_EXAMPLE = EXAMPLE.with_name("election.nist.json")


def test_a_style_not_issued_at_the_station_is_another_stations_ballot() -> None:
    # In the NIST example a station at home issues its district's style only; the
    # station abroad issues all three. A ballot for any station of district 3 does not
    # belong at a station of district 7.
    e = load_election(NIST_EXAMPLE)
    assert e.station_styles("ps-1207") == ["s-d07"]
    image, layout = render_ballot(e, "s-d03", dpi=150, mode="official")
    marked = np.array(mark_ballot(image, layout, {"party-list": ["p-ala-too"]}))
    home = read_ballot(marked, e, mode="official", station="ps-1207")
    assert (home["status"], home["reason"], home["style"]) == ("rejected", "other_station", "s-d03")
    assert "not issued at station 'ps-1207'" in home["detail"]
    abroad = read_ballot(marked, e, mode="official", station="ps-5101")
    assert abroad["status"] == "accepted" and abroad["votes"]["party-list"] == ["p-ala-too"]
    # Without a station the reader cannot tell, and takes it.
    assert read_ballot(marked, e, mode="official")["status"] == "accepted"


def test_two_different_ballot_codes_on_a_sheet_are_unreadable(election) -> None:
    page = np.full((1754, 1240), 255, dtype=np.uint8)
    for n, style in enumerate(("0", "1")):
        text = f"SH2:{election.hash[:16].upper()}:{style}:T:A:*"
        matrix = np.array(segno.make(text, error="q").matrix, dtype=bool)
        modules = np.kron(matrix, np.ones((6, 6), dtype=bool))
        y, x = 700 + n * 400, 400  # mid-sheet, away from where a code is printed
        page[y:y + modules.shape[0], x:x + modules.shape[1]][modules] = 0
    assert len(zxingcpp.read_barcodes(page)) == 2
    result = read_ballot(page, election, mode="test")
    assert (result["status"], result["reason"]) == ("rejected", "unreadable_code")
    assert "more than one ballot code" in result["detail"]
