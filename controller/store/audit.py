"""The hash-chained audit log.

Every vote-affecting event (ballot issued, sheet decided, cast, voided, polls opened
and closed) and every refused message is appended in the same transaction as the
change it records. Each entry's hash covers its content and the previous entry's
hash, so removing or editing an entry breaks the chain at that point.

Entries never hold voter data or selections: a check-in is referred to by its
issuance number, a ballot by its sheet id and image hash, the commission's decision on
a flagged ballot (made after closing) by its record id, counts and a hash of the
decision, never the option decided.

Entries about ballots (kinds ``ballot.*`` and ``sheet.*``) carry their time to the hour
only (``2026-11-29T14Z``): a finer time would line a sheet up with the check-in just
before it. State changes and check-ins keep the time to the microsecond.

The chain's hash (format ``shailoo-audit/1``, kept stable: a change is a new format
name) is the SHA-256 of the canonical JSON (``protocol.canonical``) of
``{"id", "ts", "kind", "device", "detail", "prev"}``, ``prev`` being the hash of the
entry before (64 zeros for the first). Each entry is sealed in the same transaction
with the station's key when one is attached (``controller.integrity.seals``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
from datetime import UTC, datetime
from typing import Any

from controller.integrity import seals
from protocol.canonical import dumps

GENESIS = "0" * 64
log = logging.getLogger("shailoo.audit")


COARSE_KINDS = ("ballot.", "sheet.")


def _now(kind: str) -> str:
    now = datetime.now(UTC)
    if kind.startswith(COARSE_KINDS):
        return now.strftime("%Y-%m-%dT%HZ")
    return now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _digest(entry_id: int, ts: str, kind: str, device: str | None, detail: Any, prev: str) -> str:
    content = {"id": entry_id, "ts": ts, "kind": kind, "device": device, "detail": detail}
    content["prev"] = prev
    return hashlib.sha256(dumps(content)).hexdigest()


def append(conn: sqlite3.Connection, kind: str, device: str | None = None, /, **detail: Any) -> str:
    """Append one entry inside the caller's write transaction; return its hash.

    The first three parameters are positional-only, so ``detail`` may use any name
    (a device event's own ``kind``, say) without clashing with them.

    ``detail`` values must have a canonical JSON form (str, int, bool, None, lists,
    dicts): no floats, so the hash is the same on every machine.
    """
    last = conn.execute("SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1").fetchone()
    entry_id, prev = (last[0] + 1, last[1]) if last else (1, GENESIS)
    ts = _now(kind)
    digest = _digest(entry_id, ts, kind, device, detail, prev)
    conn.execute(
        "INSERT INTO audit (id, ts, kind, device, detail, prev, hash) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (entry_id, ts, kind, device, json.dumps(detail, sort_keys=True), prev, digest),
    )
    seals.seal_entry(conn, entry_id, digest, kind, detail)
    return digest


def entries(conn: sqlite3.Connection, kind: str | None = None) -> list[dict[str, Any]]:
    """The entries, oldest first (all of them, or those of one ``kind``)."""
    sql = "SELECT id, ts, kind, device, detail, prev, hash FROM audit"
    args: tuple[Any, ...] = ()
    if kind is not None:
        sql += " WHERE kind = ?"
        args = (kind,)
    rows = conn.execute(sql + " ORDER BY id", args).fetchall()
    return [
        {
            "id": r["id"],
            "ts": r["ts"],
            "kind": r["kind"],
            "device": r["device"],
            "detail": json.loads(r["detail"]),
            "prev": r["prev"],
            "hash": r["hash"],
        }
        for r in rows
    ]


def digest_of(entry: dict[str, Any], prev: str) -> str:
    """The chain hash of ``entry`` (a row of ``entries``) when it follows ``prev``."""
    return _digest(entry["id"], entry["ts"], entry["kind"], entry["device"], entry["detail"], prev)


def verify(conn: sqlite3.Connection) -> tuple[bool, int | None]:
    """Walk the chain; return ``(True, None)`` or ``(False, id of the first bad entry)``.

    This proves only that the chain is consistent; who wrote it is proved by the seals
    (``controller.integrity.verify``)."""
    prev = GENESIS
    expected_id = 1
    for r in conn.execute("SELECT id, ts, kind, device, detail, prev, hash FROM audit ORDER BY id"):
        try:
            detail = json.loads(r["detail"])
            digest = _digest(r["id"], r["ts"], r["kind"], r["device"], detail, prev)
        except Exception:  # undecodable detail is damage like any other: the chain is broken
            return False, r["id"]
        if r["id"] != expected_id or r["prev"] != prev or r["hash"] != digest:
            return False, r["id"]
        prev = r["hash"]
        expected_id += 1
    return True, None
