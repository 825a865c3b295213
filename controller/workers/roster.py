"""The station's poll workers as the setup file lists them, and how each proves who they are.

A worker entry in ``station.json``::

    {"id": "chair-1", "name": "Aida Bekova", "role": "chair",
     "pin": "scrypt$16384$8$1$<salt hex>$<hash hex>", "totp": "<base32 secret>"}

The PIN is kept only as a slow scrypt hash (standard library), so a copy of the setup
file does not give the PIN away quickly; the TOTP secret (RFC 6238, 30 s, 6 digits)
is the second factor an authenticator app holds. ``shailoo workers add`` writes such
entries, so nobody types a hash by hand.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import time
from dataclasses import dataclass

import pyotp

ROLES = ("chair", "secretary", "member", "technician")
WORKER_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,31}\Z")
PIN_FORMAT = re.compile(r"[0-9]{6,12}\Z")
CODE_FORMAT = re.compile(r"[0-9]{6}\Z")
BASE32 = re.compile(r"[A-Z2-7]+=*\Z")
MAX_NAME = 80
# RFC 4226 asks for a shared secret of at least 128 bits: 26 base32 characters.
MIN_SECRET_CHARS = 26
MAX_SECRET_CHARS = 128
# scrypt cost: about 16 MiB and tens of milliseconds per try on a station PC. The bounds
# keep a forged setup file from making one login cost minutes or next to nothing.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
N_RANGE = (2**14, 2**20)
R_RANGE = (8, 16)
P_RANGE = (1, 4)
SALT_BYTES = 16
HASH_BYTES = 32
TOTP_STEP = 30
# One step either side: a code typed just as it rolls over, or a clock a little off.
TOTP_WINDOW = 1


class WorkerError(ValueError):
    """A worker entry, PIN or secret is malformed; the message says which and why."""


@dataclass(frozen=True)
class Worker:
    """One poll worker of the station: id, name, role and the two factors' references."""

    id: str
    name: str
    role: str
    pin_hash: str
    totp_secret: str

    def check_pin(self, pin: object) -> bool:
        """True when ``pin`` is this worker's PIN (constant-time compare of the hashes)."""
        return verify_pin(self.pin_hash, pin)

    def code_step(self, code: object, now: float | None = None) -> int | None:
        """The TOTP time step that ``code`` belongs to, if it is valid now; else None."""
        return totp_step(self.totp_secret, code, now)

    def to_setup(self) -> dict[str, str]:
        """The entry as the setup file keeps it."""
        return {
            "id": self.id,
            "name": self.name,
            "role": self.role,
            "pin": self.pin_hash,
            "totp": self.totp_secret,
        }


def _scrypt(pin: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        pin.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=256 * n * r + 2**20,
        dklen=HASH_BYTES,
    )


def hash_pin(pin: str, salt: bytes | None = None) -> str:
    """The setup file's form of ``pin``: ``scrypt$n$r$p$salt$hash`` (``WorkerError`` for a
    PIN that is not 6-12 digits)."""
    if not isinstance(pin, str) or not PIN_FORMAT.match(pin):
        raise WorkerError("a PIN is 6 to 12 digits")
    salt = salt if salt is not None else os.urandom(SALT_BYTES)
    digest = _scrypt(pin, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${salt.hex()}${digest.hex()}"


def _parse_hash(text: object) -> tuple[int, int, int, bytes, bytes]:
    if not isinstance(text, str) or len(text) > 200:
        raise WorkerError("pin must be a hash made by 'shailoo workers add'")
    parts = text.split("$")
    if len(parts) != 6 or parts[0] != "scrypt":
        raise WorkerError("pin must look like scrypt$n$r$p$salt$hash")
    try:
        n, r, p = (int(x) for x in parts[1:4])
        salt, digest = bytes.fromhex(parts[4]), bytes.fromhex(parts[5])
    except ValueError:
        raise WorkerError("pin: n, r, p must be numbers and salt, hash hex") from None
    if not (N_RANGE[0] <= n <= N_RANGE[1] and n & (n - 1) == 0):
        raise WorkerError(f"pin: scrypt n must be a power of two in {N_RANGE[0]}..{N_RANGE[1]}")
    if not (R_RANGE[0] <= r <= R_RANGE[1] and P_RANGE[0] <= p <= P_RANGE[1]):
        raise WorkerError(f"pin: scrypt r must be {R_RANGE[0]}..{R_RANGE[1]}, "
                          f"p {P_RANGE[0]}..{P_RANGE[1]}")
    if len(salt) < SALT_BYTES or len(digest) != HASH_BYTES:
        raise WorkerError(f"pin: salt of at least {SALT_BYTES} bytes and a "
                          f"{HASH_BYTES}-byte hash expected")
    return n, r, p, salt, digest


def verify_pin(pin_hash: str, pin: object) -> bool:
    """True when ``pin`` matches ``pin_hash``; a malformed PIN is simply wrong."""
    n, r, p, salt, digest = _parse_hash(pin_hash)
    if not isinstance(pin, str) or not PIN_FORMAT.match(pin):
        return False
    return hmac.compare_digest(_scrypt(pin, salt, n, r, p), digest)


def burn_pin_time(pin: object) -> None:
    """Spend the time a PIN check takes, for a worker id that does not exist, so the
    answer's timing does not tell which ids do."""
    text = pin if isinstance(pin, str) and len(pin) <= 64 else "000000"
    _scrypt(text, b"\0" * SALT_BYTES, SCRYPT_N, SCRYPT_R, SCRYPT_P)


def new_secret() -> str:
    """A fresh TOTP secret (160 bits, base32)."""
    return pyotp.random_base32(32)


def totp_step(secret: str, code: object, now: float | None = None) -> int | None:
    """The time step (within the allowed window around ``now``) whose code is ``code``."""
    if not isinstance(code, str) or not CODE_FORMAT.match(code):
        return None
    now = time.time() if now is None else now
    totp = pyotp.TOTP(secret, interval=TOTP_STEP)
    current = int(now // TOTP_STEP)
    found = None
    for step in range(current - TOTP_WINDOW, current + TOTP_WINDOW + 1):
        # Every candidate is compared, so the time taken does not say which one matched.
        if hmac.compare_digest(totp.generate_otp(step), code):
            found = step
    return found


def code_at(secret: str, step: int) -> str:
    """The code of time step ``step`` (what an authenticator app shows then)."""
    return pyotp.TOTP(secret, interval=TOTP_STEP).generate_otp(step)


def provisioning_uri(worker: Worker, station: str) -> str:
    """The ``otpauth://`` URI an authenticator app reads (as text or a QR code)."""
    return pyotp.TOTP(worker.totp_secret, interval=TOTP_STEP).provisioning_uri(
        name=f"{worker.id}@{station}", issuer_name="Shailoo"
    )


def _text(value: object, where: str, field: str) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_NAME:
        raise WorkerError(f"{where}: {field} must be text of 1-{MAX_NAME} characters")
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise WorkerError(f"{where}: {field} must not hold control characters")
    return value.strip()


def parse_worker(item: object, where: str) -> Worker:
    """One worker entry of the setup file, checked (``WorkerError`` says what is wrong)."""
    if not isinstance(item, dict):
        raise WorkerError(f"{where}: expected an object with id, name, role, pin and totp")
    extra = set(item) - {"id", "name", "role", "pin", "totp"}
    if extra:
        raise WorkerError(f"{where}: unknown field(s) {', '.join(sorted(map(str, extra)))}")
    worker_id = item.get("id")
    if not isinstance(worker_id, str) or not WORKER_ID.match(worker_id):
        raise WorkerError(f"{where}: id {worker_id!r} must match [a-z0-9][a-z0-9-]{{0,31}}")
    where = f"{where} ({worker_id})"
    name = _text(item.get("name"), where, "name")
    role = item.get("role")
    if role not in ROLES:
        raise WorkerError(f"{where}: role must be one of {', '.join(ROLES)}")
    pin = item.get("pin")
    try:
        _parse_hash(pin)
    except WorkerError as err:
        raise WorkerError(f"{where}: {err}") from None
    secret = item.get("totp")
    if (
        not isinstance(secret, str)
        or not MIN_SECRET_CHARS <= len(secret) <= MAX_SECRET_CHARS
        or not BASE32.match(secret)
    ):
        raise WorkerError(
            f"{where}: totp must be a base32 secret of {MIN_SECRET_CHARS}-{MAX_SECRET_CHARS} "
            "characters (A-Z, 2-7)"
        )
    return Worker(worker_id, name, role, str(pin), secret)


def parse_workers(items: object, source: str) -> tuple[Worker, ...]:
    """The ``workers`` list of a setup file; ids are unique."""
    if not isinstance(items, list):
        raise WorkerError(f"{source}: workers must be a list")
    seen: set[str] = set()
    workers = []
    for index, item in enumerate(items):
        worker = parse_worker(item, f"{source}: workers[{index}]")
        if worker.id in seen:
            raise WorkerError(f"{source}: workers[{index}]: worker id {worker.id!r} appears twice")
        seen.add(worker.id)
        workers.append(worker)
    return tuple(workers)
