"""Where a finger lands on the sensor: plastic skin distortion, then a rigid motion.

The distortion follows the model of Cappelli, Maio and Maltoni: the skin in a close-
contact region around ``centre`` sticks to the glass and does not move; far from it the
skin follows a small rigid motion (``twist`` radians about ``centre`` and a ``shift``);
in between, a brake function 1 - exp(-d²/2k²) of the distance ``d`` to the close-contact
ellipse blends the two. Then the whole distorted finger is rotated by ``rotation``
(counterclockwise as viewed) about the master's centre and moved so that the master's
centre lands at the image centre plus ``offset``.

``to_image`` maps master points forward in closed form; ``to_master`` inverts it by
fixed-point iteration, which converges because the distortion moves neighbouring points
by almost the same amount.
"""

from __future__ import annotations

import numpy as np

INVERSE_STEPS = 12


class Placement:
    """The transform from master coordinates to the pixels of one impression."""

    def __init__(
        self,
        master_size: tuple[int, int],
        image_size: tuple[int, int],
        rotation: float,
        offset: tuple[float, float],
        centre: tuple[float, float],
        radii: tuple[float, float],
        brake: float,
        twist: float,
        shift: tuple[float, float],
    ) -> None:
        self.master_size = (int(master_size[0]), int(master_size[1]))
        self.image_size = (int(image_size[0]), int(image_size[1]))
        self.rotation = float(rotation)
        self.offset = (float(offset[0]), float(offset[1]))
        self.centre = (float(centre[0]), float(centre[1]))
        self.radii = (float(radii[0]), float(radii[1]))
        self.brake = float(brake)
        self.twist = float(twist)
        self.shift = (float(shift[0]), float(shift[1]))

    def as_dict(self) -> dict:
        """Every parameter, for the ground-truth JSON."""
        return {
            "master_size": list(self.master_size),
            "image_size": list(self.image_size),
            "rotation": self.rotation,
            "offset": list(self.offset),
            "centre": list(self.centre),
            "radii": list(self.radii),
            "brake": self.brake,
            "twist": self.twist,
            "shift": list(self.shift),
        }

    @classmethod
    def from_dict(cls, data: dict) -> Placement:
        """The inverse of ``as_dict``."""
        return cls(
            tuple(data["master_size"]),
            tuple(data["image_size"]),
            data["rotation"],
            tuple(data["offset"]),
            tuple(data["centre"]),
            tuple(data["radii"]),
            data["brake"],
            data["twist"],
            tuple(data["shift"]),
        )

    def _displacement(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """How far the distortion moves master points (x, y)."""
        cx, cy = self.centre
        ux, uy = x - cx, y - cy
        c, s = np.cos(self.twist), np.sin(self.twist)
        # Counterclockwise as viewed with y down: x' = c x + s y, y' = -s x + c y.
        mx = c * ux + s * uy - ux + self.shift[0]
        my = -s * ux + c * uy - uy + self.shift[1]
        a, b = self.radii
        rho = np.sqrt((ux / a) ** 2 + (uy / b) ** 2)
        gap = np.maximum(rho - 1.0, 0.0) * np.sqrt(a * b)
        weight = 1.0 - np.exp(-0.5 * (gap / self.brake) ** 2)
        return mx * weight, my * weight

    def _rigid(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ux = x - self.master_size[0] / 2.0
        uy = y - self.master_size[1] / 2.0
        c, s = np.cos(self.rotation), np.sin(self.rotation)
        ix = c * ux + s * uy + self.image_size[0] / 2.0 + self.offset[0]
        iy = -s * ux + c * uy + self.image_size[1] / 2.0 + self.offset[1]
        return ix, iy

    def _rigid_inverse(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ux = x - self.image_size[0] / 2.0 - self.offset[0]
        uy = y - self.image_size[1] / 2.0 - self.offset[1]
        c, s = np.cos(self.rotation), np.sin(self.rotation)
        mx = c * ux - s * uy + self.master_size[0] / 2.0
        my = s * ux + c * uy + self.master_size[1] / 2.0
        return mx, my

    def to_image(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Image coordinates of master points."""
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        dx, dy = self._displacement(x, y)
        return self._rigid(x + dx, y + dy)

    def to_master(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Master coordinates of image points (the inverse of ``to_image``)."""
        qx, qy = self._rigid_inverse(np.asarray(x, np.float64), np.asarray(y, np.float64))
        mx, my = qx, qy
        for _ in range(INVERSE_STEPS):
            dx, dy = self._displacement(mx, my)
            mx, my = qx - dx, qy - dy
        return mx, my

    def angles_to_image(
        self, x: np.ndarray, y: np.ndarray, angle: np.ndarray, step: float = 2.0
    ) -> np.ndarray:
        """Image angles of directions ``angle`` at master points, through the local warp."""
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        angle = np.asarray(angle, dtype=np.float64)
        x0, y0 = self.to_image(x, y)
        x1, y1 = self.to_image(x + step * np.cos(angle), y - step * np.sin(angle))
        return np.mod(np.arctan2(-(y1 - y0), x1 - x0), 2 * np.pi)
