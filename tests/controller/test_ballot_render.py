"""Rendering ballots: sizes, layout record, code, fiducials, test band, fonts, bad input."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zxingcpp

from controller.ballots import layout as geo
from controller.ballots.code import BallotCode, CodeError, station_tag
from controller.ballots.read import read_ballot
from controller.ballots.render import render_ballot
from controller.election.definition import Election
from controller.election.load import load_election
from hil.ballot_marking import mark_ballot

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "election.json"


@pytest.fixture(scope="module")
def election() -> Election:
    return load_election(EXAMPLE)


def _big_election(election: Election, options: int, contests: int) -> Election:
    doc = copy.deepcopy(election.to_dict())
    template = doc["contests"][0]
    doc["contests"] = []
    for n in range(contests):
        contest = copy.deepcopy(template)
        contest["id"] = f"c-{n}"
        contest["vote_for"] = 2
        contest["options"] = [
            {"id": f"o-{i}", "name": f"Талапкер Өмүрбек Төлөгөнов-Кеңешбеков №{i}"}
            for i in range(options)
        ]
        doc["contests"].append(contest)
    doc["styles"] = [{"id": "s-all", "contests": [c["id"] for c in doc["contests"]]}]
    del doc["districts"]
    return Election.from_dict(doc)


@pytest.mark.parametrize(("paper", "dpi", "size"),
                         [("A4", 150, (1240, 1754)), ("letter", 200, (1700, 2200)),
                          ("A4", 300, (2480, 3508))])
def test_every_style_renders_at_its_paper_size(election, paper, dpi, size) -> None:
    for style in election.styles:
        image, layout = render_ballot(election, style, dpi=dpi, paper=paper)
        assert image.mode == "L" and image.size == size
        assert (layout["width_px"], layout["height_px"]) == size
        assert layout["dpi"] == dpi and layout["paper"] == paper
        assert layout["style"] == style and layout["election_hash"] == election.hash
        assert layout["mode"] == "test" and layout["station"] is None
        expected = [(c.id, o.id) for c in election.style_contests(style) for o in c.options]
        assert [(t["contest"], t["option"]) for t in layout["targets"]] == expected


def test_targets_are_printed_ovals_with_white_inside(election) -> None:
    image, layout = render_ballot(election, "s-d07")
    gray = np.array(image)
    for t in layout["targets"]:
        box = gray[t["y"]:t["y"] + t["h"], t["x"]:t["x"] + t["w"]]
        assert 36 <= t["w"] <= 46 and 22 <= t["h"] <= 30  # 7 x 4.5 mm at 150 dpi
        assert (box[t["h"] // 2, :4] < 128).any()  # left edge of the outline
        assert (box[:4, t["w"] // 2] < 128).any()  # top edge
        inside = box[t["h"] // 4: -t["h"] // 4, t["w"] // 4: -t["w"] // 4]
        assert inside.min() == 255


def test_layout_is_the_same_at_every_resolution(election) -> None:
    _, low = render_ballot(election, "s-d12", dpi=150)
    _, high = render_ballot(election, "s-d12", dpi=300)
    for a, b in zip(low["targets"], high["targets"], strict=True):
        assert abs(a["x"] * 2 - b["x"]) <= 2 and abs(a["y"] * 2 - b["y"]) <= 2
    sheet = geo.compute_layout(election, "s-d12")
    assert sheet.to_dict(150, "test", None)["targets"] == low["targets"]


@pytest.mark.parametrize(("mode", "station"), [("test", None), ("official", "st-0042")])
def test_code_says_election_style_mode_and_station(election, mode, station) -> None:
    image, _ = render_ballot(election, "s-d12", mode=mode, station=station)
    texts = [b.text for b in zxingcpp.read_barcodes(np.array(image))]
    assert len(texts) == 1
    code = BallotCode.decode(texts[0])
    tag = None if station is None else station_tag(station)
    assert code == BallotCode(election.hash[:16], 1, mode, "A4", tag)
    assert code.matches(election.hash) and code.style_id(election) == "s-d12"


def test_fiducials_are_solid_squares_in_clear_corners(election) -> None:
    image, layout = render_ballot(election, "s-d07", mode="test")
    gray = np.array(image)
    k = 150 / 25.4
    clear = round(geo.CORNER_CLEAR * k)
    for cx, cy in layout["fiducials"]:
        x, y = round(cx), round(cy)
        half = round(geo.FIDUCIAL / 2 * k) - 2
        assert gray[y - half:y + half, x - half:x + half].max() == 0
        corner_x = slice(0, clear) if cx < 620 else slice(1240 - clear, 1240)
        corner_y = slice(0, clear) if cy < 877 else slice(1754 - clear, 1754)
        dark = gray[corner_y, corner_x] < 128
        # Only the fiducial itself is dark in the corner square.
        assert dark.sum() == pytest.approx((geo.FIDUCIAL * k) ** 2, rel=0.1)


def test_test_mode_prints_a_band_official_does_not(election) -> None:
    test, layout = render_ballot(election, "s-d07", mode="test")
    official, _ = render_ballot(election, "s-d07", mode="official")
    band = geo.compute_layout(election, "s-d07").band
    x0, y0, x1, y1 = band.px(150)
    assert np.array(test)[y0:y1, x0:x1].mean() < 120
    assert np.array(official)[y0:y1, x0:x1].mean() > 240


def test_long_ballots_use_two_columns_and_still_read(election) -> None:
    big = _big_election(election, options=15, contests=2)
    sheet = geo.compute_layout(big, "s-all")
    assert len({b.box.x for b in sheet.contests}) == 2
    image, layout = render_ballot(big, "s-all", mode="official")
    choices = {"c-0": ["o-3", "o-14"], "c-1": ["o-0"]}
    result = read_ballot(np.array(mark_ballot(image, layout, choices)), big, mode="official")
    assert result["votes"] == choices
    assert result["contests"] == {"c-0": "ok", "c-1": "undervote"}


def test_a_style_that_does_not_fit_is_refused(election) -> None:
    big = _big_election(election, options=21, contests=1)
    with pytest.raises(geo.LayoutError, match="does not fit on one A4 sheet"):
        render_ballot(big, "s-all")
    three = _big_election(election, options=15, contests=3)
    with pytest.raises(geo.LayoutError, match="contest 'c-2'"):
        geo.compute_layout(three, "s-all")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"style_id": "s-nope"}, "no ballot style 's-nope'"),
        ({"dpi": 50}, "dpi must be a whole number from 100 to 600"),
        ({"dpi": 1200}, "dpi must be"),
        ({"dpi": 150.0}, "dpi must be"),
        ({"mode": "training"}, "mode must be 'test' or 'official'"),
        ({"station": "Station 7\n"}, "is not a station id"),
        ({"paper": "A3"}, "paper 'A3' is not one of A4, letter"),
    ],
)
def test_bad_arguments_are_refused(election, kwargs: dict[str, Any], message) -> None:
    args = {"style_id": "s-d07"} | kwargs
    with pytest.raises(ValueError, match=message):
        render_ballot(election, **args)


def test_code_round_trip_and_refusals() -> None:
    code = BallotCode("ab" * 32, 7, "official", "letter", station_tag("st-0042"))
    text = code.encode()
    assert text == f"SH2:ABABABABABABABAB:7:O:L:{station_tag('st-0042').upper()}"
    assert BallotCode.decode(text) == dataclass_prefix(code)
    assert code.is_for_station("st-0042") and not code.is_for_station("st-0043")
    for bad in ("", "SH1:ABABABABABABABAB:S-D07:O:L:*", "SH2:ABABABABABABABAB:S-D07:O:L:*",
                "SH2:ABABABABABABABAB:07:O:L:*", "SH2:ABABABABABABABAB:-1:O:L:*",
                "SH2:ABABABABABABABAB:10000:O:L:*", "SH2:ABABABABABABABAB:7:O:Q:*",
                "SH2:ABABABABABABABAB:7:O:L:*:X", "SH2:ZZABABABABABABAB:7:O:L:*",
                "SH2:ABABABABABABABAB:7:O:L:ST-0042", "SH2:ABABABABABABABAB:7:O:L:abcdef0123",
                "SH2:abababababababab:7:O:L:*", "x" * 200):
        with pytest.raises(CodeError):
            BallotCode.decode(bad)
    with pytest.raises(CodeError, match="no ballot style"):
        BallotCode.for_ballot(load_election(EXAMPLE), "s-nope", "test")


def test_no_id_of_the_definition_travels_in_the_code(election) -> None:
    # Ids from other tools can be long and odd: the code stays short and the same size.
    odd = election.to_dict()
    long_style = "ballot-style--" + "/district-07 (Чүй)" * 8
    odd["styles"][0]["id"] = long_style
    other = Election.from_dict(odd)
    station = "polling-place--" + "x" * 150
    text = BallotCode.for_ballot(other, long_style, "official", "A4", station).encode()
    assert len(text) == 37 and long_style.upper() not in text  # the style is number 0
    image, _ = render_ballot(other, long_style, mode="official", station=station)
    (read,) = [b.text for b in zxingcpp.read_barcodes(np.array(image))]
    code = BallotCode.decode(read)
    assert code.style_id(other) == long_style and code.is_for_station(station)


def dataclass_prefix(code: BallotCode) -> BallotCode:
    """The code as read back: only the hash prefix survives the symbol."""
    return BallotCode(code.hash_prefix, code.style_index, code.mode, code.paper, code.station_tag)
