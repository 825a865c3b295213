"""The signed message envelope.

A payload is a header line of canonical JSON, optionally followed by ``\\n`` and raw
attachment bytes (image rows travel this way, without base64)::

    {"att":N,"body":{...},"dev":"scan-01","dir":"up","re":7,"seq":42,
     "tag":"<hex>","type":"...","v":1}\\n<N bytes>      (one line on the wire)

The tag is HMAC-SHA256 under the device's key over the canonical header without
``tag``, a ``\\n`` and the attachment. ``dir`` is inside the tag, so a reply of the
controller can never be replayed as a message of the device. ``re`` names the
sequence number of the request a reply answers.
"""

import binascii
import json

from protocol import PROTOCOL_VERSION
from protocol.canonical import dump, within
from protocol.errors import ProtocolError
from protocol.hmac_sha256 import Hmac, equal
from protocol.ids import valid_id

MAX_MESSAGE = 64 * 1024
MAX_HEADER = 16 * 1024
MAX_SEQ = (1 << 53) - 1
MAX_TYPE = 40
# The canonical form's own limit: a header nested deeper could never have been sealed.
MAX_DEPTH = 16
UP = "up"
DOWN = "down"
# The type of the retained status (presence and faults) on a device's status topic:
# a channel of its own, not answered, its ``seq`` a status counter (docs/wire.md).
STATUS = "status"


class Message:
    """A parsed envelope: ``dev``, ``dir``, ``seq``, ``type``, ``re``, ``body``, ``attachment``."""

    def __init__(self, header, attachment, tag):
        self.header = header
        self.dev = header["dev"]
        self.dir = header["dir"]
        self.seq = header["seq"]
        self.type = header["type"]
        self.re = header.get("re")
        self.body = header["body"]
        self.attachment = attachment
        self.tag = tag

    def verify(self, key):
        """Raise ``ProtocolError('bad_tag')`` unless the tag is valid under ``key``."""
        if not equal(_tag(key, self.header, self.attachment), self.tag):
            raise ProtocolError("bad_tag", "tag does not verify for device %s" % self.dev)


def _tag(key, header, attachment):
    # The canonical header goes into the hash piece by piece as it is encoded: a
    # device's heap need not hold it whole.
    mac = Hmac(key)
    dump(header, mac.update)
    mac.update(b"\n")
    mac.update(attachment)
    return mac.digest()


def _header(dev, direction, seq, mtype, body, re, attachment):
    if not valid_id(dev):
        raise ProtocolError("malformed", "bad device id %r" % (dev,))
    if direction != UP and direction != DOWN:
        raise ProtocolError("malformed", "dir must be up or down")
    if not isinstance(seq, int) or isinstance(seq, bool) or not 0 <= seq <= MAX_SEQ:
        raise ProtocolError("malformed", "bad sequence number %r" % (seq,))
    if not isinstance(mtype, str) or not 0 < len(mtype) <= MAX_TYPE:
        raise ProtocolError("malformed", "bad message type")
    if not isinstance(body, dict):
        raise ProtocolError("malformed", "body must be an object")
    header = {
        "v": PROTOCOL_VERSION,
        "dev": dev,
        "dir": direction,
        "seq": seq,
        "type": mtype,
        "body": body,
    }
    if re is not None:
        if not isinstance(re, int) or isinstance(re, bool) or not 0 <= re <= MAX_SEQ:
            raise ProtocolError("malformed", "bad reply reference %r" % (re,))
        header["re"] = re
    if attachment:
        header["att"] = len(attachment)
    return header


def seal_to(write, key, dev, direction, seq, mtype, body, re=None, attachment=b""):
    """Hand the signed header line (``\\n`` at its end) to ``write`` as short ASCII ``str``
    pieces, never joined: a device writes them to flash as they come.

    The header is encoded twice, into the tag and then, with the tag, into ``write``:
    the canonical form sorts keys, so adding ``tag`` puts it in its place.
    """
    header = _header(dev, direction, seq, mtype, body, re, attachment)
    header["tag"] = binascii.hexlify(_tag(key, header, attachment)).decode()
    dump(header, write)
    write("\n")


def seal_parts(key, dev, direction, seq, mtype, body, re=None, attachment=b""):
    """Return ``(head, attachment)``: the signed header line (ending in ``\\n``) and the
    attachment, so a device can write both to the socket without joining them."""
    pieces = []
    seal_to(pieces.append, key, dev, direction, seq, mtype, body, re, attachment)
    head = "".join(pieces).encode()
    if len(head) > MAX_HEADER or len(head) + len(attachment) > MAX_MESSAGE:
        raise ProtocolError(
            "too_large", "message of %d bytes exceeds the limit" % (len(head) + len(attachment))
        )
    return head, attachment


def seal(key, dev, direction, seq, mtype, body, re=None, attachment=b""):
    """Return the signed payload bytes of one message."""
    head, att = seal_parts(key, dev, direction, seq, mtype, body, re, attachment)
    return head + att if att else head


def parse(payload, max_size=MAX_MESSAGE):
    """Parse and structurally validate a payload; the tag is checked by ``Message.verify``.

    Raises ``ProtocolError`` with code ``too_large`` or ``malformed``.
    """
    if not isinstance(payload, (bytes, bytearray, memoryview)):
        raise ProtocolError("malformed", "payload is not bytes")
    if len(payload) > max_size:
        raise ProtocolError(
            "too_large", "payload of %d bytes exceeds %d" % (len(payload), max_size)
        )
    if not isinstance(payload, bytes):
        payload = bytes(payload)
    nl = payload.find(b"\n")
    if nl < 0:
        raise ProtocolError("malformed", "no header line")
    if nl > MAX_HEADER:
        raise ProtocolError("too_large", "header longer than %d bytes" % MAX_HEADER)
    attachment = payload[nl + 1 :]
    if not within(memoryview(payload)[:nl] if attachment else payload, MAX_DEPTH + 1):
        raise ProtocolError("malformed", "header nested deeper than %d levels" % MAX_DEPTH)
    # A reply to a device is its header line alone: decoded whole (JSON takes the
    # newline for white space), which spares a sliced copy of it on a small heap.
    try:
        header = json.loads((payload[:nl] if attachment else payload).decode())
    except (ValueError, UnicodeError) as err:
        raise ProtocolError("malformed", "header is not JSON: %s" % err)
    if not isinstance(header, dict):
        raise ProtocolError("malformed", "header is not an object")
    tag_hex = header.pop("tag", None)
    if header.get("v") != PROTOCOL_VERSION:
        raise ProtocolError("malformed", "unsupported protocol version %r" % (header.get("v"),))
    for key in header:
        if key not in ("v", "dev", "dir", "seq", "type", "body", "re", "att"):
            raise ProtocolError("malformed", "unknown header field %r" % (key,))
    try:
        expected = _header(
            header.get("dev"),
            header.get("dir"),
            header.get("seq"),
            header.get("type"),
            header.get("body"),
            header.get("re"),
            attachment,
        )
    except KeyError:
        raise ProtocolError("malformed", "header field missing")
    if header.get("att", 0) != len(attachment) or ("att" in header) != ("att" in expected):
        raise ProtocolError("malformed", "attachment length does not match the header")
    if not isinstance(tag_hex, str) or len(tag_hex) != 64:
        raise ProtocolError("malformed", "missing or malformed tag")
    try:
        tag = binascii.unhexlify(tag_hex)
    except ValueError:
        raise ProtocolError("malformed", "tag is not hex")
    # Encoding proves the header has a canonical form (no floats, sane depth); the
    # pieces go nowhere (``len`` takes each and drops it), so nothing is joined.
    dump(header, len)
    return Message(header, attachment, tag)
