"""Load and check the device's ``config.json``.

Keys (see docs/wire.md and the provisioning tools)::

    {"device": id, "role": "idterminal" | "scanner", "station": id,
     "key": 64 hex digits (the 32-byte HMAC key), "broker": {"host", "port",
     "ca", optional "username", "password"}, "board": "unix" | "esp32s3",
     "uart": {name: path or pin description}, "keepalive": 30}

Optional tuning keys: ``reply_timeout`` (seconds a terminal waits for a check-in
answer, default 20), ``decision_timeout`` (seconds a scanner waits for the
accept/return decision before it returns the sheet, default 15), ``wifi``
(``{"ssid", "password"}``, reference board only).

A terminal's fingerprint sensor and slip printer sit on the optional UARTs
``finger`` and ``printer``; without them it checks in by document alone (finger
status ``no_sensor``) and prints nothing. Their keys: ``finger_kind``
(``"zhiantec-image"``, the default: the sensor's 256 x 288 image goes to the
controller; ``"iso19794-2"``: a sensor that makes ISO/IEC 19794-2 templates, which go
instead), ``finger_attempts`` (captures before the voter counts as having no usable
finger, default 3), ``finger_timeout`` (seconds to wait for the finger on each
attempt, default 10), ``slip_wait`` (seconds a slip waits for a printer fault to be
cleared before the poll worker is asked to write the row by hand, default 120).

``broker.ca`` is the station CA's certificate (base64 of its DER form, as
``shailoo broker config`` writes it in ``device-broker.json``): the device connects
over TLS and only to a broker whose certificate that CA signed, for the host name or
address in ``broker.host``. Without it the device connects in clear, which only the
training broker of a machine without Mosquitto accepts. The user name is the device
id and the password is derived from the key (``protocol.broker_login``) unless the
configuration names others.

Every problem is reported as a ``ConfigError`` naming the key and what is wrong;
nothing is guessed or defaulted for the required keys.
"""

import binascii
import json

from protocol.canonical import within
from protocol.ids import valid_id

ROLES = ("idterminal", "scanner")
BOARDS = ("unix", "esp32s3")
UARTS = {"idterminal": ("mrz", "display"), "scanner": ("scan", "display")}
OPTIONAL_UARTS = {"idterminal": ("finger", "printer"), "scanner": ()}
REQUIRED = ("device", "role", "station", "key", "broker", "board", "uart")
OPTIONAL = {"keepalive": 30, "reply_timeout": 20, "decision_timeout": 15, "wifi": None,
            "finger_kind": "zhiantec-image", "finger_attempts": 3, "finger_timeout": 10,
            "slip_wait": 120}
FINGER_KINDS = ("zhiantec-image", "iso19794-2")
_HEXDIGITS = "0123456789abcdefABCDEF"
# A config is a few hundred bytes, a CA certificate included; anything far larger or
# deeper is not one, and must not take the heap a device boots with.
MAX_CONFIG = 16384
MAX_CONFIG_DEPTH = 4
MAX_CA = 4096  # base64 characters: a P-256 CA is about 600, an RSA-4096 one about 2000


def _check_ca(text):
    """Raise ``ConfigError`` unless ``text`` is base64 of one DER certificate."""
    if not isinstance(text, str) or not text or len(text) > MAX_CA:
        raise ConfigError("'broker.ca' must be the station CA certificate as base64 DER "
                          "(at most %d characters)" % MAX_CA)
    try:
        der = binascii.a2b_base64(text)
    except ValueError:
        raise ConfigError("'broker.ca' is not valid base64")
    # A DER certificate is one SEQUENCE with a long-form length that covers the rest.
    if len(der) < 4 or der[0] != 0x30 or der[1] not in (0x81, 0x82):
        raise ConfigError("'broker.ca' is not a DER certificate (a PEM file needs its "
                          "base64 body only)")
    size = der[2] + 3 if der[1] == 0x81 else (der[2] << 8 | der[3]) + 4
    if size != len(der):
        raise ConfigError("'broker.ca' is truncated or has bytes after the certificate")


class ConfigError(Exception):
    """The configuration cannot be used; the message says which key and why."""


def _int(cfg, name, low, high):
    value = cfg.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ConfigError(
            "%r must be a whole number from %d to %d, not %r" % (name, low, high, value)
        )
    return value


def check(cfg):
    """Validate a parsed config dict; return it with optional keys filled in."""
    if not isinstance(cfg, dict):
        raise ConfigError("the configuration must be a JSON object")
    for name in REQUIRED:
        if name not in cfg:
            raise ConfigError("required key %r is missing" % name)
    for name in cfg:
        if name not in REQUIRED and name not in OPTIONAL:
            # Not fatal: a newer provisioning tool may know more keys than this firmware.
            print("[config] ignoring unknown key %r" % name)
    for name in ("device", "station"):
        if not valid_id(cfg[name]):
            raise ConfigError("%r must match [a-z0-9][a-z0-9-]{0,31}, not %r" % (name, cfg[name]))
    if cfg["role"] not in ROLES:
        raise ConfigError("'role' must be one of %s, not %r" % (", ".join(ROLES), cfg["role"]))
    if cfg["board"] not in BOARDS:
        raise ConfigError("'board' must be one of %s, not %r" % (", ".join(BOARDS), cfg["board"]))
    key = cfg["key"]
    if not isinstance(key, str) or len(key) != 64 or any(c not in _HEXDIGITS for c in key):
        raise ConfigError("'key' must be 64 hex digits (a 32-byte key)")
    broker = cfg["broker"]
    if not isinstance(broker, dict):
        raise ConfigError("'broker' must be an object with 'host' and 'port'")
    if not isinstance(broker.get("host"), str) or not broker.get("host"):
        raise ConfigError("'broker.host' must be a host name or address")
    port = broker.get("port")
    if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
        raise ConfigError("'broker.port' must be a TCP port (1-65535), not %r" % (port,))
    for name in ("username", "password"):
        if name in broker and (not isinstance(broker[name], str) or not broker[name]):
            raise ConfigError("'broker.%s' must be a non-empty string" % name)
    if "ca" in broker:
        _check_ca(broker["ca"])
    uart = cfg["uart"]
    if not isinstance(uart, dict):
        raise ConfigError("'uart' must be an object mapping UART names to ports")
    for name in UARTS[cfg["role"]]:
        if name not in uart:
            raise ConfigError("a %s needs the UART %r in 'uart'" % (cfg["role"], name))
    for name in UARTS[cfg["role"]] + OPTIONAL_UARTS[cfg["role"]]:
        if name in uart and (not isinstance(uart[name], (str, dict)) or not uart[name]):
            raise ConfigError("'uart.%s' must be a device path or a pin description" % name)
    out = dict(cfg)
    for name in OPTIONAL:
        if name not in out:
            out[name] = OPTIONAL[name]
    _int(out, "keepalive", 5, 3600)
    _int(out, "reply_timeout", 1, 600)
    _int(out, "decision_timeout", 1, 600)
    _int(out, "finger_attempts", 1, 10)
    _int(out, "finger_timeout", 1, 120)
    _int(out, "slip_wait", 0, 3600)
    if out["finger_kind"] not in FINGER_KINDS:
        raise ConfigError("'finger_kind' must be one of %s, not %r" % (
            ", ".join(FINGER_KINDS), out["finger_kind"]))
    wifi = out["wifi"]
    if wifi is not None and (not isinstance(wifi, dict) or not isinstance(wifi.get("ssid"), str)):
        raise ConfigError("'wifi' must be an object with 'ssid' and 'password'")
    return out


def load(path="config.json"):
    """Read, parse and validate ``path``."""
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_CONFIG + 1)
    except OSError:
        raise ConfigError("%s not found: the device is not provisioned" % path)
    if len(raw) > MAX_CONFIG:
        raise ConfigError("%s is larger than %d bytes" % (path, MAX_CONFIG))
    if not within(raw, MAX_CONFIG_DEPTH):
        raise ConfigError("%s nests deeper than %d levels" % (path, MAX_CONFIG_DEPTH))
    try:
        cfg = json.loads(raw)
    except ValueError:
        raise ConfigError("%s is not valid JSON" % path)
    try:
        return check(cfg)
    except ConfigError as err:
        raise ConfigError("%s: %s" % (path, err))
