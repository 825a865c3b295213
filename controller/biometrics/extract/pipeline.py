"""From a grey fingerprint image to minutiae and a verdict.

The stages run in one direction, each on the previous one's output: the image at 500
dpi is cut into overlapping windows and transformed once; the spectra give each
window's features (segmentation), the gradient tensor (orientation) and the ridge
frequency; the same spectra, filtered per window, give the enhanced image; its sign
is thinned to a skeleton whose endings and forks are the candidate minutiae; rules
remove the false ones; the window scores give the qualities. A capture that fails
along the way is returned refused, with its reason, never as an empty template.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from controller.biometrics.extract import (
    enhancement,
    filtering,
    frame,
    frequency,
    orientation,
    quality,
    segmentation,
    skeleton,
)
from controller.biometrics.extract.tiles import STEP, Tiling
from controller.biometrics.template import Minutiae

MIN_SIDE = 150
MAX_SIDE = 2000
MIN_DPI = 250
MAX_DPI = 1000
NATIVE_DPI = 500
EDGE_SMOOTHING = 8.0  # pixels (Gaussian sigma): the print's outline from its windows


@dataclass(frozen=True)
class Extraction:
    """What the extractor found in one image.

    ``minutiae`` are in the pixel coordinates of the image as given (origin top-left,
    y down), directions per ISO/IEC 19794-2. ``quality`` is the image score 0-100;
    ``usable`` is False when the capture should be repeated, and then ``reason`` is a
    code of ``REASONS`` and ``minutiae`` is empty. ``width``, ``height`` and ``dpi`` are
    those of the image as given.
    """

    minutiae: Minutiae
    quality: int
    usable: bool
    reason: str | None
    width: int
    height: int
    dpi: int

    @property
    def message(self) -> str | None:
        """The poll worker's sentence for a refusal, None for a usable capture."""
        return None if self.reason is None else quality.reason_text(self.reason)


def extract(gray: np.ndarray, dpi: int = 500) -> Extraction:
    """Find the minutiae of a grey fingerprint image (dark ridges on a light ground).

    ``gray`` is a 2-D array of grey levels 0-255 (uint8, or integers or floats in that
    range), each side 150 to 2000 pixels; ``dpi`` its resolution, 250 to 1000. Images
    at other than 500 dpi are resampled to 500 for the analysis. Raises ``ValueError``
    for arguments outside those bounds; a poor capture is not an error but an
    ``Extraction`` with ``usable`` False and a ``reason``.
    """
    image = _checked_image(gray)
    dpi = _checked_dpi(dpi)
    height, width = image.shape
    padding = frame.outside(image)
    if padding is None:
        work, unseen = _resampled(image, NATIVE_DPI / dpi), None
    else:
        work = _resampled(frame.filled(image, padding), NATIVE_DPI / dpi)
        unseen = _resampled(padding.astype(np.float32), NATIVE_DPI / dpi) > 0.5
    found, score, reason = _analyse(work, unseen)
    if reason is not None:
        return Extraction(Minutiae.empty(), score, False, reason, width, height, dpi)
    # Back to the given image's pixels: centres of pixels map onto centres.
    sx, sy = width / work.shape[1], height / work.shape[0]
    found = Minutiae(
        np.clip((found.x + 0.5) * sx - 0.5, 0, width - 1).astype(np.float32),
        np.clip((found.y + 0.5) * sy - 0.5, 0, height - 1).astype(np.float32),
        found.angle,
        found.kind,
        found.quality,
    )
    return Extraction(found, score, True, None, width, height, dpi)


def _checked_image(gray: object) -> np.ndarray:
    if isinstance(gray, np.ndarray):
        array = gray
    else:
        try:
            array = np.asarray(gray)
        except (ValueError, TypeError) as e:
            raise ValueError("image is not an array of grey levels (%s)" % e) from e
    if array.ndim != 2:
        raise ValueError("image must be 2-D (rows, columns), not of shape %s" % (array.shape,))
    h, w = array.shape
    if not (MIN_SIDE <= w <= MAX_SIDE and MIN_SIDE <= h <= MAX_SIDE):
        raise ValueError(
            "image is %dx%d; each side must be %d to %d pixels" % (w, h, MIN_SIDE, MAX_SIDE)
        )
    if array.dtype == np.uint8:
        return array
    if array.dtype.kind not in "iuf":
        raise ValueError("image pixels must be grey levels, not %s" % array.dtype)
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        raise ValueError("image has pixels that are not finite numbers")
    low, high = float(array.min()), float(array.max())
    if low < 0 or high > 255:
        raise ValueError("image grey levels must lie in 0..255, found %g..%g" % (low, high))
    return np.round(array).astype(np.uint8)


def _checked_dpi(dpi: object) -> int:
    if isinstance(dpi, bool) or not isinstance(dpi, (int, np.integer)):
        raise ValueError("dpi must be a whole number, not %r" % (dpi,))
    if not (MIN_DPI <= dpi <= MAX_DPI):
        raise ValueError("dpi %d outside %d..%d" % (dpi, MIN_DPI, MAX_DPI))
    return int(dpi)


def _resampled(image: np.ndarray, scale: float) -> np.ndarray:
    """``image`` at 500 dpi as float32; smoothed first when it shrinks, against aliasing."""
    work = image.astype(np.float32)
    if scale == 1.0:
        return work
    h, w = image.shape
    shape = (max(1, round(h * scale)), max(1, round(w * scale)))
    if max(shape) > MAX_SIDE:
        raise ValueError(
            "at %d dpi this image would be %dx%d pixels, larger than %d"
            % (NATIVE_DPI, shape[1], shape[0], MAX_SIDE)
        )
    if scale < 1.0:
        work = ndimage.gaussian_filter(work, 0.5 * (1.0 / scale - 1.0) + 0.3)
    zoom = (shape[0] / h, shape[1] / w)
    return ndimage.zoom(work, zoom, order=1, mode="nearest", grid_mode=True)


class _Field:
    """The smoothed ridge flow over the window grid: what every later stage reads."""

    def __init__(
        self, direction: np.ndarray, certainty: np.ndarray, period: np.ndarray, local: np.ndarray
    ) -> None:
        self.direction = direction  # ridge orientation, radians modulo π
        self.certainty = certainty  # coherence of the smoothed tensor, 0..1
        self.period = period  # ridge period, pixels
        self.local = local  # window quality, 0..1

    def at(self, grid: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
        """``grid`` interpolated at pixel positions."""
        gy = (ys - (STEP - 1) / 2.0) / STEP
        gx = (xs - (STEP - 1) / 2.0) / STEP
        return ndimage.map_coordinates(grid, [gy, gx], order=1, mode="nearest")


def _analyse(image: np.ndarray, unseen: np.ndarray | None) -> tuple[Minutiae, int, str | None]:
    """Minutiae (500-dpi pixels), image score and refusal reason of a 500-dpi image.

    ``unseen`` marks the sensor's padding frame (already filled in ``image``), or None.
    """
    blank = quality.blank_reason(image)
    if blank is not None or min(image.shape) < 2 * STEP:
        return Minutiae.empty(), 0, blank or "too_small"
    tiling = Tiling(*image.shape)
    window_area = float(STEP * STEP)
    spectra = tiling.spectra(tiling.windows(image))
    power = (spectra.real * spectra.real + spectra.imag * spectra.imag).astype(np.float32)

    own = orientation.band_tensor(power, frequency.BAND)
    means = segmentation.window_means(image, tiling.rows, tiling.cols, STEP)
    # Dry ridges broken into dots and pores have little direction inside one window but
    # the same direction as their neighbours; noise has neither.
    around = own.smoothed(np.ones(tiling.shape, dtype=np.float32), segmentation.NEIGHBOURHOOD)
    coherence = np.maximum(own.coherence(), around.coherence())
    features = segmentation.measure(power, coherence, means)
    fg = segmentation.foreground(features)
    local = quality.window_quality(features)
    score = quality.image_quality(local, fg, window_area)
    touched = segmentation.contact(features)
    small = quality.area_reason(features, fg, touched, window_area)
    if small is not None:
        return Minutiae.empty(), score, small
    if score < quality.MIN_QUALITY:
        return Minutiae.empty(), score, quality.quality_reason(features, touched)

    flow = own.smoothed(fg * np.maximum(own.coherence(), 0.05))
    direction = flow.orientation()
    freq = frequency.smooth_field(frequency.window_frequency(power, direction, fg), fg * local)
    field = _Field(direction, flow.coherence(), 1.0 / freq, local)
    enhanced = enhancement.enhance(tiling, spectra, fg, freq, direction, field.certainty)
    found = _minutiae(
        enhanced, tiling.expand(fg), field, float(np.median(field.period[fg])), unseen
    )
    if len(found) < quality.MIN_MINUTIAE:
        # A clear print with few minutiae is just a finger with few of them; in a
        # mediocre one the smudge or the faintness is the cause worth telling.
        if score < quality.CLEAR:
            return Minutiae.empty(), score, quality.quality_reason(features, touched)
        return Minutiae.empty(), score, "too_few_minutiae"
    return found, score, None


def _minutiae(
    enhanced: np.ndarray,
    inside: np.ndarray,
    field: _Field,
    typical: float,
    unseen: np.ndarray | None = None,
) -> Minutiae:
    """Minutiae of the enhanced image inside the print, false ones removed."""
    # Only the print's bounding box needs thinning and tracing.
    rows, cols = np.nonzero(inside.any(axis=1))[0], np.nonzero(inside.any(axis=0))[0]
    y0, y1, x0, x1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    ridges = enhancement.binarise(enhanced[y0:y1, x0:x1], inside[y0:y1, x0:x1], typical)
    graph = skeleton.Graph(skeleton.thin(ridges))
    if len(graph) == 0:
        return Minutiae.empty()
    xs, ys = (graph.x + x0).astype(np.float32), (graph.y + y0).astype(np.float32)
    period = field.at(field.period, xs, ys)
    ridge_at = orientation.sample(field.direction, ys, xs, STEP)
    keep = filtering.graph_rules(graph, period, ridge_at) == filtering.KEPT
    angle = skeleton.directions(graph, ridge_at, radius=int(round(typical)))
    keep &= filtering.facing_endings(xs, ys, angle, graph.kind, period)
    edge, border = _edge_distances(inside, xs, ys, unseen)
    keep &= filtering.inside_print(edge, border, period)
    idx = np.nonzero(keep)[0]
    idx = idx[filtering.crowded(xs[idx], ys[idx], period[idx])]
    xs, ys = xs[idx], ys[idx]
    q = quality.minutia_quality(
        field.at(field.local, xs, ys),
        field.at(field.certainty, xs, ys),
        np.minimum(edge, border)[idx],
        period[idx],
    )
    # Below the floor a minutia sits in a blot or a smudge: more often false than true.
    sure = q >= quality.MIN_MINUTIA_QUALITY
    return Minutiae.from_columns(
        xs[sure], ys[sure], angle[idx][sure], graph.kind[idx][sure], q[sure]
    )


def _edge_distances(
    inside: np.ndarray, xs: np.ndarray, ys: np.ndarray, unseen: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Distance (pixels) of each point to the edge of the print, and to the image's edge.

    Where the sensor padded its capture area with a frame (``unseen``), the frame's
    edge counts as the print's edge: ridges end there as where the finger lifts off.
    """
    h, w = inside.shape
    # The mask is constant over STEP-pixel blocks, so a quarter-resolution copy gives the
    # same distances to within a few pixels at a sixteenth of the cost. The image's own
    # border is measured separately, so the mask is extended beyond it.
    coarse = np.pad(inside[::4, ::4], 1, mode="edge")
    # A print's edge is a smooth curve, the mask's a staircase of STEP-pixel blocks whose
    # inner corners lie up to half a block inside the print; minutiae there were dropped
    # as if on the edge. Smoothed, the outline runs through the middle of the steps.
    coarse = ndimage.gaussian_filter(coarse.astype(np.float32), EDGE_SMOOTHING / 4.0) > 0.5
    dist = ndimage.distance_transform_edt(coarse)[1:-1, 1:-1] * 4.0
    at = ndimage.map_coordinates(dist, [ys / 4.0, xs / 4.0], order=1, mode="nearest")
    border = np.minimum(np.minimum(xs, ys), np.minimum(w - 1 - xs, h - 1 - ys))
    if unseen is not None:
        to_frame = ndimage.distance_transform_edt(~unseen)
        near = ndimage.map_coordinates(to_frame, [ys, xs], order=1, mode="nearest")
        at = np.minimum(at, near)
    return at.astype(np.float32), border.astype(np.float32)
