"""Realistic scans of marked ballots, each with its ground truth, for tests and benchmarks.

A base sheet is rendered once per ballot style (``controller.ballots.render``); each
scan draws on a copy what voters, paper and scanners do, as the spec says:

* marks (``marks``): filled ovals, partial fills, crosses, ticks, 1 mm pencil lines,
  lightly pressed fills and scribbles, which are votes; hesitation dots and short nicks,
  marginal by design; erased marks (light residue); stray marks beside the targets;
  pens of several colours and pencil (``pens``);
* marks by another hand (``hand``): a second mark model, pen trajectories drawn apart
  from the reader and from ``marks`` (ticks, crosses, slashes, lines, circles round
  the oval, scribbles, fills; hesitation dots, specks, strays, erasures) with
  ballpoints from 0.25 mm to a soft pencil in five inks, for ``MarkSpec(model="hand")``
  and ``random(..., model="hand")``;
* paper (``paper``): folds, coffee stains, specks of dust;
* scanner (``scanner``): rotation, scale, mild perspective, the four feed orientations,
  bed margins, blur, noise, paper and black levels, JPEG artefacts, streaks.

``ScanMaker(election, dpi, mode, station).random(rng)`` gives a ``Scan`` (image, spec,
truth); ``make(spec)`` gives the scan of a given ``ScanSpec``, for tests that need one
distortion at a time. ``python -m hil.ballot_scans`` writes scans and truths to files.
"""

from hil.ballot_scans.maker import MarkSpec, Scan, ScanMaker, ScanSpec, random_spec, truth_of
from hil.ballot_scans.marks import KINDS, MARGINAL_KINDS, VOTE_KINDS
from hil.ballot_scans.pens import PENS

__all__ = [
    "KINDS", "MARGINAL_KINDS", "PENS", "VOTE_KINDS", "MarkSpec", "Scan", "ScanMaker",
    "ScanSpec", "random_spec", "truth_of",
]
