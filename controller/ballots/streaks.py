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
  target, one to ``LIGHT_MAX_WIDTH`` columns without a single ink pixel, with ink right
  beside them on both sides in the same rows — across the oval's printed outline at its
  top and bottom, through a mark — are a cut. The same cut through two targets, or
  through most of one mark's height, is a streak. The printed outline crosses every
  column of an oval, so no drawing leaves such a cut; a light streak along a row of a
  sheet fed sideways crosses one oval end to end and is seen when it cuts a mark.
"""

from __future__ import annotations

import numpy as np

BANDS = 12
DARK = 0.6  # of the paper level: darker counts as ink here
DARK_SHARE = 0.5  # of a band's rows a dark streak column covers at least
MAX_WIDTH_MM = 3.0
NEIGHBOUR_GAP = (2, 7)  # pixels: where a column's neighbours are looked at
LIGHT_MAX_WIDTH = 4  # pixels: the widest light streak looked for
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


def find_light_streak(gray: np.ndarray, paper: float, boxes: np.ndarray) -> str | None:
    """A description of a light streak cutting the targets, or None.

    ``boxes`` holds each target's surroundings in scan pixels, one row ``x0, y0, x1, y1``
    per target (the oval with a margin, all of one size).
    """
    height, width = gray.shape
    patch_w = int((boxes[:, 2] - boxes[:, 0]).max())
    patch_h = int((boxes[:, 3] - boxes[:, 1]).max())
    if patch_w <= LIGHT_MAX_WIDTH + 2 or patch_h < LIGHT_MIN_ROWS:
        return None
    x0 = np.clip(boxes[:, 0].astype(np.intp), 0, max(0, width - patch_w))
    y0 = np.clip(boxes[:, 1].astype(np.intp), 0, max(0, height - patch_h))
    rows = y0[:, None, None] + np.arange(patch_h)[None, :, None]
    cols = x0[:, None, None] + np.arange(patch_w)[None, None, :]
    ink = gray[np.minimum(rows, height - 1), np.minimum(cols, width - 1)] < paper * DARK
    free = ~ink.any(axis=1)  # columns without a single ink pixel in the patch
    cut = np.zeros((len(boxes), patch_w), dtype=np.int32)
    for run in range(1, LIGHT_MAX_WIDTH + 1):
        # ``run`` paper columns from c, ink right beside them on both sides, row by row.
        span = patch_w - run - 1
        gap = free[:, 1 : 1 + span].copy()
        for i in range(1, run):
            gap &= free[:, 1 + i : 1 + i + span]
        both = (ink[:, :, 0:span] & ink[:, :, run + 1 : run + 1 + span]).sum(axis=1)
        np.maximum(cut[:, 1 : 1 + span], np.where(gap, both, 0), out=cut[:, 1 : 1 + span])
    evident = cut >= LIGHT_MIN_ROWS
    if not evident.any():
        return None
    target, column = np.nonzero(evident)
    absolute = x0[target] + column
    long_cut = cut[target, column] >= LIGHT_LONG_CUT * patch_h
    for i, where in enumerate(absolute.tolist()):
        # A streak a pixel wide may fall on neighbouring columns in two targets.
        crossed = set(target[np.abs(absolute - where) <= 1].tolist())
        if long_cut[i] or len(crossed) >= 2:
            return f"a light vertical streak at column {where} of the scan: clean the scanner"
    return None
