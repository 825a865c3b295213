"""The in-memory form of a finger minutiae template, shared by every biometric module.

Coordinates are image pixels with the origin at the top-left corner, x to the right
and y down, as in ISO/IEC 19794-2. Angles are radians in [0, 2π) measured
counterclockwise *as the image is viewed* from the x axis, which with y pointing
down is ``atan2(-dy, dx)``; the ISO record stores them in units of 2π/256.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

OTHER = 0
ENDING = 1
BIFURCATION = 2

DEFAULT_PPCM = 197  # 500 dpi in the pixels per centimetre that ISO records use


@dataclass(frozen=True)
class Minutiae:
    """Parallel arrays, one entry per minutia."""

    x: np.ndarray  # float32, pixels
    y: np.ndarray  # float32, pixels
    angle: np.ndarray  # float32, radians in [0, 2π)
    kind: np.ndarray  # uint8: OTHER, ENDING or BIFURCATION
    quality: np.ndarray  # uint8, 0-100 (0 when unknown)

    def __post_init__(self) -> None:
        n = len(self.x)
        for name in ("y", "angle", "kind", "quality"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"minutiae arrays differ in length ({name})")

    def __len__(self) -> int:
        return len(self.x)

    @classmethod
    def empty(cls) -> Minutiae:
        """A set with no minutiae."""
        return cls.from_columns([], [], [], [], [])

    @classmethod
    def from_columns(cls, x, y, angle, kind, quality) -> Minutiae:  # noqa: ANN001
        """Build from any sequences, converting to the canonical dtypes."""
        return cls(
            np.asarray(x, dtype=np.float32),
            np.asarray(y, dtype=np.float32),
            np.mod(np.asarray(angle, dtype=np.float32), np.float32(2 * np.pi)),
            np.asarray(kind, dtype=np.uint8),
            np.asarray(quality, dtype=np.uint8),
        )


@dataclass(frozen=True)
class FingerView:
    """One impression of one finger."""

    minutiae: Minutiae
    finger: int = 0  # ISO finger position: 0 unknown, 1 right thumb ... 10 left little
    view: int = 0  # view number of this finger within the record (0-15)
    impression: int = 0  # ISO impression type: 0 live-scan plain, 1 live-scan rolled, ...
    quality: int = 0  # 0-100 (0 when unknown)


@dataclass(frozen=True)
class FingerRecord:
    """A whole ISO/IEC 19794-2 record: the capture's geometry and its views."""

    width: int
    height: int
    views: list[FingerView] = field(default_factory=list)
    x_ppcm: int = DEFAULT_PPCM
    y_ppcm: int = DEFAULT_PPCM
    equipment: int = 0  # capture equipment id (low 12 bits), 0 when unreported
    certified: bool = False
