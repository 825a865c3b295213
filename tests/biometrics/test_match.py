"""The matcher on synthetic minutiae sets: one finger across placements, rotation,
distortion and partial contact scores above every other finger; the score does not care
how the set is moved or turned or at what resolution it is stored; batches and single
comparisons agree; thresholds are looked up by false-match rate."""

from __future__ import annotations

import numpy as np
import pytest

from controller.biometrics import thresholds
from controller.biometrics.match import Template, compare, match
from controller.biometrics.match.matcher import align, compare_many
from controller.biometrics.match.synthetic import make_finger, make_impression
from controller.biometrics.template import Minutiae

FINGERS = 60


@pytest.fixture(scope="module")
def fingers() -> list:
    return [make_finger(seed) for seed in range(FINGERS)]


def impression(finger, seed: int, **kwargs) -> Minutiae:  # noqa: ANN001
    return make_impression(finger, seed, **kwargs)[0]


def moved(m: Minutiae, degrees: float, dx: float, dy: float) -> Minutiae:
    """The same minutiae turned counterclockwise as viewed (y down) and shifted."""
    t = np.radians(degrees)
    c, s = np.cos(t), np.sin(t)
    x, y = m.x.astype(np.float64), m.y.astype(np.float64)
    return Minutiae.from_columns(
        c * x + s * y + dx, -s * x + c * y + dy, m.angle + t, m.kind, m.quality
    )


def test_a_finger_scores_above_every_other_finger(fingers: list) -> None:
    probes = [Template.from_minutiae(impression(f, 1)) for f in fingers]
    references = [Template.from_minutiae(impression(f, 2)) for f in fingers]
    genuine = np.array([compare(p, r) for p, r in zip(probes, references, strict=True)])
    impostor = np.array(
        [
            compare(probes[i], references[j])
            for i in range(FINGERS)
            for j in range(FINGERS)
            if i != j
        ]
    )
    assert impostor.max() < np.percentile(genuine, 10)
    assert (genuine >= thresholds.VERIFY_THRESHOLD).mean() >= 0.95
    assert (impostor >= thresholds.VERIFY_THRESHOLD).mean() <= 0.002
    assert 0.0 <= impostor.min() and genuine.max() <= 1.0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"rotation_sd": 0.0, "shift_sd": 0.0, "distortion": 0.0},
        {"rotation_sd": 30.0},
        {"shift_sd": 60.0},
        {"distortion": 12.0},
        {"contact": 0.6},
    ],
)
def test_hard_captures_still_match(fingers: list, kwargs: dict) -> None:
    scores = [
        compare(
            Template.from_minutiae(impression(f, 11, **kwargs)),
            Template.from_minutiae(impression(f, 12)),
        )
        for f in fingers[:20]
    ]
    # Most captures verify, however the finger was turned, moved, stretched or pressed.
    assert np.median(scores) >= thresholds.VERIFY_THRESHOLD + 0.04


def test_score_ignores_placement_and_resolution(fingers: list) -> None:
    a = impression(fingers[0], 1)
    b = impression(fingers[0], 2)
    base = match(a, b)
    turned = moved(a, 40.0, 300.0, 120.0)
    assert match(turned, b) == pytest.approx(base, abs=0.08)
    # The same minutiae stored at 250 dpi: half the pixel coordinates, half the ppcm.
    half = Minutiae.from_columns(a.x / 2, a.y / 2, a.angle, a.kind, a.quality)
    stored = compare(Template.from_minutiae(half, 98, 98), Template.from_minutiae(b))
    assert stored == pytest.approx(base, abs=0.08)


def test_alignment_brings_the_probe_onto_the_reference(fingers: list) -> None:
    a = impression(fingers[3], 1, missing=0.0, spurious=0.0, position_sd=0.5, angle_sd=1.0)
    turned = moved(a, 25.0, 40.0, -30.0)
    probe, reference = Template.from_minutiae(turned), Template.from_minutiae(a)
    value, alignment = align(probe, reference)
    assert value > 0.9
    rot = float(alignment.rot[0])
    c, s = np.cos(rot), np.sin(rot)
    px, py, _ = probe.points
    dx, dy = px - alignment.centre[0][0], py - alignment.centre[1][0]
    x = c * dx - s * dy + alignment.target[0][0]
    y = s * dx + c * dy + alignment.target[1][0]
    rx, ry, _ = reference.points  # moved() keeps the order of the minutiae
    assert np.median(np.hypot(x - rx, y - ry)) < 2.0
    assert align(Template.from_minutiae(Minutiae.empty()), reference) == (0.0, None)


def test_batches_give_the_single_scores(fingers: list) -> None:
    probe = Template.from_minutiae(impression(fingers[5], 1))
    candidates = [Template.from_minutiae(impression(f, 2)) for f in fingers]
    candidates.insert(7, Template.from_minutiae(Minutiae.empty()))
    batch = compare_many(probe, candidates)
    single = np.array([compare(probe, c) for c in candidates])
    np.testing.assert_allclose(batch, single, atol=1e-6)
    assert batch[7] == 0.0
    assert batch.argmax() == 5


def test_too_few_minutiae_score_zero() -> None:
    few = Minutiae.from_columns([10, 50], [10, 60], [0, 1], [1, 2], [50, 50])
    some = make_impression(make_finger(1), 1)[0]
    assert match(few, some) == 0.0
    assert match(Minutiae.empty(), Minutiae.empty()) == 0.0
    assert len(compare_many(Template.from_minutiae(few), [Template.from_minutiae(some)])) == 1


def test_thresholds_are_ordered_and_looked_up_by_rate() -> None:
    by_rate = thresholds.BY_FALSE_MATCH_RATE
    rates = sorted(by_rate, reverse=True)
    assert [by_rate[r] for r in rates] == sorted(by_rate.values())
    assert thresholds.threshold_for(0.001) == by_rate[0.001]
    assert thresholds.IDENTIFY_THRESHOLD >= thresholds.VERIFY_THRESHOLD
    with pytest.raises(ValueError, match="calibrated"):
        thresholds.threshold_for(0.05)


def jittered(m: Minutiae, radius: float, seed: int) -> Minutiae:
    """Every minutia moved ``radius`` pixels in a random direction."""
    turn = np.random.default_rng(seed).uniform(0.0, 2 * np.pi, len(m))
    return Minutiae.from_columns(
        m.x + radius * np.cos(turn), m.y + radius * np.sin(turn), m.angle, m.kind, m.quality
    )


def test_a_pair_counts_by_how_closely_its_minutiae_lie(fingers: list) -> None:
    """Within the tolerance a pair still counts, but less the further apart it lies: a
    loose fit is what an accidental pairing looks like."""
    a = impression(fingers[7], 1, missing=0.0, spurious=0.0, position_sd=0.5, angle_sd=1.0)
    assert match(a, a) == pytest.approx(1.0)
    by_radius = [
        np.mean([match(jittered(a, r, seed), a) for seed in range(3)]) for r in (1, 3, 5, 7)
    ]
    assert (np.diff(by_radius) < -0.01).all(), by_radius
    assert by_radius[-1] >= thresholds.VERIFY_THRESHOLD + 0.2  # all still pair up


def test_a_stretched_finger_still_verifies(fingers: list) -> None:
    """Skin pressed sideways stretches: 20 % across the print moves its edge minutiae far
    beyond the tolerance at the anchor, and the tolerance grows to follow."""
    a = impression(fingers[7], 1, missing=0.0, spurious=0.0, position_sd=0.5, angle_sd=1.0)
    cx = float(a.x.mean())
    stretched = Minutiae.from_columns(cx + (a.x - cx) * 1.2, a.y, a.angle, a.kind, a.quality)
    assert np.abs(stretched.x - a.x).max() > 20.0
    assert match(stretched, a) >= thresholds.VERIFY_THRESHOLD + 0.2
