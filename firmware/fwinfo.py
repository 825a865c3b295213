"""Firmware identity: version and the hash of the files that actually run.

``manifest.json`` (written by ``firmware.build``) lists every code file with its
SHA-256. At boot the device hashes its files again and derives ``fw_hash`` from
what it found, so a file changed after flashing gives a hash the controller does
not know (and quarantines) instead of the hash the manifest claims.

``fw_hash`` = SHA-256 (hex) of the canonical JSON ``{"files": {path: sha256 hex},
"version": version}``.
"""

import binascii
import hashlib

from protocol.canonical import dumps

MANIFEST = "manifest.json"
NO_HASH = "0" * 64


def _hex(digest):
    return binascii.hexlify(digest).decode()


def fw_hash(files, version):
    """The firmware hash of a ``{path: sha256 hex}`` map and a version string.

    The canonical JSON is hashed piece by piece, in exactly the bytes ``dumps`` of the
    whole would give: at boot the heap has no room for one string of all the paths.
    """
    h = hashlib.sha256()
    sep = b'{"files":{'
    for path in sorted(files):
        h.update(sep)
        h.update(dumps(path))
        h.update(b":")
        h.update(dumps(files[path]))
        sep = b","
    h.update(b'{"files":{}' if sep != b"," else b"}")
    h.update(b',"version":')
    h.update(dumps(version))
    h.update(b"}")
    return _hex(h.digest())


def file_sha256(path):
    """SHA-256 hex of a file, read in small blocks."""
    h = hashlib.sha256()
    buf = bytearray(512)
    with open(path, "rb") as f:
        while True:
            n = f.readinto(buf)
            if not n:
                break
            h.update(buf[:n] if n < len(buf) else buf)
    return _hex(h.digest())


def info(root="."):
    """``{"version", "fw_hash", "problems": [...]}`` of the firmware under ``root``."""
    import json

    from firmware import VERSION, store

    try:
        manifest = json.loads(store.read_bytes(store.join(root, MANIFEST)))
        listed = manifest["files"]
        version = manifest["version"]
    except (OSError, ValueError, KeyError, TypeError):
        return {"version": VERSION, "fw_hash": NO_HASH, "problems": ["no readable manifest"]}
    actual = {}
    problems = []
    for path in listed:
        try:
            actual[path] = file_sha256(store.join(root, path))
        except OSError:
            actual[path] = NO_HASH
            problems.append("missing " + path)
            continue
        if actual[path] != listed[path]:
            problems.append("changed " + path)
    digest = fw_hash(actual, version)
    if digest != manifest.get("fw_hash"):
        problems.append("fw_hash differs from the manifest")
    return {"version": version, "fw_hash": digest, "problems": problems}
