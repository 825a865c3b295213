"""The sensor's padding frame: found only where it is, filled without a step, and never
a source of minutiae. Real captures come from the FVC development sets (../shared)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from controller.biometrics.extract import extract, frame
from controller.biometrics.images import load_image
from tests.conftest import FVC, needs_fvc


def image(name: str, finger: int, impression: int) -> np.ndarray:
    return load_image(FVC / name / ("%d_%d.tif" % (finger, impression)))


def test_padding_joined_to_the_edge_is_the_frame_and_a_blot_inside_is_not() -> None:
    rng = np.random.default_rng(3)
    gray = rng.integers(60, 200, size=(200, 180)).astype(np.uint8)
    gray[:, :20] = 255  # padding down the left side
    gray[190:, :] = 0  # and black along the bottom
    gray[90:110, 90:110] = 255  # glare inside the capture, joined to nothing
    found = frame.outside(gray)
    assert found is not None
    assert found[:, :20].all() and found[190:, :].all()
    assert not found[90:110, 90:110].any()
    assert found.sum() == 200 * 20 + 10 * 160


@pytest.mark.parametrize(
    "gray",
    [
        np.full((160, 160), 255, dtype=np.uint8),
        np.full((160, 160), 0, dtype=np.uint8),
        np.full((160, 160), 128, dtype=np.uint8),
    ],
    ids=["all white", "all black", "flat grey"],
)
def test_an_image_that_is_all_frame_or_has_none_gives_no_frame(gray: np.ndarray) -> None:
    assert frame.outside(gray) is None


def test_a_few_saturated_pixels_on_the_edge_are_not_a_frame() -> None:
    rng = np.random.default_rng(4)
    gray = rng.integers(60, 200, size=(200, 200)).astype(np.uint8)
    gray[0, :30] = 255
    assert frame.outside(gray) is None


def test_the_fill_continues_the_capture_without_a_step() -> None:
    gray = np.full((120, 120), 150, dtype=np.uint8)
    gray[:, 100:] = 255
    padding = frame.outside(gray)
    assert padding is not None
    out = frame.filled(gray, padding)
    assert out.dtype == np.float32
    assert np.allclose(out, 150.0, atol=0.5)  # the flat capture carries on into the frame
    assert (out[~padding] == gray[~padding]).all()  # the capture itself is untouched


@needs_fvc
def test_a_real_capture_padded_by_its_sensor_gives_no_minutiae_at_the_frame() -> None:
    """FVC2004 DB2 pads its corrected capture area (a trapezoid) with white."""
    gray = image("fvc2004_DB2_B", 108, 3)
    padding = frame.outside(gray)
    assert padding is not None and 0.02 < padding.mean() < 0.5
    result = extract(gray, 500)
    assert result.usable and len(result.minutiae) >= 12
    to_frame = ndimage.distance_transform_edt(~padding)
    at = to_frame[np.round(result.minutiae.y).astype(int), np.round(result.minutiae.x).astype(int)]
    assert at.min() >= 4.0, at.min()


@needs_fvc
def test_the_same_print_padded_by_hand_keeps_its_minutiae_away_from_the_padding() -> None:
    """A capture without a frame, padded with a white wedge over the print: the minutiae
    away from the wedge stay, none appears along its edge."""
    gray = image("fvc2002_DB3_B", 101, 1).copy()
    plain = extract(gray, 500).minutiae
    h, w = gray.shape
    rows, cols = np.mgrid[0:h, 0:w]
    wedge = cols < 40 + (rows * 30) // h  # a slanted side, as a corrected trapezoid has
    gray[wedge] = 255
    padded = extract(gray, 500)
    assert padded.usable
    m = padded.minutiae
    edge = 40 + (m.y * 30) / h
    assert (m.x - edge).min() >= 4.0
    far = plain.x > 40 + 30 + 40  # well away from the wedge
    kept = np.hypot(m.x[:, None] - plain.x[far][None], m.y[:, None] - plain.y[far][None]).min(0)
    assert (kept <= 4.0).mean() >= 0.8


@needs_fvc
@pytest.mark.parametrize(
    "name, finger, dpi", [("fvc2002_DB2_B", 101, 569), ("fvc2004_DB2_B", 102, 500)]
)
def test_saturated_glass_round_the_print_is_its_edge(name: str, finger: int, dpi: int) -> None:
    """An overexposed sensor saturates the bare glass round the finger: the ridges end
    there because the finger does, so no minutia lies at that edge."""
    gray = image(name, finger, 2).copy()
    smooth = ndimage.uniform_filter(gray.astype(np.float32), 15)
    bright = smooth > np.percentile(smooth, 80)
    labels, _ = ndimage.label(bright)
    edge = np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]])
    glass = np.isin(labels, edge[edge > 0])
    gray[glass] = 255
    padding = frame.outside(gray)
    assert padding is not None and padding.mean() > 0.1
    result = extract(gray, dpi)
    assert result.usable and len(result.minutiae) >= 12
    to_glass = ndimage.distance_transform_edt(~padding)
    m = result.minutiae
    at = to_glass[np.round(m.y).astype(int), np.round(m.x).astype(int)]
    assert at.min() >= 10.0 * dpi / 500, at.min()
