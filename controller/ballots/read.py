"""Reading a scanned ballot sheet: its code, its registration, its marks.

Steps, each of which can end the reading with a rejection reason:

1. The QR code is read with zxing-cpp, first where the layout prints it, then anywhere
   on the sheet (``unreadable_code`` when there is no Shailoo ballot code).
2. The code is checked against the loaded election and the station: ``other_election``,
   ``unknown_style``, ``test_ballot`` (a test ballot read in official mode),
   ``official_ballot`` (an official ballot in test mode), ``other_station``.
3. The four corner fiducials are found near where the code's position predicts them and
   an affine transform from sheet millimetres to scan pixels is fitted to them. Too
   large a residual, a distorted fit, or a code that is not where the fit puts it is
   ``cannot_register``; a scale other than the scanner's dpi (when given) is
   ``wrong_scale``. Missing fiducials are never guessed.
4. Every target of the style's layout (recomputed from the election, never read from a
   side file) is sampled through the transform inside its oval, away from the printed
   outline. Its score is the share of sampled pixels darker than ``ink`` times the
   paper's brightness; ``marked`` and ``marginal`` thresholds classify it.

Only ``marked`` targets are votes. ``marginal`` ones are reported for review and never
counted. A contest with more marks than it allows, or "against all" together with
another mark, is an ``overvote``; none is ``blank``; fewer than allowed ``undervote``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
import zxingcpp

from controller.ballots import layout as geo
from controller.ballots.code import BallotCode, CodeError
from controller.election import is_id

DEFAULT_THRESHOLDS: dict[str, float] = {"marked": 0.10, "marginal": 0.04, "ink": 0.72}
MIN_SIDE = 500
MAX_SIDE = 8000
MAX_ASPECT = 2.0
INTERIOR = 0.62  # sampled part of the oval: clear of its printed outline when shifted 2 px
MAX_RESIDUAL_MM = 1.0
MAX_ANISOTROPY = 0.04
CODE_TOLERANCE_MM = 3.0
SCALE_TOLERANCE = 0.05
SEARCH_MM = 9.0  # how far from its predicted place a fiducial is looked for

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


def check_image(gray: Any) -> np.ndarray:
    """Return ``gray`` if it can be a scanned sheet, else raise ``BallotImageError``."""
    if not isinstance(gray, np.ndarray):
        raise BallotImageError(f"a scan is a numpy array, not {type(gray).__name__}")
    if gray.dtype != np.uint8:
        raise BallotImageError(f"a scan holds 8-bit grey levels (uint8), not {gray.dtype}")
    if gray.ndim != 2:
        raise BallotImageError(f"a scan is 2-D (rows x columns), not {gray.ndim}-D")
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


# -- step 1: the code --------------------------------------------------------------------


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


def _find_code(gray: np.ndarray) -> _Found:
    height, width = gray.shape
    if height >= width:
        # Where the code is on an upright sheet of either paper, guessing the scale
        # from the width; generous margins absorb shift and the paper difference.
        k = width / geo.PAPERS["A4"].width
        qr = geo.qr_box(geo.PAPERS["A4"])
        x0 = max(0, int((qr.x - 15) * k))
        x1 = min(width, int((geo.PAPERS["letter"].width - geo.CORNER_CLEAR + 15) * k))
        y1 = min(height, int((qr.y + qr.h + 15) * k))
        found = _decode_all(gray[:y1, x0:x1], (x0, 0), full=False)
        if found:
            return found[0]
    found = _decode_all(gray, (0, 0), full=True)
    if not found:
        raise _Reject("unreadable_code", "no ballot code found on the sheet")
    if len({f.code for f in found}) > 1:
        raise _Reject("unreadable_code", "more than one ballot code on the sheet")
    return found[0]


# -- step 3: registration ----------------------------------------------------------------


def _fit_affine(src: np.ndarray, dst: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares affine ``dst ~ M @ [src, 1]``; returns (M 2x3, residuals per point)."""
    ones = np.ones((len(src), 1))
    design = np.hstack([src, ones])
    solution, *_ = np.linalg.lstsq(design, dst, rcond=None)
    matrix = solution.T
    residuals = np.linalg.norm(design @ solution - dst, axis=1)
    return matrix, residuals


def _apply(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    return points @ matrix[:, :2].T + matrix[:, 2]


def _box_sums(integral: np.ndarray, side: int) -> np.ndarray:
    """Sums over every ``side`` x ``side`` box, indexed by the box's top-left corner."""
    return (
        integral[side:, side:]
        - integral[:-side, side:]
        - integral[side:, :-side]
        + integral[:-side, :-side]
    )


def _paper_level(gray: np.ndarray) -> float:
    """Brightness of blank paper: a high percentile of a sparse sample of the sheet."""
    sample = gray[::7, ::7]
    counts = np.bincount(sample.ravel(), minlength=256)
    cumulative = np.cumsum(counts)
    return float(np.searchsorted(cumulative, 0.9 * cumulative[-1]))


def _find_fiducial(
    gray: np.ndarray, centre: np.ndarray, k: float, paper: float
) -> np.ndarray | None:
    """The centre (px) of the solid square near ``centre``, or None when there is none."""
    height, width = gray.shape
    side = geo.FIDUCIAL * k
    reach = (geo.FIDUCIAL / 2 + SEARCH_MM) * k
    x0, y0 = int(max(0, centre[0] - reach)), int(max(0, centre[1] - reach))
    x1, y1 = int(min(width, centre[0] + reach)), int(min(height, centre[1] + reach))
    inner = max(3, int(side * 0.8))
    ring_in = int(side * 1.25)
    ring_out = int(side * 1.75)
    if x1 - x0 <= ring_out or y1 - y0 <= ring_out:
        return None
    window = gray[y0:y1, x0:x1].astype(np.float32)
    integral = np.zeros((window.shape[0] + 1, window.shape[1] + 1), dtype=np.float64)
    integral[1:, 1:] = np.cumsum(np.cumsum(paper - window, axis=0), axis=1)
    outer = _box_sums(integral, ring_out)
    # Align the three box grids on a common centre.
    a = (ring_out - inner) // 2
    b = (ring_out - ring_in) // 2
    rows, cols = outer.shape
    inner_s = _box_sums(integral, inner)[a : a + rows, a : a + cols]
    middle = _box_sums(integral, ring_in)[b : b + rows, b : b + cols]
    inner_mean = inner_s / inner**2
    ring_mean = (outer - middle) / (ring_out**2 - ring_in**2)
    score = inner_mean - ring_mean
    best = np.unravel_index(int(np.argmax(score)), score.shape)
    if inner_mean[best] < 0.5 * paper or ring_mean[best] > 0.2 * paper:
        return None
    # Refine: the centroid of the dark pixels in the box around the best position.
    cy = y0 + best[0] + ring_out / 2
    cx = x0 + best[1] + ring_out / 2
    half = ring_in / 2
    ry0, ry1 = int(max(0, cy - half)), int(min(height, cy + half))
    rx0, rx1 = int(max(0, cx - half)), int(min(width, cx + half))
    patch = gray[ry0:ry1, rx0:rx1]
    dark = patch < paper * 0.5
    count = int(dark.sum())
    if count < 0.6 * side * side:
        return None
    ys, xs = np.nonzero(dark)
    return np.array([rx0 + xs.mean() + 0.5, ry0 + ys.mean() + 0.5])


CORNER_NAMES = ("top-left", "top-right", "bottom-left", "bottom-right")


def _register(
    gray: np.ndarray, found: _Found, paper_name: str, paper: float, dpi: int | None
) -> np.ndarray:
    """The affine transform from sheet millimetres to scan pixels."""
    sheet = geo.PAPERS[paper_name]
    qr = geo.qr_box(sheet)
    qr_mm = np.array(
        [[qr.x, qr.y], [qr.x + qr.w, qr.y], [qr.x + qr.w, qr.y + qr.h], [qr.x, qr.y + qr.h]]
    )
    coarse, _ = _fit_affine(qr_mm, found.corners)
    k_coarse = float(np.sqrt(abs(np.linalg.det(coarse[:, :2]))))
    if not k_coarse > 0:
        raise _Reject("cannot_register", "the code's corners are degenerate")
    expected = np.array(geo.fiducial_centres(sheet))
    predicted = _apply(coarse, expected)
    centres = []
    for name, guess in zip(CORNER_NAMES, predicted, strict=True):
        centre = _find_fiducial(gray, guess, k_coarse, paper)
        if centre is None:
            raise _Reject("cannot_register", f"the {name} corner mark was not found")
        centres.append(centre)
    matrix, residuals = _fit_affine(expected, np.array(centres))
    linear = matrix[:, :2]
    singular = np.linalg.svd(linear, compute_uv=False)
    k = float(np.sqrt(singular[0] * singular[1]))
    if np.linalg.det(linear) <= 0 or singular[0] / singular[1] - 1 > MAX_ANISOTROPY:
        raise _Reject("cannot_register", "the corner marks do not form the printed rectangle")
    if residuals.max() / k > MAX_RESIDUAL_MM:
        raise _Reject(
            "cannot_register",
            f"the corner marks are {residuals.max() / k:.1f} mm off the printed rectangle",
        )
    drift = np.linalg.norm(_apply(matrix, qr_mm) - found.corners, axis=1).max() / k
    if drift > CODE_TOLERANCE_MM:
        raise _Reject("cannot_register", f"the code is {drift:.1f} mm from its printed place")
    if dpi is not None:
        nominal = dpi / geo.MM_PER_INCH
        if abs(k / nominal - 1) > SCALE_TOLERANCE:
            raise _Reject(
                "wrong_scale", f"the sheet measures {k / nominal:.3f} of its printed size"
            )
    return matrix


# -- step 4: marks -----------------------------------------------------------------------


class _Targets:
    """A style's oval centres (mm) with who they belong to, cached per election hash."""

    def __init__(self, sheet: geo.SheetLayout) -> None:
        rows = sheet.rows
        self.keys = [(row.contest, row.option) for row in rows]
        self.centres = np.array([[row.oval.cx, row.oval.cy] for row in rows], dtype=np.float64)


_cache: dict[tuple[str, str, str], _Targets] = {}
_cache_lock = threading.Lock()
_CACHE_SIZE = 256


def _targets(election: Any, style: str, paper: str) -> _Targets:
    key = (election.hash, style, paper)
    with _cache_lock:
        hit = _cache.get(key)
    if hit is not None:
        return hit
    targets = _Targets(geo.compute_layout(election, style, paper))
    with _cache_lock:
        if len(_cache) >= _CACHE_SIZE:
            _cache.clear()
        _cache[key] = targets
    return targets


def _interior_offsets(k: float) -> np.ndarray:
    """Sample points (mm, relative to an oval's centre) covering the oval's interior."""
    ax = geo.OVAL_W / 2 * INTERIOR
    ay = geo.OVAL_H / 2 * INTERIOR
    n = int(np.clip(round(2 * ax * k), 8, 64))
    m = int(np.clip(round(2 * ay * k), 6, 64))
    u = (np.arange(n) + 0.5) / n * 2 - 1
    v = (np.arange(m) + 0.5) / m * 2 - 1
    uu, vv = np.meshgrid(u, v)
    inside = uu**2 + vv**2 <= 1
    return np.stack([uu[inside] * ax, vv[inside] * ay], axis=1)


def _scores(
    gray: np.ndarray, matrix: np.ndarray, centres: np.ndarray, paper: float, ink: float
) -> np.ndarray:
    linear = matrix[:, :2]
    k = float(np.sqrt(abs(np.linalg.det(linear))))
    offsets = _interior_offsets(k)
    points = centres[:, None, :] + offsets[None, :, :]
    px = points @ linear.T + matrix[:, 2]
    height, width = gray.shape
    xs = np.clip(np.floor(px[..., 0]).astype(np.intp), 0, width - 1)
    ys = np.clip(np.floor(px[..., 1]).astype(np.intp), 0, height - 1)
    values = gray[ys, xs]
    return (values < paper * ink).mean(axis=1)


def _verdict(contest: Any, chosen: list[str]) -> str:
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
    """Read one scanned sheet (uint8 grey, rows x columns, 0 black) of ``election``.

    ``mode`` is the station's mode ("test" or "official"); ``station`` its id (None:
    ballots of any station are accepted); ``thresholds`` overrides some of
    ``DEFAULT_THRESHOLDS``; ``dpi`` (the scanner's resolution, when known) enables
    the ``wrong_scale`` check. Returns ``{"status", "reason", "detail", "style",
    "votes", "contests", "marks", "thresholds"}``; raises ``BallotImageError`` for an
    array that cannot be a sheet and ``ValueError`` for bad arguments.
    """
    gray = check_image(gray)
    limits = check_thresholds(thresholds)
    if mode not in ("test", "official"):
        raise ValueError(f"mode must be 'test' or 'official', not {mode!r}")
    if station is not None and not is_id(station):
        raise ValueError(f"station {station!r} is not a station id")
    if dpi is not None and (not isinstance(dpi, int) or isinstance(dpi, bool) or dpi <= 0):
        raise ValueError(f"dpi must be a positive whole number, not {dpi!r}")
    style: str | None = None
    try:
        found = _find_code(gray)
        code = found.code
        if not code.matches(election.hash):
            raise _Reject(
                "other_election",
                f"the ballot is of election {code.hash_prefix}…, "
                f"this station runs {election.hash[:16]}…",
            )
        if code.style not in election.styles:
            raise _Reject("unknown_style", f"ballot style {code.style!r} is not in the election")
        style = code.style
        if code.mode != mode:
            reason = "test_ballot" if code.mode == "test" else "official_ballot"
            raise _Reject(reason, f"a {code.mode} ballot at a station in {mode} mode", style)
        if station is not None and code.station is not None and code.station != station:
            raise _Reject("other_station", f"the ballot is for station {code.station!r}", style)
        paper = _paper_level(gray)
        if paper < 64:
            raise _Reject("cannot_register", "the sheet is too dark to read", style)
        matrix = _register(gray, found, code.paper, paper, dpi)
        targets = _targets(election, style, code.paper)
        scores = _scores(gray, matrix, targets.centres, paper, limits["ink"])
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
        cid: _verdict(election.contest(cid), options) for cid, options in chosen.items()
    }
    result["marks"] = marks
    return result
