"""Minutiae extraction: accuracy against the generator's ground truth, the ISO direction
convention on planted minutiae, geometry (rotation, resolution), refusals with the right
reason, and invalid arguments."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage
from scipy.optimize import linear_sum_assignment

from controller.biometrics.extract import REASONS, Extraction, extract, reason_text
from controller.biometrics.images import unpack_zhiantec
from controller.biometrics.template import BIFURCATION, ENDING, Minutiae
from hil.fingerprints import make_impression, make_master

FINGERS = (100, 101, 102)
DISTANCE = 12.0  # pixels
ANGLE = np.radians(30.0)


def turn(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Absolute difference of two directions, radians in [0, π]."""
    d = np.mod(np.asarray(a) - np.asarray(b), 2 * np.pi)
    return np.minimum(d, 2 * np.pi - d)


def paired(found: Minutiae, truth: Minutiae, distance: float = DISTANCE, angle: float = ANGLE):
    """Indices (found, truth) of a one-to-one pairing within ``distance`` and ``angle``."""
    if len(found) == 0 or len(truth) == 0:
        return np.zeros(0, int), np.zeros(0, int)
    d = np.hypot(found.x[:, None] - truth.x[None], found.y[:, None] - truth.y[None])
    ok = (d <= distance) & (turn(found.angle[:, None], truth.angle[None]) <= angle)
    rows, cols = linear_sum_assignment(np.where(ok, d, 1e6))
    good = ok[rows, cols]
    return rows[good], cols[good]


@pytest.fixture(scope="module")
def masters() -> dict[int, object]:
    return {seed: make_master(seed) for seed in FINGERS}


@pytest.fixture(scope="module")
def clean(masters: dict[int, object]) -> list:
    """Good and normal impressions of three fingers, as the sensor would deliver them."""
    return [
        make_impression(masters[seed], 1, condition=condition)
        for seed in FINGERS
        for condition in ("good", "normal")
    ]


@pytest.fixture(scope="module")
def extracted(clean: list) -> list[Extraction]:
    return [extract(impression.image) for impression in clean]


# --- accuracy ---------------------------------------------------------------------------


def test_clean_captures_are_usable_with_a_high_score(extracted: list[Extraction]) -> None:
    for result in extracted:
        assert result.usable, result.reason
        assert result.reason is None and result.message is None
        assert result.quality >= 70
        assert len(result.minutiae) >= 20


def test_recall_and_precision_on_clean_captures(clean: list, extracted: list) -> None:
    matched = found = truth = 0
    for impression, result in zip(clean, extracted, strict=True):
        pairs, _ = paired(result.minutiae, impression.minutiae)
        # Every single image must agree with its ground truth on most minutiae.
        assert len(pairs) >= 0.6 * len(impression.minutiae), impression
        assert len(pairs) >= 0.7 * len(result.minutiae), impression
        matched += len(pairs)
        found += len(result.minutiae)
        truth += len(impression.minutiae)
    assert matched / truth >= 0.78
    assert matched / found >= 0.85


def test_matched_minutiae_sit_close_with_close_directions(clean: list, extracted: list) -> None:
    distances, angles = [], []
    for impression, result in zip(clean, extracted, strict=True):
        f, t = paired(result.minutiae, impression.minutiae)
        distances += list(
            np.hypot(
                result.minutiae.x[f] - impression.minutiae.x[t],
                result.minutiae.y[f] - impression.minutiae.y[t],
            )
        )
        angles += list(np.degrees(turn(result.minutiae.angle[f], impression.minutiae.angle[t])))
    assert np.median(distances) <= 3.0
    assert np.median(angles) <= 6.0


def test_a_shuffled_template_does_not_match_the_truth(clean: list, extracted: list) -> None:
    # The bounds above cannot be met by chance: the same minutiae moved to random
    # places of the same print pair with almost nothing.
    rng = np.random.default_rng(5)
    impression, result = clean[0], extracted[0]
    m = result.minutiae
    h, w = impression.image.shape
    moved = Minutiae.from_columns(
        rng.uniform(0, w, len(m)), rng.uniform(0, h, len(m)), m.angle, m.kind, m.quality
    )
    real = len(paired(m, impression.minutiae)[0])
    chance = len(paired(moved, impression.minutiae)[0])
    assert chance <= 0.25 * real


def test_minutiae_have_the_template_form(clean: list, extracted: list) -> None:
    for impression, result in zip(clean, extracted, strict=True):
        m = result.minutiae
        h, w = impression.image.shape
        assert (result.width, result.height, result.dpi) == (w, h, 500)
        assert m.x.dtype == np.float32 and m.angle.dtype == np.float32
        assert ((m.x >= 0) & (m.x < w) & (m.y >= 0) & (m.y < h)).all()
        assert ((m.angle >= 0) & (m.angle < 2 * np.pi)).all()
        assert set(np.unique(m.kind)) <= {ENDING, BIFURCATION}
        assert (m.kind == ENDING).any() and (m.kind == BIFURCATION).any()
        assert ((m.quality >= 1) & (m.quality <= 100)).all()
        assert len(np.unique(m.quality)) > 3  # a real judgement, not a constant


def test_extraction_is_deterministic_and_leaves_the_input_alone(clean: list) -> None:
    image = clean[1].image
    before = image.copy()
    first, second = extract(image), extract(image)
    np.testing.assert_array_equal(image, before)
    assert first.quality == second.quality
    for name in ("x", "y", "angle", "kind", "quality"):
        np.testing.assert_array_equal(getattr(first.minutiae, name), getattr(second.minutiae, name))


def test_result_is_frozen(extracted: list) -> None:
    with pytest.raises(AttributeError):
        extracted[0].quality = 5  # type: ignore[misc]


# --- planted minutiae: position, kind and the ISO direction ------------------------------

PERIOD = 9.0
PLANTED = [(x, y) for y in (60, 112, 164, 216) for x in (52, 102, 152, 202)]


def planted(signs: list[int], invert: bool = False) -> np.ndarray:
    """Vertical ridges with one dislocation at each point of PLANTED.

    Each point adds ±atan2 around it to the ridge phase, which makes one ridge more on
    one side of it than on the other: with sign +1 the extra ridge lies above (the
    minutia points up, 90°), with -1 below (270°). Whether it shows as an ending or a
    fork depends on which of the two phases is dark; inverting swaps them.
    """
    yy, xx = np.mgrid[0:288, 0:256].astype(np.float64)
    phase = 2 * np.pi * xx / PERIOD
    for (x0, y0), s in zip(PLANTED, signs, strict=True):
        phase += s * np.arctan2(yy - y0, xx - x0)
    wave = np.cos(phase)
    if invert:
        wave = -wave
    rng = np.random.default_rng(11)
    image = 128 + 70 * wave + rng.normal(0, 4, wave.shape)
    return np.clip(ndimage.gaussian_filter(image, 0.7), 0, 255).astype(np.uint8)


SIGNS = [1, -1, 1, -1, -1, 1, -1, 1, 1, -1, 1, -1, -1, 1, -1, 1]


@pytest.mark.parametrize("invert", [False, True])
def test_planted_minutiae_are_found_pointing_to_the_side_with_the_extra_ridge(
    invert: bool,
) -> None:
    result = extract(planted(SIGNS, invert))
    assert result.usable, result.reason
    truth = Minutiae.from_columns(
        [p[0] for p in PLANTED],
        [p[1] for p in PLANTED],
        [np.pi / 2 if s > 0 else 3 * np.pi / 2 for s in SIGNS],
        [0] * len(PLANTED),
        [100] * len(PLANTED),
    )
    f, t = paired(result.minutiae, truth, distance=5.0, angle=np.radians(20.0))
    assert len(t) >= 14, (len(t), len(result.minutiae))
    assert len(result.minutiae) <= len(PLANTED) + 2
    # One polarity makes every planted minutia an ending, the other a fork.
    kinds = result.minutiae.kind[f]
    majority = np.bincount(kinds).argmax()
    assert (kinds == majority).mean() >= 0.9


def test_inverting_the_image_swaps_endings_and_forks_but_not_directions() -> None:
    plain, inverted = extract(planted(SIGNS)), extract(planted(SIGNS, invert=True))
    f, g = paired(plain.minutiae, inverted.minutiae, distance=5.0, angle=np.radians(25.0))
    assert len(f) >= 14
    assert (plain.minutiae.kind[f] != inverted.minutiae.kind[g]).mean() >= 0.9


# --- geometry ---------------------------------------------------------------------------


def test_rotating_the_image_rotates_the_minutiae(clean: list, extracted: list) -> None:
    impression, result = clean[0], extracted[0]
    h, w = impression.image.shape
    turned = extract(np.rot90(impression.image))  # 90° counterclockwise as viewed
    assert (turned.width, turned.height) == (h, w)
    m = result.minutiae
    expected = Minutiae.from_columns(m.y, w - 1 - m.x, m.angle + np.pi / 2, m.kind, m.quality)
    f, _ = paired(turned.minutiae, expected, distance=4.0, angle=np.radians(20.0))
    assert len(f) >= 0.75 * len(m)
    assert len(f) >= 0.75 * len(turned.minutiae)


def test_other_resolutions_report_minutiae_in_the_given_pixels(
    clean: list, extracted: list
) -> None:
    impression, result = clean[2], extracted[2]
    h, w = impression.image.shape
    zoom = 1.6  # the same finger scanned at 800 dpi
    fine = ndimage.zoom(
        impression.image.astype(np.float32), zoom, order=3, grid_mode=True, mode="nearest"
    )
    fine = np.clip(fine, 0, 255).astype(np.uint8)
    scanned = extract(fine, dpi=800)
    assert scanned.usable
    assert (scanned.width, scanned.height, scanned.dpi) == (fine.shape[1], fine.shape[0], 800)
    m = result.minutiae
    expected = Minutiae.from_columns(
        (m.x + 0.5) * zoom - 0.5, (m.y + 0.5) * zoom - 0.5, m.angle, m.kind, m.quality
    )
    f, _ = paired(scanned.minutiae, expected, distance=4.0 * zoom, angle=np.radians(20.0))
    assert len(f) >= 0.75 * len(m)


def test_a_coarse_scan_is_resampled_up(clean: list, extracted: list) -> None:
    impression, result = clean[3], extracted[3]
    coarse = ndimage.zoom(
        impression.image.astype(np.float32), 0.8, order=1, grid_mode=True, mode="nearest"
    )
    scanned = extract(np.clip(coarse, 0, 255).astype(np.uint8), dpi=400)
    assert scanned.usable
    m = result.minutiae
    expected = Minutiae.from_columns(
        (m.x + 0.5) * 0.8 - 0.5, (m.y + 0.5) * 0.8 - 0.5, m.angle, m.kind, m.quality
    )
    f, _ = paired(scanned.minutiae, expected, distance=5.0, angle=np.radians(25.0))
    assert len(f) >= 0.6 * len(m)


def test_a_four_bit_sensor_frame_keeps_its_minutiae(clean: list, extracted: list) -> None:
    # What a ZhianTec module uploads: the same capture with 16 grey levels.
    impression = clean[1]
    levels = impression.image >> 4
    frame = ((levels[:, 0::2] << 4) | levels[:, 1::2]).astype(np.uint8).tobytes()
    result = extract(unpack_zhiantec(frame))
    assert result.usable
    f, _ = paired(result.minutiae, impression.minutiae)
    assert len(f) >= 0.6 * len(impression.minutiae)
    assert len(f) >= 0.7 * len(result.minutiae)


def test_integer_and_float_grey_arrays_are_accepted(clean: list, extracted: list) -> None:
    image = clean[0].image
    for converted in (image.astype(np.int32), image.astype(np.float64), image.tolist()):
        again = extract(converted)
        np.testing.assert_array_equal(again.minutiae.x, extracted[0].minutiae.x)


# --- refusals ------------------------------------------------------------------------


def refused(image: np.ndarray) -> Extraction:
    result = extract(image)
    assert not result.usable
    assert len(result.minutiae) == 0
    assert result.reason in REASONS
    assert result.message == REASONS[result.reason]
    assert 0 <= result.quality <= 100
    return result


@pytest.mark.parametrize("level", [0, 128, 230, 255])
def test_blank_sensor(level: int) -> None:
    result = refused(np.full((288, 256), level, dtype=np.uint8))
    assert result.reason == ("no_finger" if level >= 90 else "low_contrast")
    assert result.quality == 0


def test_bare_glass_with_sensor_noise_and_shading() -> None:
    rng = np.random.default_rng(2)
    yy, xx = np.mgrid[0:480, 0:640]
    glass = 215 + 20 * xx / 640 - 10 * yy / 480 + rng.normal(0, 6, (480, 640))
    assert refused(np.clip(glass, 0, 255).astype(np.uint8)).reason == "no_finger"


@pytest.mark.parametrize("sd", [15, 60])
def test_noise_only(sd: int) -> None:
    rng = np.random.default_rng(sd)
    noise = np.clip(rng.normal(150, sd, (288, 256)), 0, 255).astype(np.uint8)
    assert refused(noise).reason == "no_finger"


def test_dark_image() -> None:
    rng = np.random.default_rng(4)
    dark = np.clip(rng.normal(40, 5, (288, 256)), 0, 255).astype(np.uint8)
    assert refused(dark).reason == "low_contrast"


def test_tiny_contact(clean: list) -> None:
    # A fingertip that touched only a patch of 40 pixels across.
    image = np.full_like(clean[0].image, 225)
    patch = (slice(120, 160), slice(110, 150))
    image[patch] = clean[0].image[patch]
    assert refused(image).reason == "too_small"


def test_generator_failed_captures_are_refused(masters: dict) -> None:
    expected = {"no_contact": {"too_small"}, "black": {"low_contrast"}, "smeared": {"smudged"}}
    for seed in FINGERS[:2]:
        for condition, reasons in expected.items():
            impression = make_impression(masters[seed], 2, condition=condition)
            assert refused(impression.image).reason in reasons, (seed, condition)


def test_faint_print_is_refused_as_low_contrast(clean: list) -> None:
    image = clean[0].image.astype(np.float32)
    faint = 200 + (image - image.mean()) * 0.03
    assert refused(np.clip(faint, 0, 255).astype(np.uint8)).reason in ("low_contrast", "no_finger")


def textures() -> dict[str, np.ndarray]:
    yy, xx = np.mgrid[0:300, 0:300].astype(np.float64)
    rng = np.random.default_rng(9)
    return {
        "straight ridges": 128 + 60 * np.sin(2 * np.pi * (xx + yy) / (9 * np.sqrt(2))),
        "wide stripes": 128 + 60 * np.sin(2 * np.pi * xx / 20),
        "fine stripes": 128 + 60 * np.sin(2 * np.pi * xx / 3),
        "rings": 128 + 60 * np.sin(2 * np.pi * np.hypot(xx - 150, yy - 150) / 9),
        "checkerboard": 20 + 200 * ((xx // 4 + yy // 4) % 2),
        "salt and pepper": 255 * (rng.random((300, 300)) > 0.5),
        "ramp": xx * 255 / 300,
        "step": np.where(xx < 150, 0, 255),
    }


@pytest.mark.parametrize("name", list(textures()))
def test_textures_without_minutiae_are_refused_not_crashed(name: str) -> None:
    image = np.clip(textures()[name], 0, 255).astype(np.uint8)
    result = refused(image)
    if name in ("fine stripes", "checkerboard", "salt and pepper"):
        assert result.reason == "no_finger"


def test_random_images_of_any_allowed_size_and_resolution_never_crash() -> None:
    rng = np.random.default_rng(21)
    for _ in range(6):
        h, w = (int(v) for v in rng.integers(150, 420, 2))
        dpi = int(rng.integers(250, 1001))
        scale = rng.uniform(4, 12)
        yy, xx = np.mgrid[0:h, 0:w]
        angle = rng.uniform(0, np.pi)
        phase = (xx * np.cos(angle) + yy * np.sin(angle)) * 2 * np.pi / scale
        image = 128 + rng.uniform(0, 90) * np.sin(phase) + rng.normal(0, rng.uniform(0, 40), (h, w))
        result = extract(np.clip(image, 0, 255).astype(np.uint8), dpi=dpi)
        assert (result.width, result.height, result.dpi) == (w, h, dpi)
        assert result.usable == (result.reason is None)


def test_every_reason_has_a_sentence_for_the_poll_worker() -> None:
    assert set(REASONS) == {"no_finger", "too_small", "low_contrast", "smudged", "too_few_minutiae"}
    for code, text in REASONS.items():
        assert reason_text(code) == text
        assert text.endswith(".") and len(text) > 30
    assert reason_text("unknown_code") == "unknown_code"


# --- invalid arguments -------------------------------------------------------------------


@pytest.mark.parametrize(
    "image, message",
    [
        (np.zeros((288, 256, 3), np.uint8), "2-D"),
        (np.zeros(288 * 256, np.uint8), "2-D"),
        (np.zeros((149, 256), np.uint8), "each side"),
        (np.zeros((288, 2001), np.uint8), "each side"),
        (np.zeros((0, 0), np.uint8), "each side"),
        (np.zeros((288, 256), bool), "grey levels"),
        (np.zeros((288, 256), complex), "grey levels"),
        (np.full((288, 256), "a"), "grey levels"),
        (np.full((288, 256), 256.0), "0..255"),
        (np.full((288, 256), -1, np.int16), "0..255"),
        (np.full((288, 256), np.nan), "finite"),
        ("not an image", "2-D"),
    ],
)
def test_invalid_images_raise_value_error(image: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        extract(image)  # type: ignore[arg-type]


@pytest.mark.parametrize("dpi", [0, 249, 1001, -500, 500.0, "500", True, None])
def test_invalid_resolution_raises_value_error(dpi: object) -> None:
    with pytest.raises(ValueError, match="dpi"):
        extract(np.zeros((288, 256), np.uint8), dpi=dpi)  # type: ignore[arg-type]


def test_image_too_large_once_at_500_dpi_raises_value_error() -> None:
    with pytest.raises(ValueError, match="larger than 2000"):
        extract(np.zeros((1200, 1200), np.uint8), dpi=250)


def test_smallest_image_at_the_finest_resolution_is_refused_not_crashed() -> None:
    result = extract(np.full((150, 150), 200, np.uint8), dpi=1000)
    assert not result.usable and result.reason in REASONS
    yy, xx = np.mgrid[0:150, 0:150]
    stripes = (128 + 60 * np.sin(2 * np.pi * xx / 18.0)).astype(np.uint8)
    result = extract(stripes, dpi=1000)
    assert not result.usable and result.reason == "too_small"
