"""Fingerprint images from files, bytes and sensors, as 2-D uint8 grey arrays.

Accepted: PNG, BMP and TIFF (8- or 16-bit grey, palette or colour, which becomes grey),
raw 8-bit grey bytes of a stated width and height, and the 4-bit image a ZhianTec R30x
module uploads. Everything else, and anything damaged, gets an ``ImageInputError`` that
says what is wrong; nothing is decoded before its stated size has been checked, so a
small file that claims a huge image (a decompression bomb) costs nothing.
"""

from __future__ import annotations

import io
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

MIN_SIDE = 150
MAX_SIDE = 2000
# The largest honest file: a 2000x2000 16-bit image stored without compression, plus headers.
MAX_FILE_BYTES = 2 * MAX_SIDE * MAX_SIDE + (1 << 20)

ZHIANTEC_SIZE = (256, 288)

_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"BM", "BMP"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
)
# The whole IEND chunk: zero length, type, and its fixed CRC.
_PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"
_LOSSY = (
    (b"\xff\xd8\xff", "JPEG"),
    (b"\xff\x4f\xff\x51", "JPEG 2000"),
    (b"\x00\x00\x00\x0cjP  ", "JPEG 2000"),
)


class ImageInputError(ValueError):
    """A fingerprint image that cannot be used: unreadable, damaged, of the wrong size."""

    def __init__(self, message: str) -> None:
        super().__init__(message)


def load_image(
    source: str | Path | bytes | bytearray | memoryview,
    raw_size: tuple[int, int] | None = None,
) -> np.ndarray:
    """Read a fingerprint image into a 2-D uint8 array (rows, columns), 0 black, 255 white.

    ``source`` is a file path or the file's bytes. With ``raw_size=(width, height)`` the
    bytes are raw 8-bit grey pixels, row by row, and must be exactly width*height long.
    Colour images become grey (ITU-R 601 luma); 16-bit grey is scaled from its full
    range 0-65535 to 0-255. Raises ``ImageInputError`` for anything that is not one
    whole single-frame image with sides of 150 to 2000 pixels.
    """
    data, name = _read_source(source)
    if raw_size is not None:
        return _raw(data, raw_size, name)
    return _decode(data, name)


def unpack_zhiantec(
    data: bytes | bytearray | memoryview, width: int = 256, height: int = 288
) -> np.ndarray:
    """Unpack the 4-bit image of a ZhianTec R30x/R50x module (UpImage) to uint8 grey.

    Two pixels per byte, the left one in the high nibble, rows top to bottom: a
    256x288 frame is 36,864 bytes. Each 4-bit level v becomes 17*v, so 0-15 spans the
    whole 0-255 range.
    """
    for label, value in (("width", width), ("height", height)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise ImageInputError("%s must be an integer" % label)
        if value < 2 or value > MAX_SIDE:
            raise ImageInputError("%s %d outside 2..%d" % (label, value, MAX_SIDE))
    if width % 2:
        raise ImageInputError("width %d is odd: 4-bit rows hold pixels in pairs" % width)
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ImageInputError("4-bit image data must be bytes, not %s" % type(data).__name__)
    expected = width * height // 2
    if len(data) != expected:
        raise ImageInputError(
            "4-bit image of %dx%d needs %d bytes, got %d" % (width, height, expected, len(data))
        )
    packed = np.frombuffer(bytes(data), dtype=np.uint8).reshape(height, width // 2)
    pixels = np.empty((height, width), dtype=np.uint8)
    pixels[:, 0::2] = packed >> 4
    pixels[:, 1::2] = packed & 0x0F
    return pixels * np.uint8(17)


def _read_source(source: object) -> tuple[bytes, str]:
    """The bytes of ``source`` and a name for messages, refusing anything oversized."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        name = "image data"
    elif isinstance(source, (str, Path)):
        path = Path(source)
        name = str(path)
        try:
            with open(path, "rb") as f:
                data = f.read(MAX_FILE_BYTES + 1)
        except OSError as e:
            raise ImageInputError("%s: cannot read (%s)" % (name, e.strerror or e)) from e
    else:
        raise ImageInputError("an image source is a path or bytes, not %s" % type(source).__name__)
    if len(data) > MAX_FILE_BYTES:
        raise ImageInputError("%s: larger than %d bytes" % (name, MAX_FILE_BYTES))
    if not data:
        raise ImageInputError("%s: empty" % name)
    return data, name


def _check_side(name: str, width: int, height: int) -> None:
    if width <= 0 or height <= 0:
        raise ImageInputError("%s: image has zero size (%dx%d)" % (name, width, height))
    if not (MIN_SIDE <= width <= MAX_SIDE and MIN_SIDE <= height <= MAX_SIDE):
        raise ImageInputError(
            "%s: image is %dx%d; each side must be %d to %d pixels"
            % (name, width, height, MIN_SIDE, MAX_SIDE)
        )


def _raw(data: bytes, raw_size: object, name: str) -> np.ndarray:
    if (
        not isinstance(raw_size, (tuple, list))
        or len(raw_size) != 2
        or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in raw_size)
    ):
        raise ImageInputError("raw_size must be (width, height) in whole pixels")
    width, height = int(raw_size[0]), int(raw_size[1])
    _check_side(name, width, height)
    if len(data) != width * height:
        raise ImageInputError(
            "%s: raw 8-bit image of %dx%d needs %d bytes, got %d"
            % (name, width, height, width * height, len(data))
        )
    return np.frombuffer(data, dtype=np.uint8).reshape(height, width).copy()


def _decode(data: bytes, name: str) -> np.ndarray:
    kind = next((k for magic, k in _SIGNATURES if data.startswith(magic)), None)
    if kind is None:
        lossy = next((k for magic, k in _LOSSY if data.startswith(magic)), None)
        if lossy is not None:
            raise ImageInputError(
                "%s: %s is not accepted (lossy compression changes ridge detail); "
                "use PNG, BMP or TIFF" % (name, lossy)
            )
        raise ImageInputError("%s: not a PNG, BMP or TIFF image" % name)
    if kind == "PNG" and _PNG_END not in data[-4096:]:
        raise ImageInputError("%s: PNG ends before its IEND chunk (truncated)" % name)
    try:
        with warnings.catch_warnings():
            # Pillow warns about odd but decodable headers; anything it cannot decode
            # still raises, and a warning must not escape to a caller's log as an error.
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(data), formats=[kind]) as img:
                return _pixels(img, name)
    except ImageInputError:
        raise
    except Image.DecompressionBombError as e:
        # Pillow's own guard fires while reading headers far beyond our limit.
        raise ImageInputError(
            "%s: header claims a huge image; each side must be %d to %d pixels (%s)"
            % (name, MIN_SIDE, MAX_SIDE, e)
        ) from e
    except (
        OSError,
        SyntaxError,
        ValueError,
        EOFError,
        IndexError,
        KeyError,
        TypeError,
        struct.error,
        zlib.error,
        MemoryError,
        OverflowError,
    ) as e:
        raise ImageInputError("%s: damaged or unreadable %s (%s)" % (name, kind, e)) from e


def _pixels(img: Image.Image, name: str) -> np.ndarray:
    """Check the header's promises, then decode ``img`` to uint8 grey."""
    width, height = img.size
    _check_side(name, width, height)
    frames = getattr(img, "n_frames", 1)
    if frames != 1:
        raise ImageInputError("%s: holds %d images; give one image per file" % (name, frames))
    mode = img.mode
    img.load()
    if mode in ("L", "P", "PA", "LA", "1", "RGB", "RGBA", "RGBX", "CMYK", "YCbCr", "LAB"):
        grey = img.convert("L") if mode != "L" else img
        pixels = np.asarray(grey, dtype=np.uint8)
    elif mode in ("I;16", "I;16L", "I;16B", "I;16N") or (mode == "I" and img.format == "PNG"):
        # Some Pillow versions open 16-bit PNG grey as 32-bit "I"; its values still fit.
        wide = np.asarray(img).astype(np.int64)
        if wide.min() < 0 or wide.max() > 65535:
            raise ImageInputError("%s: pixel values outside 16 bits" % name)
        # Full 16-bit range onto 8 bits, rounding to nearest (65535 -> 255).
        pixels = ((wide * 255 + 32767) // 65535).astype(np.uint8)
    else:
        raise ImageInputError("%s: pixel format %s is not accepted" % (name, mode))
    if pixels.shape != (height, width):
        raise ImageInputError(
            "%s: decoded to %s, header says %dx%d" % (name, pixels.shape, width, height)
        )
    return np.ascontiguousarray(pixels)
