"""The MQTT interface between the devices and the station controller, described once.

``TOPICS`` says who publishes on each topic, with which QoS and retain flag and
what its payloads are; ``MESSAGES`` describes every signed message: its type (from
``protocol.messages``), topic, the device roles that send or receive it, its body
(a JSON Schema), whether it carries an attachment, whether the device keeps it in
its durable outbox, and the reply it gets. ``STATUS`` is the body of the retained
presence message.

``python -m protocol.asyncapi`` turns this into the AsyncAPI 3.0 document
``docs/asyncapi.json``; a test keeps that file current and checks that every
message type the firmware and the controller use is described here. The firmware
build leaves this module off the flash (a device needs the names, not the schemas).
"""

from protocol import messages
from protocol.blob_sender import MAX_CHUNK
from protocol.envelope import MAX_HEADER, MAX_MESSAGE, MAX_SEQ, MAX_TYPE
from protocol.ids import MAX_ID
from protocol.topics import ROOT

ROLES = ("idterminal", "scanner")
ID_PATTERN = "^[a-z0-9][a-z0-9-]{0,%d}$" % (MAX_ID - 1)
# A transaction or sheet id: ``<device>-<boot counter>-<n>``, as the controller checks it.
TXN_PATTERN = "^[a-z0-9][a-z0-9-]*$"
HEX64 = "^[0-9a-fA-F]{64}$"

QOS = 1  # every message, both ways: at least once, the replay window removes repeats


def text(description, max_length=None, enum=None, pattern=None):
    """Schema of a string."""
    schema = {"type": "string", "description": description}
    if max_length is not None:
        schema["maxLength"] = max_length
    if enum is not None:
        schema["enum"] = list(enum)
    if pattern is not None:
        schema["pattern"] = pattern
    return schema


def integer(description, minimum=0, maximum=None, const=None):
    """Schema of an integer."""
    schema = {"type": "integer", "description": description, "minimum": minimum}
    if maximum is not None:
        schema["maximum"] = maximum
    if const is not None:
        schema["const"] = const
    return schema


def flag(description):
    """Schema of a boolean."""
    return {"type": "boolean", "description": description}


def obj(description, required, optional=None, closed=True):
    """Schema of an object with ``required`` and ``optional`` properties (name -> schema)."""
    properties = dict(required)
    properties.update(optional or {})
    schema = {"type": "object", "description": description, "properties": properties,
              "required": sorted(required)}
    if closed:
        schema["additionalProperties"] = False
    return schema


def nullable(schema):
    """``schema`` or JSON null."""
    return {"anyOf": [schema, {"type": "null"}]}


def one_of(description, *schemas):
    """Exactly one of ``schemas``."""
    return {"description": description, "oneOf": list(schemas)}


TOPICS = {
    "up": {
        "address": ROOT + "/{station}/dev/{device}/up",
        "publisher": "device",
        "qos": QOS,
        "retain": False,
        "description": "Signed envelopes from a device to the controller (dir up). A "
        "device publishes only under its own dev/<device>/, as the broker ACL enforces.",
    },
    "down": {
        "address": ROOT + "/{station}/ctl/{device}",
        "publisher": "controller",
        "qos": QOS,
        "retain": False,
        "description": "Signed envelopes from the controller to one device (dir down), "
        "under that device's key; the device reads only its own topic. Clean session "
        "off: the broker keeps a device's replies while it is away.",
    },
    "status": {
        "address": ROOT + "/{station}/dev/{device}/status",
        "publisher": "device",
        "qos": QOS,
        "retain": True,
        "description": "Retained presence, a signed envelope of type status (dir up) "
        "whose body is described here and whose seq is a status counter: connection "
        "number * 1024 + n, the last will's n = 1023; the controller takes only a "
        "counter above the last it took. Online on every connect and on every change of "
        "the device's faults; the device's last will publishes offline.",
    },
}
PARAMETERS = {
    "station": "Station id, " + ID_PATTERN,
    "device": "Device id (also the MQTT client id), " + ID_PATTERN,
}

_FAULTS = {
    "type": "object",
    "description": "Peripherals at fault: part (printer, finger, engine) -> code "
    "(paper-out, cover-open, printer-error, timeout, bad-status, no-answer, error, jam, "
    "double-sheet, ballot-stuck); absent when none is",
    "maxProperties": 8,
    "additionalProperties": text("fault code", 40),
}
STATUS = obj(
    "Retained presence of a device",
    {
        "state": text("online, or offline (the last will)", enum=("online", "offline")),
        "fw": text("firmware version", 64),
        "role": text("device role", enum=ROLES),
    },
    {"faults": _FAULTS},
)

_TXN = text("terminal transaction id <device>-<boot>-<n>", 64, pattern=TXN_PATTERN)
_SHEET = text("sheet id <device>-<boot>-<n>", 80, pattern=TXN_PATTERN)
_BLOB = text("blob id: the sheet id (scanner) or the transaction id (terminal)", 80,
             pattern=TXN_PATTERN)
_SHA256 = text("SHA-256, hex", pattern=HEX64)
_FINGER_STATUS = text(
    "why there is a finger or not: captured, no_finger, sensor_error, upload_failed, "
    "no_sensor",
    enum=("captured", "no_finger", "sensor_error", "upload_failed", "no_sensor"))
_FINGER_REF = one_of(
    "the finger blob sent just before, by kind",
    obj("a ZhianTec sensor's image: 4 bits a pixel, two a byte, rows top to bottom", {
        "kind": text("", enum=("zhiantec-image",)),
        "width": integer("pixels", const=256),
        "height": integer("pixels", const=288),
        "bits": integer("bits a pixel", const=4),
        "size": integer("bytes", const=36864),
        "sha256": _SHA256,
    }),
    obj("an ISO/IEC 19794-2 minutiae record", {
        "kind": text("", enum=("iso19794-2",)),
        "size": integer("bytes", 1),
        "sha256": _SHA256,
    }),
)
_DOC = obj(
    "the document's fields as drivers.mrz.parse reads them",
    {
        "format": text("TD1, TD2 or TD3", enum=("TD1", "TD2", "TD3")),
        "checks": {"type": "object", "description": "check digit name -> passed",
                   "additionalProperties": {"type": "boolean"}},
        "valid": flag("every check digit passes"),
    },
    {
        name: text(name.replace("_", " "), 64)
        for name in ("document_code", "issuing_state", "document_number", "birth_date", "sex",
                     "expiry_date", "nationality", "optional", "surname", "given_names",
                     "personal_number")
    },
    closed=False,
)
_BALLOT_META = obj("a scanned sheet", {
    "width": integer("pixels", 1, 16384),
    "height": integer("pixels", 1, 16384),
    "dpi": integer("dots an inch", 1),
    "bpp": integer("bits a pixel: 8-bit grey, 0 black", const=8),
})
_FINGER_IMAGE_META = obj("a ZhianTec sensor's image", {
    "kind": text("", enum=("zhiantec-image",)),
    "width": integer("pixels", const=256),
    "height": integer("pixels", const=288),
    "bits": integer("bits a pixel", const=4),
})
_FINGER_ISO_META = obj("an ISO/IEC 19794-2 record", {"kind": text("", enum=("iso19794-2",))})

_CHECKIN_STATUSES = ("issued", "already_issued", "not_on_list", "invalid_document",
                     "polls_closed", "finger_retry", "finger_mismatch", "not_found")
_DEVICES = ROLES

# Each message: type, topic, senders (roles, or "controller"), summary, body schema;
# "reply": the type that answers it (by ``re``); "durable": the device keeps it in its
# outbox across power cuts; "attachment": what follows the header line, if anything.
MESSAGES = (
    {
        "type": messages.HELLO,
        "topic": "up",
        "from": _DEVICES,
        "reply": messages.HELLO_ACK,
        "durable": False,
        "summary": "A device after every connect: who it is and what it runs",
        "body": obj("", {
            "role": text("device role", enum=ROLES),
            "fw": text("firmware version", 64),
            "fw_hash": text("SHA-256 of the firmware manifest, hex", pattern=HEX64),
            "boot": integer("boot counter"),
        }),
    },
    {
        "type": messages.HELLO_ACK,
        "topic": "down",
        "to": _DEVICES,
        "summary": "The controller's answer to hello",
        "body": obj("", {
            "known": flag("the firmware hash is one the station knows"),
            "quarantined": flag("an official election refuses this firmware"),
            "polls": text("state of the polls", enum=("setup", "open", "closed")),
        }),
    },
    {
        "type": messages.CHECKIN_REQUEST,
        "topic": "up",
        "from": ("idterminal",),
        "reply": messages.CHECKIN_RESULT,
        "durable": True,
        "summary": "A voter's document (and finger) at a terminal",
        "body": obj("", {
            "txn": _TXN,
            "mrz": {"type": "array", "maxItems": 3, "description":
                    "the machine-readable zone's lines; empty for a check-in by finger alone",
                    "items": text("one MRZ line", 64)},
            "doc": nullable(_DOC),
            "finger": nullable(_FINGER_REF),
            "finger_status": _FINGER_STATUS,
        }),
    },
    {
        "type": messages.CHECKIN_RESULT,
        "topic": "down",
        "to": ("idterminal",),
        "summary": "The controller's decision on a check-in",
        "body": obj("", {
            "txn": _TXN,
            "status": text("the outcome", enum=_CHECKIN_STATUSES),
            "voter": nullable(obj("the voter's row on the list", {
                "row": integer("row on the station's list"),
                "name": text("the voter's name"),
            })),
            "style": nullable(text("ballot style to issue (issued only)")),
            "reason": text("what the poll worker is told"),
        }),
    },
    {
        "type": messages.BLOB_BEGIN,
        "topic": "up",
        "from": _DEVICES,
        "durable": False,
        "summary": "Start of a blob: a ballot image (scanner) or a finger (terminal); a "
        "new begin starts the blob over",
        "body": obj("", {
            "blob": _BLOB,
            "kind": text("ballot-image (scanner) or finger (terminal)",
                         enum=("ballot-image", "finger")),
            "meta": one_of("what the blob holds, by kind", _BALLOT_META, _FINGER_IMAGE_META,
                           _FINGER_ISO_META),
        }),
    },
    {
        "type": messages.BLOB_CHUNK,
        "topic": "up",
        "from": _DEVICES,
        "durable": False,
        "attachment": "the chunk's bytes (1 to %d): image rows or finger bytes" % MAX_CHUNK,
        "summary": "One piece of a blob",
        "body": obj("", {
            "blob": _BLOB,
            "i": integer("chunk index, from 0"),
            "off": integer("byte offset of the chunk in the blob"),
        }),
    },
    {
        "type": messages.BLOB_END,
        "topic": "up",
        "from": _DEVICES,
        "reply": messages.BALLOT_DECISION,
        "durable": False,
        "summary": "End of a blob with the hash of the whole; a scanner's is answered by "
        "ballot.decision, a terminal's by nothing",
        "body": obj("", {
            "blob": _BLOB,
            "chunks": integer("number of chunks sent"),
            "size": integer("bytes in all"),
            "sha256": _SHA256,
        }),
    },
    {
        "type": messages.BALLOT_DECISION,
        "topic": "down",
        "to": ("scanner",),
        "summary": "Accept the sheet into the box or return it to the voter",
        "body": obj("", {
            "sheet": _SHEET,
            "decision": text("", enum=("accept", "return")),
            "reason": nullable(text("reason code of a return", 64)),
            "message": text("what the voter is told"),
        }),
    },
    {
        "type": messages.BALLOT_DROPPED,
        "topic": "up",
        "from": ("scanner",),
        "reply": messages.BALLOT_RECORDED,
        "durable": True,
        "summary": "An accepted sheet is in the ballot box",
        "body": obj("", {
            "sheet": _SHEET,
            "counter": integer("the scanner's public counter after this sheet", 1),
        }),
    },
    {
        "type": messages.BALLOT_RECORDED,
        "topic": "down",
        "to": ("scanner",),
        "summary": "The dropped sheet is a cast ballot (idempotent per sheet)",
        "body": obj("", {
            "sheet": _SHEET,
            "cast": integer("ballots cast at the station"),
            "recorded": flag("the sheet counts (false: in the box but never accepted, "
                             "left to the hand count)"),
        }),
    },
    {
        "type": messages.BALLOT_RETURNED,
        "topic": "up",
        "from": ("scanner",),
        "reply": messages.BALLOT_VOIDED,
        "durable": True,
        "summary": "A sheet went back to the voter",
        "body": obj("", {
            "sheet": _SHEET,
            "reason": text("cover_open, jam, double_sheet, corrupt_scan, engine_timeout, "
                           "engine_error, upload_failed, timeout, interrupted, removed, or the "
                           "controller's reason", 64),
        }),
    },
    {
        "type": messages.BALLOT_VOIDED,
        "topic": "down",
        "to": ("scanner",),
        "summary": "The returned sheet is void",
        "body": obj("", {
            "sheet": _SHEET,
            "voided": flag("false when the sheet had already been cast"),
        }),
    },
    {
        "type": messages.EVENT,
        "topic": "up",
        "from": _DEVICES,
        "durable": False,
        "summary": "Something for the audit log: jam, cover_open, double_sheet, restart, "
        "slip_not_printed ...",
        "body": obj("", {
            "kind": text("what happened", 40),
            "detail": {"description": "details (text); over 512 bytes the audit log keeps "
                       "a note instead"},
        }),
    },
)

ENVELOPE = {
    "max_message": MAX_MESSAGE,
    "max_header": MAX_HEADER,
    "max_seq": MAX_SEQ,
    "max_type": MAX_TYPE,
}


def message(mtype):
    """The description of message type ``mtype``; KeyError if it is not described."""
    for entry in MESSAGES:
        if entry["type"] == mtype:
            return entry
    raise KeyError(mtype)


def types():
    """Every described message type, in the order above."""
    return [entry["type"] for entry in MESSAGES]
