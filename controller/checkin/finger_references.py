"""Enrolled fingers of the station's voters: one ISO/IEC 19794-2 record per voter.

The commission delivers them beside the voter list as a folder of files named
``<voter_id>.iso``, each holding every view enrolled for that voter (several
impressions, several fingers). A voter without a file has no finger reference and is
checked in by document alone. Every file is parsed and checked when the station is
set up; one bad file refuses the whole folder, naming each problem, so a station never
opens with a reference it would silently ignore.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

from controller.biometrics import iso19794_2
from controller.biometrics.match import Template
from controller.biometrics.match.gallery import Gallery
from controller.biometrics.template import FingerRecord, Minutiae
from controller.checkin.voter_list import Voter
from controller.store.database import get_meta

SUFFIX = ".iso"
MAX_FILES = 200_000
MIN_MINUTIAE = 8  # a view with fewer cannot be told apart from other people's


class FingerReferenceError(ValueError):
    """The finger references are refused; ``errors`` lists each problem by file."""

    def __init__(self, errors: list[str]) -> None:
        shown = errors[:50]
        more = f"\n... and {len(errors) - 50} more" if len(errors) > 50 else ""
        super().__init__("finger references refused:\n" + "\n".join(shown) + more)
        self.errors = errors


def usable_views(record: FingerRecord) -> list[Template]:
    """The record's views that have enough minutiae to compare, prepared for matching."""
    return [
        Template.from_minutiae(view.minutiae, record.x_ppcm, record.y_ppcm)
        for view in record.views
        if len(view.minutiae) >= MIN_MINUTIAE
    ]


def load_references(folder: str | Path, voters: Iterable[Voter]) -> dict[int, bytes]:
    """Read and check ``<voter_id>.iso`` files; return the records by voter list row."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FingerReferenceError([f"{folder} is not a folder"])
    rows = {v.voter_id: v.row for v in voters}
    found: dict[int, bytes] = {}
    errors: list[str] = []
    files = sorted(p for p in folder.iterdir() if not p.name.startswith("."))
    if len(files) > MAX_FILES:
        raise FingerReferenceError([f"{folder} holds {len(files)} files; at most {MAX_FILES}"])
    for path in files:
        if path.suffix != SUFFIX or not path.is_file():
            errors.append(f"{path.name}: not a <voter_id>{SUFFIX} file")
            continue
        row = rows.get(path.stem)
        if row is None:
            errors.append(f"{path.name}: voter id {path.stem!r} is not on the voter list")
            continue
        try:
            with path.open("rb") as f:
                data = f.read(iso19794_2.MAX_RECORD_BYTES + 1)
            record = iso19794_2.parse(data)
        except OSError as err:
            errors.append(f"{path.name}: cannot read: {err.strerror}")
            continue
        except iso19794_2.IsoRecordError as err:
            errors.append(f"{path.name}: {err}")
            continue
        if not usable_views(record):
            errors.append(f"{path.name}: no view has {MIN_MINUTIAE} or more minutiae")
            continue
        found[row] = data
    if errors:
        raise FingerReferenceError(errors)
    return found


def references_digest(references: dict[int, bytes]) -> str:
    """SHA-256 over the references, to notice a changed set at restart."""
    h = hashlib.sha256()
    for row, data in sorted(references.items()):
        h.update(b"%d:%d:" % (row, len(data)) + data)
    return h.hexdigest()


def store_references(conn: sqlite3.Connection, references: dict[int, bytes]) -> int:
    """Replace the stored references inside the caller's transaction."""
    conn.execute("DELETE FROM finger_references")
    conn.executemany(
        "INSERT INTO finger_references (voter_row, record) VALUES (?, ?)",
        sorted(references.items()),
    )
    return len(references)


def enrolled(conn: sqlite3.Connection, row: int) -> list[Template]:
    """The prepared views of one voter (empty when the voter has no reference)."""
    found = conn.execute(
        "SELECT record FROM finger_references WHERE voter_row = ?", (row,)
    ).fetchone()
    if found is None:
        return []
    return usable_views(iso19794_2.parse(bytes(found[0])))


def all_references(conn: sqlite3.Connection) -> Iterable[tuple[int, FingerRecord]]:
    """Every stored reference, for building the 1:N gallery."""
    for row, data in conn.execute("SELECT voter_row, record FROM finger_references"):
        yield row, iso19794_2.parse(bytes(data))


_prepared: dict[str, Gallery] = {}
_prepared_lock = threading.Lock()


def _gallery(conn: sqlite3.Connection) -> Gallery:
    # Preparing and indexing every enrolled view costs milliseconds each: do it once per
    # set of references (keyed by their digest in the store), not per check-in.
    key = get_meta(conn, "fingers_sha256") or ""
    with _prepared_lock:
        gallery = _prepared.get(key)
        if gallery is None:
            gallery = Gallery(
                (row, view) for row, record in all_references(conn) for view in usable_views(record)
            )
            _prepared.clear()
            _prepared[key] = gallery
        return gallery


def searcher(conn: sqlite3.Connection) -> Callable[[Minutiae, int], list[tuple[int, float]]]:
    """A 1:N search over the station's enrolled voters: ``search(minutiae, top)``."""
    gallery = _gallery(conn)

    def search(minutiae: Minutiae, top: int) -> list[tuple[int, float]]:
        return [(int(row), score) for row, score in gallery.search(
            Template.from_minutiae(minutiae), top
        )]

    return search
