"""1:N search: the pair index's shortlist holds the finger, the ranking is the matcher's,
owners with several views count once with their best view, and small galleries are
searched exhaustively."""

from __future__ import annotations

import numpy as np
import pytest

from controller.biometrics.match import Template, compare
from controller.biometrics.match import gallery as gallery_module
from controller.biometrics.match.gallery import Gallery
from controller.biometrics.match.index import PairIndex, pairs
from controller.biometrics.match.synthetic import make_finger, make_impression
from controller.biometrics.template import Minutiae

SIZE = 1500
PROBES = 40


@pytest.fixture(scope="module")
def enrolled() -> list[tuple[int, Template]]:
    return [
        (seed, Template.from_minutiae(make_impression(make_finger(seed), 1)[0]))
        for seed in range(SIZE)
    ]


@pytest.fixture(scope="module")
def large(enrolled: list) -> Gallery:
    return Gallery(enrolled)


def probe(seed: int, impression: int = 2) -> Template:
    return Template.from_minutiae(make_impression(make_finger(seed), impression)[0])


def test_large_galleries_are_indexed_and_find_the_finger(large: Gallery) -> None:
    assert large.index is not None and len(large) == SIZE
    found = 0
    for seed in range(0, SIZE, SIZE // PROBES):
        ranked = large.search(probe(seed), top=3)
        assert len(ranked) <= 3
        scores = [s for _, s in ranked]
        assert scores == sorted(scores, reverse=True)
        found += ranked[0][0] == seed
    assert found >= 0.9 * PROBES


def test_the_ranking_carries_the_matchers_scores(large: Gallery, enrolled: list) -> None:
    p = probe(17)
    ranked = large.search(p, top=5)
    by_owner = dict(enrolled)
    for owner, score in ranked:
        assert score == pytest.approx(compare(p, by_owner[owner]), abs=1e-5)


def test_the_index_shortlist_contains_what_exhaustive_search_finds_first(
    large: Gallery, enrolled: list
) -> None:
    small = Gallery(enrolled[:300])
    assert small.index is None
    agree = 0
    for seed in range(0, 300, 10):
        p = probe(seed)
        exhaustive = small.search(p, top=1)[0][0]
        agree += exhaustive in {large.owners[i] for i in large.candidates(p)}
    assert agree >= 27


def test_an_owner_with_several_views_counts_once_with_the_best() -> None:
    finger = make_finger(5)
    views = [Template.from_minutiae(make_impression(finger, k)[0]) for k in (1, 3, 4)]
    others = [(seed, probe(seed, 1)) for seed in range(6, 20)]
    gallery = Gallery([("five", v) for v in views] + others)
    p = probe(5, 2)
    ranked = gallery.search(p, top=20)
    owners = [o for o, _ in ranked]
    assert owners.count("five") == 1 and owners[0] == "five"
    assert ranked[0][1] == pytest.approx(max(compare(p, v) for v in views), abs=1e-5)


def test_empty_probes_templates_and_galleries() -> None:
    empty = Template.from_minutiae(Minutiae.empty())
    assert Gallery([]).search(probe(1)) == []
    gallery = Gallery([("e", empty), ("one", probe(1, 1))])
    assert gallery.owners == ["one"]  # a template without minutiae is never a candidate
    assert gallery.search(empty) == []
    with pytest.raises(ValueError, match="top"):
        gallery.search(probe(1), top=0)


def test_the_threshold_between_exhaustive_and_indexed(monkeypatch: pytest.MonkeyPatch) -> None:
    entries = [(seed, probe(seed, 1)) for seed in range(30)]
    monkeypatch.setattr(gallery_module, "EXHAUSTIVE", 10)
    indexed = Gallery(entries)
    assert indexed.index is not None
    assert len(indexed.candidates(probe(3))) == min(gallery_module.SHORTLIST, 30)
    assert indexed.search(probe(3), top=1)[0][0] == 3


def test_pairs_are_invariant_to_moving_the_finger() -> None:
    m = make_impression(make_finger(9), 1)[0]
    x, y, a = Template.from_minutiae(m).points
    t = np.radians(33.0)
    c, s = np.cos(t), np.sin(t)
    moved = pairs(c * x - s * y + 500, s * x + c * y - 70, np.mod(a + t, 2 * np.pi), 8)
    base = pairs(x, y, a, 8)
    np.testing.assert_allclose(moved.distance, base.distance, rtol=1e-4)
    np.testing.assert_allclose(
        np.angle(np.exp(1j * (moved.beta_i - base.beta_i))), 0.0, atol=1e-3
    )
    np.testing.assert_allclose(
        np.angle(np.exp(1j * (moved.line - base.line - t))), 0.0, atol=1e-3
    )


def test_an_index_of_nothing_ranks_nothing() -> None:
    index = PairIndex.build([])
    assert len(index) == 0
    assert len(index.rank(np.zeros(3), np.zeros(3), np.zeros(3), 5)) == 0
    one = PairIndex.build([(np.array([0.0]), np.array([0.0]), np.array([0.0]))])
    assert len(one.rank(np.array([0.0, 30.0]), np.array([0.0, 0.0]), np.zeros(2), 5)) == 0
