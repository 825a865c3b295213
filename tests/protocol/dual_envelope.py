# Checks of the wire contract, run under CPython and MicroPython (see tests/dual.py).
import binascii

from protocol import blob, canonical, envelope
from protocol.hmac_sha256 import Hmac, equal, hmac_sha256
from protocol.replay import DUPLICATE, NEW, STALE, ReplayWindow
from tests.dual import raises, run

KEY = bytes(range(32))


def check_hmac_rfc4231():
    # RFC 4231 test cases 1, 2 and 6 (key longer than a block).
    assert binascii.hexlify(hmac_sha256(b"\x0b" * 20, b"Hi There")) == (
        b"b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
    )
    assert binascii.hexlify(hmac_sha256(b"Jefe", b"what do ya want ", b"for nothing?")) == (
        b"5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    )
    big = hmac_sha256(b"\xaa" * 131, b"Test Using Larger Than Block-Size Key - Hash Key First")
    assert binascii.hexlify(big) == (
        b"60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
    )


def check_equal():
    assert equal(b"abc", b"abc")
    assert not equal(b"abc", b"abd")
    assert not equal(b"abc", b"ab")


def check_canonical_spelling():
    value = {"b": [1, -2, True, False, None], "a": 'q"\\\n\t\x01', "ж": "ң ө ү \U0001f5f3"}
    expected = (
        b'{"a":"q\\"\\\\\\n\\t\\u0001","b":[1,-2,true,false,null],'
        b'"\\u0436":"\\u04a3 \\u04e9 \\u04af \\ud83d\\uddf3"}'
    )
    assert canonical.dumps(value) == expected, canonical.dumps(value)


def check_canonical_refuses_floats_and_depth():
    raises("malformed", canonical.dumps, {"x": 1.5})
    deep = []
    for _ in range(40):
        deep = [deep]
    raises("malformed", canonical.dumps, deep)
    raises("malformed", canonical.dumps, {1: "non-string key"})


def check_seal_parse_verify():
    payload = envelope.seal(KEY, "term-01", "up", 7, "checkin.request", {"txn": "t1"}, re=None)
    msg = envelope.parse(payload)
    msg.verify(KEY)
    assert msg.dev == "term-01" and msg.seq == 7 and msg.type == "checkin.request"
    assert msg.body == {"txn": "t1"} and msg.re is None and msg.attachment == b""


def check_hmac_in_pieces_is_the_hmac_of_the_whole():
    mac = Hmac(b"Jefe")
    for piece in ("what do ya", b" want ", "", "for nothing?"):
        mac.update(piece)
    assert mac.digest() == hmac_sha256(b"Jefe", b"what do ya want for nothing?")


def check_sealed_in_pieces_is_the_sealed_message():
    # A check-in request as a terminal writes it to flash: many short pieces, no piece
    # longer than its longest field, together the very bytes of the sealed message.
    lines = ["IDKGZAN1234567<<<<<<<<<<<<<<<<", "9001011M3001017KGZ<<<<<<<<<<<6",
             "\u0421\u042b\u0414\u042b\u041a\u041e\u0412<<\u0427\u042b\u04a2"]
    body = {"txn": "desk-a-1-17", "mrz": lines, "doc": {"surname": "\u0421\u044b" * 20,
            "checks": {"number": True, "birth": False}, "valid": False},
            "finger": None, "finger_status": "no_sensor"}
    pieces = []
    envelope.seal_to(pieces.append, KEY, "desk-a", "up", 17, "checkin.request", body)
    whole = envelope.seal(KEY, "desk-a", "up", 17, "checkin.request", body)
    assert "".join(pieces).encode() == whole and whole.endswith(b"\n")
    assert len(pieces) > 20 and max(len(p) for p in pieces) <= 250, [len(p) for p in pieces]
    for piece in pieces:
        assert isinstance(piece, str)
    msg = envelope.parse(whole)
    msg.verify(KEY)
    assert msg.body == body and msg.seq == 17
    raises("malformed", envelope.seal_to, pieces.append, KEY, "desk-a", "up", 18,
           "checkin.request", {"x": 0.5})


def check_attachment_round_trip():
    rows = bytes(range(256)) * 4 + b"\n\n"
    head, att = envelope.seal_parts(KEY, "scan-01", "up", 9, "blob.chunk", {"i": 0}, 3, rows)
    msg = envelope.parse(head + att)
    msg.verify(KEY)
    assert msg.attachment == rows and msg.re == 3


def check_every_tampered_byte_is_caught():
    payload = envelope.seal(KEY, "scan-01", "up", 1, "blob.chunk", {"i": 0}, attachment=b"abcd")
    for i in range(len(payload)):
        forged = payload[:i] + bytes([payload[i] ^ 0x01]) + payload[i + 1 :]
        try:
            envelope.parse(forged).verify(KEY)
        except Exception as err:  # noqa: BLE001 - any ProtocolError is the right answer
            assert getattr(err, "code", None) in ("malformed", "bad_tag"), err
        else:
            raise AssertionError("byte %d flipped and still verified" % i)


def check_wrong_key_and_direction():
    payload = envelope.seal(KEY, "term-01", "down", 1, "checkin.result", {})
    raises("bad_tag", envelope.parse(payload).verify, bytes(32))
    # A reply re-labelled as the device's own message must not verify.
    relabelled = payload.replace(b'"dir":"down"', b'"dir":"up"')
    raises("bad_tag", envelope.parse(relabelled).verify, KEY)


def check_malformed_payloads():
    raises("malformed", envelope.parse, b"")
    raises("malformed", envelope.parse, b"not json\n")
    raises("malformed", envelope.parse, b"[1,2]\n")
    raises("malformed", envelope.parse, b'{"v":1}\n')
    raises("malformed", envelope.parse, b"\xff\xfe\n")
    good = envelope.seal(KEY, "term-01", "up", 1, "hello", {})
    raises("malformed", envelope.parse, good.replace(b'"v":1', b'"v":2'))
    raises("malformed", envelope.parse, good.replace(b'"seq":1', b'"seq":-1'))
    raises("malformed", envelope.parse, good.replace(b'"seq":1', b'"seq":1.5'))
    raises("malformed", envelope.parse, good.replace(b'"dev":"term-01"', b'"dev":"Term 01"'))
    raises("malformed", envelope.parse, good.replace(b'"body":{}', b'"body":[]'))
    raises("malformed", envelope.parse, good.replace(b'"body":{}', b'"body":{},"x":1'))
    with_att = envelope.seal(KEY, "term-01", "up", 1, "blob.chunk", {}, attachment=b"xyz")
    raises("malformed", envelope.parse, with_att[:-1])
    raises("malformed", envelope.parse, with_att + b"!")


def check_oversized():
    raises("too_large", envelope.parse, b"{" * (envelope.MAX_MESSAGE + 1))
    raises("too_large", envelope.parse, b" " * (envelope.MAX_HEADER + 10) + b"\n")
    raises(
        "too_large",
        envelope.seal,
        KEY,
        "scan-01",
        "up",
        1,
        "blob.chunk",
        {},
        None,
        bytes(envelope.MAX_MESSAGE),
    )


def check_replay_window():
    w = ReplayWindow(8)
    assert [w.accept(s) for s in (1, 2, 5, 3, 5, 2)] == [NEW, NEW, NEW, NEW, DUPLICATE, DUPLICATE]
    assert w.accept(20) == NEW
    assert w.check(12) == STALE and w.check(13) == NEW and w.check(20) == DUPLICATE
    assert w.accept(1000) == NEW and w.check(999) == NEW and w.check(992) == STALE


def check_blob_round_trip_any_order():
    sender = blob.BlobSender("s-1")
    parts = [bytes([i]) * (100 + i) for i in range(5)]
    bodies = [(sender.chunk(p), p) for p in parts]
    receiver = blob.BlobAssembler("s-1", "ballot-image", {}, 10000)
    for body, data in reversed(bodies):
        assert receiver.add(body, data)
    assert not receiver.add(bodies[0][0], bodies[0][1])  # redelivery is harmless
    assert receiver.finish(sender.end()) == b"".join(parts)


def check_blob_refusals():
    sender = blob.BlobSender("s-2")
    b0 = sender.chunk(b"a" * 10)
    b1 = sender.chunk(b"b" * 10)
    end = sender.end()
    receiver = blob.BlobAssembler("s-2", "ballot-image", {}, 15)
    receiver.add(b0, b"a" * 10)
    raises("too_large", receiver.add, b1, b"b" * 10)
    raises("bad_chunk", receiver.add, b0, b"c" * 10)
    raises("bad_chunk", receiver.finish, end)  # a chunk is missing
    roomy = blob.BlobAssembler("s-2", "ballot-image", {}, 100)
    roomy.add(b0, b"a" * 10)
    roomy.add(b1, b"b" * 10)
    forged = dict(end)
    forged["sha256"] = "0" * 64
    raises("bad_hash", roomy.finish, forged)
    raises("bad_chunk", roomy.add, {"i": -1, "off": 0}, b"x")
    raises("bad_chunk", roomy.add, {"i": 0}, b"x")
    raises("bad_chunk", roomy.add, {"i": 9, "off": 0}, b"")


run(globals())
