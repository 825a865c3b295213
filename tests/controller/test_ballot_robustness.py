"""Reading generated scans: foreign ballots always refused, every distortion within the
tolerances read right, beyond them refused with the right reason; pencil lines, pens of
every colour, folds, dots, specks, the four feed orientations and scanner streaks."""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path

import numpy as np
import pytest

from controller.ballots.read import DEFAULT_THRESHOLDS, read_ballot
from controller.election.definition import Election
from controller.election.load import load_election
from hil.ballot_scans import MarkSpec, ScanMaker, ScanSpec, random_spec

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "election.json"
DPI = 150
CHOICES = {"party-list": ["p-yntymak"], "smd-07": ["c07-sydykov"]}


@pytest.fixture(scope="module")
def election() -> Election:
    return load_election(EXAMPLE)


@pytest.fixture(scope="module")
def official(election) -> ScanMaker:
    return ScanMaker(election, DPI, "official")


def _spec(**changes) -> ScanSpec:
    marks = [MarkSpec(c, o, "fill") for c, options in CHOICES.items() for o in options]
    return dataclasses.replace(ScanSpec("s-d07", marks=marks, seed=3), **changes)


def _read(election, scan, mode: str = "official", station: str | None = None) -> dict:
    return read_ballot(scan.image, election, mode=mode, station=station, dpi=scan.dpi)


def _assert_reads_right(result: dict, truth: dict) -> None:
    assert result["status"] == "accepted", result["detail"]
    assert result["votes"] == truth["votes"]
    for mark, target in zip(result["marks"], truth["targets"], strict=True):
        assert (mark["class"] == "marked") == (target["truth"] == "vote"), (mark, target)


def _other_election(election: Election) -> Election:
    doc = copy.deepcopy(election.to_dict())
    doc["contests"][1]["options"][0]["name"] = "Осмонова Чолпон Асылбековна-Ү"
    return Election.from_dict(doc)


@pytest.mark.parametrize(
    ("maker_args", "reading", "reason"),
    [
        ({"mode": "test"}, ("official", None), "test_ballot"),
        ({"mode": "official"}, ("test", None), "official_ballot"),
        ({"mode": "official", "station": "st-0042"}, ("official", "st-0007"), "other_station"),
        ({"mode": "official", "other": True}, ("official", None), "other_election"),
    ],
    ids=["test ballot, official station", "official ballot, test station", "other station",
         "other election"],
)
def test_foreign_ballots_are_always_refused_with_the_right_reason(
    election, maker_args, reading, reason
) -> None:
    args = dict(maker_args)
    source = _other_election(election) if args.pop("other", False) else election
    maker = ScanMaker(source, DPI, **args)
    rng = np.random.default_rng(11)
    for _ in range(5):
        scan = maker.random(rng)
        result = read_ballot(scan.image, election, mode=reading[0], station=reading[1],
                             dpi=DPI)
        assert (result["status"], result["reason"]) == ("rejected", reason), result["detail"]
        assert result["votes"] == {} and result["marks"] == []


@pytest.mark.parametrize(
    "changes",
    [
        {"rotation": 5.0}, {"rotation": -5.0}, {"scale": 0.97}, {"scale": 1.03},
        {"margins": (1.0, 14.0, 9.0, 2.0)},
        {"perspective": ((1.5, -1.5), (-1.5, 1.5), (1.5, 1.5), (-1.5, -1.5))},
        {"blur": 0.15}, {"noise": 6.0}, {"paper": 190, "black": 40}, {"jpeg": 35},
        {"stains": [(40.0, 130.0, 22.0, 0.14)]}, {"specks": 400},
        {"rotation": -4.0, "scale": 1.025, "blur": 0.13, "noise": 5.0, "jpeg": 50,
         "paper": 200, "black": 30},
    ],
    ids=["rot+5", "rot-5", "scale-3%", "scale+3%", "shift", "perspective", "blur", "noise",
         "dull", "jpeg", "stain", "specks", "all at once"],
)
def test_each_distortion_within_tolerance_reads_right(election, official, changes) -> None:
    scan = official.make(_spec(**changes))
    _assert_reads_right(_read(election, scan), scan.truth)


@pytest.mark.parametrize("orientation", [0, 90, 180, 270])
def test_every_feed_orientation_reads_right(election, official, orientation) -> None:
    scan = official.make(_spec(orientation=orientation, rotation=3.0))
    result = _read(election, scan)
    _assert_reads_right(result, scan.truth)
    assert result["registration"]["orientation"] == orientation


@pytest.mark.parametrize(("scale", "reason"), [(0.94, "wrong_scale"), (1.06, "wrong_scale")])
def test_wrong_scale_is_refused(election, official, scale, reason) -> None:
    scan = official.make(_spec(scale=scale))
    result = _read(election, scan)
    assert (result["status"], result["reason"]) == ("rejected", reason)
    assert "of its printed size" in result["detail"]
    # Without the scanner's resolution the scale cannot be judged: the sheet is read.
    unknown = read_ballot(scan.image, election, mode="official")
    _assert_reads_right(unknown, scan.truth)


def test_a_sheet_stretched_in_one_direction_cannot_register(election, official) -> None:
    scan = official.make(_spec())
    rows = np.linspace(0, scan.image.shape[0] - 1, int(scan.image.shape[0] * 1.07))
    long = scan.image[rows.astype(int)]
    result = read_ballot(long, election, mode="official")
    assert (result["status"], result["reason"]) == ("rejected", "cannot_register")
    assert "stretched in one direction" in result["detail"]


def test_a_sheet_cut_off_by_the_scanner_cannot_register(election, official) -> None:
    scan = official.make(_spec())
    cut = scan.image[: int(scan.image.shape[0] * 0.93)]
    result = _read(election, dataclasses.replace(scan, image=cut))
    assert (result["status"], result["reason"]) == ("rejected", "cannot_register")
    assert "corner mark" in result["detail"] or "timing marks" in result["detail"]


def test_a_1mm_pencil_line_across_the_target_is_a_vote(election, official) -> None:
    marks = [MarkSpec("party-list", o.id, "line", "pencil")
             for o in election.contest("party-list").options]
    for seed in range(3):
        scan = official.make(ScanSpec("s-d07", marks=marks, blur=0.13, noise=4.0, seed=seed,
                                      rotation=2.0 - seed * 2))
        result = _read(election, scan)
        assert result["status"] == "accepted"
        scores = [m["score"] for m in result["marks"] if m["contest"] == "party-list"]
        assert min(scores) > 1.5 * DEFAULT_THRESHOLDS["marked"], scores
        assert result["contests"]["party-list"] == "overvote"


def test_folds_dots_and_specks_are_not_votes(election, official) -> None:
    marks = [MarkSpec(c.id, o.id, "dot" if i % 2 else "nick", "black")
             for c in election.style_contests("s-d07") for i, o in enumerate(c.options)]
    layout = official.base("s-d07")[1]
    # A fold through every row of ovals, at the deepest shadow the generator makes.
    folds = [("h", (t["y"] + t["h"] / 2) * 25.4 / DPI, 0.12) for t in layout["targets"]]
    folds += [("v", (layout["targets"][0]["x"] + 20) * 25.4 / DPI, 0.12)]
    for seed in range(2):
        scan = official.make(ScanSpec("s-d07", marks=marks, folds=folds, specks=500,
                                      strays=6, seed=seed, noise=5.0, blur=0.1))
        result = _read(election, scan)
        assert result["status"] == "accepted", result["detail"]
        assert all(v == [] for v in result["votes"].values()), result["votes"]
        assert {m["class"] for m in result["marks"]} <= {"marginal", "unmarked"}


def test_erased_marks_are_not_votes(election, official) -> None:
    marks = [MarkSpec("party-list", o.id, "erased", "pencil")
             for o in election.contest("party-list").options]
    result = _read(election, official.make(ScanSpec("s-d07", marks=marks, seed=5)))
    assert result["votes"]["party-list"] == []


@pytest.mark.parametrize("colour", [True, False], ids=["colour scan", "grey scan"])
def test_pens_of_every_colour_and_pencil_are_votes(election, official, colour) -> None:
    options = [o.id for o in election.contest("party-list").options]
    pens = ["black", "blue", "red", "green", "felt", "pencil"]
    kinds = ["fill", "cross", "tick", "light", "partial", "scribble"]
    marks = [MarkSpec("party-list", options[i], kinds[i], pens[i]) for i in range(6)]
    scan = official.make(ScanSpec("s-d07", marks=marks, colour=colour, seed=2, noise=3.0))
    assert scan.image.ndim == (3 if colour else 2)
    result = _read(election, scan)
    assert result["status"] == "accepted"
    assert sorted(result["votes"]["party-list"]) == sorted(options[:6])
    assert {m["class"] for m in result["marks"][6:9]} == {"unmarked"}


@pytest.mark.parametrize(
    ("streak", "orientation"),
    [(("dark", 0.5, 1), 0), (("dark", 0.2, 3), 90), (("light", 0.5, 2), 0),
     (("light", 0.7, 3), 180)],
    ids=["dark", "dark sideways", "light", "light upside down"],
)
def test_scanner_streaks_are_refused(election, official, streak, orientation) -> None:
    scan = official.make(_spec(streak=streak, orientation=orientation, rotation=1.0))
    result = _read(election, scan)
    assert (result["status"], result["reason"]) == ("rejected", "scanner_streaks")
    assert "clean the scanner" in result["detail"]


@pytest.mark.parametrize("width", [6, 9, 12])
@pytest.mark.parametrize("orientation", [90, 270])
def test_a_wide_light_streak_along_a_pencil_line_is_refused(
    election, official, width, orientation
) -> None:
    # Fed sideways, a light streak runs along a row of the sheet: through one target,
    # along a pencil line across it. Wider than a few pixels it took the line away
    # unseen and the vote was lost; it cuts the oval's printed outline at both ends.
    marks = [MarkSpec("party-list", "p-ala-too", "line", "pencil")]
    for where in (0.4, 0.5, 0.6):
        scan = official.make(ScanSpec("s-d07", marks=marks, orientation=orientation, seed=1,
                                      streak=("light", where, width)))
        result = _read(election, scan)
        assert (result["status"], result["reason"]) == ("rejected", "scanner_streaks"), (
            where, result["detail"], result["marks"][:1])


@pytest.mark.parametrize(("width", "where"), [(2, 0.5), (8, 0.8), (9, 0.9), (6, 0.2)])
def test_a_light_streak_across_one_blank_target_is_refused(
    election, official, width, where
) -> None:
    # Fed sideways, the streak crosses the first oval only. Wide and off the oval's
    # middle, it meets the sloping outline at different heights on its two sides.
    for orientation in (90, 270):
        scan = official.make(ScanSpec("s-d07", orientation=orientation, rotation=2.0, seed=2,
                                      streak=("light", where, width)))
        result = _read(election, scan)
        assert (result["status"], result["reason"]) == ("rejected", "scanner_streaks"), (
            orientation, result["detail"])


def test_dust_beside_the_corner_marks_does_not_refuse_the_sheet(election, official) -> None:
    # Specks of dust all round each corner mark, 1.5 to 2.1 mm clear of it: some fall on
    # the edge of the box the mark's centre is measured in, which used to refuse the sheet.
    scan = official.make(_spec())
    image = scan.image.copy()
    h = np.array(scan.truth["homography"])
    k = DPI / 25.4
    for fx, fy in ((12.0, 12.0), (198.0, 12.0), (12.0, 285.0), (198.0, 285.0)):
        for gap in (1.5, 1.7, 1.9, 2.1):
            for sx, sy in ((-1, 0), (1, 0), (0, -1), (0, 1)):
                x, y = fx + sx * (3.5 + gap), fy + sy * (3.5 + gap)
                p = h @ np.array([x * k, y * k, 1.0])
                cx, cy = int(round(p[0] / p[2])), int(round(p[1] / p[2]))
                image[cy - 1 : cy + 1, cx - 1 : cx + 1] = 30
    result = _read(election, dataclasses.replace(scan, image=image))
    _assert_reads_right(result, scan.truth)


def test_clean_and_heavily_marked_sheets_are_not_taken_for_streaks(election, official) -> None:
    every = [MarkSpec(c.id, o.id, kind, "felt")
             for c in election.style_contests("s-d12")
             for o, kind in zip(c.options, ["fill", "scribble", "cross"] * 4, strict=False)]
    rng = np.random.default_rng(4)
    specs = [ScanSpec("s-d12", marks=every, seed=1, folds=[("v", 60.0, 0.12)]),
             *(dataclasses.replace(random_spec(election, "s-d12", rng), streak=None)
               for _ in range(6))]
    for spec in specs:
        scan = official.make(spec)
        result = _read(election, scan)
        assert result["status"] == "accepted", result["detail"]
        _assert_reads_right(result, scan.truth)


def test_random_scans_read_right(election, official) -> None:
    rng = np.random.default_rng(2026)
    for _ in range(8):
        scan = official.random(rng, colour=bool(rng.random() < 0.3))
        result = _read(election, scan)
        if scan.truth["expect"] != "accepted":
            assert result["reason"] == scan.truth["expect"]
            continue
        _assert_reads_right(result, scan.truth)
        for mark, target in zip(result["marks"], scan.truth["targets"], strict=True):
            if target["truth"] == "marginal":
                assert mark["class"] != "marked"
