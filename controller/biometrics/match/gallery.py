"""1:N search: which enrolled person, if any, a finger belongs to.

A gallery holds the enrolled templates with their owners (a voter list row, a file
name): several templates may belong to one owner (several fingers, several views).
``search`` returns owners ranked by their best template's matcher score, the same
score that 1:1 verification uses, so one set of thresholds serves both.

Small galleries are compared exhaustively. Above ``EXHAUSTIVE`` templates, the pair
index (``index.PairIndex``) names a shortlist of ``SHORTLIST`` templates and only those
are compared: the index may miss a finger the matcher would have found (measured by
``bench/biometrics.py`` and stated in docs/biometrics.md), but it never names anybody
on its own, because every answer carries the matcher's score.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable

import numpy as np

from controller.biometrics.match.index import PairIndex
from controller.biometrics.match.matcher import Template, compare_many

EXHAUSTIVE = 400  # templates: below this, comparing all is about as fast as the index
SHORTLIST = 10  # templates the index passes on to the matcher


class Gallery:
    """Prepared templates and their owners, indexed for 1:N search."""

    def __init__(self, entries: Iterable[tuple[Hashable, Template]]) -> None:
        self.owners: list[Hashable] = []
        self.templates: list[Template] = []
        for owner, template in entries:
            if len(template.points[0]) == 0:
                continue
            self.owners.append(owner)
            self.templates.append(template)
        self.index = (
            PairIndex.build([t.points for t in self.templates])
            if len(self.templates) > EXHAUSTIVE
            else None
        )

    def __len__(self) -> int:
        return len(self.templates)

    def candidates(self, probe: Template) -> np.ndarray:
        """Template numbers worth comparing with ``probe``: all, or the index's shortlist."""
        if self.index is None:
            return np.arange(len(self.templates))
        return self.index.rank(*probe.points, top=SHORTLIST)

    def search(self, probe: Template, top: int = 5) -> list[tuple[Hashable, float]]:
        """The ``top`` owners most like ``probe`` with their scores, best first."""
        if top < 1:
            raise ValueError("top must be 1 or more, not %r" % top)
        numbers = self.candidates(probe)
        if len(numbers) == 0 or len(probe) == 0:
            return []
        scores = compare_many(probe, [self.templates[i] for i in numbers])
        best: dict[Hashable, float] = {}
        for number, value in zip(numbers.tolist(), scores.tolist(), strict=True):
            owner = self.owners[number]
            if value > best.get(owner, -1.0):
                best[owner] = value
        ranked = sorted(best.items(), key=lambda item: (-item[1], str(item[0])))
        return [(owner, round(value, 6)) for owner, value in ranked[:top]]
