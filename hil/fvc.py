"""Real fingerprint sets laid out as the FVC competitions publish them.

A set is a folder of images named ``<finger>_<impression>.<ext>`` (``101_3.tif``), every
finger with the same number of impressions. ``find_sets`` accepts set folders and
folders of sets; ``resolution`` says at what dpi a set was captured (the TIFFs of the
FVC sets do not carry it); ``genuine_pairs`` and the two ``impostor_pairs_*`` give the
competitions' comparison protocol.

The development sets live beside the checkout in ``../shared/data/fvc/`` (``SHARED_FVC``)
and are read from there, never copied into the project.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED_FVC = ROOT.parent / "shared" / "data" / "fvc"

IMAGE_SUFFIXES = (".tif", ".tiff", ".png", ".bmp")
DEFAULT_DPI = 500

# Capture resolution of each FVC database, as the competitions' reports state it.
# (FVC2006 DB1, 96x96 at 250 dpi, is smaller than the extractor accepts.)
KNOWN_DPI = {
    ("2000", "1"): 500,
    ("2000", "2"): 500,
    ("2000", "3"): 500,
    ("2000", "4"): 500,
    ("2002", "1"): 500,
    ("2002", "2"): 569,
    ("2002", "3"): 500,
    ("2002", "4"): 500,
    ("2004", "1"): 500,
    ("2004", "2"): 500,
    ("2004", "3"): 512,
    ("2004", "4"): 500,
    ("2006", "1"): 250,
    ("2006", "2"): 569,
    ("2006", "3"): 500,
    ("2006", "4"): 500,
}

_DATABASE = re.compile(r"fvc[_-]?(\d{4})[_-]?db[_-]?(\d)", re.IGNORECASE)
_DPI = re.compile(r"\b(\d{3,4})\s*dpi\b", re.IGNORECASE)


class SetLayoutError(ValueError):
    """A folder that is not a set of ``<finger>_<impression>`` images."""


@dataclass(frozen=True)
class FingerSet:
    """One set: ``paths[f][i]`` is impression ``i`` of finger ``f`` (both counted from 0)."""

    name: str
    folder: Path
    dpi: int
    dpi_source: str  # where the resolution came from, for the reader of a report
    labels: list[str] = field(default_factory=list)  # the fingers' names in the files
    paths: list[list[Path]] = field(default_factory=list)

    @property
    def fingers(self) -> int:
        """How many fingers the set holds."""
        return len(self.paths)

    @property
    def impressions(self) -> int:
        """How many impressions each finger has."""
        return len(self.paths[0]) if self.paths else 0


def _grouped(folder: Path) -> dict[str, dict[int, Path]]:
    """The folder's images by finger label and impression number."""
    names: dict[str, dict[int, Path]] = {}
    for path in sorted(folder.iterdir()):
        if not path.is_file() or path.suffix.lower() not in IMAGE_SUFFIXES:
            continue
        finger, sep, impression = path.stem.rpartition("_")
        if sep and finger and impression.isdigit():
            names.setdefault(finger, {})[int(impression)] = path
    return names


def _finger_order(label: str) -> tuple[int, int | str]:
    # Numeric labels in numeric order (9 before 10), others after them by name.
    return (0, int(label)) if label.isdigit() else (1, label)


def load_set(folder: str | Path, dpi: int | None = None) -> FingerSet:
    """Read the layout of one set folder; ``dpi`` overrides what ``resolution`` finds.

    Raises ``SetLayoutError`` unless the folder holds 2 or more fingers with the same
    number (2 or more) of impressions.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise SetLayoutError("%s: not a folder" % folder)
    names = _grouped(folder)
    counts = {len(v) for v in names.values()}
    if len(names) < 2 or len(counts) != 1 or min(counts) < 2:
        raise SetLayoutError(
            "%s: needs 2 or more fingers with the same number (2 or more) of impressions, "
            "named <finger>_<impression> (found %d fingers, impression counts %s)"
            % (folder, len(names), sorted(counts) or "none")
        )
    labels = sorted(names, key=_finger_order)
    paths = [[names[label][k] for k in sorted(names[label])] for label in labels]
    if dpi is None:
        found, source = resolution(folder)
    else:
        found, source = dpi, "given"
    return FingerSet(folder.name, folder, found, source, labels, paths)


def find_sets(paths: list[str | Path], dpi: int | None = None) -> list[FingerSet]:
    """The sets named by ``paths``: each is a set folder or a folder of set folders.

    Raises ``SetLayoutError`` for a path that is neither.
    """
    sets: list[FingerSet] = []
    for given in paths:
        folder = Path(given)
        if not folder.is_dir():
            raise SetLayoutError("%s: not a folder" % folder)
        if _grouped(folder):
            sets.append(load_set(folder, dpi))
            continue
        inner = [p for p in sorted(folder.iterdir()) if p.is_dir() and _grouped(p)]
        if not inner:
            raise SetLayoutError(
                "%s: holds neither <finger>_<impression> images nor folders of them" % folder
            )
        sets.extend(load_set(p, dpi) for p in inner)
    return sets


def resolution(folder: Path) -> tuple[int, str]:
    """The dpi of a set folder and where that figure comes from.

    First a README beside the set (in the folder above it) whose line names the folder
    and a dpi figure, then the competitions' own figure for a folder named like
    ``fvc2004_DB3_B``, else 500 dpi.
    """
    readme = folder.parent / "README.md"
    if readme.is_file():
        for line in readme.read_text(encoding="utf-8", errors="replace").splitlines():
            if re.search(r"(?<![\w-])%s(?![\w-])" % re.escape(folder.name), line):
                dpi = _DPI.search(line)
                if dpi and 100 <= int(dpi.group(1)) <= 2000:
                    return int(dpi.group(1)), "README"
    known = _DATABASE.search(folder.name)
    if known and (known.group(1), known.group(2)) in KNOWN_DPI:
        return KNOWN_DPI[(known.group(1), known.group(2))], "FVC report"
    return DEFAULT_DPI, "assumed"


def genuine_pairs(fingers: int, impressions: int) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """Every two impressions of one finger: (finger, impression) pairs, 28 per finger of 8."""
    return [
        ((f, a), (f, b)) for f in range(fingers) for a, b in combinations(range(impressions), 2)
    ]


def impostor_pairs_first(fingers: int) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """First impressions of every two different fingers (FVC's protocol: 45 for 10)."""
    return [((f, 0), (g, 0)) for f, g in combinations(range(fingers), 2)]


def impostor_pairs_all(
    fingers: int, impressions: int
) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """Every impression against every impression of each other finger (2,880 for 10 x 8)."""
    return [
        ((f, a), (g, b))
        for f, g in combinations(range(fingers), 2)
        for a in range(impressions)
        for b in range(impressions)
    ]
