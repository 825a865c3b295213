"""The scan generator: the same spec gives the same scan, every mark lands on its own
target with the truth saying what it is, colours are colours, distortions stay within
the limits the generator promises, and ``python -m hil.ballot_scans`` writes files."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from controller.election.load import load_election
from hil.ballot_scans import (
    KINDS,
    MARGINAL_KINDS,
    VOTE_KINDS,
    MarkSpec,
    ScanMaker,
    ScanSpec,
    hand,
    scanner,
)
from hil.ballot_scans import paper as paper_fx
from hil.ballot_scans.maker import (
    MAX_ROTATION,
    MAX_SCALE_OFF,
    MAX_STREAK_MM,
    ORIENTATIONS,
    random_spec,
)

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "election.json"
DPI = 100


@pytest.fixture(scope="module")
def election():
    return load_election(EXAMPLE)


@pytest.fixture(scope="module")
def maker(election) -> ScanMaker:
    return ScanMaker(election, DPI, "official")


def _centre(scan, contest: str, option: str, layout: dict) -> np.ndarray:
    """Where a target's centre lies in the scan, by the truth's homography."""
    t = next(t for t in layout["targets"] if (t["contest"], t["option"]) == (contest, option))
    h = np.array(scan.truth["homography"])
    p = h @ np.array([t["x"] + t["w"] / 2, t["y"] + t["h"] / 2, 1.0])
    return p[:2] / p[2]


def test_the_same_spec_gives_the_same_scan(maker) -> None:
    spec = ScanSpec("s-d07", marks=[MarkSpec("party-list", "p-el-unu", "scribble", "blue")],
                    rotation=2.5, noise=4.0, blur=0.09, specks=20, strays=2, seed=9)
    a, b = maker.make(spec), maker.make(dataclasses.replace(spec))
    assert np.array_equal(a.image, b.image) and a.truth == b.truth
    c = maker.make(dataclasses.replace(spec, seed=10))
    assert a.image.shape == c.image.shape and not np.array_equal(a.image, c.image)


def test_a_spec_gives_the_same_scan_whatever_was_made_before(election, monkeypatch) -> None:
    # Stored noise once took its size from the first scan that needed it, so a spec
    # made again in a fresh process (to look at a failure) came out with other noise.
    spec = ScanSpec("s-d12", rotation=-3.0, noise=5.0, specks=30, seed=4)
    monkeypatch.setattr(scanner, "_noise", {})  # as in a fresh process
    fresh = ScanMaker(election, DPI, "official").make(spec).image
    monkeypatch.setattr(scanner, "_noise", {})
    busy = ScanMaker(election, DPI, "official")
    for seed in range(6):  # other sizes first, with every stored field of that noise
        busy.make(ScanSpec("s-d07", scale=1.03, rotation=5.0, noise=5.0, seed=seed,
                           margins=(9, 9, 9, 9)))
    assert np.array_equal(busy.make(spec).image, fresh)


def test_truth_says_what_each_target_carries(election, maker) -> None:
    marks = [MarkSpec("party-list", "p-ala-too", "tick"),
             MarkSpec("party-list", "p-onuguu", "dot"),
             MarkSpec("smd-07", "c07-osmonova", "erased"),
             MarkSpec("smd-07", "against-all", "line")]
    scan = maker.make(ScanSpec("s-d07", marks=marks, streak=("dark", 0.5, 2)))
    truth = {(t["contest"], t["option"]): t for t in scan.truth["targets"]}
    assert truth[("party-list", "p-ala-too")]["truth"] == "vote"
    assert truth[("party-list", "p-onuguu")]["truth"] == "marginal"
    assert truth[("smd-07", "c07-osmonova")]["truth"] == "blank"
    assert truth[("smd-07", "c07-osmonova")]["kind"] == "erased"
    assert scan.truth["votes"] == {"party-list": ["p-ala-too"], "smd-07": ["against-all"]}
    assert scan.truth["expect"] == "scanner_streaks"
    assert len(scan.truth["targets"]) == sum(len(c.options)
                                             for c in election.style_contests("s-d07"))
    assert set(KINDS) == set(VOTE_KINDS) | set(MARGINAL_KINDS) | {"erased"}


@pytest.mark.parametrize("kind", KINDS)
def test_every_mark_lands_on_its_own_target(maker, kind) -> None:
    layout = maker.base("s-d12")[1]
    place = {"rotation": -3.0, "orientation": 90, "seed": 4}
    blank = maker.make(ScanSpec("s-d12", **place)).image.astype(int)
    scan = maker.make(ScanSpec("s-d12", marks=[MarkSpec("smd-12", "c12-turdubaev", kind)],
                               **place))
    changed = np.argwhere(np.abs(scan.image.astype(int) - blank) > 8)
    assert len(changed) > 3
    centre = _centre(scan, "smd-12", "c12-turdubaev", layout)
    distance = np.hypot(changed[:, 1] - centre[0], changed[:, 0] - centre[1])
    k = DPI / 25.4
    # Everything within the target's row: a tick's arm reaches a little beyond the oval.
    assert distance.max() < 8 * k, (kind, distance.max() / k)


def test_stray_marks_stay_clear_of_the_targets(maker) -> None:
    layout = maker.base("s-d07")[1]
    blank = maker.make(ScanSpec("s-d07", seed=2)).image.astype(int)
    scan = maker.make(ScanSpec("s-d07", strays=12, seed=2))
    changed = np.abs(scan.image.astype(int) - blank) > 8
    assert changed.sum() > 50
    k = DPI / 25.4
    for t in layout["targets"]:
        cx, cy = _centre(scan, t["contest"], t["option"], layout)
        # The oval and a millimetre around it are untouched.
        window = changed[int(cy - 3.3 * k):int(cy + 3.3 * k), int(cx - 4.6 * k):int(cx + 4.6 * k)]
        assert not window.any(), t


def test_colour_scans_show_the_pens_colours(maker) -> None:
    marks = [MarkSpec("party-list", "p-ala-too", "fill", "blue"),
             MarkSpec("party-list", "p-jany-muun", "fill", "red"),
             MarkSpec("party-list", "p-yntymak", "fill", "green")]
    colour = maker.make(ScanSpec("s-d07", marks=marks, colour=True, seed=1))
    grey = maker.make(ScanSpec("s-d07", marks=marks, colour=False, seed=1))
    assert colour.image.ndim == 3 and colour.image.shape[2] == 3 and grey.image.ndim == 2
    layout = maker.base("s-d07")[1]
    ink = {}
    for mark in marks:
        x, y = _centre(colour, mark.contest, mark.option, layout).astype(int)
        ink[mark.pen] = colour.image[y - 2:y + 3, x - 2:x + 3].reshape(-1, 3).mean(axis=0)
    assert ink["blue"][2] > ink["blue"][0] + 40
    assert ink["red"][0] > ink["red"][2] + 40
    assert ink["green"][1] > ink["green"][0] + 30 and ink["green"][1] > ink["green"][2] + 30
    # Each pen is dark in its darkest channel: what the reader's grey conversion uses.
    assert all(v.min() < 90 for v in ink.values())


def test_placement_puts_each_target_where_the_truth_says(maker) -> None:
    layout = maker.base("s-d07")[1]
    marks = [MarkSpec("smd-07", "c07-kenjebaev", "fill", "felt")]
    for orientation in ORIENTATIONS:
        scan = maker.make(ScanSpec("s-d07", marks=marks, orientation=orientation,
                                   rotation=4.0, scale=1.02, seed=3))
        x, y = _centre(scan, "smd-07", "c07-kenjebaev", layout)
        assert scan.image[int(y) - 1:int(y) + 2, int(x) - 1:int(x) + 2].max() < 100
        sideways = orientation in (90, 270)
        tall = scan.image.shape[0] > scan.image.shape[1]
        assert tall != sideways


def test_random_specs_stay_within_the_promised_limits(election) -> None:
    rng = np.random.default_rng(5)
    streaks = set()
    for _ in range(1500):
        spec = random_spec(election, "s-d12", rng, dpi=DPI)
        assert abs(spec.rotation) <= MAX_ROTATION
        assert abs(spec.scale - 1) <= MAX_SCALE_OFF
        assert spec.orientation in ORIENTATIONS
        assert all(abs(d) <= 1.5 for corner in spec.perspective for d in corner)
        assert all(depth <= paper_fx.FOLD_MAX for _, _, depth in spec.folds)
        assert 190 <= spec.paper <= 255 and 0 <= spec.black <= 40
        if spec.streak is not None:
            kind, where, width = spec.streak
            assert kind in ("dark", "light") and 0 < where < 1
            assert 1 <= width <= MAX_STREAK_MM * DPI / 25.4  # 6 pixels at 100 dpi
            streaks.add((kind, spec.orientation in (90, 270)))
        assert spec.to_dict()["style"] == "s-d12"
    # Both kinds of streak on sheets fed either way: a light one along a row of a sheet
    # fed sideways is the hard case.
    assert streaks == {("dark", False), ("dark", True), ("light", False), ("light", True)}


def test_a_coffee_stain_stays_light_in_every_channel(maker) -> None:
    scan = maker.make(ScanSpec("s-d07", stains=[(60.0, 200.0, 20.0, 1.0)], colour=True,
                               seed=1))
    clean = maker.make(ScanSpec("s-d07", colour=True, seed=1))
    paper = clean.image == 255
    ratio = scan.image[paper].astype(float) / 255
    assert ratio.min() >= paper_fx.STAIN_MIN_BLUE - 0.01
    assert (ratio < 0.97).any()  # and it is there


def test_shared_placements_keep_marks_new(maker) -> None:
    rng = np.random.default_rng(3)
    scans = [maker.random(rng, reuse=1000, style="s-d07") for _ in range(3)]
    places = {(s.spec.rotation, s.spec.scale, s.spec.orientation) for s in scans}
    assert len(places) == 1
    assert len({json.dumps(s.truth["targets"]) for s in scans}) == 3


def test_bad_specs_are_refused(maker) -> None:
    with pytest.raises(ValueError, match="no target 'party-list' / 'p-nope'"):
        maker.make(ScanSpec("s-d07", marks=[MarkSpec("party-list", "p-nope", "fill")]))
    with pytest.raises(ValueError, match="unknown mark kind 'smudge'"):
        maker.make(ScanSpec("s-d07", marks=[MarkSpec("party-list", "p-el-unu", "smudge")]))
    with pytest.raises(ValueError, match="no ballot style"):
        maker.make(ScanSpec("s-d99"))


def test_the_command_writes_scans_and_truths(tmp_path) -> None:
    out = tmp_path / "scans"
    done = subprocess.run(
        [sys.executable, "-m", "hil.ballot_scans", "--election", str(EXAMPLE), "--count", "2",
         "--dpi", str(DPI), "--out", str(out), "--colour", "--test"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode == 0, done.stderr
    pngs = sorted(out.glob("scan-*.png"))
    assert [p.name for p in pngs] == ["scan-00000.png", "scan-00001.png"]
    for png in pngs:
        record = json.loads(png.with_suffix(".truth.json").read_text(encoding="utf-8"))
        assert record["file"] == png.name and record["spec"]["colour"] is True
        with Image.open(png) as image:
            assert image.mode == "RGB" and round(image.info["dpi"][0]) == DPI
        assert {t["truth"] for t in record["targets"]} <= {"vote", "marginal", "blank"}


def test_the_command_writes_hand_marked_scans(tmp_path) -> None:
    out = tmp_path / "hand"
    done = subprocess.run(
        [sys.executable, "-m", "hil.ballot_scans", "--election", str(EXAMPLE), "--count", "3",
         "--dpi", str(DPI), "--out", str(out), "--model", "hand"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode == 0, done.stderr
    records = [json.loads(p.read_text(encoding="utf-8")) for p in out.glob("*.truth.json")]
    assert len(records) == 3
    marks = [m for r in records for m in r["spec"]["marks"]]
    assert marks and {m["model"] for m in marks} == {"hand"}
    assert {m["kind"] for m in marks} <= set(hand.KINDS)
    bad = subprocess.run(
        [sys.executable, "-m", "hil.ballot_scans", "--election", str(EXAMPLE), "--out",
         str(tmp_path / "x"), "--model", "robot"],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )
    assert bad.returncode == 2 and "invalid choice: 'robot'" in bad.stderr


def test_the_command_refuses_a_broken_election(tmp_path) -> None:
    broken = tmp_path / "e.json"
    broken.write_text('{"id": "x"', encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "hil.ballot_scans", "--election", str(broken), "--out",
         str(tmp_path / "o")], cwd=ROOT, capture_output=True, text=True, timeout=60,
        check=False,
    )
    assert done.returncode == 1 and "error:" in done.stderr
    assert not (tmp_path / "o").exists()


# -- the hand model -------------------------------------------------------------------


HAND_DPI = 200


@pytest.fixture(scope="module")
def hand_maker(election) -> ScanMaker:
    return ScanMaker(election, HAND_DPI, "official")


def _ink_of(field: np.ndarray, level: float = 0.25) -> np.ndarray:
    return np.argwhere(field > level)


def test_hand_marks_are_the_same_for_the_same_spec_and_differ_by_seed(hand_maker) -> None:
    marks = [MarkSpec("party-list", "p-el-unu", "tick", "ballpoint-0.3/blue", model="hand"),
             MarkSpec("smd-07", "c07-sydykov", "circle", "pencil-2b/black", model="hand")]
    spec = ScanSpec("s-d07", marks=marks, rotation=1.5, noise=3.0, seed=5, colour=True)
    a, b = hand_maker.make(spec), hand_maker.make(dataclasses.replace(spec))
    assert np.array_equal(a.image, b.image) and a.truth == b.truth
    c = hand_maker.make(dataclasses.replace(spec, seed=6))
    assert not np.array_equal(a.image, c.image)
    truth = {t["option"]: t for t in a.truth["targets"]}
    assert truth["p-el-unu"]["model"] == "hand" and truth["p-el-unu"]["truth"] == "vote"
    assert a.truth["votes"] == {"party-list": ["p-el-unu"], "smd-07": ["c07-sydykov"]}


def test_hand_model_kinds_pens_and_bad_names() -> None:
    assert set(hand.KINDS) == set(hand.VOTE_KINDS) | set(hand.MARGINAL_KINDS) | set(
        hand.BLANK_KINDS)
    assert [hand.truth_of(k) for k in ("tick", "dot", "speck", None)] == [
        "vote", "marginal", "blank", "blank"]
    assert hand.parse_pen("pencil-2b/red")[1] == "graphite"  # a pencil is graphite
    rng = np.random.default_rng(0)
    for _ in range(50):
        hand.parse_pen(hand.random_pen(rng))
    box, k = (100.0, 200.0, 55.0, 35.0), HAND_DPI / 25.4
    with pytest.raises(ValueError, match="unknown hand mark 'smudge'"):
        hand.hand_patch(box, "smudge", "ballpoint-0.3/blue", k, rng)
    with pytest.raises(ValueError, match="unknown instrument 'quill'"):
        hand.hand_patch(box, "tick", "quill/blue", k, rng)
    with pytest.raises(ValueError, match="unknown ink 'gold'"):
        hand.hand_patch(box, "tick", "ballpoint-0.3/gold", k, rng)


def test_random_hand_specs_use_only_the_hand_model(election) -> None:
    rng = np.random.default_rng(3)
    with pytest.raises(ValueError, match="unknown mark model 'robot'"):
        random_spec(election, "s-d07", rng, model="robot")
    kinds = set()
    for _ in range(30):
        spec = random_spec(election, "s-d07", rng, model="hand")
        assert spec.strays == 0  # the hand model draws its own strays, per option
        for mark in spec.marks:
            assert mark.model == "hand" and mark.kind in hand.KINDS
            hand.parse_pen(mark.pen)
            kinds.add(mark.kind)
    assert kinds == set(hand.KINDS)


@pytest.mark.parametrize("pen", ["ballpoint-0.25/black", "ballpoint-0.6/blue", "felt/red"])
def test_hand_dots_are_at_most_about_a_millimetre_and_specks_smaller(pen) -> None:
    k = HAND_DPI / 25.4
    box = (300.0, 400.0, 7 * k, 4.5 * k)
    for seed in range(30):
        rng = np.random.default_rng(seed)
        dot = _ink_of(hand.hand_patch(box, "dot", pen, k, rng)[0].field)
        speck = _ink_of(hand.hand_patch(box, "speck", pen, k, rng)[0].field)
        for points, limit in ((dot, 1.0), (speck, 0.3)):
            if len(points):
                span = (points.max(axis=0) - points.min(axis=0) + 1).max() / k
                # The pen's own width rounds up to whole pixels.
                assert span <= limit + 1.5 / k, (pen, seed, span)


def test_hand_strokes_are_drawn_as_a_hand_draws_them() -> None:
    """A 0.25 mm ballpoint line is about two pixels wide at 200 dpi, a tick's long arm
    leaves the oval at the top right, a circle goes round the oval without entering it,
    and a stray stays away from the oval."""
    k = HAND_DPI / 25.4
    box = (300.0, 400.0, 7 * k, 4.5 * k)
    cx, cy = box[0] + box[2] / 2, box[1] + box[3] / 2
    for seed in range(12):
        rng = np.random.default_rng(seed)
        patch, _ = hand.hand_patch(box, "line", "ballpoint-0.25/black", k, rng)
        ink = patch.field > 0.5
        widths = ink.sum(axis=0)
        assert 1 <= np.median(widths[widths > 0]) <= 3, seed
        patch, _ = hand.hand_patch(box, "tick", "ballpoint-0.4/blue", k, rng)
        points = _ink_of(patch.field) + [patch.y0, patch.x0]
        top_right = points[np.argmin(points[:, 0] - points[:, 1])]
        assert top_right[1] > cx + box[2] / 4 and top_right[0] < cy - box[3] / 2, seed
        patch, _ = hand.hand_patch(box, "circle", "ballpoint-0.3/red", k, rng)
        points = _ink_of(patch.field) + [patch.y0, patch.x0]
        u = (points[:, 1] - cx) / (box[2] / 2)
        v = (points[:, 0] - cy) / (box[3] / 2)
        assert (u**2 + v**2).min() > 0.85 ** 2, seed  # round the oval, not through it
        angles = np.arctan2(v, u)
        assert np.histogram(angles, bins=12, range=(-np.pi, np.pi))[0].min() > 0, seed
        patch, _ = hand.hand_patch(box, "stray", "ballpoint-0.5/green", k, rng)
        points = _ink_of(patch.field) + [patch.y0, patch.x0]
        dx = np.maximum(np.abs(points[:, 1] - cx) - box[2] / 2, 0)
        dy = np.maximum(np.abs(points[:, 0] - cy) - box[3] / 2, 0)
        assert np.hypot(dx, dy).min() > 1.2 * k, seed
