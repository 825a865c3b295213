"""Small helpers for state files on the device's flash.

Every state file is replaced atomically: written to ``<name>.tmp`` and renamed
over the old one, so a power cut leaves either the old or the new content, never
a torn file. MicroPython has no ``fsync``; closing the file hands it to the
filesystem (littlefs on the reference board commits on close; the unix port's
kernel page cache survives a killed process).
"""

import json
import os


def join(*parts):
    """Join path parts with ``/`` (MicroPython has no ``os.path``)."""
    out = ""
    for part in parts:
        if not part or part == ".":
            continue
        out = part if not out else out.rstrip("/") + "/" + part
    return out or "."


def exists(path):
    """True when ``path`` names a file or directory."""
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def is_dir(path):
    """True when ``path`` is a directory."""
    try:
        return os.stat(path)[0] & 0x4000 != 0
    except OSError:
        return False


def makedirs(path):
    """Create ``path`` and its parents when missing."""
    so_far = ""
    for part in path.split("/"):
        if not part:
            so_far = "/" if not so_far else so_far
            continue
        so_far = part if not so_far else (so_far.rstrip("/") + "/" + part)
        if not exists(so_far):
            os.mkdir(so_far)


def write_atomic(path, fill, args=(), limit=0):
    """Replace the file at ``path`` with ASCII text: ``fill`` itself when it is a ``str``,
    else what ``fill(write, *args)`` writes through ``write(str)``, piece by piece.

    A ``limit`` (bytes, 0: none) that the text goes past, or an error in ``fill``,
    leaves the old file as it was and raises.
    """
    tmp = path + ".tmp"
    try:
        with open(tmp, "w") as f:
            if isinstance(fill, str):
                f.write(fill)
            else:
                fill(f.write, *args)
            if limit and f.tell() > limit:
                raise ValueError("%s would exceed %d bytes" % (path, limit))
    except Exception:
        remove(tmp)
        raise
    os.rename(tmp, path)


def read_bytes(path):
    """Whole content of a file."""
    with open(path, "rb") as f:
        return f.read()


def read_json(path, default=None):
    """Parse a JSON state file; ``default`` when it does not exist.

    A file that exists but does not parse raises ``ValueError`` naming the file:
    state that cannot be read must never be silently replaced by a default.
    """
    try:
        data = read_bytes(path)
    except OSError:
        return default
    try:
        return json.loads(data)
    except ValueError:
        raise ValueError("state file %s is corrupt" % path)


def write_json(path, value):
    """Atomically replace ``path`` with the JSON of ``value``."""
    write_atomic(path, json.dumps(value))


def remove(path):
    """Delete a file if it exists."""
    try:
        os.remove(path)
    except OSError:
        pass
