"""Sets of fingers and impressions, and their files: PNG images plus ground-truth JSON.

Images are named as FVC names them, finger then impression, both counted from 1:
``f0001_1.png`` is the first impression of the first finger. Each image has a record of
its ground truth (``truth_record``); a cache folder keeps one JSON file per image next
to its PNG, the command line gathers all records into one ``truth.json``.

Reading a record back checks everything it relies on, so a damaged, forged or oversized
file gives a ``TruthError`` naming the file, never a crash or a wrong answer.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image

from controller.biometrics.template import BIFURCATION, ENDING, Minutiae
from hil.fingerprints.impression import (
    CONDITIONS,
    Impression,
    check_size,
    make_impression,
)
from hil.fingerprints.master import make_master
from hil.fingerprints.placement import Placement

# Bump when the generator changes what it draws, so caches of older images are not reused.
GENERATOR_VERSION = 7
MIXED = "mixed"
# What a day of captures at a polling station looks like.
MIXED_SHARES = {"good": 0.15, "normal": 0.55, "dry": 0.12, "wet": 0.12, "poor": 0.06}
MAX_RECORD_BYTES = 1 << 20
MAX_TRUTH_BYTES = 256 << 20  # truth.json of a whole set: some 60 000 images
MAX_PNG_BYTES = 4 << 20
MAX_MINUTIAE = 1000


class TruthError(ValueError):
    """A ground-truth file or its image is missing, damaged or does not belong together."""


def finger_seed(seed: int, finger: int) -> int:
    """The master seed of finger number ``finger`` (from 0) of the set ``seed``."""
    state = np.random.SeedSequence([seed, finger, 0xF1]).generate_state(1, dtype=np.uint32)
    return int(state[0])


def impression_condition(seed: int, finger: int, impression: int, condition: str) -> str:
    """The condition of one impression: ``condition`` itself, or a draw when it is "mixed"."""
    if condition != MIXED:
        return condition
    rng = np.random.default_rng([seed, finger, impression, 0xC0])
    names = list(MIXED_SHARES)
    return names[int(rng.choice(len(names), p=list(MIXED_SHARES.values())))]


def image_name(finger: int, impression: int) -> str:
    """File stem of an impression, counting both from 1 as FVC does (``f0001_1``)."""
    return "f%04d_%d" % (finger + 1, impression + 1)


def check_counts(fingers: int, impressions: int) -> None:
    """Raise ValueError unless both counts are positive integers."""
    for name, value in (("fingers", fingers), ("impressions", impressions)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise TypeError("%s must be an integer" % name)
        if value < 1:
            raise ValueError("%s must be 1 or more, not %d" % (name, value))


def dataset(
    fingers: int,
    impressions: int,
    seed: int = 0,
    width: int = 256,
    height: int = 288,
    cache_dir: Path | None = None,
    condition: str = MIXED,
    first: int = 0,
) -> Iterator[tuple[int, int, Impression]]:
    """Yield ``(finger, impression, Impression)`` for every finger and impression, from 0.

    With ``first`` the set starts at that finger (the same fingers as in the whole set),
    so that workers can make parts of one set.

    With ``cache_dir`` the images and their ground truth are kept under a subfolder named
    by the parameters and read back on the next run instead of being made again. A
    loaded impression has everything a made one has; its ``contact`` mask comes from its
    own PNG. Parameters are checked at the call, before anything is made.
    """
    check_counts(fingers, impressions)
    check_size(width, height)
    if condition != MIXED and condition not in CONDITIONS:
        raise ValueError("unknown condition %r (one of %s or mixed)" % (condition, CONDITIONS))
    folder = None
    if cache_dir is not None:
        folder = Path(cache_dir) / (
            "v%d-%dx%d-seed%d-%s" % (GENERATOR_VERSION, width, height, seed, condition)
        )
        folder.mkdir(parents=True, exist_ok=True)
    if isinstance(first, bool) or not isinstance(first, int) or not 0 <= first < fingers:
        raise ValueError("first must be an integer finger number below %d" % fingers)
    return _generate(range(first, fingers), impressions, seed, width, height, folder, condition)


def _generate(
    fingers: range,
    impressions: int,
    seed: int,
    width: int,
    height: int,
    folder: Path | None,
    condition: str,
) -> Iterator[tuple[int, int, Impression]]:
    for finger in fingers:
        master = None
        for impression in range(impressions):
            name = image_name(finger, impression)
            if folder is not None and (folder / (name + ".json")).exists():
                yield finger, impression, load_impression(folder, name)
                continue
            if master is None:
                master = make_master(finger_seed(seed, finger))
            made = make_impression(
                master,
                impression + 1,
                width,
                height,
                impression_condition(seed, finger, impression, condition),
            )
            if folder is not None:
                save_impression(folder, name, made)
            yield finger, impression, made


def truth_record(impression: Impression, name: str, png: bytes) -> dict:
    """The ground truth of one impression as plain JSON data."""
    m = impression.minutiae
    return {
        "generator": GENERATOR_VERSION,
        "image": name + ".png",
        "sha256": hashlib.sha256(png).hexdigest(),
        "width": int(impression.image.shape[1]),
        "height": int(impression.image.shape[0]),
        "finger_seed": impression.finger_seed,
        "seed": impression.seed,
        "pattern": impression.pattern,
        "condition": impression.condition,
        "placement": impression.placement.as_dict(),
        "minutiae": [
            [round(float(x), 2), round(float(y), 2), round(float(a), 5), int(k), int(i)]
            for x, y, a, k, i in zip(
                m.x, m.y, m.angle, m.kind, impression.master_index, strict=True
            )
        ],
    }


def png_bytes(image: np.ndarray) -> bytes:
    """PNG encoding of a uint8 grey or bool image (bool becomes 1-bit)."""
    out = io.BytesIO()
    mode = "1" if image.dtype == bool else "L"
    Image.fromarray(image, mode=None).convert(mode).save(out, format="PNG", optimize=False)
    return out.getvalue()


def save_impression(folder: Path, name: str, impression: Impression) -> None:
    """Write ``name``.png, ``name``_contact.png and ``name``.json into ``folder``.

    The JSON goes last and by rename, so a reader that finds it also finds whole images.
    """
    png = png_bytes(impression.image)
    write_atomic(folder / (name + ".png"), png)
    contact = png_bytes(impression.contact)
    record = truth_record(impression, name, png)
    record["contact"] = name + "_contact.png"
    record["contact_sha256"] = hashlib.sha256(contact).hexdigest()
    write_atomic(folder / (name + "_contact.png"), contact)
    write_atomic(folder / (name + ".json"), json.dumps(record).encode())


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file, so readers never see half of it."""
    temp = path.with_name(path.name + ".%d.tmp" % os.getpid())
    temp.write_bytes(data)
    os.replace(temp, path)


def load_impression(folder: Path, name: str) -> Impression:
    """Read back an impression written by ``save_impression``; TruthError if anything is off."""
    path = Path(folder) / (name + ".json")
    record = _read_json(path)
    return impression_from_record(record, Path(folder), path)


def load_folder(folder: Path) -> Iterator[tuple[int, int, Impression]]:
    """Read a set written by ``python -m hil.fingerprints`` back, as ``dataset`` yields it.

    Finger and impression numbers come back counted from 0; the impressions have no
    ``contact`` mask (None). Raises TruthError for a damaged or forged ``truth.json`` or
    image, naming the file.
    """
    folder = Path(folder)
    path = folder / "truth.json"
    truth = _read_json(path, MAX_TRUTH_BYTES)
    images = truth.get("images")
    if truth.get("generator") != GENERATOR_VERSION or not isinstance(images, list):
        raise TruthError("%s: not a truth file of generator %d" % (path, GENERATOR_VERSION))
    return _records(images, folder, path)


def _records(images: list, folder: Path, path: Path) -> Iterator[tuple[int, int, Impression]]:
    for n, record in enumerate(images):
        where = "%s, image %d" % (path, n)
        if not isinstance(record, dict):
            raise TruthError("%s: not a JSON object" % where)
        finger, impression = record.get("finger"), record.get("impression")
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (finger, impression)):
            raise TruthError("%s: finger and impression must be integers" % where)
        if not (1 <= finger <= 9999 and 1 <= impression <= 99):
            raise TruthError(
                "%s: finger %r or impression %r out of range" % (where, finger, impression)
            )
        if record.get("image") != image_name(finger - 1, impression - 1) + ".png":
            raise TruthError(
                "%s: image %r does not match its numbers" % (where, record.get("image"))
            )
        yield finger - 1, impression - 1, impression_from_record(record, folder, where)


def _read_json(path: Path, limit: int = MAX_RECORD_BYTES) -> dict:
    try:
        with open(path, "rb") as f:
            data = f.read(limit + 1)
    except OSError as e:
        raise TruthError("%s: cannot read (%s)" % (path, e)) from e
    if len(data) > limit:
        raise TruthError("%s: larger than %d bytes" % (path, limit))
    try:
        record = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise TruthError("%s: not JSON (%s)" % (path, e)) from e
    if not isinstance(record, dict):
        raise TruthError("%s: not a JSON object" % path)
    return record


def impression_from_record(record: dict, folder: Path, source: Path | str) -> Impression:
    """Build the impression that ``record`` describes, with its images from ``folder``."""
    try:
        return _from_record(record, folder, source)
    except TruthError:
        raise
    except (KeyError, TypeError, ValueError, OverflowError) as e:
        raise TruthError(
            "%s: malformed ground truth (%s: %s)" % (source, type(e).__name__, e)
        ) from e


def _from_record(record: dict, folder: Path, source: Path | str) -> Impression:
    if record.get("generator") != GENERATOR_VERSION:
        raise TruthError(
            "%s: made by generator %r, not %d"
            % (source, record.get("generator"), GENERATOR_VERSION)
        )
    width, height = _integer(record["width"]), _integer(record["height"])
    check_size(width, height)
    condition, pattern = record["condition"], record["pattern"]
    if not isinstance(condition, str) or not isinstance(pattern, str):
        raise TruthError("%s: condition or pattern is not a string" % source)
    image = _read_png(folder, record["image"], record["sha256"], (width, height), "L", source)
    contact = None
    if "contact" in record:
        contact = _read_png(
            folder, record["contact"], record["contact_sha256"], (width, height), "1", source
        ).astype(bool)
    placement = _placement(record["placement"], source)
    rows = record["minutiae"]
    if not isinstance(rows, list) or len(rows) > MAX_MINUTIAE:
        raise TruthError("%s: minutiae must be a list of at most %d" % (source, MAX_MINUTIAE))
    columns: list[list[float]] = [[], [], [], [], []]
    for row in rows:
        if not isinstance(row, list) or len(row) != 5:
            raise TruthError("%s: a minutia is not [x, y, angle, kind, master_index]" % source)
        x, y, angle = (_number(v) for v in row[:3])
        kind, index = _integer(row[3]), _integer(row[4])
        if not (0 <= x < width and 0 <= y < height and 0 <= angle < 2 * math.pi + 1e-4):
            raise TruthError("%s: minutia %r outside the image or angle range" % (source, row))
        if kind not in (ENDING, BIFURCATION) or index < 0:
            raise TruthError("%s: minutia %r has a bad kind or index" % (source, row))
        for column, value in zip(columns, (x, y, angle, kind, index), strict=True):
            column.append(value)
    minutiae = Minutiae.from_columns(
        columns[0], columns[1], columns[2], columns[3], [100] * len(rows)
    )
    return Impression(
        image,
        minutiae,
        np.asarray(columns[4], dtype=np.int32),
        contact,
        placement,
        condition,
        _integer(record["finger_seed"]),
        _integer(record["seed"]),
        pattern,
    )


def _placement(data: object, source: Path | str) -> Placement:
    if not isinstance(data, dict):
        raise TruthError("%s: placement is not an object" % source)
    placement = Placement.from_dict(data)
    numbers = [
        placement.rotation,
        placement.brake,
        placement.twist,
        *placement.offset,
        *placement.centre,
        *placement.radii,
        *placement.shift,
    ]
    if not all(math.isfinite(v) for v in numbers) or min(placement.radii) <= 0:
        raise TruthError("%s: placement has non-finite or non-positive values" % source)
    if placement.brake <= 0:
        raise TruthError("%s: placement brake must be positive" % source)
    return placement


def _read_png(
    folder: Path, name: object, digest: object, size: tuple[int, int], mode: str, source: object
) -> np.ndarray:
    if not isinstance(name, str) or "/" in name or "\\" in name or name.startswith("."):
        raise TruthError("%s: image name %r is not a plain file name" % (source, name))
    path = folder / name
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_PNG_BYTES + 1)
    except OSError as e:
        raise TruthError("%s: cannot read %s (%s)" % (source, path, e)) from e
    if len(data) > MAX_PNG_BYTES:
        raise TruthError("%s: larger than %d bytes" % (path, MAX_PNG_BYTES))
    if hashlib.sha256(data).hexdigest() != digest:
        raise TruthError("%s: does not match the digest in %s" % (path, source))
    try:
        with Image.open(io.BytesIO(data)) as img:
            if img.format != "PNG" or img.size != size or img.mode != mode:
                raise TruthError(
                    "%s: expected a %dx%d %s PNG, found %s %s %s"
                    % (path, size[0], size[1], mode, img.format, img.size, img.mode)
                )
            return np.asarray(img.convert("L"))
    except (OSError, Image.DecompressionBombError, SyntaxError) as e:
        raise TruthError("%s: not a readable PNG (%s)" % (path, e)) from e


def _integer(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("expected an integer, found %r" % (value,))
    return value


def _number(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError("expected a number, found %r" % (value,))
    if not math.isfinite(value):
        raise ValueError("expected a finite number, found %r" % (value,))
    return float(value)
