"""Enrollment: consolidated impressions hold more of the finger's true minutiae and fewer
false ones than any single impression, another finger among the impressions is refused,
and a voter's record has both views of every finger and survives the ISO round trip."""

from __future__ import annotations

import numpy as np
import pytest

from controller.biometrics import iso19794_2, thresholds
from controller.biometrics.enroll import MIN_MINUTIAE, EnrollmentError, consolidate, enroll
from controller.biometrics.match import Template, compare
from controller.biometrics.match.synthetic import make_finger, make_impression
from controller.biometrics.template import Minutiae


def impressions(seed: int, count: int = 3) -> list[Minutiae]:
    finger = make_finger(seed)
    return [make_impression(finger, 100 + k)[0] for k in range(count)]


def test_consolidated_references_verify_at_least_as_often_as_one_impression() -> None:
    merged_ok = single_ok = enrolled = 0
    for seed in range(20):
        finger = make_finger(seed)
        views = [make_impression(finger, 100 + k)[0] for k in range(3)]
        if min(len(v) for v in views) < MIN_MINUTIAE:
            continue  # refused for that reason alone, tested below
        enrolled += 1
        probe = Template.from_minutiae(make_impression(finger, 200)[0])
        merged = compare(probe, Template.from_minutiae(consolidate(views).minutiae))
        single = compare(probe, Template.from_minutiae(views[0]))
        merged_ok += merged >= thresholds.VERIFY_THRESHOLD
        single_ok += single >= thresholds.VERIFY_THRESHOLD
    assert enrolled >= 15
    assert merged_ok >= single_ok


@pytest.mark.parametrize("seed", [3, 4, 5, 6, 7, 8])
def test_consolidation_keeps_the_finger_and_drops_false_minutiae(seed: int) -> None:
    # Impressions with little jitter and many false minutiae, so the truth is plain.
    finger = make_finger(seed)
    made = [
        make_impression(finger, 300 + k, spurious=0.25, position_sd=0.5, angle_sd=2.0)
        for k in range(4)
    ]
    merged = consolidate([m for m, _ in made]).minutiae
    sources = np.concatenate([c.source for _, c in made])
    seen = len(set(sources[sources >= 0].tolist()))  # true minutiae some impression shows
    false = int((sources < 0).sum())
    assert len(merged) >= 0.85 * seen
    assert len(merged) <= seen + 0.4 * false
    assert merged.x.min() >= 0 and merged.y.min() >= 0


def test_another_finger_among_the_impressions_is_left_out() -> None:
    mixed = impressions(1, 2) + [make_impression(make_finger(2), 5)[0]] + impressions(1, 3)[2:]
    made = consolidate(mixed)
    assert made.left_out == [2] and made.used == [0, 1, 3]
    probe = Template.from_minutiae(make_impression(make_finger(1), 77)[0])
    assert compare(probe, Template.from_minutiae(made.minutiae)) > thresholds.VERIFY_THRESHOLD


def test_too_few_agreeing_impressions_are_refused() -> None:
    # Two of one finger and two of another: no majority, nothing is enrolled.
    mixed = impressions(1, 2) + impressions(2, 2)
    with pytest.raises(EnrollmentError, match="only 2 of the 4"):
        consolidate(mixed)


def test_counts_and_sizes_are_checked() -> None:
    with pytest.raises(EnrollmentError, match="impressions"):
        consolidate(impressions(1, 1))
    with pytest.raises(EnrollmentError, match="impressions"):
        consolidate(impressions(1, 9))
    few = Minutiae.from_columns(range(5), range(5), [0] * 5, [1] * 5, [50] * 5)
    with pytest.raises(EnrollmentError, match="minutiae"):
        consolidate([few] + impressions(1, 2))
    with pytest.raises(TypeError):
        consolidate(["not minutiae", "either"])  # type: ignore[list-item]
    with pytest.raises(EnrollmentError, match="no finger"):
        enroll({})
    with pytest.raises(EnrollmentError, match="position"):
        enroll({11: impressions(1)})


def test_a_voters_record_has_two_views_per_finger_and_round_trips() -> None:
    made = enroll({2: impressions(10), 7: impressions(11)})
    assert made.left_out == {}
    record = made.record
    assert [(v.finger, v.view) for v in record.views] == [(2, 0), (2, 1), (7, 0), (7, 1)]
    back = iso19794_2.parse(iso19794_2.encode(record))
    assert [len(v.minutiae) for v in back.views] == [len(v.minutiae) for v in record.views]
    probe = Template.from_minutiae(make_impression(make_finger(11), 50)[0])
    scores = [compare(probe, Template.from_minutiae(v.minutiae)) for v in back.views]
    assert max(scores[2:]) > max(scores[:2])  # the probe is finger 7's, not finger 2's


def test_a_finger_whose_impressions_disagree_names_the_finger() -> None:
    mixed = impressions(1, 1) + [make_impression(make_finger(2), 5)[0]]
    with pytest.raises(EnrollmentError, match="finger 3: only 1 of the 2"):
        enroll({3: mixed})
    made = enroll({3: impressions(1, 2) + [make_impression(make_finger(2), 5)[0]]})
    assert made.left_out == {3: [3]}
