"""Reading a scanned ballot sheet: its code, its registration, its marks.

Steps, each of which can end the reading with a rejection reason (``REASONS``):

1. A colour scan becomes grey by its darkest channel, so ink of any colour is dark.
2. Scanner streaks — a line down the scan direction — refuse the sheet
   (``scanner_streaks``), since they add or remove ink anywhere (``streaks``).
3. The QR code is read with zxing-cpp where it is printed for each of the four ways
   the sheet can be fed, then anywhere (``unreadable_code`` when there is no Shailoo
   ballot code).
4. The code (``controller.ballots.code``: the election hash, the style's number, the
   station's tag) is checked against the loaded election and the station:
   ``other_election``, ``unknown_style``, ``test_ballot`` (a test ballot read in official mode),
   ``official_ballot`` (an official ballot in test mode), ``other_station`` (printed
   for another station, or of a style the definition does not issue at this one).
5. The corner fiducials and timing marks fix a homography from sheet millimetres to
   scan pixels (``registration``): ``cannot_register``, ``wrong_scale``.
6. Every target of the style's layout (recomputed from the election, never read from a
   side file) is scored by how far ink goes across it — its fill, its longest pen
   stroke, a circle drawn round it — against the paper around it (``scoring``), and
   the ``marked`` and ``marginal`` thresholds classify it.

Only ``marked`` targets are votes. ``marginal`` ones are reported for review and never
counted. A contest with more marks than it allows, or "against all" together with
another mark, is an ``overvote``; none is ``blank``; fewer than allowed ``undervote``.
The thresholds used are part of every result (VVSG 1.1.6-G).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import zxingcpp

from controller.ballots import layout as geo
from controller.ballots.code import BallotCode, CodeError
from controller.ballots.registration import RegistrationError, register
from controller.ballots.scoring import _cache, black_level, score_targets, targets_of
from controller.ballots.streaks import find_dark_streak, find_light_streak
from controller.election.definition import is_definition_id

DEFAULT_THRESHOLDS: dict[str, float] = {"marked": 0.55, "marginal": 0.3, "ink": 0.72}
MIN_SIDE = 500
MAX_SIDE = 8000
MAX_ASPECT = 2.0
MIN_PAPER = 64  # a sheet whose paper is darker than this is not read
_QR_REACH_MM = (105.0, 78.0)  # the corner area of the sheet the code is looked for in

__all__ = [
    "DEFAULT_THRESHOLDS", "REASONS", "BallotImageError", "check_image", "check_thresholds",
    "read_ballot", "to_gray", "verdict", "_cache",
]

REASONS: dict[str, dict[str, str]] = {
    "unreadable_code": {
        "ky": "Бюллетендин коду окулган жок",
        "ru": "Код бюллетеня не читается",
        "en": "the ballot's code cannot be read",
    },
    "other_election": {
        "ky": "Бул бюллетень башка шайлоого тиешелүү",
        "ru": "Бюллетень другого выборного мероприятия",
        "en": "the ballot belongs to another election",
    },
    "unknown_style": {
        "ky": "Бюллетендин түрү бул шайлоодо жок",
        "ru": "Такого вида бюллетеня нет в этих выборах",
        "en": "the ballot style is not part of this election",
    },
    "test_ballot": {
        "ky": "Бул сынак бюллетени: расмий добуш берүүдө кабыл алынбайт",
        "ru": "Это тестовый бюллетень: в официальном режиме не принимается",
        "en": "a test ballot cannot be cast in official mode",
    },
    "official_ballot": {
        "ky": "Бул расмий бюллетень: сынак режиминде кабыл алынбайт",
        "ru": "Это официальный бюллетень: в тестовом режиме не принимается",
        "en": "an official ballot cannot be used in test mode",
    },
    "other_station": {
        "ky": "Бул бюллетень башка участкага тиешелүү",
        "ru": "Бюллетень другого избирательного участка",
        "en": "the ballot belongs to another polling station",
    },
    "cannot_register": {
        "ky": "Бюллетендин белгилери табылган жок: кайра салыңыз",
        "ru": "Не найдены метки бюллетеня: вставьте его ещё раз",
        "en": "the ballot's corner marks cannot be found; feed it again",
    },
    "wrong_scale": {
        "ky": "Бюллетень туура эмес өлчөмдө басылган",
        "ru": "Бюллетень напечатан в неверном масштабе",
        "en": "the ballot is printed at the wrong scale",
    },
    "scanner_streaks": {
        "ky": "Сканерде сызык бар: сканерди тазалоо керек, бюллетенди кайра салыңыз",
        "ru": "На сканере полоса: сканер нужно почистить, вставьте бюллетень ещё раз",
        "en": "the scanner draws a streak; it needs cleaning, then feed the ballot again",
    },
}


class BallotImageError(ValueError):
    """An array that cannot be a scanned sheet (wrong type, shape or size)."""


@dataclass(frozen=True)
class _Found:
    code: BallotCode
    corners: np.ndarray  # 4x2 px: the symbol's top-left, top-right, bottom-right, bottom-left


class _Reject(Exception):
    def __init__(self, reason: str, detail: str, style: str | None = None) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
        self.style = style


def to_gray(image: Any) -> Any:
    """A colour scan (rows x columns x 3 or 4, uint8) as grey by its darkest colour channel.

    Ink of any colour is dark in at least one channel (blue ink in red, red ink in green
    and blue), so the darkest channel shows every pen as dark while white paper stays
    white in all three. Other arrays are returned as they are, for ``check_image``.
    """
    if (
        isinstance(image, np.ndarray)
        and image.ndim == 3
        and image.shape[2] in (3, 4)
        and image.dtype == np.uint8
    ):
        return np.minimum(np.minimum(image[:, :, 0], image[:, :, 1]), image[:, :, 2])
    return image


def check_image(gray: Any) -> np.ndarray:
    """Return ``gray`` if it can be a scanned sheet, else raise ``BallotImageError``."""
    if not isinstance(gray, np.ndarray):
        raise BallotImageError(f"a scan is a numpy array, not {type(gray).__name__}")
    if gray.dtype != np.uint8:
        raise BallotImageError(f"a scan holds 8-bit levels (uint8), not {gray.dtype}")
    if gray.ndim != 2:
        raise BallotImageError(
            f"a scan is 2-D grey or has 3 colour channels, not of shape {gray.shape}"
        )
    height, width = gray.shape
    if min(height, width) < MIN_SIDE:
        raise BallotImageError(
            f"a scan of {width}x{height} pixels is too small for a sheet "
            f"(each side at least {MIN_SIDE})"
        )
    if max(height, width) > MAX_SIDE:
        raise BallotImageError(
            f"a scan of {width}x{height} pixels is too large (each side at most {MAX_SIDE})"
        )
    if max(height, width) / min(height, width) > MAX_ASPECT:
        raise BallotImageError(
            f"a scan of {width}x{height} pixels does not have the shape of a ballot sheet"
        )
    return gray


def check_thresholds(thresholds: dict[str, float] | None) -> dict[str, float]:
    """The defaults overlaid with ``thresholds``; ``ValueError`` when they make no sense."""
    merged = dict(DEFAULT_THRESHOLDS)
    if thresholds:
        unknown = set(thresholds) - set(DEFAULT_THRESHOLDS)
        if unknown:
            raise ValueError(f"unknown thresholds: {', '.join(sorted(unknown))}")
        merged.update(thresholds)
    for key, value in merged.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
            raise ValueError(f"threshold {key!r} must be a number between 0 and 1, not {value!r}")
        merged[key] = float(value)
    if merged["marginal"] > merged["marked"]:
        raise ValueError("the marginal threshold must not be above the marked threshold")
    return merged


# -- the code ----------------------------------------------------------------------------


def _decode_all(image: np.ndarray, offset: tuple[int, int], full: bool) -> list[_Found]:
    found = []
    barcodes = zxingcpp.read_barcodes(
        np.ascontiguousarray(image),
        formats=zxingcpp.BarcodeFormat.QRCode,
        try_rotate=full,
        try_downscale=full,
        try_invert=False,
    )
    for barcode in barcodes:
        try:
            code = BallotCode.decode(barcode.text)
        except CodeError:
            continue
        pos = barcode.position
        corners = np.array(
            [
                [p.x + offset[0], p.y + offset[1]]
                for p in (pos.top_left, pos.top_right, pos.bottom_right, pos.bottom_left)
            ],
            dtype=np.float64,
        )
        found.append(_Found(code, corners))
    return found


def _code_areas(shape: tuple[int, int], k: float) -> list[tuple[int, int, int, int]]:
    """Where the code lies for each way the sheet can be fed, most likely first.

    The code is near the sheet's top-right corner: the image's top-right corner for an
    upright sheet, bottom-left upside down, top-left or bottom-right sideways.
    """
    height, width = shape
    across, down = (int(_QR_REACH_MM[0] * k), int(_QR_REACH_MM[1] * k))
    upright = [
        (max(0, width - across), 0, width, min(height, down)),
        (0, max(0, height - down), min(width, across), height),
    ]
    sideways = [
        (0, 0, min(width, down), min(height, across)),
        (max(0, width - down), max(0, height - across), width, height),
    ]
    return upright + sideways if height >= width else sideways + upright


def _find_code(gray: np.ndarray, dpi: int | None) -> _Found:
    # The scale estimate errs large (a scan is at least as wide as its paper), so the
    # areas err towards holding more of the sheet.
    k = dpi / geo.MM_PER_INCH * 1.05 if dpi else min(gray.shape) / geo.PAPERS["A4"].width
    for x0, y0, x1, y1 in _code_areas(gray.shape, k):
        found = _decode_all(gray[y0:y1, x0:x1], (x0, y0), full=False)
        if found:
            return found[0]
    found = _decode_all(gray, (0, 0), full=True)
    if not found:
        raise _Reject("unreadable_code", "no ballot code found on the sheet")
    if len({f.code for f in found}) > 1:
        raise _Reject("unreadable_code", "more than one ballot code on the sheet")
    return found[0]


def _paper_level(gray: np.ndarray) -> float:
    """Brightness of blank paper: a high percentile of a sparse sample of the sheet."""
    sample = gray[::9, ::9]
    counts = np.bincount(sample.ravel(), minlength=256)
    cumulative = np.cumsum(counts)
    return float(np.searchsorted(cumulative, 0.9 * cumulative[-1]))


def verdict(contest: Any, chosen: list[str]) -> str:
    """A contest's verdict for the options ``chosen`` in it, by the election's rules:
    ``blank``, ``overvote`` (more than allowed, or "against all" beside another),
    ``undervote`` or ``ok``."""
    if not chosen:
        return "blank"
    against = getattr(contest, "against_all", None)
    if len(chosen) > contest.vote_for or (
        against is not None and against.id in chosen and len(chosen) > 1
    ):
        return "overvote"
    if len(chosen) < contest.vote_for:
        return "undervote"
    return "ok"


# -- the whole reading ---------------------------------------------------------------------


def _result(
    status: str,
    reason: str | None,
    style: str | None,
    thresholds: dict[str, float],
    detail: str | None = None,
) -> dict[str, Any]:
    return {
        "status": status,
        "reason": reason,
        "detail": detail,
        "style": style,
        "votes": {},
        "contests": {},
        "marks": [],
        "thresholds": dict(thresholds),
    }


def read_ballot(
    gray: np.ndarray,
    election: Any,
    mode: str = "test",
    station: str | None = None,
    thresholds: dict[str, float] | None = None,
    dpi: int | None = None,
) -> dict[str, Any]:
    """Read one scanned sheet of ``election``: uint8 grey (rows x columns, 0 black) or
    colour (rows x columns x 3, RGB).

    ``mode`` is the station's mode ("test" or "official"); ``station`` its id (None:
    ballots of any station are accepted); ``thresholds`` overrides some of
    ``DEFAULT_THRESHOLDS``; ``dpi`` (the scanner's resolution, when known) enables
    the ``wrong_scale`` check. Returns ``{"status", "reason", "detail", "style",
    "votes", "contests", "marks", "thresholds"}`` and, for a registered sheet,
    ``"registration": {"orientation", "scale", "points", "residual_mm"}``; raises
    ``BallotImageError`` for an array that cannot be a sheet and ``ValueError`` for
    bad arguments.
    """
    gray = check_image(to_gray(gray))
    limits = check_thresholds(thresholds)
    if mode not in ("test", "official"):
        raise ValueError(f"mode must be 'test' or 'official', not {mode!r}")
    if station is not None and not is_definition_id(station):
        raise ValueError(f"station {station!r} is not a station id")
    if dpi is not None and (not isinstance(dpi, int) or isinstance(dpi, bool) or dpi <= 0):
        raise ValueError(f"dpi must be a positive whole number, not {dpi!r}")
    style: str | None = None
    try:
        paper = _paper_level(gray)
        if paper >= MIN_PAPER:
            k_guess = dpi / geo.MM_PER_INCH if dpi else min(gray.shape) / geo.PAPERS["A4"].width
            streak = find_dark_streak(gray, paper, k_guess)
            if streak is not None:
                raise _Reject("scanner_streaks", streak)
        found = _find_code(gray, dpi)
        code = found.code
        if not code.matches(election.hash):
            raise _Reject(
                "other_election",
                f"the ballot is of election {code.hash_prefix}…, "
                f"this station runs {election.hash[:16]}…",
            )
        style = code.style_id(election)
        if style is None:
            raise _Reject(
                "unknown_style",
                f"ballot style number {code.style_index} is not in the election "
                f"(it has {len(election.styles)}, numbered from 0)",
            )
        if code.mode != mode:
            reason = "test_ballot" if code.mode == "test" else "official_ballot"
            raise _Reject(reason, f"a {code.mode} ballot at a station in {mode} mode", style)
        if station is not None and not code.is_for_station(station):
            named = [s.id for s in getattr(election, "stations", ()) if code.is_for_station(s.id)]
            owner = f"station {named[0]!r}" if named else f"the station tagged {code.station_tag}"
            raise _Reject("other_station", f"the ballot is for {owner}", style)
        held_at = getattr(election, "style_stations", {}).get(style) or []
        if station is not None and held_at and station not in held_at:
            # A ballot for any station is good only where its style is issued: a district
            # ballot at a station of another district does not belong there either.
            raise _Reject(
                "other_station",
                f"ballot style {style!r} is not issued at station {station!r} "
                f"(only at {', '.join(held_at)})",
                style,
            )
        if paper < MIN_PAPER:
            raise _Reject("cannot_register", "the sheet is too dark to read", style)
        try:
            fit = register(gray, found.corners, code.paper, paper, dpi)
        except RegistrationError as err:
            raise _Reject(err.reason, err.detail, style) from None
        targets = targets_of(election, style, code.paper)
        streak = find_light_streak(gray, paper, targets.boxes(fit.homography),
                                   targets.spans(fit.homography), fit.px_per_mm)
        if streak is not None:
            raise _Reject("scanner_streaks", streak, style)
        black = black_level(gray, fit.homography, code.paper, paper)
        scores = score_targets(
            gray, fit.homography, fit.px_per_mm, targets, paper, limits["ink"], black
        )
    except _Reject as rejected:
        return _result(
            "rejected", rejected.reason, rejected.style or style, limits, rejected.detail
        )
    marks = []
    chosen: dict[str, list[str]] = {cid: [] for cid in election.styles[style]}
    for (contest_id, option_id), score in zip(targets.keys, scores.tolist(), strict=True):
        if score >= limits["marked"]:
            kind = "marked"
            chosen[contest_id].append(option_id)
        elif score >= limits["marginal"]:
            kind = "marginal"
        else:
            kind = "unmarked"
        marks.append(
            {"contest": contest_id, "option": option_id, "score": round(score, 4), "class": kind}
        )
    result = _result("accepted", None, style, limits)
    result["votes"] = chosen
    result["contests"] = {
        cid: verdict(election.contest(cid), options) for cid, options in chosen.items()
    }
    result["marks"] = marks
    scale = fit.px_per_mm / (dpi / geo.MM_PER_INCH) if dpi else None
    result["registration"] = {
        "orientation": fit.orientation,
        "scale": None if scale is None else round(scale, 4),
        "points": fit.points,
        "residual_mm": round(fit.residual_mm, 3),
    }
    return result
