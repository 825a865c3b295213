"""The station setup file (``station.json``): which station, which election, which devices.

```
{"station": "s-0417", "mode": "test" | "official",
 "election": "election.json", "voters": "voters.csv",
 "devices": [{"id": "term-1", "role": "idterminal" | "scanner", "key": "<64 hex>"}],
 "polls": "open" | "setup",
 "fingers": "fingers/"   (optional: a folder of <voter_id>.iso enrolled fingers),
 "firmware": ["<sha256 hex of an allowed firmware manifest>", ...],
 "return_marginal": true | false   (optional, true by default),
 "workers": [{"id", "name", "role", "pin", "totp"}, ...]   (poll workers who may log in),
 "signing_key": "station.key"   (optional, this by default),
 "public_key": "<64 hex>"   (optional)}
```

Paths are relative to the setup file. ``polls`` is the state a fresh station starts
in; ``firmware`` (optional) lists the allowed firmware hashes, and a device reporting
any other hash is flagged, and in official mode quarantined. ``return_marginal``
false makes the scanner take a ballot with an unclear mark straight into the box
(flagged for the commission) instead of handing it back to the voter first.
``workers`` (``controller.workers.roster``; written by ``shailoo workers add``) are
the people who may log in to the dashboard and API; an official station needs a chair.
``signing_key`` is the station's Ed25519 key file (``shailoo controller keygen``), which
signs the audit log and the results (``docs/audit.md``); ``public_key``, when given,
is the public key that file must hold.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from controller.workers.roster import Worker, WorkerError, parse_workers
from protocol.canonical import within
from protocol.topics import valid_id

ROLES = ("idterminal", "scanner")
MODES = ("test", "official")
KEY_BYTES = 32
# A setup names files rather than holding them: a few kilobytes, a few levels deep.
MAX_SETUP_BYTES = 1 << 20
MAX_SETUP_DEPTH = 8


class SetupError(ValueError):
    """The setup file is missing, malformed or inconsistent; the message says where."""


@dataclass(frozen=True)
class DeviceSpec:
    """One allowed device: id, role and its 32-byte message key."""

    id: str
    role: str
    key: bytes


@dataclass(frozen=True)
class StationSetup:
    """A validated setup file."""

    path: Path
    station: str
    mode: str
    election_path: Path
    voters_path: Path
    devices: tuple[DeviceSpec, ...]
    polls: str
    firmware: frozenset[str] | None
    fingers_path: Path | None = None
    return_marginal: bool = True
    workers: tuple[Worker, ...] = ()
    signing_key_path: Path | None = None
    public_key: str | None = None


def _is_hex(text: object, length: int) -> bool:
    return (
        isinstance(text, str)
        and len(text) == length
        and all(c in "0123456789abcdefABCDEF" for c in text)
    )


def _device(item: object, index: int, seen: set[str]) -> DeviceSpec:
    where = f"devices[{index}]"
    if not isinstance(item, dict):
        raise SetupError(f"{where}: expected an object with id, role and key")
    extra = set(item) - {"id", "role", "key"}
    if extra:
        raise SetupError(f"{where}: unknown field(s) {', '.join(sorted(extra))}")
    dev_id = item.get("id")
    if not valid_id(dev_id):
        raise SetupError(f"{where}: id {dev_id!r} must match [a-z0-9][a-z0-9-]{{0,31}}")
    if dev_id in seen:
        raise SetupError(f"{where}: device id {dev_id!r} appears twice")
    seen.add(dev_id)
    role = item.get("role")
    if role not in ROLES:
        raise SetupError(f"{where} ({dev_id}): role must be one of {', '.join(ROLES)}")
    key = item.get("key")
    if not _is_hex(key, 2 * KEY_BYTES):
        raise SetupError(f"{where} ({dev_id}): key must be {KEY_BYTES} bytes as 64 hex digits")
    return DeviceSpec(dev_id, role, bytes.fromhex(key))


def parse_setup(data: object, base: Path, source: str = "setup") -> StationSetup:
    """Validate an already-decoded setup object; paths are resolved against ``base``."""
    if not isinstance(data, dict):
        raise SetupError(f"{source}: expected a JSON object")
    extra = set(data) - {
        "station", "mode", "election", "voters", "devices", "polls", "firmware", "fingers",
        "return_marginal", "workers", "signing_key", "public_key",
    }
    if extra:
        raise SetupError(f"{source}: unknown field(s) {', '.join(sorted(extra))}")
    station = data.get("station")
    if not valid_id(station):
        raise SetupError(f"{source}: station {station!r} must match [a-z0-9][a-z0-9-]{{0,31}}")
    mode = data.get("mode")
    if mode not in MODES:
        raise SetupError(f"{source}: mode must be 'test' or 'official', not {mode!r}")
    polls = data.get("polls", "setup")
    if polls not in ("open", "setup"):
        raise SetupError(f"{source}: polls must be 'open' or 'setup', not {polls!r}")
    paths = {}
    for name in ("election", "voters"):
        value = data.get(name)
        if not isinstance(value, str) or not value:
            raise SetupError(f"{source}: {name} must be a path")
        path = (base / value).resolve()
        if not path.is_file():
            raise SetupError(f"{source}: {name} file {path} does not exist")
        paths[name] = path
    fingers = data.get("fingers")
    fingers_path = None
    if fingers is not None:
        if not isinstance(fingers, str) or not fingers:
            raise SetupError(f"{source}: fingers must be the path of a folder")
        fingers_path = (base / fingers).resolve()
        if not fingers_path.is_dir():
            raise SetupError(f"{source}: fingers folder {fingers_path} does not exist")
    devices = data.get("devices")
    if not isinstance(devices, list):
        raise SetupError(f"{source}: devices must be a list")
    seen: set[str] = set()
    specs = tuple(_device(item, i, seen) for i, item in enumerate(devices))
    firmware = data.get("firmware")
    allowed: frozenset[str] | None = None
    if firmware is not None:
        if not isinstance(firmware, list) or not all(_is_hex(h, 64) for h in firmware):
            raise SetupError(f"{source}: firmware must be a list of SHA-256 hex digests")
        allowed = frozenset(h.lower() for h in firmware)
    return_marginal = data.get("return_marginal", True)
    if not isinstance(return_marginal, bool):
        raise SetupError(f"{source}: return_marginal must be true or false")
    try:
        workers = parse_workers(data.get("workers", []), source)
    except WorkerError as err:
        raise SetupError(str(err)) from None
    if mode == "official" and not any(w.role == "chair" for w in workers):
        raise SetupError(f"{source}: an official station needs a chair among its workers")
    signing_key = data.get("signing_key", "station.key")
    if not isinstance(signing_key, str) or not signing_key:
        raise SetupError(f"{source}: signing_key must be the path of the station's key file")
    public_key = data.get("public_key")
    if public_key is not None and not _is_hex(public_key, 2 * KEY_BYTES):
        raise SetupError(f"{source}: public_key must be 32 bytes as 64 hex digits")
    return StationSetup(
        path=base,
        station=station,
        mode=mode,
        election_path=paths["election"],
        voters_path=paths["voters"],
        devices=specs,
        polls=polls,
        firmware=allowed,
        fingers_path=fingers_path,
        return_marginal=return_marginal,
        workers=workers,
        signing_key_path=(base / signing_key).resolve(),
        public_key=public_key.lower() if public_key else None,
    )


def load_setup(path: str | Path) -> StationSetup:
    """Read and validate a setup file; raise ``SetupError`` with a clear message."""
    path = Path(path)
    try:
        with path.open("rb") as f:
            raw = f.read(MAX_SETUP_BYTES + 1)
    except OSError as err:
        raise SetupError(f"cannot read setup file {path}: {err.strerror}") from None
    if len(raw) > MAX_SETUP_BYTES:
        raise SetupError(f"{path}: larger than {MAX_SETUP_BYTES} bytes; not a setup file")
    if not within(raw, MAX_SETUP_DEPTH):
        raise SetupError(f"{path}: nested deeper than {MAX_SETUP_DEPTH} levels")
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as err:
        raise SetupError(f"{path}: not UTF-8 text (byte {err.start})") from None
    except ValueError as err:
        raise SetupError(f"{path}: not valid JSON: {err}") from None
    setup = parse_setup(data, path.resolve().parent, str(path))
    return StationSetup(**{**setup.__dict__, "path": path.resolve()})
