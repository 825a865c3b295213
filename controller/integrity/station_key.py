"""The station's Ed25519 key: made once with the station's setup, read at every start.

The private key is a PKCS#8 PEM file readable by its owner only (``0600``), beside
``station.json`` by default (``station.key``); the public key is 64 hex digits, written
beside it (``station.pub``) and printed, for the setup and for whoever verifies the
station's records. Verification needs the public key only.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import stat
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

DEFAULT_NAME = "station.key"
MAX_KEY_FILE = 4096  # a PEM Ed25519 key is 119 bytes; anything far larger is not one
PUBLIC_HEX = 64


class StationKeyError(ValueError):
    """A key file is missing, unreadable, malformed or too open; the message says which."""


def public_hex(key: Ed25519PublicKey) -> str:
    """The raw 32-byte public key as 64 lowercase hex digits."""
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()


def fingerprint(key: Ed25519PublicKey) -> str:
    """A short name of a public key for messages: 16 hex digits of its SHA-256."""
    return hashlib.sha256(bytes.fromhex(public_hex(key))).hexdigest()[:16]


def public_path(private_path: Path) -> Path:
    """Where the public key of ``private_path`` is written (``station.pub``)."""
    return private_path.with_suffix(".pub")


def generate(path: Path, force: bool = False) -> Ed25519PublicKey:
    """Make a key, write it to ``path`` (0600) and its public key beside it; return the
    public key. Refuses to overwrite a key unless ``force``: a station's records are
    signed with one key for their whole life."""
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if force else os.O_EXCL)
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        raise StationKeyError(
            f"{path} exists: a station keeps its key (use --force to replace it)"
        ) from None
    except OSError as err:
        raise StationKeyError(f"cannot write {path}: {err.strerror or err}") from None
    with os.fdopen(fd, "wb") as out:
        # O_CREAT's mode applies only to a new file; a replaced one is narrowed here.
        os.fchmod(out.fileno(), 0o600)
        out.write(pem)
        out.flush()
        os.fsync(out.fileno())
    public = key.public_key()
    public_path(path).write_text(public_hex(public) + "\n", encoding="ascii")
    return public


def load_private(path: Path) -> Ed25519PrivateKey:
    """Read the station's private key; ``StationKeyError`` when it is missing, readable
    by others, too large or not an Ed25519 PEM key."""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise StationKeyError(
            f"no station key at {path}: make one with `shailoo controller keygen --out {path}`"
        ) from None
    except OSError as err:
        raise StationKeyError(f"cannot read {path}: {err.strerror or err}") from None
    if not stat.S_ISREG(info.st_mode):
        raise StationKeyError(f"{path} is not a file")
    if info.st_mode & 0o077:
        raise StationKeyError(
            f"{path} is readable by others (mode {stat.S_IMODE(info.st_mode):o}): "
            f"`chmod 600 {path}`, and make a new key if others may have read it"
        )
    if info.st_size > MAX_KEY_FILE:
        raise StationKeyError(f"{path} is {info.st_size} bytes: not an Ed25519 key file")
    try:
        data = path.read_bytes()
    except OSError as err:
        raise StationKeyError(f"cannot read {path}: {err.strerror or err}") from None
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise StationKeyError(f"{path} is not a PEM private key without a password") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise StationKeyError(f"{path} holds a {type(key).__name__}, not an Ed25519 key")
    return key


def parse_public(text: str) -> Ed25519PublicKey:
    """A public key from its 64 hex digits; ``StationKeyError`` otherwise."""
    text = text.strip()
    if len(text) != PUBLIC_HEX or any(c not in "0123456789abcdefABCDEF" for c in text):
        raise StationKeyError(f"a station public key is {PUBLIC_HEX} hex digits")
    return Ed25519PublicKey.from_public_bytes(bytes.fromhex(text))


def load_public(given: str) -> Ed25519PublicKey:
    """A public key given as 64 hex digits or as the path of a file holding them."""
    text = given.strip()
    if len(text) == PUBLIC_HEX and all(c in "0123456789abcdefABCDEF" for c in text):
        return parse_public(text)
    path = Path(given)
    try:
        if path.stat().st_size > MAX_KEY_FILE:
            raise StationKeyError(f"{path} is too large to be a public key")
        content = path.read_text(encoding="ascii")
    except FileNotFoundError:
        raise StationKeyError(
            f"{given!r} is neither {PUBLIC_HEX} hex digits nor a public key file"
        ) from None
    except (OSError, UnicodeDecodeError) as err:
        raise StationKeyError(f"cannot read the public key {path}: {err}") from None
    try:
        return parse_public(content)
    except StationKeyError:
        raise StationKeyError(
            f"{path}: not a station public key ({PUBLIC_HEX} hex digits)"
        ) from None


def for_station(path: Path, mode: str, expected: str | None) -> tuple[Ed25519PrivateKey, bool]:
    """The key a station signs with, and whether it was made just now.

    A test-mode station without a key makes one at ``path`` on its first start (so a
    rig or a demo needs no extra step); an official station refuses to start without
    the key made at its setup. ``expected`` (the setup's ``public_key``) must match.
    """
    made = False
    if mode == "test" and not path.exists():
        generate(path)
        made = True
    key = load_private(path)
    if expected is not None and public_hex(key.public_key()) != expected.lower():
        raise StationKeyError(
            f"{path} holds key {fingerprint(key.public_key())}, not the public key the "
            "setup names"
        )
    return key, made


def record(conn: sqlite3.Connection, key: Ed25519PrivateKey, started: bool) -> None:
    """Keep the station's public key in the store (caller's write transaction); refuse
    another key once polls have opened, since the records would then carry two."""
    public = public_hex(key.public_key())
    row = conn.execute("SELECT value FROM meta WHERE key = 'station_public_key'").fetchone()
    if row is not None and row[0] != public and started:
        raise StationKeyError(
            f"the station key changed since polls opened (was {row[0][:16]}…, now "
            f"{public[:16]}…): refusing to sign these records with another key"
        )
    conn.execute(
        "INSERT INTO meta (key, value) VALUES ('station_public_key', ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (public,),
    )
