"""The station's voter list: import from CSV or JSON, validated, stored once.

CSV columns (header line required, any order)::

    row,voter_id,surname,given_names,birth_date,sex,document_type,document_number,personal_number,style

``birth_date`` is YYYY-MM-DD, ``sex`` M, F or X, ``document_type`` ``ID`` (ID card)
or ``P`` (passport). JSON is a list of objects with the same keys (``row`` an
integer). Every problem is reported with its line (CSV) or item (JSON) number, all
of them at once; a list with any problem is refused as a whole. Duplicate list rows,
voter ids and document numbers are problems.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import sqlite3
from collections.abc import Collection, Iterable
from dataclasses import astuple, dataclass
from datetime import date
from pathlib import Path
from typing import Any

from controller.election.definition import MAX_DEFINITION_ID
from protocol.canonical import within

# A list of flat voter objects: anything deeper is not a voter list.
MAX_JSON_DEPTH = 3

FIELDS = (
    "row",
    "voter_id",
    "surname",
    "given_names",
    "birth_date",
    "sex",
    "document_type",
    "document_number",
    "personal_number",
    "style",
)
SEXES = ("M", "F", "X")
DOCUMENT_TYPES = ("ID", "P")
MAX_TEXT = 100
MAX_ERRORS = 50
_DOC_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")


class VoterListError(ValueError):
    """The voter list has problems; ``errors`` lists each with its line or item."""

    def __init__(self, errors: list[str]) -> None:
        shown = errors[:MAX_ERRORS]
        more = f"\n... and {len(errors) - MAX_ERRORS} more" if len(errors) > MAX_ERRORS else ""
        super().__init__("voter list refused:\n" + "\n".join(shown) + more)
        self.errors = errors


@dataclass(frozen=True)
class Voter:
    """One entry of the voter list."""

    row: int
    voter_id: str
    surname: str
    given_names: str
    birth_date: str
    sex: str
    document_type: str
    document_number: str
    personal_number: str
    style: str

    @property
    def name(self) -> str:
        """The name as the list prints it: surname, then given names."""
        return f"{self.surname} {self.given_names}".strip()


def _text(
    value: object, field: str, required: bool, problems: list[str], most: int = MAX_TEXT
) -> str:
    if not isinstance(value, str):
        problems.append(f"{field} must be text")
        return ""
    value = value.strip()
    if required and not value:
        problems.append(f"{field} is empty")
    elif len(value) > most:
        problems.append(f"{field} is longer than {most} characters")
    elif any(ord(c) < 32 for c in value):
        problems.append(f"{field} contains control characters")
    return value


def _record(raw: dict[str, Any], styles: Collection[str] | None) -> tuple[Voter | None, list[str]]:
    problems: list[str] = []
    missing = [f for f in FIELDS if f not in raw]
    if missing:
        return None, [f"missing field(s) {', '.join(missing)}"]
    extra = sorted(set(raw) - set(FIELDS))
    if extra:
        problems.append(f"unknown field(s) {', '.join(extra)}")

    row_value = raw["row"]
    row = 0
    if isinstance(row_value, str) and row_value.strip().isdigit():
        row = int(row_value.strip())
    elif isinstance(row_value, int) and not isinstance(row_value, bool):
        row = row_value
    if row <= 0:
        problems.append(f"row {row_value!r} must be a positive whole number")

    voter_id = _text(raw["voter_id"], "voter_id", True, problems)
    surname = _text(raw["surname"], "surname", True, problems)
    given = _text(raw["given_names"], "given_names", False, problems)

    birth = _text(raw["birth_date"], "birth_date", True, problems)
    if birth:
        try:
            parsed = date.fromisoformat(birth)
            if len(birth) != 10:
                raise ValueError(birth)
            if parsed > date.today():
                problems.append(f"birth_date {birth} is in the future")
        except ValueError:
            problems.append(f"birth_date {birth!r} is not a date YYYY-MM-DD")

    sex = _text(raw["sex"], "sex", True, problems).upper()
    if sex and sex not in SEXES:
        problems.append(f"sex {sex!r} must be one of {', '.join(SEXES)}")

    doc_type = _text(raw["document_type"], "document_type", True, problems).upper()
    if doc_type and doc_type not in DOCUMENT_TYPES:
        problems.append(f"document_type {doc_type!r} must be ID or P")

    doc_number = _text(raw["document_number"], "document_number", True, problems).upper()
    if doc_number and (len(doc_number) > 20 or not set(doc_number) <= _DOC_CHARS):
        problems.append(f"document_number {doc_number!r} must be 1-20 letters A-Z and digits")

    personal = _text(raw["personal_number"], "personal_number", False, problems).upper()
    if personal and (len(personal) > 20 or not set(personal) <= _DOC_CHARS):
        problems.append(f"personal_number {personal!r} must be letters A-Z and digits")

    # A style id is the definition's, as long as another tool made it.
    style = _text(raw["style"], "style", True, problems, MAX_DEFINITION_ID)
    if style and styles is not None and style not in styles:
        problems.append(f"style {style!r} is not a ballot style of the election")

    if problems:
        return None, problems
    voter = Voter(row, voter_id, surname, given, birth, sex, doc_type, doc_number, personal, style)
    return voter, []


def _check_all(
    items: Iterable[tuple[str, dict[str, Any] | str]], styles: Collection[str] | None
) -> list[Voter]:
    # An item is a record, or the text of a problem that kept it from being one.
    voters: list[Voter] = []
    errors: list[str] = []
    first_seen: dict[tuple[str, object], str] = {}
    for where, raw in items:
        if isinstance(raw, str):
            errors.append(f"{where}: {raw}")
            continue
        voter, problems = _record(raw, styles)
        errors.extend(f"{where}: {p}" for p in problems)
        if voter is None:
            continue
        for field in ("row", "voter_id", "document_number"):
            key = (field, getattr(voter, field))
            if key in first_seen:
                errors.append(f"{where}: {field} {key[1]!r} duplicates {first_seen[key]}")
            else:
                first_seen[key] = where
        voters.append(voter)
    if errors:
        raise VoterListError(errors)
    return voters


def parse_csv(
    text: str, source: str = "voters.csv", styles: Collection[str] | None = None
) -> list[Voter]:
    """Parse and validate a CSV voter list; raise ``VoterListError`` listing every problem."""
    text = text.removeprefix("\ufeff")  # spreadsheets save UTF-8 with a byte-order mark
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise VoterListError([f"{source}: the file is empty"]) from None
    except csv.Error as err:
        raise VoterListError([f"{source} line 1: {err}"]) from None
    header = [h.strip() for h in header]
    missing = [f for f in FIELDS if f not in header]
    extra = [h for h in header if h not in FIELDS]
    if missing or extra or len(set(header)) != len(header):
        raise VoterListError(
            [
                f"{source} line 1: header must name the columns {','.join(FIELDS)}"
                + (f"; missing {', '.join(missing)}" if missing else "")
                + (f"; unknown {', '.join(extra)}" if extra else "")
            ]
        )

    def items() -> Iterable[tuple[str, dict[str, Any] | str]]:
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as err:
                yield f"{source} line {reader.line_num}", str(err)
                continue
            if not any(c.strip() for c in cells):
                continue  # blank lines at the end of a spreadsheet export
            where = f"{source} line {reader.line_num}"
            if len(cells) != len(header):
                yield where, f"{len(cells)} cells, expected {len(header)}"
                continue
            yield where, dict(zip(header, cells, strict=True))

    return _check_all(items(), styles)


def parse_json(
    text: str, source: str = "voters.json", styles: Collection[str] | None = None
) -> list[Voter]:
    """Parse and validate a JSON voter list (a list of objects)."""
    if not within(text, MAX_JSON_DEPTH):
        raise VoterListError([f"{source}: nested deeper than a voter list ({MAX_JSON_DEPTH})"])
    try:
        data = json.loads(text)
    except ValueError as err:
        raise VoterListError([f"{source}: not valid JSON: {err}"]) from None
    if not isinstance(data, list):
        raise VoterListError([f"{source}: expected a list of voter objects"])
    items: list[tuple[str, dict[str, Any] | str]] = []
    for i, item in enumerate(data, start=1):
        where = f"{source} item {i}"
        items.append((where, item if isinstance(item, dict) else "expected an object"))
    return _check_all(items, styles)


def load_voters(path: str | Path, styles: Collection[str] | None = None) -> list[Voter]:
    """Read a ``.csv`` or ``.json`` voter list; ``styles`` are the election's style ids."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise VoterListError([f"cannot read {path}: {err.strerror}"]) from None
    except UnicodeDecodeError as err:
        raise VoterListError(
            [f"{path}: not UTF-8 text ({err.reason} at byte {err.start})"]
        ) from None
    if path.suffix.lower() == ".json":
        return parse_json(text, path.name, styles)
    return parse_csv(text, path.name, styles)


def digest(voters: Iterable[Voter]) -> str:
    """SHA-256 over the list's content, to notice a changed list at restart."""
    h = hashlib.sha256()
    for v in sorted(voters, key=lambda v: v.row):
        h.update(json.dumps(astuple(v), ensure_ascii=False).encode() + b"\n")
    return h.hexdigest()


def store_voters(conn: sqlite3.Connection, voters: Iterable[Voter]) -> int:
    """Replace the stored list with ``voters`` inside the caller's transaction.

    Refused (``VoterListError``) once any ballot has been issued: the list that
    ballots were issued against is never swapped underneath them.
    """
    issued = conn.execute("SELECT COUNT(*) FROM issuances").fetchone()[0]
    if issued:
        raise VoterListError([f"{issued} ballots are already issued; the list cannot change"])
    conn.execute("DELETE FROM voters")
    count = 0
    for v in voters:
        conn.execute(
            "INSERT INTO voters (row, voter_id, surname, given_names, birth_date, sex, "
            "document_type, document_number, personal_number, style) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            astuple(v),
        )
        count += 1
    return count


def find_by_document(conn: sqlite3.Connection, document_number: str) -> Voter | None:
    """The voter whose list entry carries this document number, if any."""
    row = conn.execute(
        "SELECT row, voter_id, surname, given_names, birth_date, sex, document_type, "
        "document_number, personal_number, style FROM voters WHERE document_number = ?",
        (document_number.upper(),),
    ).fetchone()
    return Voter(*row) if row else None
