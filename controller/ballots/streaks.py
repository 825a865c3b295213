"""Scanner streaks: a dirty or dead element of the line sensor draws a vertical line.

A sheet-fed scanner moves the paper past a fixed sensor row, so one bad element makes
the same image column too dark (dust, a scratch) or too light (a dead or saturated
element) through the whole sheet — in the scan direction, image columns, whatever way
round the sheet was fed. Such a scan can add ink to a target or take it away, so it is
refused and the scanner needs cleaning, as VxSuite does.

What tells a streak from the printed sheet, cheaply (a sample of rows, about 1 ms):

* dark: a column that is dark in every horizontal band of the scan — the top and the
  bottom band included, where no printed line reaches — and narrow (at most
  ``MAX_WIDTH_MM``) with paper on both sides, so the scanner bed beside a sheet is not
  one;
* light: a column that holds (nearly) no ink where both of its neighbours a few pixels
  away cross printed lines in several bands: a gap in the print that no drawing has.
"""

from __future__ import annotations

import numpy as np

BANDS = 12
DARK = 0.6  # of the paper level: darker counts as ink here
DARK_SHARE = 0.5  # of a band's rows a dark streak column covers at least
MAX_WIDTH_MM = 3.0
LIGHT_RATIO = 0.15  # a light streak column holds at most this share of its neighbours' ink
LIGHT_BANDS = 3  # bands in which a light streak must show
NEIGHBOUR_GAP = (3, 6)  # pixels: where a column's neighbours are looked at


def find_streak(gray: np.ndarray, paper: float, px_per_mm: float) -> str | None:
    """A description of a scanner streak in ``gray``, or None when there is none."""
    height, width = gray.shape
    step = max(1, round(px_per_mm / 2))
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
    light = _light_streak(per_band)
    if light is not None:
        return f"a light vertical streak at column {light} of the scan: clean the scanner"
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


def _shifted_max(values: np.ndarray, distances: range) -> np.ndarray:
    """For each column, the largest value among the columns at ``distances`` to one side."""
    out = np.zeros_like(values)
    width = values.shape[-1]
    for d in distances:
        if d > 0:
            np.maximum(out[..., d:], values[..., : width - d], out=out[..., d:])
        else:
            np.maximum(out[..., :d], values[..., -d:], out=out[..., :d])
    return out


def _light_streak(per_band: np.ndarray) -> int | None:
    near, far = NEIGHBOUR_GAP
    left = _shifted_max(per_band, range(near, far))
    right = _shifted_max(per_band, range(-near, -far, -1))
    neighbours = np.minimum(left, right)
    evident = (neighbours >= 3) & (per_band <= LIGHT_RATIO * neighbours)
    shows = evident.sum(axis=0) >= LIGHT_BANDS
    totals = per_band.sum(axis=0)
    shows &= totals <= LIGHT_RATIO * neighbours.sum(axis=0)
    if not shows.any():
        return None
    return int(np.flatnonzero(shows)[0])
