"""Extraction on real sensor images (the FVC development sets in ../shared/data/fvc):
ordinary captures of every sensor are usable, impressions of one finger match and
different fingers do not, faint ridges left on the glass beside the print give no
minutiae, and a real print blurred or washed out is still refused."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from controller.biometrics.extract import REASONS, extract
from controller.biometrics.images import load_image
from controller.biometrics.match.matcher import match
from tests.conftest import FVC, needs_fvc

# Each development set and its resolution (from the sets' README).
SETS = {"fvc2002_DB2_B": 569, "fvc2002_DB3_B": 500, "fvc2004_DB2_B": 500}
FINGERS = (101, 102, 103)
IMPRESSIONS = (1, 2, 3)

pytestmark = needs_fvc


def image(name: str, finger: int, impression: int) -> np.ndarray:
    return load_image(FVC / name / ("%d_%d.tif" % (finger, impression)))


@pytest.fixture(scope="module", params=list(SETS))
def extracted(request: pytest.FixtureRequest) -> tuple[str, dict]:
    name = request.param
    return name, {
        (f, i): extract(image(name, f, i), SETS[name]) for f in FINGERS for i in IMPRESSIONS
    }


def test_ordinary_captures_are_usable_with_a_plausible_minutiae_count(extracted) -> None:
    name, found = extracted
    for key, result in found.items():
        assert result.usable, (name, key, result.reason)
        m = result.minutiae
        # A 300x300 capacitive window shows less finger than a full optical image.
        assert 12 <= len(m) <= 120, (name, key, len(m))
        assert ((m.x >= 0) & (m.x < result.width) & (m.y >= 0) & (m.y < result.height)).all()
        assert len(np.unique(m.quality)) > 3


def test_impressions_of_one_finger_match_and_different_fingers_do_not(extracted) -> None:
    name, found = extracted
    minutiae = {key: r.minutiae for key, r in found.items()}
    genuine = [
        match(minutiae[(f, a)], minutiae[(f, b)])
        for f in FINGERS
        for a in IMPRESSIONS
        for b in IMPRESSIONS
        if a < b
    ]
    impostor = [
        match(minutiae[(f, a)], minutiae[(g, b)])
        for f in FINGERS
        for g in FINGERS
        if f < g
        for a in IMPRESSIONS
        for b in IMPRESSIONS
    ]
    # Every genuine pair of these clear captures above every impostor pair.
    assert min(genuine) > max(impostor), (name, min(genuine), max(impostor))


def test_faint_ridges_left_on_the_glass_give_no_minutiae() -> None:
    """An optical sensor's glass keeps faint prints of earlier fingers beside the print."""
    print_ = image("fvc2004_DB2_B", 101, 1).astype(np.float32)
    earlier = image("fvc2004_DB2_B", 103, 1).astype(np.float32)
    h, w = print_.shape
    glass = np.empty((h, 2 * w), dtype=np.float32)
    glass[:, :w] = print_
    glass[:, w:] = 235.0 + (earlier - earlier.mean()) * 0.15
    result = extract(np.clip(glass, 0, 255).astype(np.uint8))
    assert result.usable, result.reason
    assert len(result.minutiae) >= 12
    assert (result.minutiae.x < w).all(), "minutiae found in the residue"


@pytest.mark.parametrize(
    "spoil, reasons",
    [
        (lambda g: ndimage.gaussian_filter(g, 6.0), {"smudged", "low_contrast"}),
        (lambda g: 200.0 + (g - g.mean()) * 0.02, {"low_contrast", "no_finger"}),
        (lambda g: np.full_like(g, 255.0), {"no_finger"}),
    ],
    ids=["blurred", "washed out", "blank"],
)
def test_a_spoilt_real_capture_is_refused_with_its_reason(spoil, reasons: set) -> None:
    for name in SETS:
        gray = image(name, 101, 1).astype(np.float32)
        result = extract(np.clip(spoil(gray), 0, 255).astype(np.uint8), SETS[name])
        assert not result.usable and len(result.minutiae) == 0, name
        assert result.reason in reasons and result.reason in REASONS, (name, result.reason)


def test_the_finer_resolution_is_reported_in_the_images_own_pixels() -> None:
    """A 569-dpi capture gives the same minutiae as the same capture resampled to 500 dpi,
    each in its own image's pixels."""
    fine = image("fvc2002_DB2_B", 104, 1)
    h, w = fine.shape
    scale = 500 / 569
    coarse = ndimage.zoom(fine.astype(np.float32), scale, order=1, grid_mode=True, mode="nearest")
    at_569 = extract(fine, 569).minutiae
    at_500 = extract(np.clip(coarse, 0, 255).astype(np.uint8), 500).minutiae
    assert len(at_569) >= 12 and len(at_500) >= 12
    x = (at_500.x + 0.5) / scale - 0.5
    y = (at_500.y + 0.5) / scale - 0.5
    near = np.hypot(at_569.x[:, None] - x[None], at_569.y[:, None] - y[None]).min(1) <= 6.0
    assert near.mean() >= 0.8
    assert at_569.x.max() > 0.7 * w and at_569.y.max() > 0.7 * h
