"""Real fingerprint images (the FVC development sets beside the checkout): they load,
extraction gives usable templates of a plausible size, a finger's impressions mostly
verify and different fingers mostly do not; damaged and forged copies of a real file
are refused. The bounds are loose on purpose: they test behaviour, not a figure (the
figures are bench/biometrics.py --images)."""

from __future__ import annotations

import struct
from functools import cache
from itertools import combinations

import numpy as np
import pytest
from PIL import Image

from controller.biometrics import thresholds
from controller.biometrics.extract import extract
from controller.biometrics.images import ImageInputError, load_image
from controller.biometrics.match import Template, compare
from hil.fvc import SHARED_FVC, FingerSet, find_sets
from tests.conftest import needs_fvc

pytestmark = needs_fvc

FINGERS = 4  # per set, the first ones
IMPRESSIONS = 4  # per finger, the first ones


@cache
def development_sets() -> tuple[FingerSet, ...]:
    return tuple(find_sets([SHARED_FVC]))


@cache
def extracted(name: str) -> dict:
    """(finger, impression) -> Extraction for the first fingers and impressions of a set."""
    fset = next(s for s in development_sets() if s.name == name)
    return {
        (f, i): extract(load_image(fset.paths[f][i]), fset.dpi)
        for f in range(FINGERS)
        for i in range(IMPRESSIONS)
    }


def templates(fset: FingerSet) -> dict:
    ppcm = round(fset.dpi / 2.54)
    return {
        key: Template.from_minutiae(found.minutiae, ppcm, ppcm)
        for key, found in extracted(fset.name).items()
        if found.usable
    }


def set_names() -> list[str]:
    return [s.name for s in development_sets()] if SHARED_FVC.is_dir() else []


def test_the_development_sets_are_found_with_the_resolution_their_readme_states() -> None:
    sets = development_sets()
    assert len(sets) >= 1
    for fset in sets:
        assert fset.fingers >= FINGERS and fset.impressions >= IMPRESSIONS
        assert fset.dpi_source == "README" and 450 <= fset.dpi <= 600
        assert all(p.suffix.lower() in (".tif", ".tiff") for row in fset.paths for p in row)


@pytest.mark.parametrize("name", set_names())
def test_real_tiffs_load_as_grey_images_of_their_stated_size(name: str) -> None:
    fset = next(s for s in development_sets() if s.name == name)
    path = fset.paths[0][0]
    gray = load_image(path)
    with Image.open(path) as img:
        assert gray.shape == (img.height, img.width)
    assert gray.dtype == np.uint8 and gray.ndim == 2
    assert gray.std() > 10  # ridges, not a blank frame


@pytest.mark.parametrize("name", set_names())
def test_real_captures_give_usable_templates_of_a_plausible_size(name: str) -> None:
    found = extracted(name)
    usable = [e for e in found.values() if e.usable]
    assert len(usable) >= 0.75 * len(found)
    counts = [len(e.minutiae) for e in usable]
    assert 12 <= np.median(counts) <= 120
    for e in usable:
        m = e.minutiae
        assert (m.x >= 0).all() and (m.x < e.width).all()
        assert (m.y >= 0).all() and (m.y < e.height).all()
        assert ((m.angle >= 0) & (m.angle < 2 * np.pi)).all()
    for e in found.values():
        if not e.usable:
            assert e.reason and e.message and len(e.minutiae) == 0


@cache
def _scores(name: str) -> tuple[np.ndarray, np.ndarray]:
    """Genuine and impostor scores among the extracted first impressions of a set."""
    made = templates(next(s for s in development_sets() if s.name == name))
    genuine, impostor = [], []
    for a, b in combinations(sorted(made), 2):
        if a[0] == b[0]:
            genuine.append(compare(made[a], made[b]))
        elif a[1] < 2 and b[1] < 2:  # impostors from two impressions a finger: enough here
            impostor.append(compare(made[a], made[b]))
    return np.array(genuine), np.array(impostor)


def test_a_fingers_impressions_mostly_verify_and_other_fingers_do_not() -> None:
    genuine, impostor = [], []
    for fset in development_sets():
        g, i = _scores(fset.name)
        genuine.append(g)
        impostor.append(i)
        # Within each set the two kinds stand apart, whatever the sensor.
        assert np.median(g) > np.percentile(i, 95)
    g, i = np.concatenate(genuine), np.concatenate(impostor)
    assert len(g) >= 30 and len(i) >= 50
    assert (g >= thresholds.VERIFY_THRESHOLD).mean() > 0.5
    assert (i >= thresholds.VERIFY_THRESHOLD).sum() <= 2


def test_the_identification_threshold_is_stricter_on_real_pairs_too() -> None:
    fset = development_sets()[0]
    g, i = _scores(fset.name)
    above_verify = (g >= thresholds.VERIFY_THRESHOLD).sum()
    above_identify = (g >= thresholds.IDENTIFY_THRESHOLD).sum()
    assert above_identify <= above_verify
    assert (i >= thresholds.IDENTIFY_THRESHOLD).sum() <= (i >= thresholds.VERIFY_THRESHOLD).sum()


def _real_tiff() -> bytes:
    return development_sets()[0].paths[0][0].read_bytes()


def _tag_value_offset(data: bytes, wanted: int) -> int:
    """Byte offset of the value field of TIFF tag ``wanted`` (little-endian files)."""
    assert data[:4] == b"II*\x00"
    ifd = struct.unpack_from("<I", data, 4)[0]
    for k in range(struct.unpack_from("<H", data, ifd)[0]):
        entry = ifd + 2 + 12 * k
        if struct.unpack_from("<H", data, entry)[0] == wanted:
            return entry + 8
    raise AssertionError("tag %d not in the file" % wanted)


def _forged(tag: int, value: int) -> bytes:
    data = bytearray(_real_tiff())
    offset = _tag_value_offset(bytes(data), tag)
    kind = struct.unpack_from("<H", data, offset - 6)[0]
    struct.pack_into("<H" if kind == 3 else "<I", data, offset, value)
    return bytes(data)


@pytest.mark.parametrize("keep", [0.05, 0.5, 0.999])
def test_a_truncated_real_tiff_is_refused(keep: float) -> None:
    data = _real_tiff()
    with pytest.raises(ImageInputError, match="TIFF"):
        load_image(data[: int(len(data) * keep)])


@pytest.mark.parametrize(
    "tag, value, message",
    [
        (256, 60000, "each side must be"),  # width far beyond any sensor
        (257, 100, "each side must be"),  # height below the smallest accepted
        (256, 1999, "TIFF"),  # a width the pixel data cannot fill
        (273, 10_000_000, "TIFF"),  # pixel data said to start beyond the file's end
        (258, 32, "TIFF|not accepted"),  # 32 bits per sample on 8-bit data
    ],
)
def test_a_real_tiff_with_a_forged_header_is_refused(tag: int, value: int, message: str) -> None:
    with pytest.raises(ImageInputError, match=message):
        load_image(_forged(tag, value))


def test_a_real_tiff_padded_beyond_the_largest_honest_file_is_refused() -> None:
    from controller.biometrics.images import MAX_FILE_BYTES

    data = _real_tiff()
    with pytest.raises(ImageInputError, match="larger than"):
        load_image(data + bytes(MAX_FILE_BYTES))
