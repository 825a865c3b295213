"""What a scanner's sheet id looks like: ``<device>-...``, short, lowercase."""

from __future__ import annotations

from protocol.errors import ProtocolError

MAX_SHEET_ID = 80
_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-")


def check_sheet_id(device: str, sheet: object) -> str:
    """Return ``sheet`` if it is a well-formed sheet id of ``device`` (``<device>-...``)."""
    if (
        not isinstance(sheet, str)
        or not sheet.startswith(device + "-")
        or len(sheet) > MAX_SHEET_ID
        or not set(sheet) <= _ID_CHARS
    ):
        raise ProtocolError("malformed", f"sheet id {str(sheet)[:90]!r} is not one of {device}'s")
    return sheet
