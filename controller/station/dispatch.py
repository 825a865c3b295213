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

One table, ``ROUTES``, says for every message type and sender role who may send it,
how it is committed, what answers it, what the dashboard refreshes, and the handlers
that prepare it (before the transaction), apply it (inside) and follow it up (after
the reply). Adding a message type is adding a row. Blobs go by the sender's role: a
scanner's are ballot images (``controller.intake``), a terminal's are fingers
(``controller.checkin.finger_samples``), which the ``checkin.request`` of the same
transaction references; the sample goes to ``check_in`` and is then dropped.

Device faults (a printer out of paper, a jammed scan engine) come in the retained
status message as ``"faults": {part: code}``; ``faults()`` has the latest of each
device, and every change is written to the audit log.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from controller.checkin.check_in import check_in
from controller.checkin.finger_samples import Fingers
from controller.intake.sheets import Intake
from controller.polls.state import polls_state
from controller.station import reply_cache
from controller.station.registry import ForgedStatus, Registry
from controller.store import audit
from controller.store.database import Store
from protocol import envelope, messages, topics
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
# A route's handlers: ``prepare`` runs before the write transaction (work that must not
# hold the write lock, such as reading an image, or that lives only in memory, such as
# chunks) and hands its result to ``apply``, which runs inside it and returns the
# reply's body; ``after`` runs once the transaction is committed and the reply sent.
Prepare = Callable[["Dispatcher", str, envelope.Message, str], Any]
Apply = Callable[
    ["Dispatcher", sqlite3.Connection, str, envelope.Message, str, Any], "dict[str, Any] | None"
]
After = Callable[["Dispatcher", str, envelope.Message], None]


@dataclass(frozen=True)
class Route:
    """How one message type from devices of one role is handled."""

    type: str
    role: str | None  # only devices of this role may send it (None: any device)
    durable: bool  # commit with synchronous=FULL
    gated: bool  # refused from a quarantined device
    reply: str | None  # type of the reply, if any
    change: str | None  # what the dashboard should refresh
    prepare: Prepare | None = None
    apply: Apply | None = None
    after: After | None = None


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
        except ForgedStatus as err:
            # Not the device's word: logged, and neither presence nor faults change. Not
            # audited: whoever can write the topic could otherwise fill the audit log.
            log.warning("ignored a status of %s (%s): %s", device, err.code, err.message[:200])
            return
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

        prepared = route.prepare(self, device, msg, polls) if route.prepare else None
        with self.store.tx(durable=route.durable) as conn:
            window = _load_window(conn, device)
            if window.accept(msg.seq) != NEW:
                raise ProtocolError("replayed", f"seq {msg.seq} arrived twice at once")
            body = None
            if route.apply is not None:
                body = route.apply(self, conn, device, msg, polls_state(conn), prepared)
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
        if route.after is not None:
            route.after(self, device, msg)
        if route.change:
            self._notify(route.change)

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
        cached, answer = payload, None
        if mtype == messages.CHECKIN_RESULT:
            # A check-in's answer names the voter: it is cached without the name, which a
            # resend looks up again and seals under the same seq (``_resend``): the same
            # bytes, and this table never holds a name.
            cached, answer = b"", json.dumps({"seq": seq, "body": reply_cache.thin(body or {})})
        conn.execute(
            "INSERT OR REPLACE INTO replies (device, req_seq, payload, answer) VALUES (?, ?, ?, ?)",
            (device, req_seq, cached, answer),
        )
        return payload

    def _resend(self, conn: sqlite3.Connection, device: str, req_seq: int) -> bytes | None:
        """The cached reply to ``req_seq`` (a check-in's sealed again, with the name and the
        same seq: the bytes sent the first time), or None."""
        row = conn.execute(
            "SELECT payload, answer FROM replies WHERE device = ? AND req_seq = ?",
            (device, req_seq),
        ).fetchone()
        if row is None:
            return None
        if row[1] is None:
            return bytes(row[0])
        spec = self.registry.spec(device)
        assert spec is not None  # only a device of the setup gets this far
        answer = json.loads(row[1])
        body = reply_cache.full(conn, answer["body"])
        return envelope.seal(
            spec.key, device, envelope.DOWN, answer["seq"], messages.CHECKIN_RESULT, body,
            re=req_seq,
        )

    def _duplicate(self, device: str, msg: envelope.Message) -> None:
        with self.store.tx(durable=False) as conn:
            reply = self._resend(conn, device, msg.seq)
            audit.append(
                conn,
                "message.duplicate",
                device,
                type=msg.type,
                seq=msg.seq,
                resent=reply is not None,
            )
        log.info(
            "%s: duplicate seq %d (%s), %s",
            device,
            msg.seq,
            msg.type,
            "reply resent" if reply else "no reply to resend",
        )
        if reply is not None:
            self.publish(topics.down(self.station, device), reply)

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


# -- the handlers of the routes ----------------------------------------------------


def _apply_hello(
    d: Dispatcher, conn: sqlite3.Connection, device: str, msg: envelope.Message, polls: str,
    prepared: Any,
) -> dict[str, Any]:
    body = msg.body
    ack = d.registry.on_hello(conn, device, body, polls)
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


def _take_finger(d: Dispatcher, device: str, msg: envelope.Message, polls: str) -> Any:
    body = msg.body
    return d.fingers.take(device, body.get("txn"), body.get("finger"), body.get("finger_status"))


def _apply_checkin(
    d: Dispatcher, conn: sqlite3.Connection, device: str, msg: envelope.Message, polls: str,
    prepared: Any,
) -> dict[str, Any]:
    finger, finger_status = prepared
    return check_in(conn, device, msg.body, polls, finger=finger, finger_status=finger_status)


def _drop_finger(d: Dispatcher, device: str, msg: envelope.Message) -> None:
    # The sample served this check-in only; it is not kept.
    if isinstance(msg.body.get("txn"), str):
        d.fingers.discard(device, msg.body["txn"])


def _finger_begin(d: Dispatcher, device: str, msg: envelope.Message, polls: str) -> None:
    d.fingers.begin(device, msg.body)


def _finger_chunk(d: Dispatcher, device: str, msg: envelope.Message, polls: str) -> None:
    d.fingers.chunk(device, msg.body, msg.attachment)


def _finger_end(d: Dispatcher, device: str, msg: envelope.Message, polls: str) -> None:
    sample = d.fingers.end(device, msg.body)
    # Debug only: a timed line per voter in the station's log is a list of check-in times.
    log.debug("%s: finger %s of %d bytes", device, sample.kind, len(sample.data))


def _sheet_begin(d: Dispatcher, device: str, msg: envelope.Message, polls: str) -> None:
    d.intake.begin(device, msg.body)


def _sheet_chunk(d: Dispatcher, device: str, msg: envelope.Message, polls: str) -> None:
    d.intake.chunk(device, msg.body, msg.attachment)


def _read_sheet(d: Dispatcher, device: str, msg: envelope.Message, polls: str) -> Any:
    return d.intake.prepare_end(device, msg.body, polls)


def _apply_sheet_end(
    d: Dispatcher, conn: sqlite3.Connection, device: str, msg: envelope.Message, polls: str,
    prepared: Any,
) -> dict[str, Any]:
    return d.intake.apply_end(conn, device, prepared, msg.body["blob"], polls)


def _apply_dropped(
    d: Dispatcher, conn: sqlite3.Connection, device: str, msg: envelope.Message, polls: str,
    prepared: Any,
) -> dict[str, Any]:
    return d.intake.dropped(conn, device, msg.body, polls)


def _apply_returned(
    d: Dispatcher, conn: sqlite3.Connection, device: str, msg: envelope.Message, polls: str,
    prepared: Any,
) -> dict[str, Any]:
    return d.intake.returned(conn, device, msg.body)


def _apply_event(
    d: Dispatcher, conn: sqlite3.Connection, device: str, msg: envelope.Message, polls: str,
    prepared: Any,
) -> None:
    kind = msg.body.get("kind")
    if not isinstance(kind, str) or not 0 < len(kind) <= 40:
        raise ProtocolError("malformed", "event kind must be short text")
    detail = msg.body.get("detail")
    if len(dumps(detail)) > MAX_EVENT_DETAIL:
        detail = "(detail too long)"
    log.info("%s reports %s", device, kind)
    audit.append(conn, "device.event", device, event=kind, detail=detail)


M = messages
# Every message a device may send, one row each: who may send it, how it is committed,
# what it is answered with, what the dashboard refreshes, and its handlers. A
# terminal's blobs are fingers, kept in memory until the check-in that references
# them; a scanner's are ballot images.
ROUTES: tuple[Route, ...] = (
    #     type                 role          durable gated  reply                change
    Route(M.HELLO,             None,         True,  False, M.HELLO_ACK,         "devices",
          apply=_apply_hello),
    Route(M.CHECKIN_REQUEST,   "idterminal", True,  True,  M.CHECKIN_RESULT,    "checkin",
          prepare=_take_finger, apply=_apply_checkin, after=_drop_finger),
    Route(M.BLOB_BEGIN,        "idterminal", False, True,  None,                None,
          prepare=_finger_begin),
    Route(M.BLOB_CHUNK,        "idterminal", False, True,  None,                None,
          prepare=_finger_chunk),
    Route(M.BLOB_END,          "idterminal", False, True,  None,                None,
          prepare=_finger_end),
    Route(M.BLOB_BEGIN,        "scanner",    False, True,  None,                None,
          prepare=_sheet_begin),
    Route(M.BLOB_CHUNK,        "scanner",    False, True,  None,                None,
          prepare=_sheet_chunk),
    Route(M.BLOB_END,          "scanner",    True,  True,  M.BALLOT_DECISION,   "ballots",
          prepare=_read_sheet, apply=_apply_sheet_end),
    Route(M.BALLOT_DROPPED,    "scanner",    True,  True,  M.BALLOT_RECORDED,   "ballots",
          apply=_apply_dropped),
    Route(M.BALLOT_RETURNED,   "scanner",    True,  True,  M.BALLOT_VOIDED,     "ballots",
          apply=_apply_returned),
    Route(M.EVENT,             None,         True,  False, None,                "devices",
          apply=_apply_event),
)  # fmt: skip


def route_for(mtype: str, role: str) -> Route | None:
    """How a message of ``mtype`` from a device of ``role`` is handled: its row for that
    role; else a row of another role (which the dispatcher refuses as ``wrong_role``);
    None for a type no device may send."""
    rows = [r for r in ROUTES if r.type == mtype]
    for row in rows:
        if row.role is None or row.role == role:
            return row
    return rows[0] if rows else None
