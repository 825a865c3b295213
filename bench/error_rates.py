"""Verification error rates from genuine and impostor score lists.

A comparison that could not be made because a capture was refused carries the score
``REFUSED``, below every threshold: as FVC counts it, a refused genuine pair is a false
non-match and a refused impostor pair a correct rejection.
"""

from __future__ import annotations

import numpy as np

REFUSED = -1.0
TARGETS = (0.01, 0.001, 0.0001)


def rates(genuine: np.ndarray, impostor: np.ndarray, targets: tuple[float, ...] = TARGETS) -> dict:
    """EER and, per target false-match rate, the threshold and the false non-match rate.

    ``targets`` maps to ``(threshold, fnmr, measured fmr)``: the lowest score threshold
    at which no more than the target share of impostor pairs score at or above it.
    """
    genuine = np.asarray(genuine, dtype=np.float64)
    impostor = np.asarray(impostor, dtype=np.float64)
    levels = np.unique(np.concatenate([genuine, impostor, [0.0, 1.0]]))
    levels = levels[levels >= 0.0]
    g, i = np.sort(genuine), np.sort(impostor)
    # Share of impostors at or above each level, of genuine pairs below it.
    fmr = 1.0 - np.searchsorted(i, levels, side="left") / max(len(i), 1)
    fnmr = np.searchsorted(g, levels, side="left") / max(len(g), 1)
    k = int(np.argmin(np.abs(fmr - fnmr)))
    out = {"eer": (fmr[k] + fnmr[k]) / 2, "eer_threshold": float(levels[k]), "targets": {}}
    for target in targets:
        ok = np.flatnonzero(fmr <= target)
        j = int(ok[0]) if len(ok) else len(levels) - 1
        out["targets"][target] = (float(levels[j]), float(fnmr[j]), float(fmr[j]))
    return out


def at_threshold(
    genuine: np.ndarray, impostor: np.ndarray, threshold: float
) -> tuple[float, float]:
    """(FNMR, FMR) when scores at or above ``threshold`` match."""
    genuine = np.asarray(genuine, dtype=np.float64)
    impostor = np.asarray(impostor, dtype=np.float64)
    fnmr = float((genuine < threshold).mean()) if len(genuine) else 0.0
    fmr = float((impostor >= threshold).mean()) if len(impostor) else 0.0
    return fnmr, fmr


def allowed_above(target: float, impostors: int) -> str:
    """How many impostor pairs a target false-match rate lets through, in words."""
    allowed = int(np.floor(target * impostors + 1e-9))
    if allowed < 1:
        return "too few impostor pairs to measure"
    return "%d of %d impostor pairs allowed at or above" % (allowed, impostors)


def print_rates(
    title: str,
    genuine: np.ndarray,
    impostor: np.ndarray,
    targets: tuple[float, ...] = TARGETS,
    indent: str = "  ",
) -> dict:
    """Print the rates of one comparison set and return them."""
    r = rates(genuine, impostor, targets)
    print("%s: %d genuine, %d impostor comparisons" % (title, len(genuine), len(impostor)))
    print("%sEER %.2f %% (threshold %.3f)" % (indent, 100 * r["eer"], r["eer_threshold"]))
    for target, (threshold, fnmr, fmr) in r["targets"].items():
        print(
            "%sFMR %-7s threshold %.3f  FNMR %6.2f %%  (measured FMR %.4f %%; %s)"
            % (
                indent,
                "%g %%" % (100 * target),
                threshold,
                100 * fnmr,
                100 * fmr,
                allowed_above(target, len(impostor)),
            )
        )
    return r
