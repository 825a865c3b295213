# Checks of the firmware's pure parts, run under CPython and MicroPython (see tests/dual.py).
import binascii
import hashlib
import os
import struct

from firmware import store
from firmware.apps.idterminal import result_screen
from firmware.apps.scanner import FALLBACK, message
from firmware.config import ConfigError, check
from firmware.fwinfo import fw_hash
from firmware.glyphs import GlyphFile
from firmware.mqtt import MQTTError, connect_packet, encode_length, parse_publish, publish_header
from firmware.outbox import Outbox
from firmware.seqstore import SeqStore
from protocol.canonical import dumps
from tests.dual import rmtree, run

TMP = "/tmp/shailoo-dual-" + binascii.hexlify(os.urandom(6)).decode()


def _fresh(name):
    path = TMP + "/" + name
    rmtree(path)
    store.makedirs(path)
    return path


def _raises(exc, func, *args):
    try:
        func(*args)
    except exc as err:
        return err
    raise AssertionError("expected %s" % exc.__name__)


def check_remaining_length_encoding():
    cases = {0: b"\x00", 127: b"\x7f", 128: b"\x80\x01", 16383: b"\xff\x7f",
             16384: b"\x80\x80\x01", 268435455: b"\xff\xff\xff\x7f"}
    for n in cases:
        assert encode_length(n) == cases[n], n
    _raises(MQTTError, encode_length, 268435456)
    _raises(MQTTError, encode_length, -1)


def check_connect_packet_layout():
    p = connect_packet("dev-1", 30, False, ("s/t", b"off", 1, True))
    assert p[0] == 0x10 and p[1] == len(p) - 2
    assert p[2:8] == b"\x00\x04MQTT" and p[8] == 4
    assert p[9] == 0x04 | 0x08 | 0x20  # will, will QoS 1, will retain; clean session off
    assert p[10:12] == b"\x00\x1e"
    assert p[12:19] == b"\x00\x05dev-1" and p[19:24] == b"\x00\x03s/t" and p[24:] == b"\x00\x03off"
    q = connect_packet("d", 5, True, None, "user", "pw")
    assert q[9] == 0x02 | 0x80 | 0x40


def check_publish_round_trip_and_malformed():
    head = publish_header("a/b", 5, 1, True, 300)
    assert head[0] == 0x33 and head[1] == 2 + 3 + 2 + 5
    topic, payload, qos, retain, pid = parse_publish(head[0], head[2:] + b"hello")
    assert (topic, payload, qos, retain, pid) == ("a/b", b"hello", 1, True, 300)
    _raises(MQTTError, parse_publish, 0x32, b"\x00\x09ab")  # topic runs past the end
    _raises(MQTTError, parse_publish, 0x32, b"\x00\x02ab")  # QoS 1 without packet id
    _raises(MQTTError, parse_publish, 0x36, b"\x00\x01a\x00\x01")  # QoS 3


def check_atomic_write_and_corrupt_state():
    d = _fresh("store")
    store.write_json(d + "/s.json", {"a": 1})
    assert store.read_json(d + "/s.json") == {"a": 1}
    assert not store.exists(d + "/s.json.tmp")
    assert store.read_json(d + "/missing.json", 7) == 7
    with open(d + "/bad.json", "wb") as f:
        f.write(b'{"a": ')
    err = _raises(ValueError, store.read_json, d + "/bad.json")
    assert "corrupt" in str(err)


def check_sequence_numbers_never_repeat_across_boots():
    d = _fresh("seq")
    path = d + "/seq.json"
    first = SeqStore(path, block=4)
    assert first.boot == 1
    used = [first.next() for _ in range(6)]  # crosses a block boundary
    assert used == [0, 1, 2, 3, 4, 5]
    second = SeqStore(path, block=4)  # power cut: the rest of the block is skipped
    assert second.boot == 2
    nxt = second.next()
    assert nxt > used[-1] and nxt == 8
    third = SeqStore(path, block=4)
    assert third.boot == 3 and third.next() > nxt
    with open(path, "wb") as f:
        f.write(b'{"boot": "x", "reserved": 1}')
    _raises(ValueError, SeqStore, path)


def _write_pieces(write, pieces):
    for piece in pieces:
        write(piece)


def _write_then_fail(write, text):
    write(text)
    raise RuntimeError("the writer broke off")


def check_outbox_order_durability_and_limits():
    d = _fresh("outbox")
    box = Outbox(d)
    box.add(12, '{"type":"ballot.dropped","body":{"sheet":"s-1-2"}}\n')
    box.add(3, "three\n")
    box.add(7, _write_pieces, ["se", "ven\n"])
    assert box.pending() == [3, 7, 12] and len(box) == 3
    assert box.read(7) == b"seven\n"
    # Read back in pieces of at most 256 bytes, which together are the entry.
    box.add(40, _write_pieces, ["y" * 100] * 6)
    pieces = box.read_pieces(40)
    assert [len(p) for p in pieces] == [256, 256, 88] and b"".join(pieces) == b"y" * 600
    box.remove(40)
    # A writer that fails half-way leaves no entry and no temporary file behind.
    _raises(RuntimeError, box.add, 41, _write_then_fail, "half")
    assert box.pending() == [3, 7, 12] and not store.exists(d + "/0000000000000041.msg.tmp")
    assert not store.exists(d + "/0000000000000041.msg")
    with open(d + "/0000000000000099.msg.tmp", "wb") as f:
        f.write(b"half written")
    again = Outbox(d)  # after a restart
    assert again.pending() == [3, 7, 12]
    assert not store.exists(d + "/0000000000000099.msg.tmp")
    assert again.find(b'"type":"ballot.dropped"', b'"sheet":"s-1-2"') == 12
    assert again.find(b'"type":"ballot.dropped"', b'"sheet":"s-1-3"') is None
    again.remove(3)
    again.remove(7)
    assert again.pending() == [12]
    _raises(ValueError, again.add, 20, "x" * 20000)
    # Written piece by piece, an oversized entry is refused just the same.
    _raises(ValueError, again.add, 21, _write_pieces, ["x" * 1000] * 17)
    assert Outbox(d).pending() == [12]
    assert not store.exists(d + "/0000000000000021.msg.tmp")


def _config(**changes):
    cfg = {"device": "term-1", "role": "idterminal", "station": "st-1", "key": "ab" * 32,
           "broker": {"host": "127.0.0.1", "port": 1883}, "board": "unix",
           "uart": {"mrz": "/dev/pts/1", "display": "/dev/pts/2"}, "keepalive": 30}
    for name in changes:
        if changes[name] is None:
            del cfg[name]
        else:
            cfg[name] = changes[name]
    return cfg


def check_config_errors_name_the_problem():
    ok = check(_config())
    assert ok["reply_timeout"] == 20 and ok["decision_timeout"] == 15
    assert "'key'" in str(_raises(ConfigError, check, _config(key="zz" * 32)))
    assert "'device'" in str(_raises(ConfigError, check, _config(device="Term 1")))
    assert "'station'" in str(_raises(ConfigError, check, _config(station=None)))
    assert "broker.port" in str(_raises(ConfigError, check, _config(broker={"host": "h",
                                                                          "port": 70000})))
    assert "'scan'" in str(_raises(ConfigError, check, _config(role="scanner")))
    assert "'role'" in str(_raises(ConfigError, check, _config(role="printer")))
    assert "keepalive" in str(_raises(ConfigError, check, _config(keepalive=True)))
    assert check(_config(future_key=1))["device"] == "term-1"  # unknown keys only warn


# A DER certificate's outer shape: SEQUENCE, two-byte length, then that many bytes.
_DER = b"\x30\x82\x01\x00" + bytes(256)


def check_broker_ca_is_checked():
    ca = binascii.b2a_base64(_DER).decode().strip()
    assert check(_config(broker={"host": "h", "port": 8883, "ca": ca}))["broker"]["ca"] == ca
    for bad, word in (
        (5, "base64 DER"),
        ("", "base64 DER"),
        ("A" * 5000, "at most"),
        ("-----BEGIN CERTIFICATE-----", "base64"),
        ("@@@@", "base64"),
        (binascii.b2a_base64(b"not a certificate").decode(), "not a DER certificate"),
        (binascii.b2a_base64(_DER[:100]).decode(), "truncated"),
        (binascii.b2a_base64(_DER + b"extra").decode(), "truncated or has bytes after"),
    ):
        cfg = _config(broker={"host": "h", "port": 8883, "ca": bad})
        message = str(_raises(ConfigError, check, cfg))
        assert "broker.ca" in message and word in message, message
    empty_password = _config(broker={"host": "h", "port": 1, "password": ""})
    assert "broker.password" in str(_raises(ConfigError, check, empty_password))


def check_terminal_peripheral_keys():
    ok = check(_config())
    assert (ok["finger_kind"], ok["finger_attempts"], ok["finger_timeout"], ok["slip_wait"]) == (
        "zhiantec-image", 3, 10, 120)
    uart = {"mrz": "/dev/a", "display": "/dev/b", "finger": "/dev/c", "printer": "/dev/d"}
    assert check(_config(uart=uart, finger_kind="iso19794-2"))["finger_kind"] == "iso19794-2"
    assert "finger_kind" in str(_raises(ConfigError, check, _config(finger_kind="png")))
    assert "finger_attempts" in str(_raises(ConfigError, check, _config(finger_attempts=0)))
    assert "slip_wait" in str(_raises(ConfigError, check, _config(slip_wait=-1)))
    bad = dict(uart)
    bad["printer"] = 7
    assert "uart.printer" in str(_raises(ConfigError, check, _config(uart=bad)))


def check_firmware_hash_is_the_canonical_json_hash():
    for files in ({}, {"a.py": "00" * 32}, {"z/b.mpy": "ab" * 32, "a.py": "cd" * 32}):
        whole = binascii.hexlify(hashlib.sha256(dumps({"files": files, "version": "9.1"})).digest())
        assert fw_hash(files, "9.1") == whole.decode()


def _glyph_file(name, count=2, height=2, magic=b"SGL1", width=3, offset=None, cut=0,
                claim=None):
    """A glyph file of ``count`` glyphs "A", "B"... (each ``width`` x ``height``); its
    header says ``claim`` glyphs when given."""
    path = _fresh("glyphs") + "/" + name
    size = (width + 7) // 8 * height
    index = b""
    data = b""
    start = 7 + 7 * count
    for n in range(count):
        at = start + len(data) if offset is None else offset
        index += struct.pack(">HBI", 0x41 + n, width, at)
        data += bytes((0xA0 | (n & 0x0F),)) * size
    raw = magic + struct.pack(">BH", height, count if claim is None else claim) + index + data
    with open(path, "wb") as f:
        f.write(raw[: len(raw) - cut])
    return path


def check_glyph_file_reads_glyphs_one_by_one():
    glyphs = GlyphFile(_glyph_file("good.bin", count=5))
    assert glyphs.height == 2 and glyphs.count == 5
    assert glyphs.get("A") == (3, b"\xa0\xa0")
    assert glyphs.get("E") == (3, b"\xa4\xa4")
    assert glyphs.get("z") is None and glyphs.get("z", 1) == 1
    assert glyphs.width_of("ABE") == 9 and glyphs.width_of("A?z") == 3  # no "?" glyph either
    glyphs.close()


def check_glyph_file_refuses_broken_and_forged_files():
    for kwargs in ({"magic": b"GIF8"}, {"count": 0}, {"height": 0}, {"height": 200},
                   {"claim": 2000}, {"claim": 3}, {"cut": 3 + 4}):
        try:
            GlyphFile(_glyph_file("bad.bin", **kwargs))
        except ValueError as err:
            assert "glyph file" in str(err), err
        else:
            raise AssertionError("accepted %r" % (kwargs,))
    # An index that points past the end, a glyph wider than any letter.
    glyphs = GlyphFile(_glyph_file("far.bin", offset=10**6))
    assert "damaged" in str(_raises(ValueError, glyphs.get, "A"))
    glyphs.close()
    glyphs = GlyphFile(_glyph_file("wide.bin", width=200))
    assert "damaged" in str(_raises(ValueError, glyphs.get, "B"))
    glyphs.close()
    _raises(OSError, GlyphFile, TMP + "/no-such-glyphs.bin")


def check_result_screen_refuses_malformed_answers():
    good = {"txn": "t-1-1", "status": "issued", "voter": {"row": 3, "name": "A B"},
            "style": "s", "reason": ""}
    shown = result_screen("t-1-1", good)
    assert shown == {"txn": "t-1-1", "status": "issued", "row": 3, "name": "A B",
                     "style": "s", "reason": ""}
    assert result_screen("t-1-2", good) is None  # an answer to another transaction
    bad = dict(good)
    bad["status"] = "maybe"
    assert result_screen("t-1-1", bad) is None
    odd = dict(good)
    odd["voter"] = "nobody"
    odd["style"] = 5
    assert result_screen("t-1-1", odd)["row"] is None and result_screen("t-1-1", odd)[
        "style"] is None


def check_scanner_texts_are_read_from_the_flash_file():
    store.makedirs(TMP)
    path = TMP + "/texts.txt"
    with open(path, "w") as f:
        f.write("a\tfirst\nab\tsecond \u04a3\u04e9\u04af\r\nbroken line without a tab\n")
    assert message(path, "a") == "first"
    assert message(path, "ab") == "second \u04a3\u04e9\u04af"  # a key is not a prefix
    assert message(path, "b") == FALLBACK
    assert message(path, "broken") == FALLBACK
    assert message(path, "b", "given") == "given"
    assert message(TMP + "/no-such-texts.txt", "a") == FALLBACK


def check_zz_cleanup():
    rmtree(TMP)


run(globals())
