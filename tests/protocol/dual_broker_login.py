# A device's broker password, run under CPython and MicroPython (see tests/dual.py).
from protocol.broker_login import device_password
from tests.dual import run


def check_known_answers():
    # Reference values from CPython's hmac module: HMAC-SHA256(key, label), hex.
    assert device_password(bytes(range(32))) == (
        "ca4ee7fa902fb1e4e72d4065d497a47fb7f2c9b5eb2abec15589d16e48044a99")
    assert device_password(b"\xff" * 32) == (
        "acad6aa4d745b6d4a2bf034e408cebf050b659046130bf5bcc2340ea1d8c6502")


def check_keys_give_different_passwords():
    assert device_password(bytes(32)) != device_password(bytes(31) + b"\x01")


def check_bad_keys_refused():
    for bad in (b"", bytes(31), bytes(33), "00" * 32, None):
        try:
            device_password(bad)
        except ValueError:
            continue
        raise AssertionError("key %r accepted" % (bad,))


run(globals())
