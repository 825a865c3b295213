"""ZhianTec R30x/R50x fingerprint modules: UART packets and a command layer.

Packets in both directions (see /work/shared/REFERENCES.md, "Peripherals")::

    EF 01 | address (4) | packet id (1) | length (2, BE) = payload + 2 | payload
          | checksum (2, BE) = low 16 bits of sum(packet id, length bytes, payload)

The codec (``encode_packet``, ``PacketDecoder``, data split/join) runs on the
terminal (MicroPython) and in the host simulator. Two command layers share it:

* ``FingerprintSensor``: synchronous, over any stream with ``read(n)``/``write(b)``
  (pyserial on a host, a test stream);
* ``AsyncFingerprintSensor``: asyncio, over the ``(reader, writer)`` pair of a
  board's UART; what the terminal firmware uses. Multi-packet uploads (UpImage,
  UpChar) go packet by packet to a callback, so the caller never holds more than
  one packet of an image it does not want to keep.

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
    import time

    _ticks_ms = time.ticks_ms  # MicroPython
    _ticks_diff = time.ticks_diff
except AttributeError:  # CPython
    import time

    def _ticks_ms():
        return int(time.monotonic() * 1000)

    def _ticks_diff(a, b):
        return a - b


HEADER = b"\xef\x01"
DEFAULT_ADDRESS = 0xFFFFFFFF
MAX_PAYLOAD = 512

COMMAND = 0x01
DATA = 0x02
ACK = 0x07
END_DATA = 0x08

GEN_IMG = 0x01
IMG2TZ = 0x02
MATCH = 0x03
SEARCH = 0x04
REG_MODEL = 0x05
STORE = 0x06
LOAD_CHAR = 0x07
UP_CHAR = 0x08
DOWN_CHAR = 0x09
UP_IMAGE = 0x0A
DOWN_IMAGE = 0x0B
DELET_CHAR = 0x0C
EMPTY = 0x0D
SET_SYS_PARA = 0x0E
READ_SYS_PARA = 0x0F
SET_PWD = 0x12
VFY_PWD = 0x13
GET_RANDOM_CODE = 0x14
SET_ADDR = 0x15
HIGH_SPEED_SEARCH = 0x1B
TEMPLATE_NUM = 0x1D
READ_INDEX_TABLE = 0x1F
GET_ECHO = 0x53

IMAGE_WIDTH = 256
IMAGE_HEIGHT = 288
IMAGE_BYTES = IMAGE_WIDTH * IMAGE_HEIGHT // 2  # 4 bits per pixel: 36,864

OK = 0x00
RECEIVE_ERROR = 0x01
NO_FINGER = 0x02
IMAGE_FAIL = 0x03
DISORDERLY_IMAGE = 0x06
TOO_FEW_FEATURES = 0x07
NO_MATCH = 0x08
NOT_FOUND = 0x09
MERGE_FAIL = 0x0A
BAD_PAGE = 0x0B
BAD_TEMPLATE = 0x0C
UPLOAD_FAIL = 0x0D
CANNOT_RECEIVE = 0x0E
IMAGE_UPLOAD_FAIL = 0x0F
DELETE_FAIL = 0x10
CLEAR_FAIL = 0x11
WRONG_PASSWORD = 0x13
NO_VALID_IMAGE = 0x15
FLASH_ERROR = 0x18
BAD_REGISTER = 0x1A
ADDRESS_ERROR = 0x20
MUST_VERIFY_PASSWORD = 0x21

MESSAGES = {
    OK: "ok",
    RECEIVE_ERROR: "sensor could not receive the packet",
    NO_FINGER: "no finger on the sensor",
    IMAGE_FAIL: "could not take the finger image",
    DISORDERLY_IMAGE: "finger image too disorderly to use",
    TOO_FEW_FEATURES: "too few features in the finger image",
    NO_MATCH: "the fingers do not match",
    NOT_FOUND: "no matching template in the library",
    MERGE_FAIL: "could not merge the two images into a template",
    BAD_PAGE: "template page out of range",
    BAD_TEMPLATE: "template could not be read or is invalid",
    UPLOAD_FAIL: "template upload failed",
    CANNOT_RECEIVE: "sensor cannot receive the following data packets",
    IMAGE_UPLOAD_FAIL: "image upload failed",
    DELETE_FAIL: "could not delete the template",
    CLEAR_FAIL: "could not clear the template library",
    WRONG_PASSWORD: "wrong sensor password",
    NO_VALID_IMAGE: "no valid image in the image buffer",
    FLASH_ERROR: "sensor flash write error",
    BAD_REGISTER: "invalid register number",
    ADDRESS_ERROR: "wrong sensor address",
    MUST_VERIFY_PASSWORD: "password must be verified first",
}


def message(code):
    """A clear message for confirmation ``code``."""
    return MESSAGES.get(code, "unknown confirmation code 0x%02X" % code)


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


def ack(code, data=b"", address=DEFAULT_ADDRESS):
    """An acknowledge packet: confirmation code then its data."""
    return encode_packet(ACK, bytes([code]) + bytes(data), address)


_VALID_PIDS = (COMMAND, DATA, ACK, END_DATA)


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
            if pid not in _VALID_PIDS or length < 2 or length > MAX_PAYLOAD + 2:
                # No packet looks like this: this header was noise.
                self.bad_packets += 1
                self.skipped += 1
                self.buf = self.buf[1:]
                continue
            total = 9 + length
            if len(self.buf) < total:
                return packets
            payload = self.buf[9 : total - 2]
            (got,) = struct.unpack(">H", self.buf[total - 2 : total])
            if got != checksum(pid, length, payload):
                self.bad_packets += 1
                self.skipped += 1
                self.buf = self.buf[1:]
                continue
            packets.append((pid, address, bytes(payload)))
            self.buf = self.buf[total:]


PACKET_SIZES = (32, 64, 128, 256)


def split_data(blob, packet_size=128, address=DEFAULT_ADDRESS):
    """Bytes of the data packets carrying ``blob``; the last one has id 08."""
    blob = bytes(blob)
    out = []
    n = len(blob)
    pos = 0
    while True:
        chunk = blob[pos : pos + packet_size]
        pos += packet_size
        last = pos >= n
        out.append(encode_packet(END_DATA if last else DATA, chunk, address))
        if last:
            return b"".join(out)


class DataCollector:
    """Reassembles a multi-packet transfer: ``add(pid, payload)`` is True once complete."""

    def __init__(self):
        self.parts = []
        self.done = False

    def add(self, pid, payload):
        if pid not in (DATA, END_DATA):
            raise ProtocolError("packet id 0x%02X inside a data transfer" % pid)
        self.parts.append(payload)
        if pid == END_DATA:
            self.done = True
        return self.done

    def data(self):
        return b"".join(self.parts)


def join_data(packets):
    """Payload bytes of a list of ``(pid, address, payload)`` data packets ending with 08."""
    c = DataCollector()
    for pid, _address, payload in packets:
        if c.add(pid, payload):
            return c.data()
    raise ProtocolError("data transfer without its end packet")


SYS_PARA_FIELDS = (
    "status",
    "system_id",
    "library_size",
    "security_level",
    "address",
    "packet_size",
    "baud_rate",
)


def parse_sys_para(data):
    """The 16 bytes of ReadSysPara as a dict (packet size in bytes, baud in bit/s)."""
    if len(data) < 16:
        raise ProtocolError("system parameters of %d bytes" % len(data))
    values = struct.unpack(">HHHHIHH", data[:16])
    out = {}
    for i in range(len(SYS_PARA_FIELDS)):
        out[SYS_PARA_FIELDS[i]] = values[i]
    out["packet_size"] = 32 << out["packet_size"] if out["packet_size"] < 4 else 0
    out["baud_rate"] = out["baud_rate"] * 9600
    return out


def sys_para_bytes(
    library_size=200,
    security_level=3,
    address=DEFAULT_ADDRESS,
    packet_size=128,
    baud_rate=57600,
    status=0,
    system_id=0,
):
    """The 16 bytes of ReadSysPara (for the simulator and tests)."""
    code = PACKET_SIZES.index(packet_size)
    return struct.pack(
        ">HHHHIHH",
        status,
        system_id,
        library_size,
        security_level,
        address,
        code,
        baud_rate // 9600,
    )


class FingerprintSensor:
    """Terminal side of a ZhianTec module over ``stream`` (``read(n)``, ``write(b)``)."""

    def __init__(self, stream, address=DEFAULT_ADDRESS, password=0, timeout_ms=1000):
        self.stream = stream
        self.address = address
        self.password = password
        self.timeout_ms = timeout_ms
        self.decoder = PacketDecoder()
        self.pending = []

    # -- low level -----------------------------------------------------------
    def _next_packet(self, what, timeout_ms=None):
        timeout_ms = self.timeout_ms if timeout_ms is None else timeout_ms
        start = _ticks_ms()
        while not self.pending:
            if _ticks_diff(_ticks_ms(), start) >= timeout_ms:
                raise SensorTimeout("%s within %d ms" % (what, timeout_ms))
            data = self.stream.read(64)
            if data:
                self.pending.extend(self.decoder.feed(data))
        pid, address, payload = self.pending.pop(0)
        if address != self.address:
            raise SensorError(
                ADDRESS_ERROR,
                "fingerprint sensor: packet from address "
                "0x%08X, expected 0x%08X" % (address, self.address),
            )
        return pid, payload

    def send(self, instruction, params=b""):
        """Send one command; no answer is read."""
        self.pending = []
        self.stream.write(command(instruction, params, self.address))

    def read_ack(self, what, check=True, timeout_ms=None):
        """``(code, data)`` of the next acknowledge; raises ``SensorError`` unless ok."""
        pid, payload = self._next_packet(what, timeout_ms)
        if pid != ACK or not payload:
            raise ProtocolError("expected an acknowledge to %s, got packet id 0x%02X" % (what, pid))
        code = payload[0]
        if check and code != OK:
            raise SensorError(code)
        return code, payload[1:]

    def execute(self, instruction, params=b"", what="command", timeout_ms=None):
        """Send a command and return the data of its ok acknowledge."""
        self.send(instruction, params)
        return self.read_ack(what, True, timeout_ms)[1]

    def read_data(self, what):
        """The reassembled bytes of a multi-packet transfer from the sensor."""
        c = DataCollector()
        while True:
            pid, payload = self._next_packet(what)
            if c.add(pid, payload):
                return c.data()

    # -- instructions --------------------------------------------------------
    def verify_password(self):
        self.execute(VFY_PWD, struct.pack(">I", self.password), "VfyPwd")
        return True

    def set_password(self, password):
        self.execute(SET_PWD, struct.pack(">I", password), "SetPwd")
        self.password = password

    def gen_img(self):
        self.execute(GEN_IMG, b"", "GenImg")

    def img2tz(self, buf):
        self.execute(IMG2TZ, bytes([buf]), "Img2Tz")

    def reg_model(self):
        self.execute(REG_MODEL, b"", "RegModel")

    def store(self, buf, page):
        self.execute(STORE, struct.pack(">BH", buf, page), "Store")

    def load_char(self, buf, page):
        self.execute(LOAD_CHAR, struct.pack(">BH", buf, page), "LoadChar")

    def delete(self, page, count=1):
        self.execute(DELET_CHAR, struct.pack(">HH", page, count), "DeletChar")

    def empty(self):
        self.execute(EMPTY, b"", "Empty")

    def _search(self, instruction, buf, start, count, what):
        data = self.execute(instruction, struct.pack(">BHH", buf, start, count), what)
        if len(data) < 4:
            raise ProtocolError("%s answer of %d bytes" % (what, len(data)))
        return struct.unpack(">HH", data[:4])

    def search(self, buf, start, count):
        """``(page, score)`` of the best match; ``SensorError(NOT_FOUND)`` if none."""
        return self._search(SEARCH, buf, start, count, "Search")

    def high_speed_search(self, buf, start, count):
        return self._search(HIGH_SPEED_SEARCH, buf, start, count, "HighSpeedSearch")

    def match(self):
        """Score of buffers 1 and 2; ``SensorError(NO_MATCH)`` if they differ."""
        data = self.execute(MATCH, b"", "Match")
        if len(data) < 2:
            raise ProtocolError("Match answer of %d bytes" % len(data))
        return struct.unpack(">H", data[:2])[0]

    def up_char(self, buf):
        self.execute(UP_CHAR, bytes([buf]), "UpChar")
        return self.read_data("UpChar data")

    def down_char(self, buf, data, packet_size=128):
        self.execute(DOWN_CHAR, bytes([buf]), "DownChar")
        self.stream.write(split_data(data, packet_size, self.address))

    def up_image(self):
        self.execute(UP_IMAGE, b"", "UpImage")
        return self.read_data("UpImage data")

    def down_image(self, image, packet_size=128):
        self.execute(DOWN_IMAGE, b"", "DownImage")
        self.stream.write(split_data(image, packet_size, self.address))

    def read_sys_para(self):
        return parse_sys_para(self.execute(READ_SYS_PARA, b"", "ReadSysPara"))

    def template_count(self):
        data = self.execute(TEMPLATE_NUM, b"", "TemplateNum")
        if len(data) < 2:
            raise ProtocolError("TemplateNum answer of %d bytes" % len(data))
        return struct.unpack(">H", data[:2])[0]

    def read_index_table(self, page=0):
        """Set of used template pages in index page ``page`` (256 templates each)."""
        data = self.execute(READ_INDEX_TABLE, bytes([page]), "ReadIndexTable")
        used = set()
        for i, byte in enumerate(data):
            for bit in range(8):
                if byte & (1 << bit):
                    used.add(page * 256 + i * 8 + bit)
        return used

    def get_random_code(self):
        return struct.unpack(">I", self.execute(GET_RANDOM_CODE, b"", "GetRandomCode")[:4])[0]


# -- the asyncio command layer (the terminal) ----------------------------------------

READ_SIZE = 128
# The largest template a terminal accepts from UpChar (an ISO/IEC 19794-2 record of
# one view with 255 minutiae is 1,558 bytes).
MAX_TEMPLATE = 4096
POLL_MS = 100
# Confirmation codes of GenImg/Img2Tz that say "this capture is no good, try again"
# rather than "the sensor is broken".
CAPTURE_FAILURES = (NO_FINGER, IMAGE_FAIL, DISORDERLY_IMAGE, TOO_FEW_FEATURES, NO_VALID_IMAGE)


class AsyncFingerprintSensor:
    """Terminal side of a ZhianTec module over an asyncio ``(reader, writer)`` pair.

    ``start()`` verifies the password and reads the system parameters (packet size).
    Each method sends one command and waits at most ``timeout_ms`` for each packet of
    its answer; a silent line, a line of garbage and packets that fail their checksum
    all end in ``SensorTimeout``. Data packets arriving while an acknowledge is
    expected are the rest of an abandoned upload: they are skipped (``stale``).
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
        self.params = None

    # -- low level -----------------------------------------------------------
    async def _read(self, limit_ms):
        try:
            return await asyncio.wait_for(self.reader.read(READ_SIZE), limit_ms / 1000)
        except asyncio.TimeoutError:  # noqa: UP041 - MicroPython has no builtin TimeoutError
            return None

    async def _next_packet(self, what, timeout_ms=None):
        timeout_ms = self.timeout_ms if timeout_ms is None else timeout_ms
        start = _ticks_ms()
        while not self.pending:
            left = timeout_ms - _ticks_diff(_ticks_ms(), start)
            if left <= 0:
                raise SensorTimeout("%s within %d ms" % (what, timeout_ms))
            data = await self._read(left)
            if data:
                self.pending.extend(self.decoder.feed(data))
            elif data is not None:
                # End of file: the line is unplugged. Look again shortly, within the bound.
                await asyncio.sleep(0.02)
        pid, address, payload = self.pending.pop(0)
        if address != self.address:
            raise SensorError(
                ADDRESS_ERROR,
                "fingerprint sensor: packet from address "
                "0x%08X, expected 0x%08X" % (address, self.address),
            )
        return pid, payload

    async def send(self, instruction, params=b""):
        """Send one command; packets still queued from earlier are thrown away."""
        self.stale += len(self.pending)
        self.pending = []
        self.writer.write(command(instruction, params, self.address))
        await self.writer.drain()

    async def read_ack(self, what, timeout_ms=None):
        """``(code, data)`` of the next acknowledge, whatever its code."""
        timeout_ms = self.timeout_ms if timeout_ms is None else timeout_ms
        start = _ticks_ms()
        while True:
            left = timeout_ms - _ticks_diff(_ticks_ms(), start)
            pid, payload = await self._next_packet(what, max(1, left))
            if pid in (DATA, END_DATA):
                self.stale += 1
                continue
            if pid != ACK or not payload:
                raise ProtocolError(
                    "expected an acknowledge to %s, got packet id 0x%02X" % (what, pid))
            return payload[0], payload[1:]

    async def execute(self, instruction, params=b"", what="command", timeout_ms=None):
        """Send a command; return the data of its acknowledge, ``SensorError`` unless ok."""
        await self.send(instruction, params)
        code, data = await self.read_ack(what, timeout_ms)
        if code != OK:
            raise SensorError(code)
        return data

    async def _upload(self, what, sink, limit):
        """Pass each data packet's payload to ``await sink(payload)``; return the byte count."""
        total = 0
        while True:
            pid, payload = await self._next_packet(what)
            if pid not in (DATA, END_DATA):
                raise ProtocolError("packet id 0x%02X inside %s" % (pid, what))
            total += len(payload)
            if total > limit:
                raise ProtocolError("%s longer than %d bytes" % (what, limit))
            await sink(payload)
            if pid == END_DATA:
                return total

    # -- what a terminal does ------------------------------------------------
    async def start(self):
        """VfyPwd then ReadSysPara; return the parameters (also kept in ``params``)."""
        await self.execute(VFY_PWD, struct.pack(">I", self.password), "VfyPwd")
        self.params = parse_sys_para(await self.execute(READ_SYS_PARA, b"", "ReadSysPara"))
        if self.params["packet_size"]:
            self.packet_size = self.params["packet_size"]
        return self.params

    async def gen_img(self):
        """One GenImg; return its confirmation code (``OK``, ``NO_FINGER``, ...)."""
        await self.send(GEN_IMG)
        return (await self.read_ack("GenImg"))[0]

    async def wait_finger(self, timeout_ms, poll_ms=POLL_MS):
        """Poll GenImg until a finger is imaged; ``SensorError(NO_FINGER)`` after ``timeout_ms``.

        Other capture failures (image fail, disorderly image) raise at once with their
        code; the caller decides whether the voter tries again.
        """
        start = _ticks_ms()
        while True:
            code = await self.gen_img()
            if code == OK:
                return
            if code != NO_FINGER:
                raise SensorError(code)
            if _ticks_diff(_ticks_ms(), start) + poll_ms >= timeout_ms:
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

    async def up_char(self, buf=1, sink=None, limit=MAX_TEMPLATE):
        """UpChar: the template in char buffer ``buf``, streamed to ``sink`` or returned."""
        await self.execute(UP_CHAR, bytes((buf,)), "UpChar")
        if sink is not None:
            return await self._upload("UpChar data", sink, limit)
        parts = []

        async def keep(payload):
            parts.append(payload)

        await self._upload("UpChar data", keep, limit)
        return b"".join(parts)

    async def template_count(self):
        data = await self.execute(TEMPLATE_NUM, b"", "TemplateNum")
        if len(data) < 2:
            raise ProtocolError("TemplateNum answer of %d bytes" % len(data))
        return struct.unpack(">H", data[:2])[0]
