"""One-to-one comparison: prepared templates, and the score between two of them."""

from __future__ import annotations

from controller.biometrics.match.cylinders import Cylinders, make_cylinders
from controller.biometrics.match.local import Unpacked, similarity
from controller.biometrics.match.pairing import Side, score
from controller.biometrics.template import DEFAULT_PPCM, Minutiae


class Template:
    """A minutiae set prepared for matching: its cylinders, packed and unpacked.

    Preparing costs a few milliseconds; comparing two prepared templates well under
    one, so a template compared more than once should be prepared once.
    """

    def __init__(self, cylinders: Cylinders) -> None:
        self.cylinders = cylinders
        self._unpacked: Unpacked | None = None
        self._side: Side | None = None

    @classmethod
    def from_minutiae(
        cls, minutiae: Minutiae, x_ppcm: int = DEFAULT_PPCM, y_ppcm: int = DEFAULT_PPCM
    ) -> Template:
        """Prepare ``minutiae`` captured at ``x_ppcm`` x ``y_ppcm`` pixels per cm."""
        return cls(make_cylinders(minutiae, x_ppcm, y_ppcm))

    def __len__(self) -> int:
        return len(self.cylinders)

    @property
    def unpacked(self) -> Unpacked:
        """The cylinders as 0/1 matrices (made on first use and kept)."""
        if self._unpacked is None:
            c = self.cylinders
            self._unpacked = Unpacked(c.bits, c.valid, c.angle)
        return self._unpacked

    def side(self) -> Side:
        """The central minutiae as a batch of one, for consolidation."""
        if self._side is None:
            c = self.cylinders
            self._side = Side(c.x[None, :], c.y[None, :], c.angle[None, :])
        return self._side


def compare(a: Template, b: Template) -> float:
    """Similarity of two prepared templates in [0, 1]; higher is more alike."""
    if len(a) == 0 or len(b) == 0:
        return 0.0
    gamma = similarity(a.unpacked, b.unpacked)
    return float(score(gamma[None, :, :], a.side(), b.side())[0])


def match(probe: Minutiae, candidate: Minutiae) -> float:
    """Similarity of two 500-dpi minutiae sets in [0, 1]; higher is more alike."""
    return compare(Template.from_minutiae(probe), Template.from_minutiae(candidate))
