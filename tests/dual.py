"""Run a plain-assert check script under both interpreters.

A dual script defines ``check_*`` functions using only the MicroPython/CPython
common subset, and ends with ``run(globals())``. Under pytest each script is run
twice: in this CPython process and in a ``micropython`` subprocess with the
repository on its path.
"""

import os
import sys


def run(namespace):
    """Call every ``check_*`` function in ``namespace``; print a summary; exit 1 on failure."""
    names = sorted(n for n in namespace if n.startswith("check_"))
    failed = []
    for name in names:
        try:
            namespace[name]()
        except Exception as err:  # noqa: BLE001 - report every failing check, not just the first
            failed.append(name)
            print("FAIL", name, type(err).__name__, err)
    print("%d passed, %d failed" % (len(names) - len(failed), len(failed)))
    if failed:
        sys.exit(1)


def raises(code, func, *args):
    """Assert that ``func(*args)`` raises a ProtocolError-like error with ``code``."""
    try:
        func(*args)
    except Exception as err:  # noqa: BLE001 - inspected below
        got = getattr(err, "code", None)
        assert got == code, "expected %s, got %s (%s)" % (code, got, err)
        return err
    raise AssertionError("expected error %s, nothing raised" % code)


def rmtree(path):
    """Remove the file or folder tree at ``path``, if there is one (no shutil on MicroPython)."""
    try:
        mode = os.stat(path)[0]
    except OSError:
        return
    if mode & 0x4000:
        for name in os.listdir(path):
            rmtree(path + "/" + name)
        os.rmdir(path)
    else:
        os.remove(path)
