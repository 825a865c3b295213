"""Loading fingerprint images: every accepted format, raw and 4-bit sensor data, and
everything broken, forged or oversized refused with ImageInputError."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from controller.biometrics.images import (
    MAX_FILE_BYTES,
    ImageInputError,
    load_image,
    unpack_zhiantec,
)


def ridges(width: int = 200, height: int = 170) -> np.ndarray:
    """A grey test picture with every level present: slanted stripes plus a ramp."""
    yy, xx = np.mgrid[0:height, 0:width]
    stripes = 60 * np.sin(2 * np.pi * (xx + 0.4 * yy) / 9.0)
    ramp = 120 * xx / width
    return np.clip(70 + stripes + ramp, 0, 255).astype(np.uint8)


def encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **options)
    return out.getvalue()


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def forged_png(width: int, height: int, idat: bytes = b"") -> bytes:
    """A PNG whose header claims ``width`` x ``height`` 8-bit grey, with the CRCs right."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", idat or zlib.compress(b"\x00" * 64))
        + png_chunk(b"IEND", b"")
    )


# --- formats that load ---------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["PNG", "BMP", "TIFF"])
def test_eight_bit_grey_loads_exactly_from_path_and_bytes(tmp_path: Path, fmt: str) -> None:
    picture = ridges()
    path = tmp_path / ("finger." + fmt.lower())
    Image.fromarray(picture).save(path, format=fmt)
    from_path = load_image(path)
    from_bytes = load_image(path.read_bytes())
    from_str = load_image(str(path))
    assert from_path.dtype == np.uint8 and from_path.shape == (170, 200)
    np.testing.assert_array_equal(from_path, picture)
    np.testing.assert_array_equal(from_bytes, picture)
    np.testing.assert_array_equal(from_str, picture)


@pytest.mark.parametrize("fmt", ["PNG", "TIFF"])
def test_sixteen_bit_grey_is_scaled_from_its_full_range(tmp_path: Path, fmt: str) -> None:
    picture = ridges()
    wide = picture.astype(np.uint16) * 257  # 0..255 -> 0..65535 exactly
    wide[0, 0], wide[0, 1] = 0, 65535
    path = tmp_path / ("finger16." + fmt.lower())
    Image.fromarray(wide).save(path, format=fmt)
    with Image.open(path) as check:
        assert check.mode.startswith("I")  # really a 16-bit file
    loaded = load_image(path)
    assert loaded.dtype == np.uint8
    expected = picture.copy()
    expected[0, 0], expected[0, 1] = 0, 255
    np.testing.assert_array_equal(loaded, expected)


@pytest.mark.parametrize("fmt", ["PNG", "BMP", "TIFF"])
def test_colour_becomes_grey(fmt: str) -> None:
    picture = ridges()
    rgb = np.stack([picture, picture // 2, 255 - picture], axis=-1)
    loaded = load_image(encode(Image.fromarray(rgb), fmt))
    # ITU-R 601 luma, as Pillow computes it, within rounding.
    wide = rgb.astype(np.int64)
    luma = (299 * wide[..., 0] + 587 * wide[..., 1] + 114 * wide[..., 2]) / 1000
    assert loaded.shape == picture.shape
    assert np.abs(loaded.astype(float) - luma).max() <= 1.0


def test_palette_and_bilevel_images_become_grey() -> None:
    picture = ridges()
    palette = Image.fromarray(picture).convert("P")
    loaded = load_image(encode(palette, "PNG"))
    np.testing.assert_array_equal(loaded, np.asarray(palette.convert("L")))
    bilevel = Image.fromarray(picture).convert("1")
    loaded = load_image(encode(bilevel, "TIFF"))
    assert set(np.unique(loaded)) <= {0, 255}
    assert (loaded == 255).mean() == pytest.approx((picture >= 128).mean(), abs=0.1)


def test_smallest_and_largest_sides_load() -> None:
    for width, height in ((150, 150), (2000, 150), (150, 2000)):
        picture = np.full((height, width), 200, dtype=np.uint8)
        picture[::7] = 40
        assert load_image(encode(Image.fromarray(picture), "PNG")).shape == (height, width)


# --- raw bytes -------------------------------------------------------------------------


def test_raw_bytes_of_the_stated_size(tmp_path: Path) -> None:
    picture = ridges(256, 288)
    path = tmp_path / "finger.raw"
    path.write_bytes(picture.tobytes())
    np.testing.assert_array_equal(load_image(path, raw_size=(256, 288)), picture)
    np.testing.assert_array_equal(load_image(picture.tobytes(), raw_size=(256, 288)), picture)


@pytest.mark.parametrize("delta", [-1, 1, -256, 4096])
def test_raw_bytes_of_another_size_are_refused(delta: int) -> None:
    data = bytes(256 * 288 + delta)
    with pytest.raises(ImageInputError, match="needs 73728 bytes, got %d" % len(data)):
        load_image(data, raw_size=(256, 288))


def test_raw_read_as_another_shape_is_refused() -> None:
    data = ridges(256, 288).tobytes()
    with pytest.raises(ImageInputError, match="needs"):
        load_image(data, raw_size=(288, 257))


@pytest.mark.parametrize(
    "raw_size",
    [
        (149, 288),
        (256, 2001),
        (0, 288),
        (-256, 288),
        (256,),
        (256, 288, 1),
        ("256", 288),
        (256.0, 288),
        (True, 288),
        "256x288",
    ],
)
def test_raw_size_must_be_two_whole_sides_in_range(raw_size: object) -> None:
    with pytest.raises(ImageInputError):
        load_image(bytes(256 * 288), raw_size=raw_size)  # type: ignore[arg-type]


def test_raw_data_that_is_really_a_png_is_still_checked_by_size() -> None:
    png = encode(Image.fromarray(ridges()), "PNG")
    with pytest.raises(ImageInputError, match="raw 8-bit image"):
        load_image(png, raw_size=(200, 170))


# --- damaged, forged, oversized ---------------------------------------------------------


@pytest.mark.parametrize("fmt", ["PNG", "BMP", "TIFF"])
@pytest.mark.parametrize("keep", [0.02, 0.3, 0.7, 0.98])
def test_truncated_files_are_refused(fmt: str, keep: float) -> None:
    whole = encode(Image.fromarray(ridges()), fmt)
    cut = whole[: max(1, int(len(whole) * keep))]
    with pytest.raises(ImageInputError):
        load_image(cut)


def test_random_bytes_are_refused() -> None:
    rng = np.random.default_rng(7)
    for size in (1, 7, 100, 5000, 200_000):
        with pytest.raises(ImageInputError, match="not a PNG, BMP or TIFF"):
            load_image(rng.integers(0, 256, size, dtype=np.uint8).tobytes())


@pytest.mark.parametrize("magic", [b"\x89PNG\r\n\x1a\n", b"BM", b"II*\x00", b"MM\x00*"])
def test_random_bytes_behind_a_true_signature_are_refused(magic: bytes) -> None:
    rng = np.random.default_rng(len(magic))
    for size in (0, 10, 54, 4000):
        body = rng.integers(0, 256, size, dtype=np.uint8).tobytes()
        with pytest.raises(ImageInputError):
            load_image(magic + body)


def test_flipped_bytes_in_compressed_data_are_refused() -> None:
    whole = bytearray(encode(Image.fromarray(ridges()), "PNG"))
    start = whole.index(b"IDAT") + 20
    for i in range(start, start + 40):
        whole[i] ^= 0xFF
    with pytest.raises(ImageInputError):
        load_image(bytes(whole))


def test_empty_input_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ImageInputError, match="empty"):
        load_image(b"")
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    with pytest.raises(ImageInputError, match="empty"):
        load_image(path)


@pytest.mark.parametrize("size", [(30000, 30000), (2001, 300), (300, 2001), (65535, 1)])
def test_forged_huge_png_header_is_refused_before_decoding(size: tuple[int, int]) -> None:
    with pytest.raises(ImageInputError, match="each side must be 150 to 2000"):
        load_image(forged_png(*size))


def test_decompression_bomb_is_refused_by_its_header() -> None:
    # 20000 rows of 20000 zero pixels would inflate to 400 MB; its header says so first.
    row = b"\x00" * 20001
    compressor = zlib.compressobj(9)
    stream = compressor.compress(row * 200) + compressor.flush()
    with pytest.raises(ImageInputError, match="each side must be 150 to 2000"):
        load_image(forged_png(20000, 20000, stream))


def test_forged_huge_bmp_and_tiff_headers_are_refused() -> None:
    bmp = bytearray(encode(Image.fromarray(ridges()), "BMP"))
    struct.pack_into("<ii", bmp, 18, 40000, 40000)
    with pytest.raises(ImageInputError):
        load_image(bytes(bmp))
    tiff = bytearray(encode(Image.fromarray(ridges()), "TIFF"))
    offset = struct.unpack_from("<I", tiff, 4)[0]
    count = struct.unpack_from("<H", tiff, offset)[0]
    for i in range(count):
        entry = offset + 2 + 12 * i
        tag, kind = struct.unpack_from("<HH", tiff, entry)
        if tag in (256, 257):  # ImageWidth, ImageLength
            if kind == 3:
                struct.pack_into("<H", tiff, entry + 8, 50000)
            else:
                struct.pack_into("<I", tiff, entry + 8, 50000)
    with pytest.raises(ImageInputError, match="each side must be"):
        load_image(bytes(tiff))


@pytest.mark.parametrize("size", [(149, 200), (200, 149), (2001, 200), (200, 2001)])
def test_real_images_outside_the_size_range_are_refused(size: tuple[int, int]) -> None:
    width, height = size
    data = encode(Image.new("L", (width, height), 128), "PNG")
    with pytest.raises(ImageInputError, match="%dx%d" % (width, height)):
        load_image(data)


def test_zero_size_header_is_refused() -> None:
    with pytest.raises(ImageInputError):
        load_image(forged_png(0, 200))


def test_multi_frame_files_are_refused(tmp_path: Path) -> None:
    frames = [Image.fromarray(ridges()), Image.fromarray(255 - ridges())]
    path = tmp_path / "two.tif"
    frames[0].save(path, format="TIFF", save_all=True, append_images=frames[1:])
    with pytest.raises(ImageInputError, match="holds 2 images"):
        load_image(path)
    apng = io.BytesIO()
    frames[0].save(apng, format="PNG", save_all=True, append_images=frames[1:])
    with pytest.raises(ImageInputError, match="holds 2 images"):
        load_image(apng.getvalue())


def test_tiff_whose_frame_list_loops_back_loads_once() -> None:
    tiff = bytearray(encode(Image.fromarray(ridges()), "TIFF"))
    offset = struct.unpack_from("<I", tiff, 4)[0]
    count = struct.unpack_from("<H", tiff, offset)[0]
    struct.pack_into("<I", tiff, offset + 2 + 12 * count, offset)  # next IFD = this IFD
    np.testing.assert_array_equal(load_image(bytes(tiff)), ridges())


def test_lossy_and_unknown_formats_are_refused_by_name() -> None:
    jpeg = encode(Image.fromarray(ridges()), "JPEG")
    with pytest.raises(ImageInputError, match="JPEG is not accepted"):
        load_image(jpeg)
    gif = encode(Image.fromarray(ridges()), "GIF")
    with pytest.raises(ImageInputError, match="not a PNG, BMP or TIFF"):
        load_image(gif)


def test_floating_point_and_32_bit_tiffs_are_refused() -> None:
    data = encode(Image.fromarray(ridges().astype(np.float32)), "TIFF")
    with pytest.raises(ImageInputError, match="pixel format F"):
        load_image(data)
    data = encode(Image.fromarray(ridges().astype(np.int32)), "TIFF")
    with pytest.raises(ImageInputError, match="pixel format I"):
        load_image(data)


def test_big_endian_sixteen_bit_tiff_loads() -> None:
    wide = ridges().astype(np.uint16) * 257
    data = encode(Image.fromarray(wide.astype(">u2")), "TIFF")
    with Image.open(io.BytesIO(data)) as check:
        assert check.mode == "I;16B"
    np.testing.assert_array_equal(load_image(data), ridges())


@pytest.mark.parametrize("compression", ["tiff_lzw", "tiff_adobe_deflate", "packbits"])
def test_compressed_tiffs_load_and_truncated_ones_are_refused(compression: str) -> None:
    data = encode(Image.fromarray(ridges()), "TIFF", compression=compression)
    np.testing.assert_array_equal(load_image(data), ridges())
    for keep in (0.5, 0.9):
        with pytest.raises(ImageInputError):
            load_image(data[: int(len(data) * keep)])


def test_oversized_file_is_refused_without_reading_it_all(tmp_path: Path) -> None:
    path = tmp_path / "big.png"
    with open(path, "wb") as f:
        f.write(encode(Image.fromarray(ridges()), "PNG"))
        f.truncate(MAX_FILE_BYTES + 1)
    with pytest.raises(ImageInputError, match="larger than"):
        load_image(path)
    with pytest.raises(ImageInputError, match="larger than"):
        load_image(bytes(MAX_FILE_BYTES + 1), raw_size=(256, 288))


def test_missing_file_directory_and_wrong_types_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ImageInputError, match="cannot read"):
        load_image(tmp_path / "absent.png")
    with pytest.raises(ImageInputError, match="cannot read"):
        load_image(tmp_path)
    for source in (42, None, ridges(), ["a"]):
        with pytest.raises(ImageInputError, match="path or bytes"):
            load_image(source)  # type: ignore[arg-type]


def test_memoryview_and_bytearray_sources_load() -> None:
    data = encode(Image.fromarray(ridges()), "PNG")
    np.testing.assert_array_equal(load_image(bytearray(data)), ridges())
    np.testing.assert_array_equal(load_image(memoryview(data)), ridges())


def test_errors_are_value_errors_with_the_file_name(tmp_path: Path) -> None:
    path = tmp_path / "broken.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 30)
    with pytest.raises(ValueError, match="broken.png"):
        load_image(path)


# --- ZhianTec 4-bit images ----------------------------------------------------------------


def pack_nibbles(levels: np.ndarray) -> bytes:
    """Pack 0-15 levels two to a byte, left pixel in the high nibble."""
    return ((levels[:, 0::2] << 4) | levels[:, 1::2]).astype(np.uint8).tobytes()


def test_zhiantec_frame_unpacks_high_nibble_first() -> None:
    rng = np.random.default_rng(3)
    levels = rng.integers(0, 16, (288, 256), dtype=np.uint8)
    data = pack_nibbles(levels)
    assert len(data) == 36864
    image = unpack_zhiantec(data)
    assert image.shape == (288, 256) and image.dtype == np.uint8
    np.testing.assert_array_equal(image, levels * 17)
    first = unpack_zhiantec(bytes([0x0F, 0xA5]) + bytes(36862))
    assert first[0, :4].tolist() == [0, 255, 170, 85]


def test_zhiantec_other_sizes_and_buffers() -> None:
    levels = np.tile(np.arange(16, dtype=np.uint8), (160, 10))  # 160 x 160
    data = pack_nibbles(levels)
    np.testing.assert_array_equal(unpack_zhiantec(bytearray(data), 160, 160), levels * 17)
    np.testing.assert_array_equal(unpack_zhiantec(memoryview(data), 160, 160), levels * 17)


@pytest.mark.parametrize("length", [0, 1, 36863, 36865, 73728])
def test_zhiantec_wrong_length_is_refused(length: int) -> None:
    with pytest.raises(ImageInputError, match="needs 36864 bytes, got %d" % length):
        unpack_zhiantec(bytes(length))


@pytest.mark.parametrize(
    "width, height", [(255, 288), (0, 288), (256, 0), (-2, 288), (4000, 288), (256.0, 288)]
)
def test_zhiantec_bad_geometry_is_refused(width: object, height: object) -> None:
    with pytest.raises(ImageInputError):
        unpack_zhiantec(bytes(36864), width, height)  # type: ignore[arg-type]


def test_zhiantec_data_must_be_bytes() -> None:
    with pytest.raises(ImageInputError, match="must be bytes"):
        unpack_zhiantec("x" * 36864)  # type: ignore[arg-type]
