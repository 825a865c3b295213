"""The devices of the station: keys, roles, presence and firmware.

Which devices exist and their keys come from the setup file alone; nothing a
device says can add one. Presence comes from the retained status topic and from
signed ``hello`` messages. A status is a signed envelope of type ``status`` whose
``seq`` is the device's status counter (firmware/link.py): one that does not verify
under the device's key, or whose counter is not above the last one accepted, is a
``ForgedStatus`` and changes nothing. The counters are kept in memory: after a
restart the first status taken is the one the broker holds retained. ``hello``
messages which also report the firmware version and manifest hash. A
hash outside the setup's allowed list is reported as unknown; in official mode
such a device is quarantined and its check-in and ballot messages are refused.
"""

from __future__ import annotations

import sqlite3
import time
from typing import Any

from controller.station.setup import DeviceSpec, StationSetup
from protocol import envelope
from protocol.errors import ProtocolError

MAX_STATUS = 2048
MAX_FW = 64


class ForgedStatus(ProtocolError):
    """A status that is not the device's own latest word: unsigned, wrongly signed,
    for another device, or older than one already taken."""


class Registry:
    """Device specs from the setup, device state in the store."""

    def __init__(self, setup: StationSetup) -> None:
        self.mode = setup.mode
        self.allowed = setup.firmware
        self._specs = {d.id: d for d in setup.devices}
        self._status_counter: dict[str, int] = {}

    def spec(self, device: str) -> DeviceSpec | None:
        """The setup entry of ``device``, or None for a device the station does not know."""
        return self._specs.get(device)

    def sync(self, conn: sqlite3.Connection) -> None:
        """Bring the device table in line with the setup (inside a write transaction).

        Presence is reset: the broker replays the retained status of every device
        right after the controller subscribes, so nothing stale survives a restart.
        """
        for spec in self._specs.values():
            conn.execute(
                "INSERT INTO devices (id, role) VALUES (?, ?) "
                "ON CONFLICT (id) DO UPDATE SET role = excluded.role",
                (spec.id, spec.role),
            )
        conn.execute("UPDATE devices SET online = 0")

    def known(self, fw_hash: str | None) -> bool:
        """True when ``fw_hash`` is on the setup's list of allowed firmware."""
        return bool(fw_hash) and self.allowed is not None and fw_hash in self.allowed

    def quarantined(self, conn: sqlite3.Connection, device: str) -> bool:
        """True when the device may not take part: official mode and unknown firmware."""
        if self.mode != "official":
            return False
        row = conn.execute("SELECT fw_hash FROM devices WHERE id = ?", (device,)).fetchone()
        return not self.known(row[0] if row else None)

    def on_status(self, conn: sqlite3.Connection, device: str, payload: bytes) -> dict[str, Any]:
        """Record a retained status message; return its body.

        Raises ``ForgedStatus`` for anything not signed by the device or replayed, and
        ``ProtocolError`` for a signed status that is malformed.
        """
        spec = self._specs[device]
        status = self._verified_status(spec, payload)
        fw = status.get("fw")
        if fw is not None and (not isinstance(fw, str) or len(fw) > MAX_FW):
            raise ProtocolError("malformed", "status fw must be a short string")
        role = status.get("role")
        if role is not None and role != spec.role:
            raise ProtocolError(
                "wrong_role", f"{device} says it is a {role!r}, setup says {spec.role}"
            )
        online = status["state"] == "online"
        conn.execute(
            "UPDATE devices SET online = ?, fw = COALESCE(?, fw), last_seen = ? WHERE id = ?",
            (int(online), fw, time.time(), device),
        )
        return status

    def _verified_status(self, spec: DeviceSpec, payload: bytes) -> dict[str, Any]:
        """The body of a status signed by ``spec``'s device with a new counter."""
        device = spec.id
        if not payload:
            # Only an account with write access to the topic can clear it; the device
            # itself never does, so this is not the device speaking.
            raise ForgedStatus("unsigned", "empty status (a cleared retained topic)")
        if len(payload) > MAX_STATUS:
            raise ForgedStatus("too_large", f"status of {len(payload)} bytes")
        try:
            msg = envelope.parse(payload, MAX_STATUS)
        except ProtocolError as err:
            raise ForgedStatus("unsigned", f"status is not a signed envelope: {err}") from None
        if msg.dev != device or msg.type != envelope.STATUS or msg.dir != envelope.UP:
            raise ForgedStatus("malformed", f"{msg.type} of {msg.dev} on the status of {device}")
        try:
            msg.verify(spec.key)
        except ProtocolError:
            raise ForgedStatus("bad_tag", f"status tag does not verify for {device}") from None
        last = self._status_counter.get(device)
        if last is not None and msg.seq <= last:
            raise ForgedStatus("stale", f"status counter {msg.seq} not above {last}")
        status = msg.body
        if status.get("state") not in ("online", "offline"):
            raise ProtocolError("malformed", "status needs state online or offline")
        self._status_counter[device] = msg.seq
        return status

    def on_hello(
        self, conn: sqlite3.Connection, device: str, body: dict[str, Any], polls: str
    ) -> dict[str, Any]:
        """Record a signed ``hello``; return the ``hello.ack`` body."""
        spec = self._specs[device]
        role, fw, fw_hash, boot = (
            body.get("role"),
            body.get("fw"),
            body.get("fw_hash"),
            body.get("boot"),
        )
        if role != spec.role:
            raise ProtocolError(
                "wrong_role", f"{device} says it is a {role!r}, setup says {spec.role}"
            )
        if not isinstance(fw, str) or not 0 < len(fw) <= MAX_FW:
            raise ProtocolError("malformed", "hello fw must be a short string")
        if not isinstance(fw_hash, str) or len(fw_hash) != 64 or not _is_hex(fw_hash):
            raise ProtocolError("malformed", "hello fw_hash must be 64 hex digits")
        if not isinstance(boot, int) or isinstance(boot, bool) or boot < 0:
            raise ProtocolError("malformed", "hello boot must be a counter")
        fw_hash = fw_hash.lower()
        conn.execute(
            "UPDATE devices SET online = 1, fw = ?, fw_hash = ?, boot = ?, last_seen = ? "
            "WHERE id = ?",
            (fw, fw_hash, boot, time.time(), device),
        )
        known = self.known(fw_hash)
        return {
            "known": known,
            "quarantined": self.mode == "official" and not known,
            "polls": polls,
        }

    def touch(self, conn: sqlite3.Connection, device: str) -> None:
        """Note that an authentic message just came from ``device``."""
        conn.execute("UPDATE devices SET last_seen = ? WHERE id = ?", (time.time(), device))

    def devices(self, conn: sqlite3.Connection) -> list[dict[str, Any]]:
        """Every device of the setup with its state, for the status API and dashboard."""
        rows = conn.execute(
            "SELECT id, role, online, fw, fw_hash, last_seen FROM devices ORDER BY id"
        ).fetchall()
        out = []
        for r in rows:
            if r["id"] not in self._specs:
                continue  # removed from the setup since an earlier run
            out.append(
                {
                    "id": r["id"],
                    "role": r["role"],
                    "online": bool(r["online"]),
                    "fw": r["fw"],
                    "fw_hash": r["fw_hash"],
                    "known": self.known(r["fw_hash"]),
                    "last_seen": r["last_seen"],
                }
            )
        return out


def _is_hex(text: str) -> bool:
    return all(c in "0123456789abcdefABCDEF" for c in text)
