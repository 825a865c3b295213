"""A device's broker password, derived from its 32-byte message key.

The password is HMAC-SHA256 of a fixed label under the key, as 64 hex digits: the
device computes it at boot and the station's broker configuration holds only its
hash, so provisioning writes one secret into a device, not two. The label keeps the
password apart from every message tag made with the same key (a tag is an HMAC over
a canonical JSON header, which never equals the label).
"""

import binascii

from protocol.hmac_sha256 import hmac_sha256

LABEL = b"shailoo broker password v1"
KEY_BYTES = 32


def device_password(key):
    """The broker password (64 lowercase hex digits) of the device whose key is ``key``."""
    if not isinstance(key, (bytes, bytearray)) or len(key) != KEY_BYTES:
        raise ValueError("a device key is %d bytes" % KEY_BYTES)
    return binascii.hexlify(hmac_sha256(key, LABEL)).decode()
