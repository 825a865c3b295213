"""Scanner streaks: a dirty or dead element of the line sensor draws a vertical line.

A sheet-fed scanner moves the paper past a fixed sensor row, so one bad element makes
the same image column too dark (dust, a scratch) or too light (a dead or saturated
element) through the whole sheet — in the scan direction, image columns, whatever way
round the sheet was fed. Such a scan can add ink to a target or take it away, so it is
refused and the scanner needs cleaning, as VxSuite does.

* dark (``find_dark_streak``, before anything else, on a sample of rows): a column
  that is dark in every horizontal band of the scan — the top and the bottom band
  included, where no printed line reaches — and narrow (at most ``MAX_WIDTH_MM``) with
  paper on both sides, so the scanner bed beside a sheet is not one;
* light (``find_light_streak``, once the targets are located): a light line shows only
  where it cuts through ink, and what matters is the ink of the targets. Around each
  target, a run of columns (up to ``LIGHT_MAX_WIDTH_MM`` wide) without a single ink
  pixel, with ink right beside it on both sides in the same rows, is a cut. Inside an
  oval's width the printed outline crosses every column at the oval's top and bottom,
  so no drawing leaves a free column there: one with the outline beside it, above and
  below the oval's middle, is a streak through that one oval (when the outline is at
  least ``MIN_OUTLINE_PX`` thick in the scan; thinner, it may break up by itself).
  Elsewhere — beside the ovals, or in scans of lower
  resolution — the same cut through two targets, or through most of one mark's height,
  is a streak. A light streak that crosses no target (along a row of a sheet fed
  sideways, between the rows of ovals) is not seen, and takes no ink from a target
  either.
"""

from __future__ import annotations

import numpy as np

from controller.ballots import layout as geo

BANDS = 12
DARK = 0.6  # of the paper level: darker counts as ink here
DARK_SHARE = 0.5  # of a band's rows a dark streak column covers at least
MAX_WIDTH_MM = 3.0
NEIGHBOUR_GAP = (2, 7)  # pixels: where a column's neighbours are looked at
LIGHT_MAX_WIDTH = 4  # pixels: light streaks at least this wide are looked for at any dpi
LIGHT_MAX_WIDTH_MM = 2.5  # ... and up to this wide
LIGHT_INSIDE = 0.8  # of an oval's half width: where its outline must cross every column
MIN_OUTLINE_PX = 2.0  # an outline thinner than this in the scan may break up by itself
LIGHT_MIN_ROWS = 2  # rows in which a cut must have ink right beside it on both sides
LIGHT_LONG_CUT = 0.45  # of a target's patch height: a cut that long is a streak alone


def find_dark_streak(gray: np.ndarray, paper: float, px_per_mm: float) -> str | None:
    """A description of a dark scanner streak in ``gray``, or None when there is none."""
    height, width = gray.shape
    step = max(1, round(px_per_mm * 1.5))
    rows = (height // step) // BANDS * BANDS
    if rows < BANDS or width < 16:
        return None
    sample = gray[: rows * step : step]
    ink = sample < paper * DARK
    per_band = ink.reshape(BANDS, rows // BANDS, width).sum(axis=1, dtype=np.int32)
    band_rows = rows // BANDS
    dark = _dark_streak(per_band, band_rows, px_per_mm)
    if dark is not None:
        return f"a dark vertical streak at column {dark} of the scan: clean the scanner"
    return None


def _dark_streak(per_band: np.ndarray, band_rows: int, px_per_mm: float) -> int | None:
    covered = per_band >= DARK_SHARE * band_rows
    bands = covered.sum(axis=0)
    suspect = covered[0] & covered[-1] & (bands >= BANDS - 1)
    if not suspect.any():
        return None
    columns = np.flatnonzero(suspect)
    # Runs of neighbouring suspect columns: a streak is a narrow run inside the image.
    breaks = np.flatnonzero(np.diff(columns) > 1)
    starts = np.concatenate([[columns[0]], columns[breaks + 1]])
    ends = np.concatenate([columns[breaks], [columns[-1]]])
    width = per_band.shape[1]
    for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
        if start == 0 or end == width - 1:
            continue  # the scanner bed beside the sheet, not a line across it
        if end - start + 1 > MAX_WIDTH_MM * px_per_mm:
            continue
        left = bands[max(0, start - NEIGHBOUR_GAP[1]) : max(0, start - NEIGHBOUR_GAP[0] + 1)]
        right = bands[end + NEIGHBOUR_GAP[0] : end + NEIGHBOUR_GAP[1]]
        # Mostly paper on both sides: a line on a sheet, not a patch of a dark image.
        if left.size and right.size and left.max() <= BANDS // 2 and right.max() <= BANDS // 2:
            return (start + end) // 2
    return None


def find_light_streak(
    gray: np.ndarray,
    paper: float,
    boxes: np.ndarray,
    ovals: np.ndarray | None = None,
    px_per_mm: float | None = None,
) -> str | None:
    """A description of a light streak cutting the targets, or None.

    ``boxes`` holds each target's surroundings in scan pixels, one row ``x0, y0, x1, y1``
    per target (the oval with a margin, all of one size). ``ovals`` gives per target the
    scan column of the oval's centre and half the oval's width in the scan; with
    ``px_per_mm`` it lets a single cut through a printed outline count as a streak.
    """
    height, width = gray.shape
    k = float(px_per_mm or 0.0)
    widest = max(LIGHT_MAX_WIDTH, int(LIGHT_MAX_WIDTH_MM * k))
    patch_w = int((boxes[:, 2] - boxes[:, 0]).max())
    patch_h = int((boxes[:, 3] - boxes[:, 1]).max())
    if patch_w <= 3 or patch_h < LIGHT_MIN_ROWS:
        return None
    x0 = np.clip(boxes[:, 0].astype(np.intp), 0, max(0, width - patch_w))
    y0 = np.clip(boxes[:, 1].astype(np.intp), 0, max(0, height - patch_h))
    rows = y0[:, None, None] + np.arange(patch_h)[None, :, None]
    cols = x0[:, None, None] + np.arange(patch_w)[None, None, :]
    ink = gray[np.minimum(rows, height - 1), np.minimum(cols, width - 1)] < paper * DARK
    free = ~ink.any(axis=1)  # columns without a single ink pixel in the patch
    # For every free column, the nearest columns with ink to its left and to its right:
    # a run of free columns with ink on both sides is where a light line may have cut.
    index = np.arange(patch_w)
    left = np.maximum.accumulate(np.where(free, -1, index), axis=1)
    right = np.minimum.accumulate(np.where(free, patch_w, index)[:, ::-1], axis=1)[:, ::-1]
    run = right - left - 1
    if ovals is not None and k * geo.OVAL_STROKE >= MIN_OUTLINE_PX:
        hit = _outline_cut(ink, free, left, right, x0, ovals, widest)
        if hit is not None:
            return f"a light vertical streak at column {hit} of the scan: clean the scanner"
    target, column = np.nonzero(free & (left >= 0) & (right < patch_w) & (run <= widest))
    if not len(target):
        return None
    beside_l = ink[target, :, left[target, column]]  # candidates x rows
    beside_r = ink[target, :, right[target, column]]
    cut = (beside_l & beside_r).sum(axis=1)
    absolute = x0[target] + column
    evident = cut >= LIGHT_MIN_ROWS
    long_cut = cut >= LIGHT_LONG_CUT * patch_h
    for i in np.flatnonzero(evident).tolist():
        where = int(absolute[i])
        # A streak a pixel wide may fall on neighbouring columns in two targets.
        crossed = set(target[evident & (np.abs(absolute - where) <= 1)].tolist())
        if long_cut[i] or len(crossed) >= 2:
            return f"a light vertical streak at column {where} of the scan: clean the scanner"
    return None


def _outline_cut(
    ink: np.ndarray,
    free: np.ndarray,
    left: np.ndarray,
    right: np.ndarray,
    x0: np.ndarray,
    ovals: np.ndarray,
    widest: int,
) -> int | None:
    """The scan column of a free column inside an oval's width, or None.

    Inside an oval's width the printed outline crosses every column twice, at its top
    and its bottom, so a column there without a single ink pixel is a line the scanner
    did not see. It must have the outline beside it, above and below the oval's middle,
    on each side where ink is left: a streak over the end of an oval reaches past the
    outline to the paper beyond, and has ink on its inner side only. The outline slopes,
    so a wide cut meets it at different heights on its two sides: above and below the
    middle is all that is asked, not the same rows.
    """
    patch_w = free.shape[1]
    absolute = x0[:, None] + np.arange(patch_w)[None, :]
    inside = np.abs(absolute - ovals[:, :1]) <= LIGHT_INSIDE * ovals[:, 1:]
    bounded_l, bounded_r = left >= 0, right < patch_w
    both = bounded_l & bounded_r
    narrow = ~both | (right - left - 1 <= widest)
    target, column = np.nonzero(free & inside & (bounded_l | bounded_r) & narrow)
    if not len(target):
        return None
    half = ink.shape[1] // 2

    def flanked(bound: np.ndarray, present: np.ndarray) -> np.ndarray:
        rows = ink[target, :, np.clip(bound[target, column], 0, patch_w - 1)]
        outline = rows[:, :half].any(axis=1) & rows[:, half:].any(axis=1)
        return outline | ~present[target, column]

    hits = np.flatnonzero(flanked(left, bounded_l) & flanked(right, bounded_r))
    return int(absolute[target[hits[0]], column[hits[0]]]) if len(hits) else None

