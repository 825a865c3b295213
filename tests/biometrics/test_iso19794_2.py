"""ISO/IEC 19794-2:2005 records: exact round trips, the byte layout, extended data skipped,
padding tolerated, and every kind of broken, forged, truncated or oversized record refused
with the field it concerns."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from controller.biometrics import iso19794_2 as iso
from controller.biometrics.template import (
    BIFURCATION,
    ENDING,
    OTHER,
    FingerRecord,
    FingerView,
    Minutiae,
)


def minutiae(n: int, seed: int = 0, width: int = 256, height: int = 288) -> Minutiae:
    rng = np.random.default_rng(seed)
    return Minutiae.from_columns(
        rng.integers(0, width, n),
        rng.integers(0, height, n),
        rng.integers(0, 256, n) * iso.ANGLE_UNIT,
        rng.choice([ENDING, BIFURCATION, OTHER], n),
        rng.integers(0, 101, n),
    )


def record(views: int = 1, n: int = 30) -> FingerRecord:
    return FingerRecord(
        width=256,
        height=288,
        views=[
            FingerView(minutiae(n, k), finger=1 + k % 10, view=k // 10, impression=0, quality=60)
            for k in range(views)
        ],
        equipment=0x123,
        certified=True,
    )


def with_length(data: bytes, length: int) -> bytes:
    return data[:8] + struct.pack(">I", length) + data[12:]


# --- round trips and layout ----------------------------------------------------------------


def test_round_trip_keeps_everything_a_record_can_hold() -> None:
    original = record(views=3, n=40)
    data = iso.encode(original)
    back = iso.parse(data)
    assert (back.width, back.height, back.x_ppcm, back.y_ppcm) == (256, 288, 197, 197)
    assert back.equipment == 0x123 and back.certified
    assert [(v.finger, v.view, v.impression, v.quality) for v in back.views] == [
        (v.finger, v.view, v.impression, v.quality) for v in original.views
    ]
    for got, want in zip(back.views, original.views, strict=True):
        np.testing.assert_array_equal(got.minutiae.x, want.minutiae.x)
        np.testing.assert_array_equal(got.minutiae.y, want.minutiae.y)
        np.testing.assert_allclose(got.minutiae.angle, want.minutiae.angle, atol=1e-5)
        np.testing.assert_array_equal(got.minutiae.kind, want.minutiae.kind)
        np.testing.assert_array_equal(got.minutiae.quality, want.minutiae.quality)
    assert iso.encode(back) == data


def test_byte_layout_of_a_one_minutia_record() -> None:
    one = Minutiae.from_columns([100], [200], [64 * iso.ANGLE_UNIT], [BIFURCATION], [77])
    data = iso.encode(FingerRecord(300, 400, [FingerView(one, finger=2, view=3, quality=88)]))
    assert data[:8] == b"FMR\x00 20\x00"
    assert struct.unpack(">I", data[8:12])[0] == len(data) == 24 + 4 + 6 + 2
    assert struct.unpack(">HHHHHBB", data[12:24]) == (0, 300, 400, 197, 197, 1, 0)
    assert data[24:28] == bytes([2, 3 << 4, 88, 1])
    tx, ry, angle, quality = struct.unpack(">HHBB", data[28:34])
    assert (tx >> 14, tx & 0x3FFF, ry, angle, quality) == (2, 100, 200, 64, 77)
    assert data[34:36] == b"\x00\x00"


def test_angles_and_coordinates_are_rounded_to_what_a_record_holds() -> None:
    m = Minutiae.from_columns([10.4, 255.6], [0.2, 287.7], [0.013, 6.28], [ENDING] * 2, [0, 0])
    back = iso.parse(iso.encode(FingerRecord(256, 288, [FingerView(m)]))).views[0].minutiae
    assert back.x.tolist() == [10.0, 255.0] and back.y.tolist() == [0.0, 287.0]
    assert round(float(back.angle[0]) / iso.ANGLE_UNIT) == 1
    assert round(float(back.angle[1]) / iso.ANGLE_UNIT) == 0  # 6.28 rad wraps to 0


def test_extended_data_blocks_are_skipped() -> None:
    data = bytearray(iso.encode(record(views=2, n=5)))
    # Give the first view a ridge-count block (type 1) and a vendor block.
    view_end = 24 + 4 + 5 * 6
    blocks = struct.pack(">HH", 1, 10) + b"\x01\x02\x03\x04\x05\x06"
    blocks += struct.pack(">HH", 0x0105, 4)
    data[view_end : view_end + 2] = struct.pack(">H", len(blocks))
    data[view_end + 2 : view_end + 2] = blocks
    data = with_length(bytes(data), len(data))
    back = iso.parse(data)
    assert len(back.views) == 2 and [len(v.minutiae) for v in back.views] == [5, 5]


def test_zero_padding_after_the_stated_length_is_tolerated() -> None:
    data = iso.encode(record())
    assert len(iso.parse(data + b"\x00" * 100).views[0].minutiae) == 30


def test_an_empty_view_is_a_valid_record() -> None:
    data = iso.encode(FingerRecord(256, 288, [FingerView(Minutiae.empty())]))
    assert len(iso.parse(data).views[0].minutiae) == 0


# --- refusals ---------------------------------------------------------------------------


def test_every_truncation_is_refused_with_a_message() -> None:
    data = iso.encode(record(views=2, n=6))
    for cut in range(len(data)):
        with pytest.raises(iso.IsoRecordError) as err:
            iso.parse(data[:cut])
        assert "byte" in str(err.value)


def test_random_bytes_never_crash() -> None:
    rng = np.random.default_rng(7)
    valid = iso.encode(record(views=2, n=8))
    for trial in range(3000):
        if trial % 2:
            data = rng.integers(0, 256, int(rng.integers(0, 200)), dtype=np.uint8).tobytes()
            data = b"FMR\x00 20\x00" + data if trial % 4 == 1 else data
        else:  # one valid record with a few bytes flipped
            flipped = bytearray(valid)
            for at in rng.integers(0, len(valid), int(rng.integers(1, 4))):
                flipped[at] ^= int(rng.integers(1, 256))
            data = bytes(flipped)
        try:
            parsed = iso.parse(data)
        except iso.IsoRecordError:
            continue
        # What is accepted really is a record: every minutia inside the image.
        for view in parsed.views:
            assert (view.minutiae.x < parsed.width).all()
            assert (view.minutiae.y < parsed.height).all()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda d: b"FMX\x00" + d[4:], "format identifier"),
        (lambda d: d[:4] + b" 30\x00" + d[8:], "version"),
        (lambda d: with_length(d, 10), "record length"),
        (lambda d: with_length(d, len(d) + 6), "record length"),
        (lambda d: with_length(d, len(d) - 2), "record"),
        (lambda d: d[:12] + b"\x70\x00" + d[14:], "capture equipment"),
        (lambda d: d[:14] + b"\x00\x00" + d[16:], "image width"),
        (lambda d: d[:18] + b"\x00\x10" + d[20:], "x resolution"),
        (lambda d: d[:22] + b"\x00" + d[23:], "number of finger views"),
        (lambda d: d[:22] + b"\x03" + d[23:], "view"),
        (lambda d: d[:23] + b"\x01" + d[24:], "reserved byte"),
        (lambda d: d[:24] + b"\x0b" + d[25:], "finger position"),
        (lambda d: d[:25] + b"\x05" + d[26:], "impression type"),
        (lambda d: d[:26] + b"\x65" + d[27:], "finger quality"),
        (lambda d: d[:27] + b"\xff" + d[28:], "minutiae"),
        (lambda d: d[:28] + b"\xc0" + d[29:], "type"),
        (lambda d: d[:28] + b"\x7f\xff" + d[30:], "x"),
        (lambda d: d[:30] + b"\x40" + d[31:], "reserved bits"),
        (lambda d: d[:30] + b"\x3f\xff" + d[32:], "y"),
        (lambda d: d[:33] + b"\xff" + d[34:], "quality"),
        (lambda d: d + b"\x01", "trailing data"),
    ],
)
def test_forged_fields_are_named(change, field: str) -> None:  # noqa: ANN001
    data = iso.encode(record(views=2, n=3))
    with pytest.raises(iso.IsoRecordError) as err:
        iso.parse(change(data))
    assert field in str(err.value)


def test_a_repeated_finger_view_is_refused() -> None:
    data = bytearray(iso.encode(record(views=2, n=3)))
    second = 24 + 4 + 3 * 6 + 2
    data[second : second + 2] = data[24:26]  # same finger and view number as the first
    with pytest.raises(iso.IsoRecordError, match="already appears"):
        iso.parse(bytes(data))


def test_extended_data_that_overruns_is_refused() -> None:
    data = bytearray(iso.encode(record(views=1, n=2)))
    data[-2:] = b"\x00\x20"
    with pytest.raises(iso.IsoRecordError, match="extended data length"):
        iso.parse(bytes(data))
    for blocks, problem in (
        (struct.pack(">HH", 0, 4), "type 0 is reserved"),
        (struct.pack(">HH", 1, 2), "block length"),
        (struct.pack(">HH", 1, 40), "block length"),
        (b"\x00\x01", "block header"),
    ):
        forged = bytearray(iso.encode(record(views=1, n=2)))
        forged[-2:] = struct.pack(">H", len(blocks))
        forged += blocks
        with pytest.raises(iso.IsoRecordError, match=problem):
            iso.parse(with_length(bytes(forged), len(forged)))


def test_oversized_input_is_refused_before_it_is_read() -> None:
    with pytest.raises(iso.IsoRecordError, match="more than"):
        iso.parse(b"FMR\x00 20\x00" + b"\x00" * iso.MAX_RECORD_BYTES)
    with pytest.raises(TypeError):
        iso.parse("FMR")  # type: ignore[arg-type]


def test_encode_refuses_what_a_record_cannot_hold() -> None:
    good = minutiae(5)
    cases = [
        FingerRecord(0, 288, [FingerView(good)]),
        FingerRecord(256, 288, [FingerView(good)], x_ppcm=50),
        FingerRecord(256, 288, []),
        FingerRecord(256, 288, [FingerView(good), FingerView(good)]),  # same finger and view
        FingerRecord(256, 288, [FingerView(good, finger=11)]),
        FingerRecord(256, 288, [FingerView(good, view=16)]),
        FingerRecord(256, 288, [FingerView(good, impression=5)]),
        FingerRecord(256, 288, [FingerView(good, quality=101)]),
        FingerRecord(256, 288, [FingerView(minutiae(256))]),
        FingerRecord(100, 100, [FingerView(minutiae(5, width=256))]),
        FingerRecord(
            256, 288, [FingerView(Minutiae.from_columns([np.nan], [1], [0], [ENDING], [0]))]
        ),
        FingerRecord(256, 288, [FingerView(Minutiae.from_columns([1], [1], [0], [7], [0]))]),
        FingerRecord(256, 288, [FingerView(Minutiae.from_columns([1], [1], [0], [1], [101]))]),
    ]
    for case in cases:
        with pytest.raises(iso.IsoRecordError):
            iso.encode(case)
