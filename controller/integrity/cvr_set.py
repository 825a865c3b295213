"""The digest of the cast vote record set, signed at closing.

Each record's hash covers its row in ``cvrs`` (id, scanner, style, image hash, reading)
and the commission's decisions on its marks (``adjudications``). The *manifest* maps
record id → hash; the set digest is the SHA-256 of the manifest's canonical JSON. The
manifest is kept in the store at closing (``meta`` key ``cvr_manifest``), so a later
check names the record that changed, appeared or disappeared. Record ids are random and
the manifest is in id order: it keeps no casting order.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from typing import Any

from protocol.canonical import dumps

MANIFEST_KEY = "cvr_manifest"


def manifest(conn: sqlite3.Connection) -> dict[str, str]:
    """Record id → SHA-256 of the record and its decisions, for every record in the store."""
    decided: dict[str, list[list[str]]] = {}
    for row in conn.execute(
        "SELECT cvr, contest, option, decision, decided_by, reason FROM adjudications "
        "ORDER BY cvr, contest, option"
    ):
        decided.setdefault(row[0], []).append([str(v) for v in row[1:]])
    out = {}
    for cvr_id, device, style, image_sha256, record in conn.execute(
        "SELECT id, device, style, image_sha256, record FROM cvrs ORDER BY id"
    ):
        # The reading is hashed as the stored text: it holds mark scores, which are
        # floats, and canonical JSON has none.
        content = [cvr_id, device, style, image_sha256, record, decided.get(cvr_id, [])]
        out[cvr_id] = hashlib.sha256(dumps(content)).hexdigest()
    return out


def digest(records: dict[str, str]) -> str:
    """SHA-256 hex of a manifest's canonical JSON."""
    return hashlib.sha256(dumps(records)).hexdigest()


def keep(conn: sqlite3.Connection, records: dict[str, str]) -> None:
    """Keep the manifest in the store (inside the caller's write transaction)."""
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?, ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (MANIFEST_KEY, json.dumps(records, sort_keys=True)),
    )


def kept(conn: sqlite3.Connection) -> dict[str, str] | None:
    """The manifest kept at closing; None when there is none or it is unreadable."""
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (MANIFEST_KEY,)).fetchone()
    if row is None:
        return None
    try:
        value = json.loads(row[0])
    except ValueError:
        return None
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        return None
    return value


def compare(signed: dict[str, str], current: dict[str, str]) -> list[str]:
    """What differs between the signed manifest and the records now, one line each."""
    problems = []
    for cvr_id in sorted(set(signed) | set(current)):
        if cvr_id not in current:
            problems.append(f"cvrs: record {cvr_id} was removed after closing")
        elif cvr_id not in signed:
            problems.append(f"cvrs: record {cvr_id} was added after closing")
        elif signed[cvr_id] != current[cvr_id]:
            problems.append(f"cvrs: record {cvr_id} was changed after closing (votes, "
                            "reading or decisions)")
    return problems


def export_records(conn: sqlite3.Connection, election: Any, station: str, mode: str) -> list[Any]:
    """The CVR list of the NIST SP 1500-103 export of the records now in the store (what
    ``records_sha256`` covers); ``ValueError`` when a record cannot be written."""
    from controller.intake.ledger import cast_ballots
    from controller.nist.cvr import build_report

    try:
        return list(build_report(election, cast_ballots(conn), station, mode)["CVR"])
    except (KeyError, TypeError) as err:
        raise ValueError(f"the records cannot be exported: {err!r}") from None


def records_digest(records: list[Any]) -> str:
    """SHA-256 of a CVR list's canonical JSON: the export's ``records_sha256``."""
    return hashlib.sha256(dumps(records)).hexdigest()


def compare_exports(signed: list[Any], given: list[Any], source: str) -> list[str]:
    """What differs between the CVRs made from the signed records and those of an export
    file, by ``UniqueId``."""
    def by_id(records: list[Any]) -> dict[str, str]:
        out = {}
        for n, cvr in enumerate(records):
            key = cvr.get("UniqueId") if isinstance(cvr, dict) else None
            out[str(key) if key is not None else f"#{n}"] = hashlib.sha256(
                dumps(cvr)).hexdigest()
        return out

    mine, theirs = by_id(signed), by_id(given)
    problems = []
    for cvr_id in sorted(set(mine) | set(theirs)):
        if cvr_id not in theirs:
            problems.append(f"{source}: record {cvr_id} is missing")
        elif cvr_id not in mine:
            problems.append(f"{source}: record {cvr_id} is not one of the station's")
        elif mine[cvr_id] != theirs[cvr_id]:
            problems.append(f"{source}: record {cvr_id} differs from the station's")
    return problems
