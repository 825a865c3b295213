"""Scan files: PNG, JPEG, TIFF, PBM/PGM/PPM, BMP and what else Pillow opens, as arrays.

A file is refused with ``BallotImageError`` and a plain reason when it is not an image,
is truncated or corrupt, declares more pixels than a sheet can have (checked before
anything is decoded, so a decompression bomb costs nothing), holds several pages, or
stores values that are not light levels (floating point). Colour files come back as
RGB arrays for the reader to turn grey its own way; 16-bit grey is scaled to 8 bits.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile, UnidentifiedImageError

from controller.ballots.read import MAX_SIDE, BallotImageError

MAX_PIXELS = MAX_SIDE * MAX_SIDE // 2
_GREY = {"1", "L", "LA", "La"}
_COLOUR = {"RGB", "RGBA", "RGBX", "RGBa", "CMYK", "YCbCr", "LAB", "HSV", "P", "PA"}
_DEEP = {"I", "I;16", "I;16B", "I;16L", "I;16N"}


def load_scan(path: Path | str) -> tuple[np.ndarray, int | None]:
    """The scan in ``path`` as uint8 grey (rows x columns) or RGB (rows x columns x 3),
    and the resolution the file states (dots per inch), if it states a plausible one."""
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                width, height = image.size
                if max(width, height) > MAX_SIDE or width * height > MAX_PIXELS:
                    raise BallotImageError(
                        f"an image of {width}x{height} pixels is too large for a sheet"
                    )
                if getattr(image, "n_frames", 1) > 1:
                    raise BallotImageError(
                        f"the file holds {image.n_frames} pages: give one sheet per file"
                    )
                return _pixels(image), _dpi(image)
    except BallotImageError:
        raise
    except FileNotFoundError:
        raise BallotImageError("no such file") from None
    except IsADirectoryError:
        raise BallotImageError("a folder, not an image") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise BallotImageError(f"the image is too large for a sheet: {err}") from None
    except UnidentifiedImageError as err:
        raise BallotImageError(f"not an image that can be read: {err}") from None
    except (OSError, ValueError, SyntaxError, EOFError) as err:
        # Pillow's way of saying truncated, corrupt or unsupported data.
        raise BallotImageError(f"the image is damaged or truncated: {err}") from None


def _pixels(image: Image.Image) -> np.ndarray:
    mode = image.mode
    if mode in _GREY:
        return np.asarray(image.convert("L"), dtype=np.uint8)
    if mode in _COLOUR:
        return np.asarray(image.convert("RGB"), dtype=np.uint8)
    if mode in _DEEP:
        values = np.asarray(image).astype(np.int64)
        top = int(values.max()) if values.size else 0
        if values.size and int(values.min()) < 0:
            raise BallotImageError("the image holds negative levels: not a scan")
        if top > 65535:
            raise BallotImageError("the image holds levels deeper than 16 bits: not a scan")
        shift = 8 if top > 255 else 0
        return (values >> shift).astype(np.uint8)
    raise BallotImageError(f"images of mode {mode!r} are not scans (grey or colour levels)")


def _dpi(image: Image.Image) -> int | None:
    stated = image.info.get("dpi")
    try:
        x, y = (float(v) for v in stated)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        return None
    if not (50 <= x <= 1200) or abs(x - y) > 1:
        return None
    return int(round(x))
