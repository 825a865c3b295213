"""How deep JSON text nests, measured before it is parsed.

CPython's ``json`` recurses once per ``[`` or ``{`` and a few kilobytes of brackets
raise ``RecursionError``; MicroPython's keeps a stack on the heap and a device runs
out of memory instead. Every reader of JSON from outside therefore asks
``within(data, limit)`` first: one pass over the bytes, counting brackets outside
strings, with no allocation that grows with the input.
"""

_QUOTE = 34  # "
_BACKSLASH = 92
_OPEN = (91, 123)  # [ {
_CLOSE = (93, 125)  # ] }
# Only quotes and brackets matter to the count. CPython first removes escaped
# backslashes and escaped quotes (pairs read from the left, as JSON does), then every
# other byte, so the loop below runs over a few percent of a typical document.
# MicroPython's bytes has no translate: a device walks every byte and keeps no table.
_NOISE = (
    bytes(b for b in range(256) if b not in (34, 91, 93, 123, 125))
    if hasattr(b"", "translate")
    else None
)


def _significant(data):
    if _NOISE is None:
        return data  # bytes, bytearray or memoryview: iterated as they are, never copied
    if not isinstance(data, bytes):
        data = bytes(data)
    return data.replace(b"\\\\", b"").replace(b'\\"', b"").translate(None, _NOISE)


def within(data, limit):
    """True when JSON text ``data`` nests no deeper than ``limit``.

    ``data`` is bytes, bytearray, memoryview or str.
    Brackets inside strings do not count; an escaped quote does not end a string.
    Text that is not JSON at all may pass: the parser that follows judges it.
    """
    if isinstance(data, str):
        data = data.encode()
    depth = 0
    in_string = False
    escaped = False
    for byte in _significant(data):
        if in_string:
            if escaped:
                escaped = False
            elif byte == _BACKSLASH:
                escaped = True
            elif byte == _QUOTE:
                in_string = False
        elif byte == _QUOTE:
            in_string = True
        elif byte in _OPEN:
            depth += 1
            if depth > limit:
                return False
        elif byte in _CLOSE:
            depth -= 1
    return True
