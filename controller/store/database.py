"""SQLite store of the station: schema, migrations and transactions.

One connection per thread (SQLite connections are not shared across threads), WAL
journal so readers never block the writer, and ``BEGIN IMMEDIATE`` for every write so
two writers queue instead of failing half-way. Writes that affect a vote run with
``synchronous=FULL``: the commit is on disk before the reply that announces it leaves.
``secure_delete`` is on, so content removed from a row does not linger in free pages.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

BUSY_TIMEOUT_MS = 30_000

# Migrations are append-only: a released version is never edited, a change is a new entry.
MIGRATIONS: list[tuple[int, str]] = [
    (
        1,
        """
        CREATE TABLE meta (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL
        );
        CREATE TABLE devices (
            id TEXT PRIMARY KEY,
            role TEXT NOT NULL,
            online INTEGER NOT NULL DEFAULT 0,
            fw TEXT,
            fw_hash TEXT,
            boot INTEGER,
            last_seen REAL,
            down_seq INTEGER NOT NULL DEFAULT 0,
            win_highest INTEGER NOT NULL DEFAULT -1,
            win_bits TEXT NOT NULL DEFAULT '0',
            counter INTEGER
        );
        CREATE TABLE replies (
            device TEXT NOT NULL,
            req_seq INTEGER NOT NULL,
            payload BLOB NOT NULL,
            PRIMARY KEY (device, req_seq)
        );
        CREATE TABLE voters (
            row INTEGER PRIMARY KEY,
            voter_id TEXT NOT NULL UNIQUE,
            surname TEXT NOT NULL,
            given_names TEXT NOT NULL,
            birth_date TEXT NOT NULL,
            sex TEXT NOT NULL,
            document_type TEXT NOT NULL,
            document_number TEXT NOT NULL UNIQUE,
            personal_number TEXT NOT NULL,
            style TEXT NOT NULL
        );
        CREATE TABLE issuances (
            id INTEGER PRIMARY KEY,
            voter_row INTEGER NOT NULL UNIQUE REFERENCES voters (row),
            device TEXT NOT NULL,
            txn TEXT NOT NULL,
            issued_at REAL NOT NULL,
            UNIQUE (device, txn)
        );
        CREATE TABLE sheets (
            id TEXT PRIMARY KEY,
            device TEXT NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('pending', 'rejected', 'cast', 'voided')),
            decision TEXT NOT NULL CHECK (decision IN ('accept', 'return')),
            reason TEXT,
            message TEXT NOT NULL,
            image_sha256 TEXT,
            style TEXT,
            record TEXT,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL
        );
        CREATE INDEX sheets_state ON sheets (state);
        CREATE TABLE results (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            body TEXT NOT NULL
        );
        CREATE TABLE audit (
            id INTEGER PRIMARY KEY,
            ts TEXT NOT NULL,
            kind TEXT NOT NULL,
            device TEXT,
            detail TEXT NOT NULL,
            prev TEXT NOT NULL,
            hash TEXT NOT NULL
        )
        """,
    ),
    (
        # Cast vote records: keyed by a random id, with no time and no rowid, so the
        # table keeps no casting order (SQLite stores a WITHOUT ROWID table in key order).
        # Votes already cast move here from the sheets, which keep only their state.
        2,
        """
        CREATE TABLE cvrs (
            id TEXT PRIMARY KEY,
            device TEXT NOT NULL,
            style TEXT NOT NULL,
            image_sha256 TEXT,
            record TEXT NOT NULL
        ) WITHOUT ROWID;
        INSERT INTO cvrs (id, device, style, image_sha256, record)
            SELECT 'cvr-' || lower(hex(randomblob(16))), device, COALESCE(style, ''),
                   image_sha256, record
            FROM sheets WHERE state = 'cast' AND record IS NOT NULL;
        UPDATE sheets SET record = NULL, image_sha256 = NULL, style = NULL
            WHERE state = 'cast';
        UPDATE sheets SET record = NULL WHERE state = 'voided'
        """,
    ),
    (
        # Enrolled fingers (an ISO/IEC 19794-2 record per voter), and check-ins whose
        # finger did not match, held until the chair overrides or refuses them.
        3,
        """
        CREATE TABLE finger_references (
            voter_row INTEGER PRIMARY KEY REFERENCES voters (row),
            record BLOB NOT NULL
        );
        CREATE TABLE checkin_holds (
            txn TEXT PRIMARY KEY,
            device TEXT NOT NULL,
            voter_row INTEGER NOT NULL REFERENCES voters (row),
            score REAL,
            state TEXT NOT NULL DEFAULT 'held'
        )
        """,
    ),
    (
        # The commission's decision on each marginal mark of a flagged ballot: beside the
        # records it decides, with no time and no rowid, so it keeps no order either.
        4,
        """
        CREATE TABLE adjudications (
            cvr TEXT NOT NULL REFERENCES cvrs (id),
            contest TEXT NOT NULL,
            option TEXT NOT NULL,
            decision TEXT NOT NULL CHECK (decision IN ('vote', 'not_vote')),
            decided_by TEXT NOT NULL,
            reason TEXT NOT NULL,
            PRIMARY KEY (cvr, contest, option)
        ) WITHOUT ROWID
        """,
    ),
    (
        # Secrecy at rest (docs/secrecy.md). Sheets and issuances lose their times; sheets
        # keep no rowid, and a returned sheet no image hash. Kept ballot images live here,
        # under random names and without times, instead of as files whose change times
        # and inode numbers follow the order of casting. A check-in's cached answer is
        # kept without the voter's name (``answer``), instead of sealed with it.
        5,
        """
        CREATE TABLE sheets_v5 (
            id TEXT PRIMARY KEY,
            device TEXT NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('pending', 'rejected', 'cast', 'voided')),
            decision TEXT NOT NULL CHECK (decision IN ('accept', 'return')),
            reason TEXT,
            message TEXT NOT NULL,
            style TEXT,
            record TEXT
        ) WITHOUT ROWID;
        INSERT INTO sheets_v5 (id, device, state, decision, reason, message, style, record)
            SELECT id, device, state, decision, reason, message, style,
                   CASE WHEN state = 'pending' AND record IS NOT NULL
                             AND image_sha256 IS NOT NULL
                        THEN json_set(record, '$.image_sha256', image_sha256)
                        ELSE record END
            FROM sheets;
        DROP TABLE sheets;
        ALTER TABLE sheets_v5 RENAME TO sheets;
        CREATE INDEX sheets_state ON sheets (state);
        CREATE TABLE issuances_v5 (
            id INTEGER PRIMARY KEY,
            voter_row INTEGER NOT NULL UNIQUE REFERENCES voters (row),
            device TEXT NOT NULL,
            txn TEXT NOT NULL,
            UNIQUE (device, txn)
        );
        INSERT INTO issuances_v5 (id, voter_row, device, txn)
            SELECT id, voter_row, device, txn FROM issuances;
        DROP TABLE issuances;
        ALTER TABLE issuances_v5 RENAME TO issuances;
        CREATE TABLE kept_images (
            name TEXT PRIMARY KEY,
            png BLOB NOT NULL
        ) WITHOUT ROWID;
        ALTER TABLE replies ADD COLUMN answer TEXT;
        DELETE FROM replies WHERE payload LIKE '%"checkin.result"%'
        """,
    ),
]


class Store:
    """The station database at ``path``; migrated to the newest schema on open."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._all_lock = threading.Lock()
        self._closed = False
        self.migrate()

    def _connection(self) -> sqlite3.Connection:
        if self._closed:
            raise RuntimeError("the store is closed")
        conn = getattr(self._local, "conn", None)
        if conn is None:
            # isolation_level=None: transactions are opened explicitly below, never implicitly.
            conn = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=30
            )
            conn.row_factory = sqlite3.Row
            conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA foreign_keys=ON")
            # What is deleted or overwritten (a sheet's reading once it is a vote record)
            # is zeroed in the database file, not left in free pages.
            conn.execute("PRAGMA secure_delete=ON")
            self._local.conn = conn
            with self._all_lock:
                self._all.append(conn)
        return conn

    @contextmanager
    def tx(self, durable: bool = True) -> Iterator[sqlite3.Connection]:
        """A write transaction: committed when the block ends, rolled back on an exception.

        ``durable`` (the default) makes the commit wait for the disk; pass False only
        for writes whose loss in a power cut is harmless (replay bookkeeping of image
        chunks, presence).
        """
        conn = self._connection()
        if conn.in_transaction:
            raise RuntimeError("nested write transaction")
        conn.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: one consistent snapshot for every query in the block."""
        conn = self._connection()
        if conn.in_transaction:
            raise RuntimeError("nested transaction")
        conn.execute("BEGIN")
        try:
            yield conn
        finally:
            conn.execute("ROLLBACK")

    def migrate(self) -> list[int]:
        """Apply the migrations this database has not seen yet; return their versions."""
        applied: list[int] = []
        conn = self._connection()
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations "
            "(version INTEGER PRIMARY KEY, applied_at REAL NOT NULL)"
        )
        with self.tx() as conn:
            done = {r[0] for r in conn.execute("SELECT version FROM schema_migrations")}
            for version, script in MIGRATIONS:
                if version in done:
                    continue
                for statement in script.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(
                    "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)",
                    (version, time.time()),
                )
                applied.append(version)
        return applied

    def compact(self) -> None:
        """Rewrite the database file in key order and empty the WAL file.

        SQLite places rows, overflow pages and WAL frames in the order they were
        written, and ``secure_delete`` zeroes freed content in the database file but
        not in old WAL frames. ``VACUUM`` rebuilds every table in key order (random ids
        for the records and kept images) and a truncating checkpoint leaves the WAL
        file empty, so nothing in the files keeps the order of the day's writes.
        """
        conn = self._connection()
        if conn.in_transaction:
            raise RuntimeError("compact inside a transaction")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("VACUUM")
        busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        if busy:
            raise sqlite3.OperationalError("the WAL file could not be emptied: a reader holds it")

    def schema_version(self) -> int:
        """The newest migration applied to this database."""
        with self.read() as conn:
            return conn.execute("SELECT MAX(version) FROM schema_migrations").fetchone()[0]

    def close(self) -> None:
        """Close every connection of every thread."""
        self._closed = True
        with self._all_lock:
            for conn in self._all:
                conn.close()
            self._all.clear()


def get_meta(conn: sqlite3.Connection, key: str, default: str | None = None) -> str | None:
    """A value of the ``meta`` table, or ``default``."""
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return row[0] if row else default


def set_meta(conn: sqlite3.Connection, key: str, value: str) -> None:
    """Set a value of the ``meta`` table (inside the caller's write transaction)."""
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?, ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (key, value),
    )
