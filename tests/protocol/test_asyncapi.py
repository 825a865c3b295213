"""The MQTT interface description and the AsyncAPI 3.0 document made from it.

The committed ``docs/asyncapi.json`` must be what ``protocol.asyncapi`` generates
now, must validate against the AsyncAPI 3.0 schema in ``../shared/standards``, and
must name every message type the firmware and the controller exchange (found by
reading their source, so a new type used anywhere fails here until it is described).
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys

import jsonschema
import pytest

from firmware.build import image_files
from protocol import PROTOCOL_VERSION, asyncapi, envelope, interface, messages
from tests.conftest import ROOT, SHARED
from tests.protocol.wire_schema import (
    CONSTANTS,
    document,
    exchanged_types,
    types_in,
    validator,
)

SCHEMA = SHARED / "standards" / "asyncapi-3.0.0-without-id.json"
needs_asyncapi_schema = pytest.mark.skipif(
    not SCHEMA.is_file(),
    reason=f"needs the AsyncAPI 3.0 schema {SCHEMA} (../shared beside the checkout)",
)
KEY = bytes(range(32))


def _asyncapi_validator() -> jsonschema.Draft7Validator:
    return jsonschema.Draft7Validator(json.loads(SCHEMA.read_text(encoding="utf-8")))


def test_committed_document_is_current():
    assert asyncapi.DOCUMENT.read_text(encoding="utf-8") == asyncapi.render(), (
        "docs/asyncapi.json is stale: run python -m protocol.asyncapi")


def test_check_command_tells_a_stale_document(tmp_path):
    stale = tmp_path / "asyncapi.json"
    stale.write_text(asyncapi.render().replace('"qos": 1', '"qos": 0', 1), encoding="utf-8")
    cmd = [sys.executable, "-m", "protocol.asyncapi", "--check", "--out", str(stale)]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "not current" in done.stderr
    fresh = tmp_path / "fresh.json"
    cmd = [sys.executable, "-m", "protocol.asyncapi", "--out", str(fresh)]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert fresh.read_text(encoding="utf-8") == asyncapi.DOCUMENT.read_text(encoding="utf-8")


@needs_asyncapi_schema
def test_document_validates_against_asyncapi_3():
    errors = [f"{list(e.absolute_path)}: {e.message}"
              for e in _asyncapi_validator().iter_errors(document())]
    assert errors == []


@needs_asyncapi_schema
@pytest.mark.parametrize("path, value", [
    (("asyncapi",), "2.6.0"),
    (("operations", "receiveHello", "action"), "publish"),
    (("operations", "receiveHello", "bindings", "mqtt", "qos"), 3),
    (("channels", "up", "address"), 7),
    (("servers", "station", "bindings", "mqtt", "cleanSession"), "no"),
])
def test_schema_refuses_a_broken_document(path, value):
    # The validation above is worth something only if a broken document fails it.
    doc = copy.deepcopy(document())
    node = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    assert list(_asyncapi_validator().iter_errors(doc))


def test_every_reference_resolves():
    doc = document()

    def walk(node):
        if isinstance(node, dict):
            if "$ref" in node:
                target = doc
                for part in node["$ref"].removeprefix("#/").split("/"):
                    assert part in target, node["$ref"]
                    target = target[part]
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(doc)


def test_every_message_name_is_described_once():
    names = sorted(v for k, v in vars(messages).items() if k.isupper())
    assert sorted(interface.types()) == names
    assert len(set(names)) == len(names)


def test_every_type_the_code_exchanges_is_in_the_document():
    used = exchanged_types()
    doc = document()
    described = set(doc["components"]["messages"])
    undescribed = {t: sorted(files) for t, files in used.items() if t not in described}
    assert undescribed == {}
    # Both sides use every described signed message: none is stale.
    assert sorted(used) == sorted(interface.types())
    for mtype, files in used.items():
        assert any(f.startswith("firmware/") for f in files), mtype
        assert any(f.startswith("controller/") for f in files), mtype
    # Each is on the channel of its direction, with QoS 1 and no retain.
    for entry in interface.MESSAGES:
        channel = doc["channels"][entry["topic"]]
        assert entry["type"] in channel["messages"]
    for operation in doc["operations"].values():
        binding = operation["bindings"]["mqtt"]
        retained = operation["channel"]["$ref"] == "#/channels/status"
        assert binding == {"qos": 1, "retain": retained, "bindingVersion": "0.2.0"}


def test_a_new_type_in_the_code_is_found():
    # The scan that the test above relies on sees each way a type is used.
    source = '''
from protocol import messages as M
from protocol.messages import HELLO
link.send("vote.cast", {})
link.send_durable(M.EVENT, {})
if msg.type == "polls.closing":
    pass
handlers["device.reboot"] = print
ROUTES = (Route("tally.request", "scanner", True, True, M.BALLOT_VOIDED, "x"),)
head = envelope.seal_parts(key, "d", "up", 1, "x.y", {})
if msg.type in (HELLO, "hello.nack"):
    pass
if spec.type == "candidate":
    pass
'''
    assert types_in(source) == {"vote.cast", "event", "polls.closing", "device.reboot",
                                "tally.request", "ballot.voided", "x.y", "hello",
                                "hello.nack"}
    assert CONSTANTS["HELLO"] == "hello"


def _header(mtype: str, body: dict, direction: str = "up", attachment: bytes = b"",
            re: int | None = None) -> dict:
    head, _ = envelope.seal_parts(KEY, "scan-1", direction, 42, mtype, body, re, attachment)
    return json.loads(head)


GOOD = {
    messages.HELLO: {"role": "scanner", "fw": "0.9.0", "fw_hash": "ab" * 32, "boot": 3},
    messages.BLOB_BEGIN: {"blob": "scan-1-3-1", "kind": "ballot-image",
                          "meta": {"width": 1700, "height": 2400, "dpi": 200, "bpp": 8}},
    messages.BLOB_END: {"blob": "scan-1-3-1", "chunks": 600, "size": 4080000,
                        "sha256": "0f" * 32},
    messages.BALLOT_DROPPED: {"sheet": "scan-1-3-1", "counter": 1},
    messages.BALLOT_RETURNED: {"sheet": "scan-1-3-1", "reason": "double_sheet"},
    messages.EVENT: {"kind": "jam", "detail": "during drop"},
    messages.CHECKIN_REQUEST: {
        "txn": "term-1-2-5", "mrz": ["I<KGZ..."], "finger": None, "finger_status": "no_sensor",
        "doc": {"format": "TD1", "checks": {"composite": True}, "valid": True,
                "surname": "ASANOVA", "given_names": "AIDA"}},
}


@pytest.mark.parametrize("mtype", sorted(GOOD))
def test_payload_schema_accepts_a_real_envelope(mtype):
    errors = [e.message for e in validator(mtype).iter_errors(_header(mtype, GOOD[mtype]))]
    assert errors == []


def test_chunk_needs_its_attachment_and_replies_their_re():
    chunk = _header(messages.BLOB_CHUNK, {"blob": "scan-1-1-1", "i": 0, "off": 0},
                    attachment=b"\x80" * 64)
    assert chunk["att"] == 64
    assert not list(validator(messages.BLOB_CHUNK).iter_errors(chunk))
    del chunk["att"]
    assert list(validator(messages.BLOB_CHUNK).iter_errors(chunk))
    reply = _header(messages.BALLOT_RECORDED, {"sheet": "scan-1-1-1", "cast": 4,
                                               "recorded": True}, "down", re=42)
    assert not list(validator(messages.BALLOT_RECORDED).iter_errors(reply))
    del reply["re"]
    assert list(validator(messages.BALLOT_RECORDED).iter_errors(reply))


@pytest.mark.parametrize("mtype, change", [
    (messages.HELLO, {"role": "printer"}),                       # unknown role
    (messages.HELLO, {"fw_hash": "xyz"}),                        # not a hash
    (messages.HELLO, {"boot": -1}),                              # negative counter
    (messages.HELLO, {"extra": 1}),                              # unknown field
    (messages.BALLOT_DROPPED, {"sheet": "S" * 200}),             # oversized, wrong case
    (messages.BALLOT_DROPPED, {"counter": "1"}),                 # text for a number
    (messages.BLOB_BEGIN, {"meta": {"width": 10, "height": 10, "dpi": 200, "bpp": 1}}),
    (messages.BLOB_BEGIN, {"kind": "pdf"}),
    (messages.CHECKIN_REQUEST, {"mrz": ["A"] * 4}),              # too many lines
    (messages.CHECKIN_REQUEST, {"finger_status": "great"}),
    (messages.EVENT, {"kind": "k" * 41}),
])
def test_payload_schema_refuses_forged_bodies(mtype, change):
    body = dict(GOOD[mtype])
    body.update(change)
    assert list(validator(mtype).iter_errors(_header(mtype, body)))


def test_payload_schema_refuses_a_wrong_header():
    header = _header(messages.HELLO, GOOD[messages.HELLO])
    for key, value in (("type", "event"), ("dir", "down"), ("v", PROTOCOL_VERSION + 1),
                       ("dev", "Scan 1"), ("seq", -1), ("tag", "00")):
        forged = dict(header, **{key: value})
        assert list(validator(messages.HELLO).iter_errors(forged)), key
    assert list(validator(messages.HELLO).iter_errors(dict(header, junk=1)))


def test_status_schema():
    check = validator("status")
    assert not list(check.iter_errors({"state": "online", "fw": "1", "role": "scanner",
                                       "faults": {"engine": "jam"}}))
    assert not list(check.iter_errors({"state": "offline", "fw": "1", "role": "idterminal"}))
    assert list(check.iter_errors({"state": "asleep", "fw": "1", "role": "scanner"}))
    faults = {f"part{n}": "x" for n in range(9)}
    assert list(check.iter_errors({"state": "online", "fw": "1", "role": "scanner",
                                   "faults": faults}))


def test_firmware_image_carries_the_names_not_the_description():
    files = image_files("unix")
    assert "protocol/messages.py" in files and "protocol/blob_sender.py" in files
    assert "protocol/interface.py" not in files and "protocol/asyncapi.py" not in files
