"""Mosquitto 2 password-file lines (``user:$7$iterations$salt$hash``), made in Python.

The hash is PBKDF2-HMAC-SHA512 over the password with a 12-byte random salt, the
salt and the 64-byte result in standard base64: what ``mosquitto_passwd`` writes and
Mosquitto 2.0 checks. 101 iterations is Mosquitto's own default; more would only
slow down every connect, and every password here is 256 bits of randomness (a
device's HMAC-derived password, the controller's random one), which no iteration
count makes easier or harder to guess.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

ITERATIONS = 101
SALT_BYTES = 12
HASH_BYTES = 64


class PasswdError(ValueError):
    """A user name or password-file line that Mosquitto would not take."""


def check_username(username: str) -> None:
    """Raise ``PasswdError`` unless ``username`` can stand in a password file and an ACL."""
    if not username or len(username) > 64:
        raise PasswdError("a broker user name is 1 to 64 characters")
    bad = set(username) & set(":#+/ \t\r\n\x00")
    if bad or not username.isprintable():
        raise PasswdError(f"broker user name {username!r} has a character Mosquitto refuses")


def hash_password(password: str, salt: bytes | None = None, iterations: int = ITERATIONS) -> str:
    """The ``$7$...`` hash of ``password``."""
    salt = os.urandom(SALT_BYTES) if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations, HASH_BYTES)
    return "$7$%d$%s$%s" % (
        iterations,
        base64.b64encode(salt).decode(),
        base64.b64encode(digest).decode(),
    )


def password_line(username: str, password: str) -> str:
    """One line of a Mosquitto password file (with its newline)."""
    check_username(username)
    return f"{username}:{hash_password(password)}\n"


def verify(line: str, username: str, password: str) -> bool:
    """True when ``line`` is the password-file entry of ``username`` with ``password``."""
    name, _, hashed = line.rstrip("\n").partition(":")
    parts = hashed.split("$")
    if name != username or len(parts) != 5 or parts[1] != "7":
        return False
    try:
        iterations = int(parts[2])
        salt = base64.b64decode(parts[3], validate=True)
        expected = base64.b64decode(parts[4], validate=True)
    except ValueError:
        return False
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations, len(expected))
    return hmac.compare_digest(digest, expected)
