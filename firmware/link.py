"""The device's uplink to the station controller over MQTT.

* Every message is sealed with the device key (``protocol.envelope``) under a
  fresh sequence number and published with QoS 1 to ``.../dev/<device>/up``.
* ``send`` is for messages that may be lost with a power cut (image chunks,
  events); ``send_durable`` first writes the sealed message to the outbox and the
  delivery task sends it, in order, until the broker acknowledged it.
* Replies arrive on ``.../ctl/<device>``. Each is parsed, its tag checked under the
  device key, its ``dev``/``dir`` checked, and its controller sequence number run
  through a replay window; anything else is logged and dropped. A reply is matched
  to its request by ``re``. The window is not kept across restarts: a replayed old
  reply can only name a request ``seq`` that is never issued again, so nobody waits
  for it.
* Presence: a retained ``online`` status on every connect, the will publishes
  ``offline``. ``hello`` (role, firmware version, firmware hash, boot counter)
  follows every connect.
* The status is a signed envelope (type ``status``) whose ``seq`` is a status
  counter: each connect takes a fresh number ``c`` from the sequence store (strictly
  increasing across restarts), the statuses of that connection carry ``c * 1024 + n``
  and its will ``c * 1024 + 1023``. The will is thus newer than every status of its
  connection and older than any of the next, so the controller, which takes only a
  counter above the last it accepted, never takes an old status replayed.
* Faults of the device's peripherals (``set_fault(part, code)``: a printer out of
  paper, a jammed scan engine) ride in that retained status as ``"faults": {part:
  code}``, republished whenever they change, so the station's dashboard shows what
  is wrong with a device even after the controller restarts.
"""

import asyncio
import binascii
import gc

try:
    from micropython import const
except ImportError:  # CPython

    def const(value):
        return value


from firmware.mqtt import MQTTClient
from protocol import envelope
from protocol.canonical import dumps
from protocol.errors import ProtocolError
from protocol.messages import HELLO, HELLO_ACK
from protocol.replay import DUPLICATE, NEW, ReplayWindow

# Replies that arrived before anyone waited for them (e.g. after a restart); each
# holds about 1 KB of a small heap, so only a few are kept.
_KEPT_REPLIES = const(4)
_MAX_INCOMING = const(8192)
# Status counters per connection; the last one is the will's.
_STATUS_SLOTS = const(1024)


def _log(*args):
    print("[link]", *args)


class Link:
    """Signs, sends, receives and verifies the device's messages."""

    def __init__(self, config, seqstore, outbox, fw, tls=None):
        """``tls``: the broker's TLS context (made at boot, ``firmware.main``); None
        connects in clear. User name and password come from ``config["broker"]``."""
        self.device = config["device"]
        self.station = config["station"]
        self.role = config["role"]
        self.key = binascii.unhexlify(config["key"])
        self.seqstore = seqstore
        self.outbox = outbox
        self.fw = fw
        self.faults = {}
        # Imported here, used once: the device drops the module after boot.
        from protocol import topics

        self.up_topic = topics.up(self.station, self.device)
        self.down_topic = topics.down(self.station, self.device)
        self.status_topic = topics.status(self.station, self.device)
        broker = config["broker"]
        if tls is None:
            _log("no broker CA in the configuration: connecting WITHOUT TLS")
        self.mqtt = MQTTClient(
            self.device,
            broker["host"],
            broker["port"],
            keepalive=config["keepalive"],
            clean=False,
            will=self._will,
            username=broker.get("username"),
            password=broker.get("password"),
            tls=tls,
            on_message=self._on_message,
            on_connect=self._on_connect,
            max_incoming=_MAX_INCOMING,
        )
        self.mqtt.subscribe(self.down_topic, 1)
        self.window = ReplayWindow(64)
        self.hello_ack = None
        self._status_base = 0
        self._status_n = 0
        self.refused = 0
        self._replies = {}
        self._order = []
        self._arrived = asyncio.Event()
        self.handlers = {}
        self._faults_changed = asyncio.Event()
        # The lowest free heap seen (garbage not yet collected counts as used) where a
        # message is at its largest: sealed, read back for delivery, received. An app
        # sets it to the free heap when it starts a step and reads it at the end.
        self.low = 0

    def _sample(self):
        free = gc.mem_free()
        if free < self.low:
            self.low = free

    def _status(self, state, counter):
        """The signed status envelope with ``counter``."""
        status = {"fw": self.fw["version"], "role": self.role, "state": state}
        if self.faults and state == "online":
            status["faults"] = self.faults
        return envelope.seal(self.key, self.device, envelope.UP, counter, envelope.STATUS, status)

    def _will(self):
        """The will of the connection about to open (``MQTTClient`` asks at each connect)."""
        self._status_base = self.seqstore.next() * _STATUS_SLOTS
        self._status_n = 0
        offline = self._status("offline", self._status_base + _STATUS_SLOTS - 1)
        return (self.status_topic, offline, 1, True)

    async def _publish_status(self):
        """Publish the retained ``online`` status under the connection's next counter."""
        if self._status_n >= _STATUS_SLOTS - 1:
            # Every counter below the will's is used: a new connection brings new ones.
            self.mqtt._drop("status counters of this connection used up")
            return
        counter = self._status_base + self._status_n
        self._status_n += 1
        await self.mqtt.publish(self.status_topic, self._status("online", counter), 1, True)

    def set_fault(self, part, code):
        """Report a fault of ``part`` (e.g. ``"printer"``, ``"paper-out"``); None clears it."""
        if self.faults.get(part) == code:
            return
        faults = dict(self.faults)
        if code is None:
            faults.pop(part, None)
        else:
            faults[part] = code
        self.faults = faults
        _log("faults now %s" % (dumps(faults).decode(),))
        self._faults_changed.set()

    async def _report_faults(self):
        """Republish the retained status after each change of ``faults``."""
        while True:
            await self._faults_changed.wait()
            self._faults_changed.clear()
            try:
                await self._publish_status()
            except Exception as err:  # noqa: BLE001 - the next connect publishes it again
                _log("status not published:", err)

    # ---- sending ----------------------------------------------------------

    def seal(self, mtype, body, attachment=b""):
        """Seal a message under the next sequence number; return ``(seq, head, attachment)``."""
        seq = self.seqstore.next()
        head, att = envelope.seal_parts(
            self.key, self.device, envelope.UP, seq, mtype, body, None, attachment
        )
        return seq, head, att

    async def send(self, mtype, body, attachment=b""):
        """Seal and publish (QoS 1, not durable); return the seq after the broker's PUBACK."""
        seq, head, att = self.seal(mtype, body, attachment)
        await self.mqtt.publish(self.up_topic, head, 1, False, att)
        return seq

    def send_durable(self, mtype, body, seq=None):
        """Seal the message and store it in the outbox; return its seq once it is durable.

        ``seq`` may be taken beforehand from ``seqstore.next()`` when the app has to
        record it (e.g. in its own journal) before the message exists.
        """
        if seq is None:
            seq = self.seqstore.next()
        # Sealed straight into the outbox file, a piece at a time: a request is the
        # largest thing a terminal writes, and its heap has no contiguous kilobyte.
        self.outbox.add(seq, envelope.seal_to, self.key, self.device, envelope.UP, seq, mtype,
                        body)
        self._sample()
        return seq

    async def _deliver(self):
        """Publish outbox entries oldest first; remove each after its PUBACK."""
        while True:
            pending = self.outbox.pending()
            if not pending:
                self.outbox.changed.clear()
                await self.outbox.changed.wait()
                continue
            seq = pending[0]
            try:
                payload = self.outbox.read_pieces(seq)
            except OSError as err:
                _log("outbox entry %d unreadable (%s); set aside" % (seq, err))
                self.outbox.quarantine(seq)
                continue
            self._sample()
            await self.mqtt.publish(self.up_topic, payload, 1)
            self.outbox.remove(seq)
            _log("delivered outbox seq %d" % seq)

    async def _on_connect(self, session):
        try:
            await self._publish_status()
            body = {
                "role": self.role,
                "fw": self.fw["version"],
                "fw_hash": self.fw["fw_hash"],
                "boot": self.seqstore.boot,
            }
            await self.send(HELLO, body)
        except Exception as err:  # noqa: BLE001 - logged; the next connect says hello again
            _log("hello failed:", err)

    async def run(self):
        """Keep the connection up and deliver the outbox (forever)."""
        asyncio.create_task(self._deliver())
        asyncio.create_task(self._report_faults())
        await self.mqtt.run()

    # ---- receiving --------------------------------------------------------

    def _on_message(self, topic, payload, retained):
        if topic != self.down_topic:
            return
        try:
            msg = envelope.parse(payload, _MAX_INCOMING)
            if msg.dev != self.device:
                raise ProtocolError("malformed", "message for device %s" % msg.dev)
            if msg.dir != envelope.DOWN:
                raise ProtocolError("malformed", "message direction %s" % msg.dir)
            msg.verify(self.key)
            self._sample()
        except ProtocolError as err:
            self.refused += 1
            _log("refused a message:", err)
            return
        verdict = self.window.accept(msg.seq)
        if verdict != NEW:
            self.refused += 1
            _log("ignored %s controller seq %d" % (
                "duplicate" if verdict == DUPLICATE else "stale", msg.seq))
            return
        handler = self.handlers.get(msg.type)
        if msg.type == HELLO_ACK:
            self.hello_ack = msg.body
            _log("controller says:", dumps(msg.body).decode())
        elif handler is not None:
            handler(msg)
        elif msg.re is not None:
            self._keep(msg)
        else:
            _log("unsolicited %s ignored" % msg.type)

    def _keep(self, msg):
        if msg.re not in self._replies:
            self._order.append(msg.re)
        self._replies[msg.re] = msg
        while len(self._order) > _KEPT_REPLIES:
            self._replies.pop(self._order.pop(0), None)
        self._arrived.set()
        self._arrived = asyncio.Event()

    def take_reply(self, seq):
        """The reply to ``seq`` if it has arrived (removed from the buffer), else None."""
        msg = self._replies.pop(seq, None)
        if msg is not None:
            self._order.remove(seq)
        return msg

    async def reply(self, seq, timeout=None):
        """Wait for the reply to request ``seq``; None after ``timeout`` seconds."""
        try:
            return await asyncio.wait_for(self._wait_reply(seq), timeout) if timeout else (
                await self._wait_reply(seq))
        except asyncio.TimeoutError:  # noqa: UP041 - MicroPython has no builtin TimeoutError
            return None

    async def _wait_reply(self, seq):
        while True:
            msg = self.take_reply(seq)
            if msg is not None:
                return msg
            await self._arrived.wait()
