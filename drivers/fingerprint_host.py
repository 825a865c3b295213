"""ZhianTec R30x/R50x fingerprint modules on a host: the synchronous command layer.

``FingerprintSensor`` drives a module over any stream with ``read(n)``/``write(b)``
(pyserial on a workstation or enrollment station, a test stream), with the
instruction set that enrollment and identification need: GenImg, Img2Tz, RegModel,
Store, LoadChar, Search, HighSpeedSearch, Match, UpChar, DownChar, UpImage,
DownImage, DeletChar, Empty, TemplateNum, ReadIndexTable, ReadSysPara, VfyPwd,
SetPwd, GetRandomCode. Every read is bounded by ``timeout_ms`` and raises
``SensorTimeout`` when it runs out. The packets, codes and errors are those of
``drivers.fingerprint``; multi-packet data (``split_data``, ``join_data``) and the
system parameter block (``sys_para_bytes``) are written here. This module runs under
CPython and MicroPython, but the terminal uses the asyncio layer and never loads it.
"""

import struct

from drivers.fingerprint import (
    ACK,
    ADDRESS_ERROR,
    DATA,
    DEFAULT_ADDRESS,
    END_DATA,
    GEN_IMG,
    IMG2TZ,
    OK,
    READ_SYS_PARA,
    UP_CHAR,
    UP_IMAGE,
    VFY_PWD,
    PacketDecoder,
    ProtocolError,
    SensorError,
    SensorTimeout,
    command,
    encode_packet,
    ticks_diff,
    ticks_ms,
)

# The instructions only a host sends (a terminal's are in ``drivers.fingerprint``).
TEMPLATE_NUM = 0x1D
MATCH = 0x03
SEARCH = 0x04
REG_MODEL = 0x05
STORE = 0x06
LOAD_CHAR = 0x07
DOWN_CHAR = 0x09
DOWN_IMAGE = 0x0B
DELET_CHAR = 0x0C
EMPTY = 0x0D
SET_SYS_PARA = 0x0E
SET_PWD = 0x12
GET_RANDOM_CODE = 0x14
SET_ADDR = 0x15
HIGH_SPEED_SEARCH = 0x1B
READ_INDEX_TABLE = 0x1F
GET_ECHO = 0x53

# The confirmation codes a terminal does not act on (their messages are in
# ``drivers.fingerprint.message``, with those of the codes it does).
RECEIVE_ERROR = 0x01
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
FLASH_ERROR = 0x18
BAD_REGISTER = 0x1A
MUST_VERIFY_PASSWORD = 0x21


def ack(code, data=b"", address=DEFAULT_ADDRESS):
    """An acknowledge packet (what a module sends): confirmation code then its data."""
    return encode_packet(ACK, bytes([code]) + bytes(data), address)


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


# -- multi-packet data and system parameters, as a host (or the simulator) writes them

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
        start = ticks_ms()
        while not self.pending:
            if ticks_diff(ticks_ms(), start) >= timeout_ms:
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
