"""Kept ballot images, inside the station database (table ``kept_images``).

An accepted sheet's image is kept under its cast vote record's random id, a returned
sheet's under a random ``ret-`` name that nothing else mentions: the image shows the
marks, and a returned ballot is often fed again and cast. Neither carries a time, a
sheet id or a row number. Files would not do: their change times and inode numbers
follow the order in which they were written, which is the order of casting, and no
program can set a change time. Inside the database the images still sit in written
order until the polls close; ``Store.compact`` then rewrites them in name order
(``docs/secrecy.md``).
"""

from __future__ import annotations

import io
import secrets
import sqlite3

import numpy as np

RETURNED_PREFIX = "ret-"


def encode_png(gray: np.ndarray) -> bytes:
    """A greyscale scan as PNG bytes (done outside any transaction: it takes a while)."""
    from PIL import Image

    out = io.BytesIO()
    Image.fromarray(gray, mode="L").save(out, format="PNG")
    return out.getvalue()


def returned_name() -> str:
    """A fresh random name for a returned sheet's image."""
    return RETURNED_PREFIX + secrets.token_hex(16)


def keep(conn: sqlite3.Connection, name: str, png: bytes) -> None:
    """Store ``png`` under ``name`` (inside the caller's write transaction)."""
    conn.execute(
        "INSERT OR REPLACE INTO kept_images (name, png) VALUES (?, ?)", (name, png)
    )


def discard(conn: sqlite3.Connection, name: str) -> None:
    """Forget the image kept under ``name`` (a voided sheet's: nobody's vote)."""
    conn.execute("DELETE FROM kept_images WHERE name = ?", (name,))


def load(conn: sqlite3.Connection, name: str) -> bytes | None:
    """The PNG kept under ``name``, or None."""
    row = conn.execute("SELECT png FROM kept_images WHERE name = ?", (name,)).fetchone()
    return bytes(row[0]) if row else None
