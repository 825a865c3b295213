"""The AsyncAPI 3.0 document of the MQTT interface, made from ``protocol.interface``.

The document describes the station controller's side: it receives what devices
publish on ``up`` and ``status`` and replies on ``down``; a device is the mirror
image. Every signed message is an envelope (``protocol.envelope``) whose ``type``
and ``body`` the message's payload schema fixes; QoS and retain are MQTT operation
bindings.

Runs on CPython only; the firmware build leaves it off the flash.

``python -m protocol.asyncapi`` writes ``docs/asyncapi.json``; ``--check`` exits 1
when that file is not what the description gives; ``--out -`` prints it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from protocol import PROTOCOL_VERSION, interface

DOCUMENT = Path(__file__).resolve().parent.parent / "docs" / "asyncapi.json"
MQTT_BINDING = "0.2.0"
KEEPALIVE = 30


def _ref(path: str) -> dict[str, str]:
    return {"$ref": path}


def _envelope(entry: dict[str, Any], direction: str) -> dict[str, Any]:
    """Payload schema of one message: the signed header with its type and body fixed."""
    required = ["v", "dev", "dir", "seq", "type", "tag", "body"]
    if direction == "down":
        required.append("re")
    properties: dict[str, Any] = {
        "v": {"const": PROTOCOL_VERSION, "description": "protocol version"},
        "dev": {"type": "string", "pattern": interface.ID_PATTERN,
                "description": "the device the message is from or for"},
        "dir": {"const": direction, "description": "inside the tag, so a reply can never "
                "be replayed as a device's message"},
        "seq": {"type": "integer", "minimum": 0, "maximum": interface.ENVELOPE["max_seq"],
                "description": "strictly increasing per device and direction, across "
                "reboots; the receiver's replay window drops repeats"},
        "type": {"const": entry["type"]},
        "re": {"type": "integer", "minimum": 0, "maximum": interface.ENVELOPE["max_seq"],
               "description": "on a reply: the seq of the request it answers"},
        "tag": {"type": "string", "pattern": interface.HEX64,
                "description": "HMAC-SHA256 under the device's key of the canonical header "
                "without tag, a newline and the attachment"},
        "body": entry["body"],
    }
    if entry.get("attachment"):
        required.append("att")
        properties["att"] = {"type": "integer", "minimum": 1,
                             "description": "bytes of the attachment after the header line"}
    return {"type": "object", "required": required, "properties": properties,
            "additionalProperties": False}


def _message(entry: dict[str, Any], direction: str) -> dict[str, Any]:
    description = (
        "Signed envelope: one line of canonical JSON (sorted keys, no whitespace, "
        "integers only), at most %d bytes" % interface.ENVELOPE["max_header"]
    )
    if entry.get("attachment"):
        description += ", then a newline and the attachment: " + entry["attachment"]
    description += ". At most %d bytes in all." % interface.ENVELOPE["max_message"]
    if entry.get("durable"):
        description += (" The device keeps it in its durable outbox until the broker "
                        "acknowledges it: it survives a power cut and is resent.")
    message: dict[str, Any] = {
        "name": entry["type"],
        "title": entry["type"],
        "summary": entry["summary"],
        "description": description,
        "contentType": "application/json",
        "payload": _envelope(entry, direction),
    }
    roles = entry.get("from") if direction == "up" else entry.get("to")
    message["x-device-roles"] = list(roles)
    if direction == "up":
        message["x-durable"] = bool(entry.get("durable"))
    return message


def _binding(topic: dict[str, Any]) -> dict[str, Any]:
    return {"mqtt": {"qos": topic["qos"], "retain": topic["retain"],
                     "bindingVersion": MQTT_BINDING}}


def _operation_id(action: str, mtype: str) -> str:
    return action + "".join(part.capitalize() for part in mtype.split("."))


def document() -> dict[str, Any]:
    """The AsyncAPI 3.0 document as a dict."""
    topics = interface.TOPICS
    directions = {"up": "up", "down": "down"}
    components: dict[str, Any] = {"messages": {}, "schemas": {"status": interface.STATUS}}
    channels: dict[str, Any] = {}
    for name, topic in topics.items():
        channels[name] = {
            "address": topic["address"],
            "description": topic["description"] + " QoS %d, retain %s." % (
                topic["qos"], "on" if topic["retain"] else "off"),
            "parameters": {p: {"description": d} for p, d in interface.PARAMETERS.items()},
            "messages": {},
        }
    for entry in interface.MESSAGES:
        mtype = entry["type"]
        components["messages"][mtype] = _message(entry, directions[entry["topic"]])
        channels[entry["topic"]]["messages"][mtype] = _ref("#/components/messages/" + mtype)
    components["messages"]["status"] = {
        "name": "status",
        "title": "status",
        "summary": "Retained presence of a device: the body of a signed envelope of "
        "type status",
        "contentType": "application/json",
        "payload": _ref("#/components/schemas/status"),
    }
    channels["status"]["messages"]["status"] = _ref("#/components/messages/status")

    operations: dict[str, Any] = {}
    for entry in interface.MESSAGES:
        if entry["topic"] != "up":
            continue
        mtype = entry["type"]
        operation: dict[str, Any] = {
            "action": "receive",
            "channel": _ref("#/channels/up"),
            "summary": entry["summary"],
            "messages": [_ref("#/channels/up/messages/" + mtype)],
            "bindings": _binding(topics["up"]),
        }
        if entry.get("reply"):
            operation["reply"] = {
                "channel": _ref("#/channels/down"),
                "messages": [_ref("#/channels/down/messages/" + entry["reply"])],
            }
        operations[_operation_id("receive", mtype)] = operation
    for entry in interface.MESSAGES:
        if entry["topic"] != "down":
            continue
        mtype = entry["type"]
        operations[_operation_id("send", mtype)] = {
            "action": "send",
            "channel": _ref("#/channels/down"),
            "summary": entry["summary"],
            "messages": [_ref("#/channels/down/messages/" + mtype)],
            "bindings": _binding(topics["down"]),
        }
    operations["receiveStatus"] = {
        "action": "receive",
        "channel": _ref("#/channels/status"),
        "summary": "A device's presence and faults",
        "messages": [_ref("#/channels/status/messages/status")],
        "bindings": _binding(topics["status"]),
    }
    status_topic = topics["status"]["address"]
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Shailoo polling station wire",
            "version": "%d.0.0" % PROTOCOL_VERSION,
            "description": (
                "The MQTT interface between a polling station's devices (ballot scanners, "
                "voter-identification terminals) and its station controller, from the "
                "controller's side. Generated from protocol/interface.py by "
                "`python -m protocol.asyncapi`; docs/wire.md explains it."
            ),
        },
        "defaultContentType": "application/json",
        "servers": {
            "station": {
                "host": "{host}:{port}",
                "protocol": "mqtt",
                "protocolVersion": "3.1.1",
                "description": "The station's broker. A device connects with its id as "
                "client id, clean session off, and a retained last will.",
                "variables": {"host": {"default": "127.0.0.1"}, "port": {"default": "1883"}},
                "bindings": {"mqtt": {
                    "cleanSession": False,
                    "keepAlive": KEEPALIVE,
                    "lastWill": {"topic": status_topic, "qos": topics["status"]["qos"],
                                 "retain": topics["status"]["retain"],
                                 "message": '{"fw":"<version>","role":"<role>",'
                                            '"state":"offline"}'},
                    "bindingVersion": MQTT_BINDING,
                }},
            }
        },
        "channels": channels,
        "operations": operations,
        "components": components,
    }


def render() -> str:
    """The document as the text of ``docs/asyncapi.json``."""
    return json.dumps(document(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Command line: write, print or check the document."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=str(DOCUMENT), help="file to write, - for stdout")
    parser.add_argument("--check", action="store_true",
                        help="exit 1 if the file is not current, write nothing")
    args = parser.parse_args(argv)
    text = render()
    if args.out == "-":
        sys.stdout.write(text)
        return 0
    out = Path(args.out)
    if args.check:
        current = out.read_text(encoding="utf-8") if out.is_file() else None
        if current != text:
            print(f"{out} is not current: run python -m protocol.asyncapi", file=sys.stderr)
            return 1
        print(f"{out} is current")
        return 0
    out.write_text(text, encoding="utf-8")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
