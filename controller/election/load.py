"""Reading an election definition file in either form: the project's JSON or NIST.

``load_election(path)`` and ``parse_election_json(data)`` take the project's form
(``controller.election.definition``) or a NIST SP 1500-100 election report
(``"@type": "ElectionResults.ElectionReport"``), which
``controller.nist.election_report`` converts into the project's form. Both parse the
JSON strictly (``decode_json``: UTF-8, no key twice, no NaN) and cap its size.

Kept apart from the definition so that the NIST converter, which builds definitions,
and the definition itself do not import each other.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from controller.election.definition import Election, ElectionError
from controller.nist.election_report import from_election_report
from protocol.canonical import within

MAX_FILE = 1024 * 1024
MAX_NIST_FILE = 4 * 1024 * 1024
# Only what keeps the parser from recursing without end: the definition's own depth
# rule (40 levels, with the path of the offending node) is checked after parsing.
MAX_DEPTH = 200


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            # JSON parsers disagree on which duplicate wins; a definition must not be ambiguous.
            raise ElectionError([f"key {key!r} appears twice in one object"])
        out[key] = value
    return out


def _reject_constant(name: str) -> Any:
    raise ElectionError([f"{name} is not a JSON number a definition may hold"])


def decode_json(data: bytes, source: str = "election") -> Any:
    """Parse JSON bytes strictly: UTF-8, no key twice in an object, no NaN or Infinity."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ElectionError([f"not UTF-8 text (byte {err.start})"], source) from None
    if not within(data, MAX_DEPTH):
        raise ElectionError(["nested too deeply"], source)
    try:
        return json.loads(
            text, object_pairs_hook=_no_duplicate_keys, parse_constant=_reject_constant
        )
    except ElectionError as err:
        raise ElectionError(err.problems, source) from None
    except json.JSONDecodeError as err:
        raise ElectionError(
            [f"not valid JSON: {err.msg} at line {err.lineno} column {err.colno}"], source
        ) from None


def is_election_report(doc: Any) -> bool:
    """True for a document in NIST form (an object with an ``@type``), whatever its type."""
    return isinstance(doc, dict) and "@type" in doc


def parse_election_json(data: bytes | str, source: str = "election") -> Election:
    """Parse and check a definition from JSON text, in the project's form or NIST's.

    The project's form may be up to ``MAX_FILE`` bytes; a NIST SP 1500-100 election
    report, several times as wordy for the same election, up to ``MAX_NIST_FILE``.
    """
    if isinstance(data, str):
        data = data.encode("utf-8")
    if len(data) > MAX_NIST_FILE:
        raise ElectionError([f"larger than {MAX_NIST_FILE} bytes ({len(data)})"], source)
    too_large = ElectionError([f"larger than {MAX_FILE} bytes ({len(data)})"], source)
    try:
        doc = decode_json(data, source)
    except ElectionError:
        if len(data) > MAX_FILE:
            raise too_large from None
        raise
    if is_election_report(doc):
        return from_election_report(doc, source)
    if len(data) > MAX_FILE:
        raise too_large
    return Election.from_dict(doc, source)


def load_election(path: str | Path) -> Election:
    """Read and check the election definition in the JSON file at ``path`` (either form)."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_NIST_FILE:
            raise ElectionError([f"larger than {MAX_NIST_FILE} bytes ({size})"], str(path))
        with path.open("rb") as f:
            # Read no more than the cap even if the file grows after the stat.
            data = f.read(MAX_NIST_FILE + 1)
    except OSError as err:
        raise ElectionError([f"cannot read: {err.strerror or err}"], str(path)) from None
    return parse_election_json(data, str(path))
