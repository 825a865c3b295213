# Checks of the ZhianTec fingerprint packet codec, run under CPython and MicroPython.
import binascii

from drivers import fingerprint as fp
from tests.dual import run


def h(text):
    return binascii.unhexlify(text.replace(" ", ""))


def check_gen_img_bytes():
    assert fp.command(fp.GEN_IMG) == h("EF01FFFFFFFF010003010005")


def check_no_finger_ack():
    assert fp.ack(fp.NO_FINGER) == h("EF01FFFFFFFF07000302000C")
    d = fp.PacketDecoder()
    assert d.feed(h("EF01FFFFFFFF07000302000C")) == [(fp.ACK, 0xFFFFFFFF, b"\x02")]


def check_bad_checksum_counted_not_returned():
    d = fp.PacketDecoder()
    assert d.feed(h("EF01FFFFFFFF07000302000D")) == []
    assert d.bad_packets == 1


def check_resync_after_garbage():
    d = fp.PacketDecoder()
    good = fp.ack(fp.OK, b"\x00\x07")
    out = d.feed(b"\x00\xef\xef\x01\x12" + good[:5])
    assert out == []
    out = d.feed(good[5:] + b"\xef" + fp.command(fp.GEN_IMG, b"", 0x12345678))
    assert out == [(fp.ACK, 0xFFFFFFFF, b"\x00\x00\x07"), (fp.COMMAND, 0x12345678, b"\x01")]
    assert d.skipped > 0


def check_byte_by_byte():
    d = fp.PacketDecoder()
    got = []
    for b in fp.command(fp.SEARCH, b"\x01\x00\x00\x00\xc8"):
        got.extend(d.feed(bytes([b])))
    assert got == [(fp.COMMAND, 0xFFFFFFFF, b"\x04\x01\x00\x00\x00\xc8")]


def check_split_join():
    blob = bytes(range(256)) * 3 + b"xyz"
    wire = fp.split_data(blob, 128)
    packets = fp.PacketDecoder().feed(wire)
    assert len(packets) == 7
    assert [p[0] for p in packets] == [fp.DATA] * 6 + [fp.END_DATA]
    assert fp.join_data(packets) == blob
    one = fp.PacketDecoder().feed(fp.split_data(b"ab", 32))
    assert one == [(fp.END_DATA, 0xFFFFFFFF, b"ab")]


def check_messages_and_errors():
    for code in (1, 2, 3, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 19, 21, 24, 26, 32, 33):
        assert code in fp.MESSAGES, code
        err = fp.SensorError(code)
        assert err.code == code
        assert fp.MESSAGES[code] in str(err)
    assert "0x99" in fp.message(0x99)
    assert isinstance(fp.SensorTimeout("x"), fp.SensorError)


def check_sys_para():
    p = fp.parse_sys_para(fp.sys_para_bytes(library_size=200, packet_size=128))
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
    s = _Stream(b"\x00\x01" + fp.ack(fp.OK, b"\x00\x05\x00\x64"))
    sensor = fp.FingerprintSensor(s, timeout_ms=100)
    assert sensor.search(1, 0, 200) == (5, 100)
    assert s.sent == fp.command(fp.SEARCH, b"\x01\x00\x00\x00\xc8")
    s = _Stream(fp.ack(fp.NO_FINGER))
    run_err = None
    try:
        fp.FingerprintSensor(s, timeout_ms=100).gen_img()
    except fp.SensorError as err:
        run_err = err
    assert run_err is not None and run_err.code == fp.NO_FINGER
    try:
        fp.FingerprintSensor(_Stream(b""), timeout_ms=30).gen_img()
        raise AssertionError("no timeout")
    except fp.SensorTimeout as err:
        assert "30 ms" in str(err)


run(globals())
