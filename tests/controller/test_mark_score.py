"""The mark score on marks made by another hand than the reader's: pen strokes of the
hand model (``hil.ballot_scans.hand``) and strokes drawn here with Pillow, rendered and
scanned, then read by the real reader. Thin ticks and crosses of a 0.25 mm ballpoint
count in every ink; dots up to a millimetre, specks, strays and erasures do not."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from controller.ballots.read import DEFAULT_THRESHOLDS, read_ballot
from controller.ballots.render import render_ballot
from controller.ballots.scoring import measure_targets
from controller.election.definition import Election
from controller.election.load import load_election
from hil.ballot_scans import MarkSpec, ScanMaker, ScanSpec, hand

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "election.json"
DPI = 200
MARKED, MARGINAL = DEFAULT_THRESHOLDS["marked"], DEFAULT_THRESHOLDS["marginal"]
THIN = ["ballpoint-0.25", "ballpoint-0.3", "ballpoint-0.4", "ballpoint-0.6"]


@pytest.fixture(scope="module")
def election() -> Election:
    return load_election(EXAMPLE)


@pytest.fixture(scope="module")
def maker(election) -> ScanMaker:
    return ScanMaker(election, DPI, "official")


def _targets(election: Election, style: str = "s-d07") -> list[tuple[str, str]]:
    return [(c.id, o.id) for c in election.style_contests(style) for o in c.options]


def _read_hand(election, maker, kind: str, pens: list[str], seed: int, **scanner) -> list:
    """Every target of a sheet marked with ``kind`` in turn by ``pens``; the marks as
    read, each with the pen."""
    marks = [MarkSpec(c, o, kind, pens[i % len(pens)], model="hand")
             for i, (c, o) in enumerate(_targets(election))]
    scan = maker.make(ScanSpec("s-d07", marks=marks, seed=seed, **scanner))
    result = read_ballot(scan.image, election, mode="official", dpi=DPI)
    assert result["status"] == "accepted", result["detail"]
    assert [t["truth"] for t in scan.truth["targets"]] == [hand.truth_of(kind)] * len(marks)
    return [(m, mark.pen) for m, mark in zip(result["marks"], marks, strict=True)]


# The scanner at its worst within the generator's tolerances: the most blur, noise, a dull
# sheet and a weak lamp, turned a little, in grey or in colour.
HARSH = [
    {"blur": 0.15, "noise": 5.0, "paper": 200, "black": 35, "rotation": 2.5},
    {"blur": 0.12, "noise": 3.0, "paper": 235, "black": 10, "rotation": -4.0, "colour": True},
]


@pytest.mark.parametrize("kind", ["tick", "cross"])
@pytest.mark.parametrize("scanner", HARSH, ids=["grey", "colour"])
def test_thin_ticks_and_crosses_of_every_ink_are_votes(election, maker, kind, scanner) -> None:
    pens = [f"{p}/{ink}" for p in THIN for ink in hand.INKS]
    for seed in range(2):
        for mark, pen in _read_hand(election, maker, kind, pens, seed, **scanner):
            assert mark["class"] == "marked", (pen, mark)


@pytest.mark.parametrize("kind", ["slash", "line", "circle", "scribble", "fill"])
def test_other_deliberate_marks_are_votes(election, maker, kind) -> None:
    pens = [f"{p}/{ink}" for p, ink in zip(
        list(hand.INSTRUMENTS), ["blue", "black", "red", "green", "violet"] * 2, strict=False)]
    for mark, pen in _read_hand(election, maker, kind, pens, 11, **HARSH[0]):
        assert mark["class"] == "marked", (pen, mark)


@pytest.mark.parametrize("kind", ["dot", "speck", "stray", "erased"])
def test_dots_specks_strays_and_erasures_are_not_votes(election, maker, kind) -> None:
    pens = [f"{p}/{ink}" for p, ink in zip(
        list(hand.INSTRUMENTS), ["black", "blue", "red", "green", "violet"] * 2, strict=False)]
    # A fold through the rows of ovals as well: its shadow is no stroke either.
    for seed, scanner in enumerate(HARSH):
        marked = _read_hand(election, maker, kind, pens, 20 + seed,
                            folds=[("h", 120.0, 0.12), ("v", 40.0, 0.1)], **scanner)
        for mark, pen in marked:
            assert mark["class"] != "marked", (pen, mark)
            if kind != "dot":  # only a hesitation dot may be flagged for review
                assert mark["class"] == "unmarked", (pen, mark)


def test_hand_model_margins_hold_on_random_sheets(election, maker) -> None:
    """Random hand-marked sheets: every vote well above ``marked``, every non-vote well
    below it (the margins the benchmark reports, on a few sheets)."""
    rng = np.random.default_rng(77)
    low, high = 1.0, 0.0
    for _ in range(6):
        scan = maker.random(rng, model="hand", colour=bool(rng.random() < 0.3))
        if scan.truth["expect"] != "accepted":
            continue
        result = read_ballot(scan.image, election, mode="official", dpi=DPI)
        assert result["status"] == "accepted", result["detail"]
        assert result["votes"] == scan.truth["votes"]
        for mark, target in zip(result["marks"], scan.truth["targets"], strict=True):
            if target["truth"] == "vote":
                low = min(low, mark["score"])
            else:
                high = max(high, mark["score"])
    assert low >= MARKED + 0.03 and high <= MARKED - 0.1, (low, high)


# -- strokes drawn here, by Pillow, on a rendered sheet ---------------------------------


def _centre(t: dict) -> tuple[float, float]:
    return t["x"] + t["w"] / 2, t["y"] + t["h"] / 2


def _mm(v: float) -> float:
    return v * DPI / 25.4


def _drawn(election: Election) -> tuple[np.ndarray, dict[str, str]]:
    """A colour sheet with one mark per option of the party list, drawn with Pillow's
    lines and ellipses; what each must read as."""
    image, layout = render_ballot(election, "s-d07", DPI, "official")
    sheet = image.convert("RGB")
    draw = ImageDraw.Draw(sheet)
    targets = {t["option"]: t for t in layout["targets"] if t["contest"] == "party-list"}
    names = list(targets)
    expect = {}
    blue, red, grey = (40, 60, 170), (200, 40, 40), (110, 110, 110)

    # A tick 2 px (0.25 mm) wide whose long arm leaves the oval at the top right.
    cx, cy = _centre(targets[names[0]])
    draw.line([(cx - _mm(2.2), cy), (cx - _mm(0.8), cy + _mm(1.6)),
               (cx + _mm(4.5), cy - _mm(4))], fill=blue, width=2, joint="curve")
    expect[names[0]] = "marked"
    # A cross of two 2 px lines, off centre.
    cx, cy = _centre(targets[names[1]])
    for sign in (1, -1):
        draw.line([(cx - _mm(2.6) + 3, cy - sign * _mm(2) + 2),
                   (cx + _mm(2.6) + 3, cy + sign * _mm(2) + 2)], fill=red, width=2)
    expect[names[1]] = "marked"
    # A single grey slash, pencil-like.
    cx, cy = _centre(targets[names[2]])
    draw.line([(cx - _mm(2.5), cy + _mm(1.8)), (cx + _mm(2.5), cy - _mm(1.8))], fill=grey,
              width=3)
    expect[names[2]] = "marked"
    # A circle drawn round the oval, clear of it.
    t = targets[names[3]]
    draw.ellipse((t["x"] - _mm(0.9), t["y"] - _mm(0.9), t["x"] + t["w"] + _mm(0.9),
                  t["y"] + t["h"] + _mm(0.9)), outline=blue, width=2)
    expect[names[3]] = "marked"
    # A hesitation dot 1 mm across: flagged at most.
    cx, cy = _centre(targets[names[4]])
    r = _mm(0.5)
    draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=(20, 20, 20))
    expect[names[4]] = "not marked"
    # A speck 0.3 mm across: nothing.
    cx, cy = _centre(targets[names[5]])
    r = _mm(0.15)
    draw.ellipse((cx - r + 4, cy - r - 2, cx + r + 4, cy + r - 2), fill=(30, 30, 30))
    expect[names[5]] = "unmarked"
    # The candidate's name circled and underlined, the oval left alone: nothing.
    t = targets[names[6]]
    draw.ellipse((t["x"] + t["w"] + _mm(2.5), t["y"] - _mm(1.5), t["x"] + t["w"] + _mm(40),
                  t["y"] + t["h"] + _mm(1.5)), outline=blue, width=2)
    draw.line([(t["x"] + t["w"] + _mm(6), t["y"] + t["h"] + _mm(1.2)),
               (t["x"] + t["w"] + _mm(38), t["y"] + t["h"] + _mm(1.4))], fill=red, width=2)
    expect[names[6]] = "unmarked"
    return np.array(sheet), expect


def test_strokes_drawn_another_way_read_as_meant(election) -> None:
    image, expect = _drawn(election)
    for scan in (image, np.array(Image.fromarray(image).rotate(1.5, fillcolor=(255,) * 3))):
        result = read_ballot(scan, election, mode="official", dpi=DPI)
        assert result["status"] == "accepted", result["detail"]
        read = {m["option"]: m for m in result["marks"] if m["contest"] == "party-list"}
        for option, want in expect.items():
            got = read[option]["class"]
            assert got == want or (want == "not marked" and got != "marked"), (option, read)


def test_measures_are_shares_and_the_score_their_largest(election, monkeypatch) -> None:
    """``measure_targets`` gives each measure in [0, 1], the score is the largest of the
    fill (as a share of ``FILL_FULL``), the reach, the ring (of ``RING_FULL``) and the
    edge, and it is what the reading reports."""
    from controller.ballots import read as reader
    from controller.ballots import scoring

    seen: list[dict[str, np.ndarray]] = []

    def measured_score(*args, **kwargs):
        seen.append(measure_targets(*args, **kwargs))
        return seen[-1]["score"]

    monkeypatch.setattr(reader, "score_targets", measured_score)
    image, _ = _drawn(election)
    result = read_ballot(image, election, mode="official", dpi=DPI)
    [measured] = seen
    for name in ("fill", "reach", "ring", "edge", "score"):
        assert ((measured[name] >= 0) & (measured[name] <= 1)).all(), name
    expected = np.minimum(np.maximum.reduce([measured["fill"] / scoring.FILL_FULL,
                                             measured["reach"],
                                             measured["ring"] / scoring.RING_FULL,
                                             measured["edge"]]), 1)
    assert np.allclose(measured["score"], expected)
    assert np.allclose(np.round(measured["score"], 4), [m["score"] for m in result["marks"]])
    # The circle counts by the ring alone, the tick by its reach, not by its fill.
    names = [m["option"] for m in result["marks"]]
    circle, tick = names.index("p-onuguu"), names.index("p-ala-too")
    assert measured["fill"][circle] == 0 and measured["ring"][circle] >= scoring.RING_FULL
    assert measured["fill"][tick] / scoring.FILL_FULL < MARKED <= measured["reach"][tick]


# -- strokes at the printed outline ------------------------------------------------------


def _oval(t: dict) -> tuple[float, float, float, float]:
    """A target's centre and half width and height, in pixels."""
    cx, cy = _centre(t)
    return cx, cy, t["w"] / 2, t["h"] / 2


def _at_the_outline(election: Election) -> tuple[np.ndarray, dict[str, str]]:
    """A grey sheet with strokes where the printed outline hides part of them (one per
    target, 2 to 3 pixels wide, 0.25 to 0.4 mm) and dots of a millimetre on and beside
    it; what each must read as: ``marked``, or ``not marked`` (flagged at most)."""
    image, layout = render_ballot(election, "s-d07", DPI, "official")
    sheet = image.convert("L")
    draw = ImageDraw.Draw(sheet)
    targets = [_oval(t) for t in layout["targets"]]
    keys = [t["option"] for t in layout["targets"]]
    expect: dict[str, str] = {}

    def case(i: int, want: str) -> tuple[float, float, float, float]:
        expect[keys[i]] = want
        return targets[i]

    # Upright lines through the right end, 0.5 and 0.9 mm inside its outer edge: most
    # of the ink inside the oval lies under or beside the outline.
    for i, depth in ((0, 0.5), (1, 0.9)):
        cx, cy, a, b = case(i, "marked")
        x = cx + a - _mm(depth)
        draw.line([(x - _mm(0.3), cy - _mm(3.0)), (x + _mm(0.3), cy + _mm(3.0))], fill=70,
                  width=2)
    # A slash across the top right, 0.5 mm deep at most.
    cx, cy, a, b = case(2, "marked")
    c = np.hypot(a, b) / np.sqrt(2) - _mm(0.5)
    draw.line([(cx + c / np.sqrt(2) - _mm(3), cy - c / np.sqrt(2) - _mm(3)),
               (cx + c / np.sqrt(2) + _mm(3), cy - c / np.sqrt(2) + _mm(3))], fill=70, width=3)
    # A steep slash of a broad pencil through the left end, a little way past the
    # outline's inner edge: the voter aimed a little left.
    cx, cy, a, b = case(3, "marked")
    x = cx - a + _mm(0.6)
    draw.line([(x + _mm(1.6), cy - _mm(3.0)), (x - _mm(1.6), cy + _mm(3.0))], fill=110,
              width=5)
    # A circle drawn tight round the oval: over the outline at its left end and top,
    # half a millimetre clear of it elsewhere.
    cx, cy, a, b = case(4, "marked")
    draw.ellipse((cx - a - _mm(0.1), cy - b - _mm(0.1), cx + a + _mm(0.8), cy + b + _mm(0.6)),
                 outline=70, width=2)
    # Dots of a millimetre: inside against the right end, across the top of the outline,
    # just outside the left end; a 1 mm nick through the right end.
    r = _mm(0.5)
    cx, cy, a, b = case(5, "not marked")
    draw.ellipse((cx + a - _mm(0.45) - 2 * r, cy - r, cx + a - _mm(0.45), cy + r), fill=30)
    cx, cy, a, b = case(6, "not marked")
    draw.ellipse((cx - r, cy - b - r, cx + r, cy - b + r), fill=30)
    cx, cy, a, b = case(7, "not marked")
    draw.ellipse((cx - a - _mm(0.3) - 2 * r, cy - r, cx - a - _mm(0.3), cy + r), fill=30)
    cx, cy, a, b = case(8, "not marked")
    draw.line([(cx + a - _mm(0.5), cy - _mm(0.3)), (cx + a + _mm(0.5), cy + _mm(0.1))], fill=30,
              width=3)
    # Left empty: the outline alone, however the scan rings round it.
    case(9, "unmarked")
    return np.array(sheet), expect


def _jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    out = io.BytesIO()
    Image.fromarray(image).save(out, "JPEG", quality=quality)
    return np.array(Image.open(io.BytesIO(out.getvalue())))


def test_strokes_under_the_outline_count_dots_at_it_do_not(election) -> None:
    """A stroke that clips the oval's end or runs along its outline is a vote although
    the printed outline hides most of it; a dot of a millimetre on or beside the outline
    and a short nick through it are not, on a sharp scan, a turned one and a JPEG at the
    generator's lowest quality."""
    image, expect = _at_the_outline(election)
    turned = np.array(Image.fromarray(image).rotate(-1.5, fillcolor=255))
    for scan in (image, turned, _jpeg(turned, 35)):
        result = read_ballot(scan, election, mode="official", dpi=DPI)
        assert result["status"] == "accepted", result["detail"]
        read = {m["option"]: m for m in result["marks"]}
        for option, want in expect.items():
            got = read[option]["class"]
            assert got == want or (want == "not marked" and got != "marked"), (option, read)


def _thin_fills(election: Election) -> tuple[np.ndarray, list[str]]:
    """A colour sheet whose party-list ovals are filled the way a fine ballpoint fills
    them: back and forth, 2 pixels (0.25 mm) wide, passes 0.5 to 0.9 mm apart with paper
    between them, in pale and dark inks, some passes stopping short of the outline."""
    image, layout = render_ballot(election, "s-d07", DPI, "official")
    sheet = image.convert("RGB")
    draw = ImageDraw.Draw(sheet)
    targets = [_oval(t) for t in layout["targets"] if t["contest"] == "party-list"]
    inks = [(40, 60, 170), (200, 40, 40), (120, 120, 120), (60, 140, 60)]
    pitches = [0.5, 0.6, 0.75, 0.9]
    options = [t["option"] for t in layout["targets"] if t["contest"] == "party-list"]
    for i, (cx, cy, a, b) in enumerate(targets[:8]):
        pitch, ink = _mm(pitches[i % 4]), inks[(i // 2) % 4]
        short = 0.75 if i % 2 else 0.95  # how far towards the outline the passes reach
        points = []
        y, side = cy - b * 0.8, -1
        while y <= cy + b * 0.8:
            half = a * short * np.sqrt(max(0.0, 1 - ((y - cy) / b) ** 2))
            points.append((cx + side * half, y))
            y, side = y + pitch, -side
        draw.line(points, fill=ink, width=2)
    return np.array(sheet), options[:8]


def test_thin_fills_are_votes(election) -> None:
    """A fill of fine passes with paper between them covers well under the fill share that
    counts by itself; its passes are strokes, and it is a vote."""
    image, options = _thin_fills(election)
    result = read_ballot(image, election, mode="official", dpi=DPI)
    assert result["status"] == "accepted", result["detail"]
    read = {m["option"]: m for m in result["marks"]}
    for option in options:
        assert read[option]["class"] == "marked", read[option]
