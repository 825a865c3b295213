# Checks of the ZhianTec fingerprint packet codec and both command layers, run under
# CPython and MicroPython.
import asyncio
import binascii
import hashlib

from drivers import fingerprint as fp
from drivers import fingerprint_host as fph
from drivers.fingerprint_host import FingerprintSensor
from tests.dual import run


def h(text):
    return binascii.unhexlify(text.replace(" ", ""))


def check_gen_img_bytes():
    assert fp.command(fp.GEN_IMG) == h("EF01FFFFFFFF010003010005")


def check_no_finger_ack():
    assert fph.ack(fp.NO_FINGER) == h("EF01FFFFFFFF07000302000C")
    d = fp.PacketDecoder()
    assert d.feed(h("EF01FFFFFFFF07000302000C")) == [(fp.ACK, 0xFFFFFFFF, b"\x02")]


def check_bad_checksum_counted_not_returned():
    d = fp.PacketDecoder()
    assert d.feed(h("EF01FFFFFFFF07000302000D")) == []
    assert d.bad_packets == 1


def check_resync_after_garbage():
    d = fp.PacketDecoder()
    good = fph.ack(fp.OK, b"\x00\x07")
    out = d.feed(b"\x00\xef\xef\x01\x12" + good[:5])
    assert out == []
    out = d.feed(good[5:] + b"\xef" + fp.command(fp.GEN_IMG, b"", 0x12345678))
    assert out == [(fp.ACK, 0xFFFFFFFF, b"\x00\x00\x07"), (fp.COMMAND, 0x12345678, b"\x01")]
    assert d.skipped > 0


def check_byte_by_byte():
    d = fp.PacketDecoder()
    got = []
    for b in fp.command(fph.SEARCH, b"\x01\x00\x00\x00\xc8"):
        got.extend(d.feed(bytes([b])))
    assert got == [(fp.COMMAND, 0xFFFFFFFF, b"\x04\x01\x00\x00\x00\xc8")]


def check_split_join():
    blob = bytes(range(256)) * 3 + b"xyz"
    wire = fph.split_data(blob, 128)
    packets = fp.PacketDecoder().feed(wire)
    assert len(packets) == 7
    assert [p[0] for p in packets] == [fp.DATA] * 6 + [fp.END_DATA]
    assert fph.join_data(packets) == blob
    one = fp.PacketDecoder().feed(fph.split_data(b"ab", 32))
    assert one == [(fp.END_DATA, 0xFFFFFFFF, b"ab")]


def check_messages_and_errors():
    for code in (1, 2, 3, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 19, 21, 24, 26, 32, 33):
        text = fp.message(code)
        assert text and not text.startswith("unknown"), code
        err = fp.SensorError(code)
        assert err.code == code
        assert text in str(err)
    assert fp.message(fp.NO_FINGER) == "no finger on the sensor"
    assert fp.message(fph.MUST_VERIFY_PASSWORD) == "password must be verified first"
    assert fp.message(0) == "ok"
    assert "0x99" in fp.message(0x99) and "0x04" in fp.message(4)
    assert isinstance(fp.SensorTimeout("x"), fp.SensorError)


def check_sys_para():
    p = fph.parse_sys_para(fph.sys_para_bytes(library_size=200, packet_size=128))
    assert p["library_size"] == 200
    assert p["packet_size"] == 128
    assert p["baud_rate"] == 57600
    assert p["address"] == 0xFFFFFFFF


class _Stream:
    def __init__(self, data):
        self.data = data
        self.sent = b""

    def read(self, n):
        out, self.data = self.data[:n], self.data[n:]
        return out

    def write(self, b):
        self.sent += b


def check_sensor_over_fake_stream():
    s = _Stream(b"\x00\x01" + fph.ack(fp.OK, b"\x00\x05\x00\x64"))
    sensor = FingerprintSensor(s, timeout_ms=100)
    assert sensor.search(1, 0, 200) == (5, 100)
    assert s.sent == fp.command(fph.SEARCH, b"\x01\x00\x00\x00\xc8")
    s = _Stream(fph.ack(fp.NO_FINGER))
    run_err = None
    try:
        FingerprintSensor(s, timeout_ms=100).gen_img()
    except fp.SensorError as err:
        run_err = err
    assert run_err is not None and run_err.code == fp.NO_FINGER
    try:
        FingerprintSensor(_Stream(b""), timeout_ms=30).gen_img()
        raise AssertionError("no timeout")
    except fp.SensorTimeout as err:
        assert "30 ms" in str(err)


# -- the asyncio command layer over scripted streams ----------------------------------


class _AsyncStream:
    """A UART as asyncio sees it: ``answers`` is a list of byte strings handed out one
    per command written (b"" for silence); ``babble`` returns garbage on every read."""

    def __init__(self, answers, babble=b"", piece=50):
        self.answers = list(answers)
        self.inbox = b""
        self.pos = 0
        self.sent = []
        self.babble = babble
        self.piece = piece

    async def read(self, n):
        while True:
            if self.babble:
                await asyncio.sleep(0)
                return self.babble[:n]
            if self.pos < len(self.inbox):
                end = self.pos + min(n, self.piece)
                out = self.inbox[self.pos : end]
                self.pos = end
                return out
            await asyncio.sleep(0.005)

    def write(self, data):
        self.sent.append(bytes(data))
        if self.answers:
            self.inbox = self.inbox[self.pos :] + self.answers.pop(0)
            self.pos = 0

    async def drain(self):
        pass


def _sensor(answers, timeout_ms=200, **kw):
    stream = _AsyncStream(answers, **kw)
    return fp.AsyncFingerprintSensor(stream, stream, timeout_ms=timeout_ms), stream


def _arun(coro):
    return asyncio.run(coro)


def _error(coro):
    try:
        _arun(coro)
    except fp.SensorError as err:
        return err
    raise AssertionError("no SensorError")


def check_async_start_reads_packet_size():
    para = fph.sys_para_bytes(library_size=150, packet_size=256)
    sensor, stream = _sensor([fph.ack(fp.OK), b"\xff\x00" + fph.ack(fp.OK, para)])
    assert _arun(sensor.start()) == 256 == sensor.packet_size
    assert stream.sent == [fp.command(fp.VFY_PWD, b"\x00\x00\x00\x00"),
                           fp.command(fp.READ_SYS_PARA)]


def check_async_wrong_password_is_a_clear_error():
    sensor, _ = _sensor([fph.ack(fph.WRONG_PASSWORD)])
    err = _error(sensor.start())
    assert err.code == fph.WRONG_PASSWORD and "wrong sensor password" in str(err)


def check_async_wait_finger_polls_until_the_finger_comes():
    no = fph.ack(fp.NO_FINGER)
    sensor, stream = _sensor([no, no, no, fph.ack(fp.OK)])
    _arun(sensor.wait_finger(2000, poll_ms=10))
    assert stream.sent == [fp.command(fp.GEN_IMG)] * 4


def check_async_wait_finger_gives_up_after_its_timeout():
    sensor, stream = _sensor([fph.ack(fp.NO_FINGER)] * 100)
    err = _error(sensor.wait_finger(120, poll_ms=20))
    assert err.code == fp.NO_FINGER and "within 120 ms" in str(err)
    assert 2 <= len(stream.sent) <= 8


def check_async_image_fail_is_raised_at_once():
    sensor, stream = _sensor([fph.ack(fp.IMAGE_FAIL)])
    err = _error(sensor.wait_finger(2000))
    assert err.code == fp.IMAGE_FAIL and len(stream.sent) == 1


# An eighth of a sensor image keeps these checks inside a small heap; the full 36,864
# bytes go over a pty against the simulated module in tests/hil.
SMALL = fp.IMAGE_BYTES // 8


def _image():
    out = bytearray(SMALL)
    for n in range(SMALL // 32):
        out[n * 32 : n * 32 + 32] = hashlib.sha256(bytes((n & 0xFF, n >> 8))).digest()
    return bytes(out)


def check_async_up_image_streams_packet_by_packet():
    image = _image()
    wire = fph.ack(fp.OK) + fph.split_data(image, 128)
    sensor, _ = _sensor([wire], piece=97)
    seen = []
    digest = hashlib.sha256()

    async def sink(payload):
        seen.append(len(payload))
        digest.update(payload)

    assert _arun(sensor.up_image(sink, SMALL)) == SMALL
    assert seen == [128] * 36
    assert digest.digest() == hashlib.sha256(image).digest()


def check_async_up_image_refuses_short_and_long_images():
    async def sink(payload):
        pass

    short = fph.ack(fp.OK) + fph.split_data(bytes(1000), 128)
    err = _error(_sensor([short])[0].up_image(sink))
    assert isinstance(err, fp.ProtocolError) and "1000 bytes" in str(err)
    # A forged transfer that never ends must stop at the limit, not fill the heap.
    endless = fph.ack(fp.OK) + fp.encode_packet(fp.DATA, bytes(128)) * 300
    err = _error(_sensor([endless])[0].up_image(sink))
    assert isinstance(err, fp.ProtocolError) and "longer than" in str(err)


def check_async_lost_data_packet_is_detected():
    image = _image()
    wire = bytearray(fph.ack(fp.OK) + fph.split_data(image, 128))
    wire[12 + 139 * 5 + 50] ^= 0x40  # inside the sixth data packet: its checksum fails
    sensor, _ = _sensor([bytes(wire)])

    async def sink(payload):
        pass

    err = _error(sensor.up_image(sink, SMALL))
    assert "%d bytes" % (SMALL - 128) in str(err), err
    assert sensor.decoder.bad_packets >= 1


def check_async_up_char_returns_the_template():
    template = bytes(range(256)) * 2
    sensor, stream = _sensor([fph.ack(fp.OK) + fph.split_data(template, 64)])
    parts = []

    async def keep(payload):
        parts.append(payload)

    assert _arun(sensor.up_char(1, keep)) == len(template)
    assert b"".join(parts) == template
    assert stream.sent == [fp.command(fp.UP_CHAR, b"\x01")]


def check_async_silence_times_out():
    sensor, _ = _sensor([b""], timeout_ms=60)
    err = _error(sensor.start())
    assert isinstance(err, fp.SensorTimeout) and "VfyPwd within 60 ms" in str(err)


def check_async_babble_times_out():
    sensor, _ = _sensor([], timeout_ms=80, babble=b"\x55\xef\x01\xff" * 16)
    err = _error(sensor.gen_img())
    assert isinstance(err, fp.SensorTimeout) and "GenImg" in str(err)


def check_async_garbage_then_answer_and_stale_data_skipped():
    answer = b"\x00\x13\xef" + fp.encode_packet(fp.DATA, b"old") + fph.ack(fp.NO_FINGER)
    sensor, _ = _sensor([answer])
    assert _arun(sensor.gen_img()) == fp.NO_FINGER
    assert sensor.stale == 1 and sensor.decoder.skipped >= 3


def check_async_short_system_parameters_are_refused():
    sensor, _ = _sensor([fph.ack(fp.OK), fph.ack(fp.OK, b"\x00" * 9)])
    err = _error(sensor.start())
    assert isinstance(err, fp.ProtocolError) and "9 bytes" in str(err)


def check_async_foreign_address_is_an_error():
    sensor, _ = _sensor([fph.ack(fp.OK, b"", 0x12345678)])
    err = _error(sensor.gen_img())
    assert err.code == fp.ADDRESS_ERROR


run(globals())
