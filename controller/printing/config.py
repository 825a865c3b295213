"""Where and how the station prints its results protocol: the print settings file.

```
{"printer": "usb:04b8:0e15" | "serial:/dev/ttyUSB0[:baud]" | "tcp:host[:port]" | "file:/path",
 "paper": "80mm" | "58mm",
 "language": "ky" | "ru" | "en",
 "copies": 1,
 "timeout": 2.0,
 "qr": true,
 "commission": [{"role": "chair" | "deputy" | "secretary" | "member", "name": "..."}]}
```

Only ``printer`` is required. ``usb`` goes through python-escpos and pyusb, ``serial``
through pyserial (9600 baud unless given), ``tcp`` to a network printer's raw port
(9100 unless given). ``file`` writes to a file or a device node such as the kernel's
``/dev/usb/lp0``: a one-way link, so paper and cover cannot be checked. ``timeout``
bounds every status read (seconds). ``commission`` names the members who sign the
protocol; without it the protocol has empty lines for a chair, a deputy, a
secretary and ``DEFAULT_MEMBERS`` members, to be filled in by hand.

Every error names the field and what is allowed (``PrintConfigError``). Names are
plain text: control characters are refused, since a printer takes them as commands.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from drivers import escpos
from drivers.escpos_host import PAPER_80MM
from protocol.canonical import within

LANGUAGES = ("ky", "ru", "en")
PAPERS = {"58mm": escpos.PAPER_DOTS, "80mm": PAPER_80MM}
ROLES = ("chair", "deputy", "secretary", "member")
BAUD_RATES = (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600)
DEFAULT_BAUD = 9600
DEFAULT_TCP_PORT = 9100
DEFAULT_MEMBERS = 4
MAX_FILE = 64 * 1024
MAX_DEPTH = 8
MAX_NAME = 100
MAX_COMMISSION = 30
MAX_COPIES = 5
TIMEOUT_RANGE = (0.1, 30.0)
FIELDS = {"printer", "paper", "language", "copies", "timeout", "qr", "commission"}


class PrintConfigError(ValueError):
    """Print settings that cannot be used; the message names the field."""


@dataclass(frozen=True)
class Target:
    """A printer link: ``kind`` is ``usb``, ``serial``, ``tcp`` or ``file``."""

    kind: str
    path: str = ""  # serial device, file path or tcp host
    number: int = 0  # baud rate or tcp port
    vid: int = 0
    pid: int = 0

    @property
    def can_read(self) -> bool:
        """False for a file: nothing comes back, so no status."""
        return self.kind != "file"

    def __str__(self) -> str:
        if self.kind == "usb":
            return "usb:%04x:%04x" % (self.vid, self.pid)
        if self.kind == "file":
            return f"file:{self.path}"
        return f"{self.kind}:{self.path}:{self.number}"


@dataclass(frozen=True)
class Member:
    """One commission member who signs the protocol (``name`` may be empty: a blank line)."""

    role: str
    name: str = ""


@dataclass(frozen=True)
class PrintSettings:
    """Validated print settings."""

    target: Target
    paper_dots: int = escpos.PAPER_DOTS
    language: str = "ky"
    copies: int = 1
    timeout: float = 2.0
    qr: bool = True
    commission: tuple[Member, ...] = ()

    @property
    def paper_mm(self) -> int:
        """58 or 80."""
        return 80 if self.paper_dots == PAPER_80MM else 58

    @property
    def signers(self) -> tuple[Member, ...]:
        """Who signs: the configured commission, or blank lines for one."""
        if self.commission:
            return self.commission
        blank = [Member("chair"), Member("deputy"), Member("secretary")]
        return tuple(blank + [Member("member")] * DEFAULT_MEMBERS)


def _hex16(text: str, what: str, spec: str) -> int:
    digits = text[2:] if text.lower().startswith("0x") else text
    if not 1 <= len(digits) <= 4 or any(c not in "0123456789abcdefABCDEF" for c in digits):
        raise PrintConfigError(f"printer {spec!r}: {what} must be 1 to 4 hex digits")
    return int(digits, 16)


def parse_target(spec: object) -> Target:
    """A ``Target`` from ``usb:VID:PID``, ``serial:PATH[:BAUD]``, ``tcp:HOST[:PORT]`` or
    ``file:PATH``."""
    if not isinstance(spec, str) or not spec:
        raise PrintConfigError("printer must be a string such as 'usb:04b8:0e15'")
    if len(spec) > 512 or not spec.isprintable():
        raise PrintConfigError("printer: at most 512 printable characters")
    kind, _, rest = spec.partition(":")
    if kind == "usb":
        parts = rest.split(":")
        if len(parts) != 2:
            raise PrintConfigError(f"printer {spec!r}: write usb:VID:PID, e.g. usb:04b8:0e15")
        return Target("usb", vid=_hex16(parts[0], "VID", spec), pid=_hex16(parts[1], "PID", spec))
    if kind == "serial":
        path, baud = rest, DEFAULT_BAUD
        head, _, tail = rest.rpartition(":")
        if head and tail.isdigit():
            path, baud = head, int(tail)
            if baud not in BAUD_RATES:
                allowed = ", ".join(str(b) for b in BAUD_RATES)
                raise PrintConfigError(
                    f"printer {spec!r}: baud rate {baud} is not one of {allowed}"
                )
        if not path.startswith("/"):
            raise PrintConfigError(f"printer {spec!r}: write serial:/dev/ttyUSB0[:baud]")
        return Target("serial", path=path, number=baud)
    if kind == "tcp":
        host, port = rest, DEFAULT_TCP_PORT
        head, _, tail = rest.rpartition(":")
        if head:
            if not tail.isdigit() or not 0 < int(tail) < 65536:
                raise PrintConfigError(f"printer {spec!r}: port must be 1..65535")
            host, port = head, int(tail)
        if not host or any(c in host for c in " /"):
            raise PrintConfigError(f"printer {spec!r}: write tcp:HOST[:PORT]")
        return Target("tcp", path=host, number=port)
    if kind == "file":
        if not rest.startswith("/"):
            raise PrintConfigError(f"printer {spec!r}: write file:/absolute/path")
        return Target("file", path=rest)
    raise PrintConfigError(
        f"printer {spec!r}: the link must be usb:, serial:, tcp: or file: (not {kind!r})"
    )


def _text(value: object, where: str) -> str:
    if not isinstance(value, str):
        raise PrintConfigError(f"{where} must be a string")
    if len(value) > MAX_NAME:
        raise PrintConfigError(f"{where} is longer than {MAX_NAME} characters")
    if not value.isprintable():
        raise PrintConfigError(f"{where} has control characters: the printer would obey them")
    return value.strip()


def _member(item: object, index: int) -> Member:
    where = f"commission[{index}]"
    if not isinstance(item, dict):
        raise PrintConfigError(f"{where} must be an object with role and name")
    extra = set(item) - {"role", "name"}
    if extra:
        raise PrintConfigError(f"{where}: unknown field(s) {', '.join(sorted(extra))}")
    role = item.get("role")
    if role not in ROLES:
        raise PrintConfigError(f"{where}.role must be one of {', '.join(ROLES)}, not {role!r}")
    return Member(role, _text(item.get("name", ""), f"{where}.name"))


def parse_settings(data: object, source: str = "print settings") -> PrintSettings:
    """Validate already-decoded settings; ``PrintConfigError`` names what is wrong."""
    if isinstance(data, str):
        return PrintSettings(parse_target(data))
    if not isinstance(data, dict):
        raise PrintConfigError(f"{source}: expected a JSON object or a printer string")
    try:
        extra = set(data) - FIELDS
        if extra:
            raise PrintConfigError(f"unknown field(s) {', '.join(sorted(extra))}")
        target = parse_target(data.get("printer"))
        paper = data.get("paper", "58mm")
        if paper in (58, 80):
            paper = f"{paper}mm"
        if paper not in PAPERS:
            raise PrintConfigError(f"paper must be '58mm' or '80mm', not {paper!r}")
        language = data.get("language", "ky")
        if language not in LANGUAGES:
            raise PrintConfigError(f"language must be one of {', '.join(LANGUAGES)}")
        copies = data.get("copies", 1)
        if isinstance(copies, bool) or not isinstance(copies, int):
            raise PrintConfigError("copies must be a whole number")
        if not 1 <= copies <= MAX_COPIES:
            raise PrintConfigError(f"copies must be 1..{MAX_COPIES}")
        timeout = data.get("timeout", 2.0)
        if isinstance(timeout, bool) or not isinstance(timeout, int | float):
            raise PrintConfigError("timeout must be a number of seconds")
        if not TIMEOUT_RANGE[0] <= timeout <= TIMEOUT_RANGE[1]:
            raise PrintConfigError("timeout must be %g..%g seconds" % TIMEOUT_RANGE)
        qr = data.get("qr", True)
        if not isinstance(qr, bool):
            raise PrintConfigError("qr must be true or false")
        commission = data.get("commission", [])
        if not isinstance(commission, list):
            raise PrintConfigError("commission must be a list of {role, name}")
        if len(commission) > MAX_COMMISSION:
            raise PrintConfigError(f"commission has more than {MAX_COMMISSION} members")
        members = tuple(_member(item, i) for i, item in enumerate(commission))
    except PrintConfigError as err:
        raise PrintConfigError(f"{source}: {err}") from None
    return PrintSettings(
        target=target,
        paper_dots=PAPERS[paper],
        language=language,
        copies=copies,
        timeout=float(timeout),
        qr=qr,
        commission=members,
    )


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise PrintConfigError(f"key {key!r} appears twice")
        out[key] = value
    return out


def load_settings(path: str | Path) -> PrintSettings:
    """Read and validate a print settings file."""
    path = Path(path)
    try:
        with path.open("rb") as f:
            raw = f.read(MAX_FILE + 1)
    except OSError as err:
        raise PrintConfigError(f"cannot read print settings {path}: {err.strerror}") from None
    if len(raw) > MAX_FILE:
        raise PrintConfigError(f"{path}: larger than {MAX_FILE} bytes")
    if not within(raw, MAX_DEPTH):
        raise PrintConfigError(f"{path}: JSON nested too deeply")
    try:
        data = json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicates)
    except UnicodeDecodeError as err:
        raise PrintConfigError(f"{path}: not UTF-8 text (byte {err.start})") from None
    except PrintConfigError as err:
        raise PrintConfigError(f"{path}: {err}") from None
    except ValueError as err:
        raise PrintConfigError(f"{path}: not valid JSON: {err}") from None
    return parse_settings(data, str(path))
