"""ZhianTec R30x/R50x fingerprint modules: UART packets and the terminal's command layer.

Packets in both directions (see /work/shared/REFERENCES.md, "Peripherals")::

    EF 01 | address (4) | packet id (1) | length (2, BE) = payload + 2 | payload
          | checksum (2, BE) = low 16 bits of sum(packet id, length bytes, payload)

The codec (``encode_packet``, ``command``, ``PacketDecoder``, the confirmation codes'
messages and errors) runs on the terminal (MicroPython) and on hosts. Two command
layers share it:

* ``AsyncFingerprintSensor`` (here): asyncio, over the ``(reader, writer)`` pair of
  a board's UART; what the terminal firmware uses: VfyPwd, ReadSysPara, GenImg
  polling, Img2Tz, UpImage and UpChar. Multi-packet uploads go packet by packet to
  a callback, so the caller never holds more than one packet of an image it does
  not want to keep.
* ``drivers.fingerprint_host.FingerprintSensor``: synchronous, over any stream with
  ``read(n)``/``write(b)`` (pyserial on a host, a test stream), with the whole
  instruction set enrollment and identification need, the names of the other
  confirmation codes, acknowledges and multi-packet data as a module writes them.

The split is by heap, not by topic: this module is all a 96 KB terminal loads (and
drops again after each capture), so it holds only what the terminal uses.

Every wait is bounded by ``timeout_ms`` and raises ``SensorTimeout`` when it runs
out, also on a line that never stops sending garbage. Images are 256 x 288 pixels,
4 bits per pixel, two pixels a byte with the left pixel in the high nibble, rows
top to bottom (36,864 bytes).
"""

import struct

try:
    import asyncio
except ImportError:  # pragma: no cover - every supported interpreter has asyncio
    asyncio = None

try:
    from micropython import const
except ImportError:  # CPython

    def const(value):
        return value


# Milliseconds and their difference, on both interpreters (shared by both command layers).
try:
    import time

    ticks_ms = time.ticks_ms  # MicroPython
    ticks_diff = time.ticks_diff
except AttributeError:  # CPython
    import time

    def ticks_ms():
        return int(time.monotonic() * 1000)

    def ticks_diff(a, b):
        return a - b


HEADER = b"\xef\x01"
DEFAULT_ADDRESS = 0xFFFFFFFF
MAX_PAYLOAD = 512

COMMAND = 0x01
DATA = 0x02
ACK = 0x07
END_DATA = 0x08

# The instructions a terminal sends; the rest of the instruction set is in
# ``drivers.fingerprint_host``.
GEN_IMG = 0x01
IMG2TZ = 0x02
UP_CHAR = 0x08
UP_IMAGE = 0x0A
READ_SYS_PARA = 0x0F
VFY_PWD = 0x13

IMAGE_WIDTH = 256
IMAGE_HEIGHT = 288
IMAGE_BYTES = IMAGE_WIDTH * IMAGE_HEIGHT // 2  # 4 bits per pixel: 36,864

# The confirmation codes a terminal acts on; every code has its message below.
OK = 0x00
NO_FINGER = 0x02
IMAGE_FAIL = 0x03
DISORDERLY_IMAGE = 0x06
TOO_FEW_FEATURES = 0x07
NO_VALID_IMAGE = 0x15
ADDRESS_ERROR = 0x20
# Codes of GenImg/Img2Tz that say "this capture is no good, try again" rather than
# "the sensor is broken".
CAPTURE_FAILURES = (NO_FINGER, IMAGE_FAIL, DISORDERLY_IMAGE, TOO_FEW_FEATURES, NO_VALID_IMAGE)

# One string rather than a dict of 22: the terminal's heap counts every object.
_MESSAGES = (
    "\n00 ok"
    "\n01 sensor could not receive the packet"
    "\n02 no finger on the sensor"
    "\n03 could not take the finger image"
    "\n06 finger image too disorderly to use"
    "\n07 too few features in the finger image"
    "\n08 the fingers do not match"
    "\n09 no matching template in the library"
    "\n0A could not merge the two images into a template"
    "\n0B template page out of range"
    "\n0C template could not be read or is invalid"
    "\n0D template upload failed"
    "\n0E sensor cannot receive the following data packets"
    "\n0F image upload failed"
    "\n10 could not delete the template"
    "\n11 could not clear the template library"
    "\n13 wrong sensor password"
    "\n15 no valid image in the image buffer"
    "\n18 sensor flash write error"
    "\n1A invalid register number"
    "\n20 wrong sensor address"
    "\n21 password must be verified first"
    "\n"
)
_VALID_PIDS = (COMMAND, DATA, ACK, END_DATA)
_READ_SIZE = const(128)
_POLL_MS = const(100)
# The largest template a terminal accepts from UpChar (an ISO/IEC 19794-2 record of
# one view with 255 minutiae is 1,558 bytes).
_MAX_TEMPLATE = const(4096)


def message(code):
    """A clear message for confirmation ``code``."""
    at = _MESSAGES.find("\n%02X " % code) if 0 <= code <= 0xFF else -1
    if at < 0:
        return "unknown confirmation code 0x%02X" % code
    return _MESSAGES[at + 4 : _MESSAGES.find("\n", at + 1)]


class SensorError(Exception):
    """The sensor answered with a confirmation code other than ok (``code``)."""

    def __init__(self, code, text=None):
        super().__init__(text or "fingerprint sensor: %s (0x%02X)" % (message(code), code))
        self.code = code


class SensorTimeout(SensorError):
    """The sensor stayed silent (or sent only garbage) past the timeout."""

    def __init__(self, what):
        super().__init__(-1, "fingerprint sensor did not answer " + what)


class ProtocolError(SensorError):
    """The sensor answered with a packet that makes no sense here."""

    def __init__(self, text):
        super().__init__(-2, "fingerprint sensor: " + text)


def checksum(pid, length, payload):
    """Low 16 bits of the sum of packet id, both length bytes and the payload."""
    return (pid + (length >> 8) + (length & 0xFF) + sum(payload)) & 0xFFFF


def encode_packet(pid, payload, address=DEFAULT_ADDRESS):
    """Bytes of one packet."""
    payload = bytes(payload)
    if len(payload) > MAX_PAYLOAD:
        raise ValueError("payload of %d bytes exceeds %d" % (len(payload), MAX_PAYLOAD))
    length = len(payload) + 2
    return (
        HEADER
        + struct.pack(">IBH", address, pid, length)
        + payload
        + struct.pack(">H", checksum(pid, length, payload))
    )


def command(instruction, params=b"", address=DEFAULT_ADDRESS):
    """A command packet: instruction code then its parameters."""
    return encode_packet(COMMAND, bytes([instruction]) + bytes(params), address)


class PacketDecoder:
    """Turns a byte stream into packets; skips garbage and packets whose checksum fails."""

    def __init__(self):
        self.buf = b""
        self.bad_packets = 0
        self.skipped = 0

    def feed(self, data):
        """Add received bytes; return the list of complete ``(pid, address, payload)``."""
        self.buf += bytes(data)
        packets = []
        while True:
            start = self.buf.find(HEADER)
            if start < 0:
                keep = 1 if self.buf[-1:] == HEADER[:1] else 0
                self.skipped += len(self.buf) - keep
                self.buf = self.buf[len(self.buf) - keep :]
                return packets
            if start:
                self.skipped += start
                self.buf = self.buf[start:]
            if len(self.buf) < 9:
                return packets
            address, pid, length = struct.unpack(">IBH", self.buf[2:9])
            total = 9 + length
            if pid not in _VALID_PIDS or length < 2 or length > MAX_PAYLOAD + 2:
                good = False  # no packet looks like this: this header was noise
            elif len(self.buf) < total:
                return packets
            else:
                payload = self.buf[9 : total - 2]
                good = struct.unpack(">H", self.buf[total - 2 : total])[0] == checksum(
                    pid, length, payload)
            if not good:
                self.bad_packets += 1
                self.skipped += 1
                self.buf = self.buf[1:]
                continue
            packets.append((pid, address, bytes(payload)))
            self.buf = self.buf[total:]


class AsyncFingerprintSensor:
    """Terminal side of a ZhianTec module over an asyncio ``(reader, writer)`` pair.

    ``start()`` verifies the password and reads the packet size. Each method sends one
    command and waits at most ``timeout_ms`` for each packet of its answer; a silent
    line, a line of garbage and packets that fail their checksum all end in
    ``SensorTimeout``. Data packets arriving while an acknowledge is expected are the
    rest of an abandoned upload: they are skipped (``stale``).
    """

    def __init__(self, reader, writer, address=DEFAULT_ADDRESS, password=0, timeout_ms=1000):
        self.reader = reader
        self.writer = writer
        self.address = address
        self.password = password
        self.timeout_ms = timeout_ms
        self.decoder = PacketDecoder()
        self.pending = []
        self.stale = 0
        self.packet_size = 128

    async def _next_packet(self, what, timeout_ms):
        start = ticks_ms()
        while not self.pending:
            left = timeout_ms - ticks_diff(ticks_ms(), start)
            if left <= 0:
                raise SensorTimeout("%s within %d ms" % (what, timeout_ms))
            try:
                data = await asyncio.wait_for(self.reader.read(_READ_SIZE), left / 1000)
            except asyncio.TimeoutError:  # noqa: UP041 - MicroPython has no builtin TimeoutError
                continue
            if data:
                self.pending.extend(self.decoder.feed(data))
            else:
                # End of file: the line is unplugged. Look again shortly, within the bound.
                await asyncio.sleep(0.02)
        pid, address, payload = self.pending.pop(0)
        if address != self.address:
            raise SensorError(ADDRESS_ERROR, "fingerprint sensor: packet from address "
                              "0x%08X, expected 0x%08X" % (address, self.address))
        return pid, payload

    async def send(self, instruction, params=b""):
        """Send one command; packets still queued from earlier are thrown away."""
        self.stale += len(self.pending)
        self.pending = []
        self.writer.write(command(instruction, params, self.address))
        await self.writer.drain()

    async def read_ack(self, what):
        """``(code, data)`` of the next acknowledge, whatever its code."""
        start = ticks_ms()
        while True:
            left = self.timeout_ms - ticks_diff(ticks_ms(), start)
            pid, payload = await self._next_packet(what, max(1, left))
            if pid in (DATA, END_DATA):
                self.stale += 1
                continue
            if pid != ACK or not payload:
                raise ProtocolError(
                    "expected an acknowledge to %s, got packet id 0x%02X" % (what, pid))
            return payload[0], payload[1:]

    async def execute(self, instruction, params=b"", what="command"):
        """Send a command; return the data of its acknowledge, ``SensorError`` unless ok."""
        await self.send(instruction, params)
        code, data = await self.read_ack(what)
        if code != OK:
            raise SensorError(code)
        return data

    async def _upload(self, what, sink, limit):
        """Pass each data packet's payload to ``await sink(payload)``; return the byte count."""
        total = 0
        while True:
            pid, payload = await self._next_packet(what, self.timeout_ms)
            if pid not in (DATA, END_DATA):
                raise ProtocolError("packet id 0x%02X inside %s" % (pid, what))
            total += len(payload)
            if total > limit:
                raise ProtocolError("%s longer than %d bytes" % (what, limit))
            await sink(payload)
            if pid == END_DATA:
                return total

    async def start(self):
        """VfyPwd then ReadSysPara; return the sensor's data packet size in bytes."""
        await self.execute(VFY_PWD, struct.pack(">I", self.password), "VfyPwd")
        para = await self.execute(READ_SYS_PARA, b"", "ReadSysPara")
        if len(para) < 16:
            raise ProtocolError("system parameters of %d bytes" % len(para))
        code = (para[12] << 8) | para[13]  # 0..3: 32, 64, 128, 256 bytes
        if code < 4:
            self.packet_size = 32 << code
        return self.packet_size

    async def gen_img(self):
        """One GenImg; return its confirmation code (``OK``, ``NO_FINGER``, ...)."""
        await self.send(GEN_IMG)
        return (await self.read_ack("GenImg"))[0]

    async def wait_finger(self, timeout_ms, poll_ms=_POLL_MS):
        """Poll GenImg until a finger is imaged; ``SensorError(NO_FINGER)`` after ``timeout_ms``.

        Other capture failures (image fail, disorderly image) raise at once with their
        code; the caller decides whether the voter tries again.
        """
        start = ticks_ms()
        while True:
            code = await self.gen_img()
            if code == OK:
                return
            if code != NO_FINGER:
                raise SensorError(code)
            if ticks_diff(ticks_ms(), start) + poll_ms >= timeout_ms:
                raise SensorError(
                    NO_FINGER, "fingerprint sensor: no finger placed within %d ms" % timeout_ms)
            await asyncio.sleep(poll_ms / 1000)

    async def img2tz(self, buf=1):
        """Img2Tz: extract features of the image into char buffer ``buf``."""
        await self.execute(IMG2TZ, bytes((buf,)), "Img2Tz")

    async def up_image(self, sink, expected=IMAGE_BYTES):
        """UpImage: stream the image buffer to ``await sink(payload)``, packet by packet.

        Exactly ``expected`` bytes must arrive (else ``ProtocolError``); returns that count.
        """
        await self.execute(UP_IMAGE, b"", "UpImage")
        total = await self._upload("UpImage data", sink, expected)
        if total != expected:
            raise ProtocolError("image of %d bytes, expected %d" % (total, expected))
        return total

    async def up_char(self, buf, sink, limit=_MAX_TEMPLATE):
        """UpChar: stream the template in char buffer ``buf`` to ``await sink(payload)``;
        return its length."""
        await self.execute(UP_CHAR, bytes((buf,)), "UpChar")
        return await self._upload("UpChar data", sink, limit)
