"""MQTT topic names.

``shailoo/v1/<station>/dev/<device>/up``      device → controller, signed envelopes
``shailoo/v1/<station>/dev/<device>/status``  retained presence (online/offline), plain JSON
``shailoo/v1/<station>/ctl/<device>``         controller → device, signed with the device key

A device publishes only under its own ``dev/<device>/`` and reads only its own
``ctl/<device>`` topic, which is what the broker ACL enforces in production.
"""

from protocol.errors import ProtocolError
from protocol.ids import MAX_ID, valid_id

ROOT = "shailoo/v1"
# The id check lives in protocol.ids (a device keeps it, and drops this module after
# boot); it is named here too for the hosts that check ids with the topics.
__all__ = ["MAX_ID", "ROOT", "down", "parse", "status", "up", "valid_id"]


def _check(station, device):
    if not valid_id(station):
        raise ProtocolError("malformed", "bad station id %r" % (station,))
    if device != "+" and not valid_id(device):
        raise ProtocolError("malformed", "bad device id %r" % (device,))


def up(station, device):
    """Topic a device publishes its signed messages to."""
    _check(station, device)
    return ROOT + "/" + station + "/dev/" + device + "/up"


def status(station, device):
    """Retained presence topic of a device."""
    _check(station, device)
    return ROOT + "/" + station + "/dev/" + device + "/status"


def down(station, device):
    """Topic the controller publishes a device's replies to."""
    _check(station, device)
    return ROOT + "/" + station + "/ctl/" + device


def parse(topic):
    """Split a device topic into ``(station, device, kind)`` with kind ``up``/``status``/``down``.

    Raises ``ProtocolError`` for anything that is not a well-formed Shailoo topic.
    """
    parts = topic.split("/")
    if len(parts) == 6 and parts[0] + "/" + parts[1] == ROOT and parts[3] == "dev":
        station, device, kind = parts[2], parts[4], parts[5]
        if kind in ("up", "status") and valid_id(station) and valid_id(device):
            return station, device, kind
    if len(parts) == 5 and parts[0] + "/" + parts[1] == ROOT and parts[3] == "ctl":
        station, device = parts[2], parts[4]
        if valid_id(station) and valid_id(device):
            return station, device, "down"
    raise ProtocolError("malformed", "not a Shailoo topic: %r" % (topic[:120],))
