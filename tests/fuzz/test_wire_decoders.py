"""Generated hostile input for the decoders of what arrives over MQTT: the envelope,
topic names and the firmware's PUBLISH packets. Each either decodes or raises its own
documented error; nothing else escapes, and a changed message never verifies."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from firmware.mqtt import MQTTError, parse_publish, publish_header
from protocol import envelope, topics
from protocol.errors import ProtocolError
from tests.fuzz.strategies import json_values, mutated

KEY = bytes(range(32))
GOOD = envelope.seal(
    KEY, "scan-1", "up", 41, "blob.chunk",
    {"blob": "scan-1.00000007", "i": 3, "note": "Жаңы \"бюллетень\" [1]"},
    attachment=bytes(range(256)) * 4,
)
REPLY = envelope.seal(KEY, "term-2", "down", 9, "checkin.result", {"status": "issued"}, re=8)


def _decode(payload: bytes) -> envelope.Message | None:
    try:
        message = envelope.parse(payload)
    except ProtocolError:
        return None
    try:
        message.verify(KEY)
    except ProtocolError as err:
        assert err.code == "bad_tag"
        return None
    return message


@given(st.one_of(mutated(GOOD), mutated(REPLY)))
def test_a_changed_envelope_is_refused_or_says_exactly_what_was_sealed(payload: bytes) -> None:
    message = _decode(payload)
    if message is not None:
        # Only a change JSON does not see (white space between tokens) may pass.
        original = envelope.parse(GOOD if message.dir == "up" else REPLY)
        assert message.header == original.header
        assert message.attachment == original.attachment


@given(st.binary(max_size=2048))
def test_any_bytes_are_an_envelope_or_a_protocol_error(payload: bytes) -> None:
    assert _decode(payload) is None


@given(json_values, st.binary(max_size=64))
def test_any_header_object_is_parsed_or_refused_never_crashes(value, attachment) -> None:
    import json

    payload = json.dumps({"v": 1, "dev": "scan-1", "dir": "up", "seq": 1, "type": "x",
                          "body": value, "tag": "0" * 64}).encode() + b"\n" + attachment
    assert _decode(payload) is None  # the tag is wrong whatever else is right


@given(st.text(max_size=200))
def test_any_topic_is_a_device_topic_or_a_protocol_error(topic: str) -> None:
    try:
        station, device, kind = topics.parse(topic)
    except ProtocolError as err:
        assert err.code == "malformed"
        return
    assert kind in ("up", "status", "down")
    rebuilt = {"up": topics.up, "status": topics.status, "down": topics.down}[kind]
    assert rebuilt(station, device) == topic


@st.composite
def publish_bodies(draw: st.DrawFn) -> bytes:
    """A PUBLISH's variable header and payload: sometimes well framed, with any bytes
    for the topic; sometimes anything at all."""
    if draw(st.booleans()):
        return draw(st.binary(max_size=300))
    topic = draw(st.binary(max_size=40))
    declared = draw(st.sampled_from((len(topic), len(topic) + 1, 0xFFFF)))
    return declared.to_bytes(2, "big") + topic + draw(st.binary(max_size=100))


@given(st.integers(0, 255), publish_bodies())
def test_any_publish_packet_is_split_or_refused(first: int, body: bytes) -> None:
    try:
        topic, payload, qos, retain, pid = parse_publish(first, body)
    except MQTTError:
        return
    assert qos in (0, 1, 2) and retain == bool(first & 1)
    assert len(topic.encode()) + len(payload) <= len(body)


@given(st.text(max_size=60), st.binary(max_size=200), st.integers(0, 2), st.booleans(),
       st.integers(1, 65535))
def test_a_publish_the_broker_sends_comes_back_whole(topic, payload, qos, retain, pid) -> None:
    header = publish_header(topic, len(payload), qos, retain, pid)
    # Fixed header: the type byte, then the remaining length (1–2 bytes here).
    skip = 2 if header[1] < 0x80 else 3
    parsed = parse_publish(header[0], header[skip:] + payload)
    assert parsed == (topic, payload, qos, retain, pid if qos else 0)
