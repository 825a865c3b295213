"""What the controller does with each device message, independent of the transport.

For a signed message on ``.../dev/<device>/up``:

1. the device must be in the setup (else ``unknown_device``);
2. the payload must parse, name the same device, travel ``up`` and carry a tag
   that verifies under the device's key (else ``malformed`` / ``bad_tag``);
3. its ``seq`` is checked against the device's replay window, kept in SQLite: a
   duplicate gets the reply cached for it and changes nothing; a stale one is refused;
4. the message is applied, and the effect, the new window, the audit entry and the
   sealed reply are committed in one transaction; only then is the reply published.

So a crash anywhere leaves either nothing (the broker redelivers the unacknowledged
message, which is then new) or everything (the redelivery is a duplicate and gets
the same reply). Refusals change nothing, get no reply, and are logged and audited
with the reason code; message bodies never reach a log (they may carry voter data).

Blobs go by the sender's role: a scanner's are ballot images (``controller.intake``),
a terminal's are fingers (``controller.fingers``), which the ``checkin.request`` of
the same transaction references; the sample goes to ``check_in`` and is then dropped.

Device faults (a printer out of paper, a jammed scan engine) come in the retained
status message as ``"faults": {part: code}``; ``faults()`` has the latest of each
device, and every change is written to the audit log.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from controller import audit
from controller.checkin import check_in
from controller.fingers import Fingers
from controller.intake import Intake
from controller.registry import Registry
from controller.results import polls_state
from controller.store import Store
from protocol import blob, envelope, topics
from protocol.canonical import dumps
from protocol.errors import ProtocolError
from protocol.replay import DUPLICATE, NEW, STALE, ReplayWindow

log = logging.getLogger("shailoo.dispatch")

WINDOW = 1024
MAX_EVENT_DETAIL = 512
MAX_FAULTS = 8
MAX_FAULT_TEXT = 40

Publish = Callable[[str, bytes], None]
Listener = Callable[[str], None]


@dataclass(frozen=True)
class Route:
    """How one message type is handled."""

    role: str | None  # only devices of this role may send it
    durable: bool  # commit with synchronous=FULL
    gated: bool  # refused from a quarantined device
    reply: str | None  # type of the reply, if any
    change: str | None  # what the dashboard should refresh


ROUTES: dict[str, Route] = {
    "hello": Route(None, True, False, "hello.ack", "devices"),
    "checkin.request": Route("idterminal", True, True, "checkin.result", "checkin"),
    "blob.begin": Route("scanner", False, True, None, None),
    "blob.chunk": Route("scanner", False, True, None, None),
    "blob.end": Route("scanner", True, True, "ballot.decision", "ballots"),
    "ballot.dropped": Route("scanner", True, True, "ballot.recorded", "ballots"),
    "ballot.returned": Route("scanner", True, True, "ballot.voided", "ballots"),
    "event": Route(None, True, False, None, "devices"),
}
# A terminal's blobs are fingers: kept in memory until the check-in that references them.
FINGER_ROUTES: dict[str, Route] = {
    mtype: Route("idterminal", False, True, None, None)
    for mtype in (blob.BEGIN, blob.CHUNK, blob.END)
}


def route_for(mtype: str, role: str) -> Route | None:
    """How a message of ``mtype`` from a device of ``role`` is handled (None: unknown type)."""
    if role == "idterminal" and mtype in FINGER_ROUTES:
        return FINGER_ROUTES[mtype]
    return ROUTES.get(mtype)


def _faults(status: dict[str, Any]) -> dict[str, str]:
    """The ``faults`` of a status message, checked: short text by short text."""
    faults = status.get("faults", {})
    if status.get("state") != "online" or faults is None:
        return {}
    if (
        not isinstance(faults, dict)
        or len(faults) > MAX_FAULTS
        or not all(
            isinstance(k, str) and isinstance(v, str) and 0 < len(k) <= MAX_FAULT_TEXT
            and 0 < len(v) <= MAX_FAULT_TEXT
            for k, v in faults.items()
        )
    ):
        raise ProtocolError("malformed", "status faults must map a part to a short code")
    return dict(faults)


def _load_window(conn: sqlite3.Connection, device: str) -> ReplayWindow:
    row = conn.execute(
        "SELECT win_highest, win_bits FROM devices WHERE id = ?", (device,)
    ).fetchone()
    if row is None:
        return ReplayWindow(WINDOW)
    return ReplayWindow(WINDOW, row[0], int(row[1], 16))


class Dispatcher:
    """Applies device messages to the store; hands replies to ``publish``."""

    def __init__(
        self,
        store: Store,
        station: str,
        registry: Registry,
        intake: Intake,
        publish: Publish | None = None,
        fingers: Fingers | None = None,
    ) -> None:
        self.store = store
        self.station = station
        self.registry = registry
        self.intake = intake
        self.fingers = fingers if fingers is not None else Fingers()
        self._faults: dict[str, dict[str, str]] = {}
        self.publish: Publish = publish or (lambda topic, payload: None)
        self.listeners: list[Listener] = []
        # One message at a time: the window check, the in-memory blob state and the
        # commit of one message must not interleave with another's.
        self._lock = threading.Lock()

    # -- entry points -----------------------------------------------------------

    def on_message(self, topic: str, payload: bytes) -> None:
        """Handle one MQTT message from the station's device topics; never raises."""
        try:
            station, device, kind = topics.parse(topic)
        except ProtocolError as err:
            log.warning("ignored message on %r: %s", topic[:120], err)
            return
        if station != self.station or kind == "down":
            return
        try:
            if kind == "status":
                self.handle_status(device, payload)
            else:
                self.handle_up(device, payload)
        except Exception:
            log.exception("internal error on a message of %s", device)
            self._audit_refusal(device, "internal_error", "controller failed on this message")

    def handle_status(self, device: str, payload: bytes) -> None:
        """A retained presence message."""
        if self.registry.spec(device) is None:
            if payload:  # an empty payload is someone clearing a retained topic
                self._refuse(device, ProtocolError("unknown_device", f"status of unknown {device}"))
            return
        try:
            with self.store.tx(durable=False) as conn:
                status = self.registry.on_status(conn, device, payload)
                faults = _faults(status)
                if faults != self._faults.get(device, {}):
                    audit.append(conn, "device.faults", device, faults=faults)
        except ProtocolError as err:
            self._refuse(device, err)
            return
        changed = faults != self._faults.get(device, {})
        self._faults[device] = faults
        log.info("%s is %s", device, status["state"])
        if changed and faults:
            log.warning("%s reports %s", device, ", ".join(f"{k}: {v}" for k, v in faults.items()))
        self._notify("devices")

    def faults(self) -> dict[str, dict[str, str]]:
        """The faults each device last reported (``{device: {part: code}}``, none: absent)."""
        return {device: dict(f) for device, f in self._faults.items() if f}

    def handle_up(self, device: str, payload: bytes) -> None:
        """A signed device message; see the module docstring for the steps."""
        with self._lock:
            try:
                self._handle_up(device, payload)
            except ProtocolError as err:
                self._refuse(device, err, payload)

    # -- the steps ----------------------------------------------------------------

    def _handle_up(self, device: str, payload: bytes) -> None:
        spec = self.registry.spec(device)
        if spec is None:
            raise ProtocolError("unknown_device", f"{device} is not a device of this station")
        msg = envelope.parse(payload)
        if msg.dev != device:
            raise ProtocolError("malformed", f"message of {msg.dev} on the topic of {device}")
        if msg.dir != envelope.UP:
            raise ProtocolError("malformed", "a down message on an up topic")
        msg.verify(spec.key)
        route = route_for(msg.type, spec.role)
        if route is None:
            raise ProtocolError("malformed", f"unknown message type {msg.type!r}")

        with self.store.read() as conn:
            verdict = _load_window(conn, device).check(msg.seq)
            polls = polls_state(conn)
            quarantined = route.gated and self.registry.quarantined(conn, device)
        if verdict == DUPLICATE:
            self._duplicate(device, msg)
            return
        if verdict == STALE:
            raise ProtocolError("stale", f"seq {msg.seq} is older than the replay window")
        if route.role is not None and route.role != spec.role:
            raise ProtocolError("wrong_role", f"{msg.type} from a {spec.role}")
        if quarantined:
            raise ProtocolError("quarantined", f"{device} runs firmware that is not allowed")

        prepared = self._prepare(device, spec.role, msg, polls)
        with self.store.tx(durable=route.durable) as conn:
            window = _load_window(conn, device)
            if window.accept(msg.seq) != NEW:
                raise ProtocolError("replayed", f"seq {msg.seq} arrived twice at once")
            body = self._apply(conn, device, spec.role, msg, polls_state(conn), prepared)
            self.registry.touch(conn, device)
            conn.execute(
                "UPDATE devices SET win_highest = ?, win_bits = ? WHERE id = ?",
                (window.highest, format(window.bits, "x"), device),
            )
            reply = None
            if route.reply is not None:
                reply = self._seal_reply(conn, device, spec.key, msg.seq, route.reply, body)
            conn.execute(
                "DELETE FROM replies WHERE device = ? AND req_seq < ?",
                (device, window.highest - WINDOW),
            )
        if reply is not None:
            self.publish(topics.down(self.station, device), reply)
        if msg.type == "checkin.request" and isinstance(msg.body.get("txn"), str):
            self.fingers.discard(device, msg.body["txn"])
        if route.change:
            self._notify(route.change)

    def _prepare(self, device: str, role: str, msg: envelope.Message, polls: str) -> Any:
        # Work that must not hold the write lock (reading an image) or that lives
        # only in memory (chunks) happens before the transaction.
        if role == "idterminal" and msg.type in FINGER_ROUTES:
            return self._finger_blob(device, msg)
        if msg.type == "checkin.request":
            body = msg.body
            return self.fingers.take(device, body.get("txn"), body.get("finger"),
                                     body.get("finger_status"))
        if msg.type == "blob.begin":
            self.intake.begin(device, msg.body)
        elif msg.type == "blob.chunk":
            self.intake.chunk(device, msg.body, msg.attachment)
        elif msg.type == "blob.end":
            return self.intake.prepare_end(device, msg.body, polls)
        return None

    def _finger_blob(self, device: str, msg: envelope.Message) -> None:
        if msg.type == blob.BEGIN:
            self.fingers.begin(device, msg.body)
        elif msg.type == blob.CHUNK:
            self.fingers.chunk(device, msg.body, msg.attachment)
        else:
            sample = self.fingers.end(device, msg.body)
            log.info("%s: finger %s of %d bytes", device, sample.kind, len(sample.data))

    def _apply(
        self,
        conn: sqlite3.Connection,
        device: str,
        role: str,
        msg: envelope.Message,
        polls: str,
        prepared: Any,
    ) -> dict[str, Any] | None:
        body = msg.body
        if msg.type == "hello":
            ack = self.registry.on_hello(conn, device, body, polls)
            if not ack["known"]:
                log.warning(
                    "%s runs firmware %s with a hash not on the allowed list%s",
                    device,
                    body["fw"],
                    " (quarantined)" if ack["quarantined"] else "",
                )
            audit.append(
                conn,
                "device.hello",
                device,
                fw=body["fw"],
                fw_hash=body["fw_hash"],
                boot=body["boot"],
                known=ack["known"],
            )
            return ack
        if msg.type == "checkin.request":
            finger, finger_status = prepared
            return check_in(conn, device, body, polls, finger=finger, finger_status=finger_status)
        if role == "idterminal" and msg.type in FINGER_ROUTES:
            return None  # a finger: in memory only, until its check-in
        if msg.type == "blob.end":
            return self.intake.apply_end(conn, device, prepared, body["blob"], polls)
        if msg.type == "ballot.dropped":
            return self.intake.dropped(conn, device, body, polls)
        if msg.type == "ballot.returned":
            return self.intake.returned(conn, device, body)
        if msg.type == "event":
            kind = body.get("kind")
            if not isinstance(kind, str) or not 0 < len(kind) <= 40:
                raise ProtocolError("malformed", "event kind must be short text")
            detail = body.get("detail")
            if len(dumps(detail)) > MAX_EVENT_DETAIL:
                detail = "(detail too long)"
            log.info("%s reports %s", device, kind)
            audit.append(conn, "device.event", device, event=kind, detail=detail)
        return None

    def _seal_reply(
        self,
        conn: sqlite3.Connection,
        device: str,
        key: bytes,
        req_seq: int,
        mtype: str,
        body: dict[str, Any] | None,
    ) -> bytes:
        seq = conn.execute("SELECT down_seq FROM devices WHERE id = ?", (device,)).fetchone()[0] + 1
        conn.execute("UPDATE devices SET down_seq = ? WHERE id = ?", (seq, device))
        payload = envelope.seal(key, device, envelope.DOWN, seq, mtype, body or {}, re=req_seq)
        conn.execute(
            "INSERT OR REPLACE INTO replies (device, req_seq, payload) VALUES (?, ?, ?)",
            (device, req_seq, payload),
        )
        return payload

    def _duplicate(self, device: str, msg: envelope.Message) -> None:
        with self.store.tx(durable=False) as conn:
            row = conn.execute(
                "SELECT payload FROM replies WHERE device = ? AND req_seq = ?", (device, msg.seq)
            ).fetchone()
            audit.append(
                conn,
                "message.duplicate",
                device,
                type=msg.type,
                seq=msg.seq,
                resent=row is not None,
            )
        log.info(
            "%s: duplicate seq %d (%s), %s",
            device,
            msg.seq,
            msg.type,
            "reply resent" if row else "no reply to resend",
        )
        if row is not None:
            self.publish(topics.down(self.station, device), bytes(row[0]))

    # -- refusals and notifications -------------------------------------------------

    def _refuse(self, device: str, err: ProtocolError, payload: bytes | None = None) -> None:
        mtype = seq = None
        if payload is not None:
            try:
                msg = envelope.parse(payload)
                mtype, seq = msg.type, msg.seq
            except ProtocolError:
                pass
        log.warning("refused message from %s (%s seq %s): %s", device, mtype, seq, err)
        self._audit_refusal(device, err.code, err.message[:200], mtype, seq)

    def _audit_refusal(
        self,
        device: str,
        code: str,
        reason: str,
        mtype: str | None = None,
        seq: int | None = None,
    ) -> None:
        try:
            with self.store.tx() as conn:
                audit.append(
                    conn, "message.refused", device, code=code, reason=reason, type=mtype, seq=seq
                )
        except Exception:
            log.exception("could not audit a refusal of %s", device)

    def _notify(self, what: str) -> None:
        for listener in list(self.listeners):
            try:
                listener(what)
            except Exception:
                log.exception("a change listener failed")
