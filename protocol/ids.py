"""Station and device ids: ``[a-z0-9][a-z0-9-]{0,31}``.

Apart from ``protocol.topics`` so that a device keeps only this check in its heap
(the envelope checks every ``dev``) and drops the topic builders once its link has
made its three topics.
"""

_ID_FIRST = "abcdefghijklmnopqrstuvwxyz0123456789"
_ID_REST = _ID_FIRST + "-"
MAX_ID = 32


def valid_id(name):
    """True when ``name`` is a usable station or device id: ``[a-z0-9][a-z0-9-]{0,31}``."""
    if not isinstance(name, str) or not 0 < len(name) <= MAX_ID or name[0] not in _ID_FIRST:
        return False
    for ch in name:
        if ch not in _ID_REST:
            return False
    return True
