"""Canonical JSON: the exact bytes that message tags are computed over.

Both interpreters must produce identical bytes for the same value, so this does
not lean on either ``json.dumps`` (they differ in spacing, key order and escaping).
Rules: object keys sorted by code point, no whitespace, strings escaped with the
minimal JSON escapes and every non-ASCII character as ``\\uXXXX`` (UTF-16 pairs
above the BMP), integers only (floats have no single spelling), true/false/null.

``within`` is the other side's guard: how deep JSON text nests, measured before it is
parsed. CPython's ``json`` recurses once per ``[`` or ``{`` and a few kilobytes of
brackets raise ``RecursionError``; MicroPython's keeps its stack on the heap and a
device runs out of memory instead. It lives here rather than in a module of its own
because a module costs a terminal's heap more than the function does.
"""

from protocol.errors import ProtocolError

try:
    from micropython import const
except ImportError:  # CPython

    def const(value):
        return value


_HEX = "0123456789abcdef"
_SHORT = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f"}
_MAX_DEPTH = const(16)


def _u(code):
    return (
        "\\u"
        + _HEX[(code >> 12) & 15]
        + _HEX[(code >> 8) & 15]
        + _HEX[(code >> 4) & 15]
        + _HEX[code & 15]
    )


# Printable ASCII but for the quote and the backslash is copied as it is (the common
# case). Tested by comparison, not looked up in a set: a set of those 93 characters
# would hold over a kilobyte of a device's heap for good.
def _plain(s):
    for ch in s:
        if not " " <= ch <= "~" or ch == '"' or ch == "\\":
            return False
    return True


def _string(s, emit):
    if _plain(s):
        emit('"' + s + '"')
        return
    # Runs of plain characters and each escape go out as pieces of their own: a long
    # text of Cyrillic letters is never gathered whole.
    run = '"'
    for ch in s:
        if " " <= ch <= "~" and ch != '"' and ch != "\\":
            run += ch
            continue
        if run:
            emit(run)
            run = ""
        if ch in _SHORT:
            emit(_SHORT[ch])
        else:
            code = ord(ch)
            if code >= 0x10000:
                code -= 0x10000
                emit(_u(0xD800 | (code >> 10)))
                emit(_u(0xDC00 | (code & 0x3FF)))
            else:
                emit(_u(code))
    emit(run + '"')


def _value(v, emit, depth):
    if depth > _MAX_DEPTH:
        raise ProtocolError("malformed", "nested deeper than %d levels" % _MAX_DEPTH)
    if v is None:
        emit("null")
    elif v is True:
        emit("true")
    elif v is False:
        emit("false")
    elif isinstance(v, int):
        emit(str(v))
    elif isinstance(v, str):
        _string(v, emit)
    elif isinstance(v, (list, tuple)):
        emit("[")
        first = True
        for item in v:
            if not first:
                emit(",")
            first = False
            _value(item, emit, depth + 1)
        emit("]")
    elif isinstance(v, dict):
        keys = list(v.keys())
        for k in keys:
            if not isinstance(k, str):
                raise ProtocolError("malformed", "object key is not a string: %r" % (k,))
        keys.sort()
        sep = "{"
        for k in keys:
            # Separator, key and colon as one piece: fewer, larger pieces keep the
            # list short, which matters on a fragmented device heap.
            if _plain(k):
                emit(sep + '"' + k + '":')
            else:
                emit(sep)
                _string(k, emit)
                emit(":")
            sep = ","
            _value(v[k], emit, depth + 1)
        emit("}" if keys else "{}")
    else:
        raise ProtocolError(
            "malformed", "value of type %s has no canonical form" % type(v).__name__
        )


def dumps(value):
    """Return the canonical JSON bytes of ``value`` (dict, list, str, int, bool, None)."""
    out = []
    _value(value, out.append, 0)
    return "".join(out).encode()


def dump(value, emit):
    """Hand the canonical JSON of ``value`` to ``emit`` as short ASCII ``str`` pieces.

    Nothing is joined: a device writes the pieces to a file, a hash or a UART as they
    come, so the whole text never needs one contiguous block of its heap.
    """
    _value(value, emit, 0)


# Only quotes and brackets matter to the depth. CPython first removes escaped
# backslashes and escaped quotes (pairs read from the left, as JSON does), then every
# other byte, so the loop runs over a few percent of a typical document. MicroPython's
# bytes has no translate: a device walks every byte and keeps no table.
try:
    _NOISE = bytes(b for b in range(256) if b not in (34, 91, 93, 123, 125))
    b"".translate(None, _NOISE)
except (AttributeError, TypeError):
    _NOISE = None


def within(data, limit):
    """True when JSON text ``data`` nests no deeper than ``limit`` brackets.

    ``data`` is bytes, bytearray, memoryview or str. Brackets inside strings do not
    count; an escaped quote does not end a string. Text that is not JSON at all may
    pass: the parser that follows judges it.
    """
    if isinstance(data, str):
        data = data.encode()
    if _NOISE is not None:
        data = bytes(data).replace(b"\\\\", b"").replace(b'\\"', b"").translate(None, _NOISE)
    depth = 0
    in_string = False
    escaped = False
    for byte in data:  # bytes, bytearray and memoryview all give ints, never a copy
        if in_string:
            if escaped:
                escaped = False
            elif byte == 92:  # backslash
                escaped = True
            elif byte == 34:  # quote
                in_string = False
        elif byte == 34:
            in_string = True
        elif byte == 91 or byte == 123:  # [ {
            depth += 1
            if depth > limit:
                return False
        elif byte == 93 or byte == 125:  # ] }
            depth -= 1
    return True
