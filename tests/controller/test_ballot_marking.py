"""The rig's pen: marks only what was chosen, like a hand would, the same for the same seed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from controller.ballots.render import render_ballot
from controller.election.load import load_election
from hil.ballot_marking import mark_ballot

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "election.json"


@pytest.fixture(scope="module")
def sheet() -> tuple[Image.Image, dict]:
    return render_ballot(load_election(EXAMPLE), "s-d07")


def _target(layout: dict, option: str, contest: str = "party-list") -> dict:
    return next(t for t in layout["targets"] if t["option"] == option and t["contest"] == contest)


def test_only_the_chosen_ovals_get_ink(sheet) -> None:
    image, layout = sheet
    choices = {"party-list": ["p-yntymak"], "smd-07": ["c07-kenjebaev", "against-all"]}
    marked = mark_ballot(image, layout, choices, seed=4)
    assert marked.size == image.size and marked.mode == "L"
    diff = np.array(marked).astype(int) != np.array(image).astype(int)
    allowed = np.zeros_like(diff)
    for contest, options in choices.items():
        for option in options:
            t = _target(layout, option, contest)
            # A hand spills a little over the oval, never far.
            pad_x, pad_y = t["w"] // 4, t["h"] // 4
            allowed[t["y"] - pad_y:t["y"] + t["h"] + pad_y,
                    t["x"] - pad_x:t["x"] + t["w"] + pad_x] = True
    assert diff.any()
    assert not (diff & ~allowed).any()
    assert np.array_equal(np.array(image), np.array(sheet[0]))  # the original is untouched


def test_a_mark_is_clear_but_not_a_perfect_fill(sheet) -> None:
    image, layout = sheet
    for seed in range(5):
        marked = np.array(mark_ballot(image, layout, {"party-list": ["p-onuguu"]}, seed=seed))
        t = _target(layout, "p-onuguu")
        ys, xs = np.mgrid[0:t["h"], 0:t["w"]]
        inside = ((xs + 0.5 - t["w"] / 2) / (t["w"] / 2)) ** 2 + (
            (ys + 0.5 - t["h"] / 2) / (t["h"] / 2)) ** 2 <= 0.8
        box = marked[t["y"]:t["y"] + t["h"], t["x"]:t["x"] + t["w"]]
        dark = (box[inside] < 128).mean()
        assert 0.6 < dark < 0.995, (seed, dark)


def test_same_seed_same_marks_other_seed_other_marks(sheet) -> None:
    image, layout = sheet
    choices = {"party-list": ["p-el-unu"]}
    a = np.array(mark_ballot(image, layout, choices, seed=1))
    b = np.array(mark_ballot(image, layout, choices, seed=1))
    c = np.array(mark_ballot(image, layout, choices, seed=2))
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_a_mark_does_not_depend_on_the_other_marks(sheet) -> None:
    image, layout = sheet
    alone = np.array(mark_ballot(image, layout, {"party-list": ["p-el-unu"]}, seed=3))
    both = np.array(
        mark_ballot(image, layout, {"party-list": ["p-el-unu"], "smd-07": ["c07-osmonova"]}, 3)
    )
    t = _target(layout, "p-el-unu")
    window = np.s_[t["y"] - 5:t["y"] + t["h"] + 5, t["x"] - 5:t["x"] + t["w"] + 5]
    assert np.array_equal(alone[window], both[window])


def test_numpy_input_and_empty_choices(sheet) -> None:
    image, layout = sheet
    out = mark_ballot(np.array(image), layout, {})
    assert isinstance(out, Image.Image)
    assert np.array_equal(np.array(out), np.array(image))


def test_bad_input_is_refused(sheet) -> None:
    image, layout = sheet
    with pytest.raises(ValueError, match="no target for 'party-list' / 'p-nope'"):
        mark_ballot(image, layout, {"party-list": ["p-nope"]})
    with pytest.raises(ValueError, match="no target for 'smd-12'"):
        mark_ballot(image, layout, {"smd-12": ["c12-ormonov"]})
    with pytest.raises(ValueError, match="not a ballot layout record"):
        mark_ballot(image, {"dpi": 150}, {})
    with pytest.raises(ValueError, match="does not have the size"):
        mark_ballot(image.resize((100, 140)), layout, {})
    with pytest.raises(TypeError, match="PIL image or a numpy array"):
        mark_ballot("ballot.png", layout, {})  # type: ignore[arg-type]
