"""Signed checkpoints of the audit chain ("seals"), kept in the store's ``meta`` table.

Every audit entry is sealed in the transaction that appends it: the station signs a
statement naming the entry and the chain hash it ends with, and keeps it as the
chain's *head* (``seal:head``, replaced by the next entry's). Cutting entries off the
end then needs a signature over an earlier head, which the store no longer holds; a
chain recomputed with new content ends in a hash the station never signed.

Some seals stay for good (``seal:<entry>``): the entries that change the station's
state (started, polls opened and closed, results), and every ``EVERY``-th entry, so
that a rewritten chain can be located between two of them. The closing seal (the entry
that produced the results) also names the digest of the cast vote records and of the
results; its own digest, in short form, is printed on the results protocol that the
commission signs, which anchors the end of the chain outside the database.

Statement (canonical JSON, signed with Ed25519)::

    {"format": "shailoo-audit-seal/1", "chain": "shailoo-audit/1", "station": id,
     "role": "head" | "checkpoint", "entry": n, "head": hash of entry n,
     "kind": kind of entry n, "key": fingerprint
     [, "cvrs_sha256", "results_sha256", "cvr_records_sha256"]}   (the closing seal)

``cvr_records_sha256`` is the ``records_sha256`` of the NIST SP 1500-103 export of the
records (``controller.nist.export``), so an export file can be checked against the
closing seal with the public key alone.

The role is signed so that a checkpoint cannot be put back as the head: cutting the
log back to a checkpoint and copying its seal to ``seal:head`` shows.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from controller.integrity.station_key import fingerprint
from protocol.canonical import dumps

FORMAT = "shailoo-audit-seal/1"
CHAIN = "shailoo-audit/1"
HEAD = "seal:head"
PREFIX = "seal:"
EVERY = 16
STATE_KINDS = frozenset(
    {"station.started", "polls.opened", "polls.closed", "results.final"}
)
CLOSING_FIELDS = ("cvrs_sha256", "results_sha256")
OPTIONAL_CLOSING_FIELDS = ("cvr_records_sha256",)  # the NIST export's records, when written
PAPER_DIGITS = 20  # 80 bits: a forged closing with the same printed code costs 2**80 tries


@dataclass(frozen=True)
class Seal:
    """One stored seal: where it is kept, what it states, its signature (raw bytes)."""

    name: str
    statement: dict[str, Any]
    signature: bytes

    @property
    def entry(self) -> int:
        """The audit entry it covers."""
        return int(self.statement["entry"])

    @property
    def closing(self) -> bool:
        """Whether it is the closing seal (a checkpoint naming the records and results)."""
        return self.statement.get("role") == "checkpoint" and all(
            f in self.statement for f in CLOSING_FIELDS
        )

    def verifies(self, key: Ed25519PublicKey) -> bool:
        """Whether ``key`` made the signature over this statement."""
        try:
            key.verify(self.signature, dumps(self.statement))
        except InvalidSignature:
            return False
        return True


class SealError(ValueError):
    """A stored seal that cannot be read (malformed JSON, missing fields)."""


# Signers by database file: ``audit.append`` gets a connection, and every thread's
# connection to the station's database seals with the station's key.
_signers: dict[str, tuple[Ed25519PrivateKey, str]] = {}  # key and its fingerprint
_lock = threading.Lock()


def _db_file(conn: sqlite3.Connection) -> str:
    row = conn.execute("PRAGMA database_list").fetchone()
    return os.path.realpath(row[2]) if row and row[2] else ""


def attach(db_path: os.PathLike[str] | str, key: Ed25519PrivateKey) -> None:
    """Seal every audit entry appended to the database at ``db_path`` with ``key``."""
    with _lock:
        _signers[os.path.realpath(db_path)] = (key, fingerprint(key.public_key()))


def detach(db_path: os.PathLike[str] | str) -> None:
    """Stop sealing entries of that database (the station stopped)."""
    with _lock:
        _signers.pop(os.path.realpath(db_path), None)


def signer(conn: sqlite3.Connection) -> tuple[Ed25519PrivateKey, str] | None:
    """The key that seals entries of ``conn``'s database, and its fingerprint, if any."""
    with _lock:
        if not _signers:
            return None
        return _signers.get(_db_file(conn))


def seal_entry(
    conn: sqlite3.Connection, entry: int, head: str, kind: str, detail: dict[str, Any]
) -> None:
    """Seal entry ``entry`` (inside the caller's transaction) if a key is attached."""
    found = signer(conn)
    if found is None:
        return
    key, key_name = found
    row = conn.execute("SELECT value FROM meta WHERE key = 'station'").fetchone()
    statement: dict[str, Any] = {
        "format": FORMAT,
        "chain": CHAIN,
        "station": row[0] if row else None,
        "entry": entry,
        "head": head,
        "kind": kind,
        "key": key_name,
    }
    _store(conn, HEAD, key, {**statement, "role": "head"})
    if kind in STATE_KINDS or entry % EVERY == 0:
        checkpoint = {**statement, "role": "checkpoint"}
        if kind in ("polls.closed", "results.final") and all(f in detail for f in CLOSING_FIELDS):
            # The closing seal: a checkpoint, kept for good, whose code goes on paper.
            for field_name in (*CLOSING_FIELDS, *OPTIONAL_CLOSING_FIELDS):
                if field_name in detail:
                    checkpoint[field_name] = detail[field_name]
        _store(conn, f"{PREFIX}{entry:09d}", key, checkpoint)


def _store(
    conn: sqlite3.Connection, name: str, key: Ed25519PrivateKey, statement: dict[str, Any]
) -> None:
    value = json.dumps(
        {"statement": statement, "signature": key.sign(dumps(statement)).hex()}, sort_keys=True
    )
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?, ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (name, value),
    )


def _parse(name: str, value: str) -> Seal:
    try:
        doc = json.loads(value)
        statement, signature = doc["statement"], bytes.fromhex(doc["signature"])
        if not isinstance(statement, dict) or statement.get("format") != FORMAT:
            raise ValueError
        if statement.get("chain") != CHAIN:
            raise SealError(f"{name}: chain format {statement.get('chain')!r} is not {CHAIN}")
        if not isinstance(statement.get("entry"), int) or not isinstance(
            statement.get("head"), str
        ):
            raise ValueError
        role = "head" if name == HEAD else "checkpoint"
        if statement.get("role") != role:
            raise SealError(
                f"{name}: a {statement.get('role')!r} seal kept as a {role} (put in place of "
                "another)"
            )
    except SealError:
        raise
    except (ValueError, TypeError, KeyError):
        raise SealError(f"{name}: not a seal of format {FORMAT}") from None
    return Seal(name, statement, signature)


def stored(conn: sqlite3.Connection) -> tuple[Seal | None, list[Seal], list[str]]:
    """The head seal, the kept seals in entry order, and the problems of unreadable ones."""
    head = None
    kept: list[Seal] = []
    problems: list[str] = []
    rows = conn.execute(
        "SELECT key, value FROM meta WHERE key LIKE 'seal:%' ORDER BY key"
    ).fetchall()
    for name, value in rows:
        try:
            seal = _parse(name, value)
        except SealError as err:
            problems.append(str(err))
            continue
        if name == HEAD:
            head = seal
        else:
            kept.append(seal)
    kept.sort(key=lambda s: s.entry)
    return head, kept, problems


def paper_code(seal: Seal) -> str:
    """The closing seal's short form printed on the results protocol: 20 hex digits of the
    SHA-256 of its statement, in groups of four."""
    digest = hashlib.sha256(dumps(seal.statement)).hexdigest()[:PAPER_DIGITS]
    return " ".join(digest[i : i + 4] for i in range(0, PAPER_DIGITS, 4))


def closing(conn: sqlite3.Connection) -> Seal | None:
    """The closing seal, if the results are produced and were sealed."""
    _, kept, _ = stored(conn)
    found = [s for s in kept if s.closing]
    return found[-1] if found else None
