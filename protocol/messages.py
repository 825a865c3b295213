"""The type of every signed message between a device and the controller.

One name a message, used by the firmware and the controller alike, so that a type
is spelt in one place. ``protocol/interface.py`` says who sends each, on which
topic, with which body; ``docs/asyncapi.json`` is generated from that.

Plain string constants (no tuples, no classes): on a device every name here costs a
slot in the heap.
"""

# device -> controller; answered by HELLO_ACK. Sent after every connect.
HELLO = "hello"
HELLO_ACK = "hello.ack"

# terminal -> controller: a document (and a finger reference); answered by CHECKIN_RESULT.
CHECKIN_REQUEST = "checkin.request"
CHECKIN_RESULT = "checkin.result"

# device -> controller: a chunked blob (scanner: ballot image, terminal: finger).
# The scanner's BLOB_END is answered by BALLOT_DECISION.
BLOB_BEGIN = "blob.begin"
BLOB_CHUNK = "blob.chunk"
BLOB_END = "blob.end"
BALLOT_DECISION = "ballot.decision"

# scanner -> controller: the sheet is in the box; answered by BALLOT_RECORDED.
BALLOT_DROPPED = "ballot.dropped"
BALLOT_RECORDED = "ballot.recorded"

# scanner -> controller: the sheet went back to the voter; answered by BALLOT_VOIDED.
BALLOT_RETURNED = "ballot.returned"
BALLOT_VOIDED = "ballot.voided"

# device -> controller: something for the audit log (jam, restart, slip not printed ...).
EVENT = "event"
