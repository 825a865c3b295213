"""Checking a station's records against each other and against the station's signatures.

``check(conn, key)`` walks the audit chain, checks every seal with the station's public
key (``key``; None checks the chain and the records only), and then cross-checks what
counts votes:

* the chain: every entry's content against its hash, every link, no id missing;
* the seals: each signed by ``key``, each naming the hash the chain really has at its
  entry (a recomputed chain does not), the head seal at the last entry (entries cut
  off the end, or added after the station last signed, show here);
* the closing seal: the stored results and the cast vote records are those signed at
  closing, record by record (``controller.integrity.cvr_set``), and so is their NIST
  export, written again from the store and, with ``cvr_file``, an export file; with
  ``paper``, the short code printed on the results protocol is this closing seal's;
* the counts: ballots cast in the audit log, in ``sheets``, in ``cvrs`` and in the
  results; ballots issued in the audit log, in ``issuances`` and in the results; the
  audit entry of the results against the stored results; and a recount of the records
  against the results, option by option.

Each problem is one line that says what differs and where.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from controller.integrity import cvr_set, seals
from controller.integrity.station_key import fingerprint, public_hex
from controller.store import audit
from protocol.canonical import dumps

RESULT_KINDS = ("polls.closed", "results.final")
MAX_CVR_FILE = 512 * 1024 * 1024  # an export of 100,000 ballots is far below this


@dataclass
class Report:
    """What a check found; ``ok`` when it found nothing wrong."""

    entries: int = 0
    problems: list[str] = field(default_factory=list)
    first_bad_entry: int | None = None
    signed_entry: int | None = None
    key: str | None = None
    paper_code: str | None = None
    recounted: bool = False

    @property
    def ok(self) -> bool:
        """Whether nothing was found wrong."""
        return not self.problems

    def add(self, problem: str, entry: int | None = None) -> None:
        """Record a problem (and the first audit entry it implicates)."""
        self.problems.append(problem)
        if entry is not None and (self.first_bad_entry is None or entry < self.first_bad_entry):
            self.first_bad_entry = entry

    def to_json(self) -> dict[str, Any]:
        """The report as the API serves it."""
        return {
            "intact": self.ok,
            "first_bad_entry": self.first_bad_entry,
            "entries": self.entries,
            "signed_entry": self.signed_entry,
            "key": self.key,
            "paper_code": self.paper_code,
            "recounted": self.recounted,
            "problems": self.problems,
        }


def check(
    conn: sqlite3.Connection,
    key: Ed25519PublicKey | None,
    election: Any = None,
    paper: str | None = None,
    cvr_file: Path | None = None,
) -> Report:
    """Check the store read through ``conn`` (one read transaction); see the module.

    ``election`` defaults to the definition kept with the records."""
    report = Report(key=fingerprint(key) if key is not None else None)
    election = election if election is not None else _kept_election(conn)
    entries, computed = _walk_chain(conn, report)
    if key is not None:
        _check_seals(conn, key, computed, report, paper, election, cvr_file)
    elif cvr_file is not None:
        report.add("cvr export: checked against the closing seal only, which needs the key")
    _check_counts(conn, entries, report)
    _check_results(conn, entries, election, report)
    return report


def check_data(
    data_dir: Path,
    key: Ed25519PublicKey | None,
    election: Any = None,
    paper: str | None = None,
    cvr_file: Path | None = None,
) -> Report:
    """``check`` on the database of a station's data folder, opened read-only (checking
    records never changes them: no migration, no write), also while the station runs.
    ``sqlite3.DatabaseError`` when the database is damaged or truncated."""
    db = data_dir / "station.db"
    conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
    try:
        conn.execute("BEGIN")  # one snapshot for every query
        return check(conn, key, election, paper, cvr_file)
    finally:
        conn.close()


def _walk_chain(
    conn: sqlite3.Connection, report: Report
) -> tuple[list[dict[str, Any]], dict[int, str | None]]:
    """The readable entries, and the hash the chain has at each entry when recomputed
    from the start with the content it holds now (None past unreadable content)."""
    rows = conn.execute(
        "SELECT id, ts, kind, device, detail, prev, hash FROM audit ORDER BY id"
    ).fetchall()
    report.entries = len(rows)
    entries: list[dict[str, Any]] = []
    computed: dict[int, str | None] = {}
    true_prev: str | None = audit.GENESIS
    stored_prev = audit.GENESIS
    expected = 1
    for r in rows:
        entry_id = r[0]
        gap = entry_id != expected
        if gap:
            report.add(
                f"audit: entries {expected}..{entry_id - 1} are missing "
                f"(entry {entry_id} follows entry {expected - 1})",
                expected,
            )
        try:
            detail = json.loads(r[4])
            entry = {"id": entry_id, "ts": r[1], "kind": r[2], "device": r[3], "detail": detail}
            local = audit.digest_of(entry, r[5])
        except Exception:  # any undecodable content is damage, reported like an edit
            report.add(f"audit entry {entry_id}: its detail is not readable", entry_id)
            entry, local = None, None
        if entry is not None:
            entries.append(entry)
            if local != r[6]:
                report.add(
                    f"audit entry {entry_id} ({r[2]}): its content does not match its hash "
                    "(edited)",
                    entry_id,
                )
            elif not gap and r[5] != stored_prev:
                report.add(
                    f"audit entry {entry_id} ({r[2]}): does not follow entry {entry_id - 1} "
                    "(inserted, or the entry before it was changed)",
                    entry_id,
                )
        true_prev = (
            audit.digest_of(entry, true_prev) if entry is not None and true_prev else None
        )
        computed[entry_id] = true_prev
        stored_prev = r[6]
        expected = entry_id + 1
    return entries, computed


def _check_seals(
    conn: sqlite3.Connection,
    key: Ed25519PublicKey,
    computed: dict[int, str | None],
    report: Report,
    paper: str | None,
    election: Any,
    cvr_file: Path | None,
) -> None:
    head, kept, unreadable = seals.stored(conn)
    for problem in unreadable:
        report.add(f"seal {problem}")
    last = max(computed) if computed else 0
    if not last:
        # A station's first start writes ``station.started``: an empty log was emptied.
        report.add("audit: the log is empty")
    recorded = conn.execute(
        "SELECT value FROM meta WHERE key = 'station_public_key'"
    ).fetchone()
    if recorded is not None and recorded[0] != public_hex(key):
        report.add(f"the store names station key {str(recorded[0])[:16]}…, not the key given "
                   f"({public_hex(key)[:16]}…)")
    station = conn.execute("SELECT value FROM meta WHERE key = 'station'").fetchone()
    good: list[seals.Seal] = []
    for seal in [*kept, *([head] if head else [])]:
        where = f"seal of entry {seal.entry} ({seal.statement.get('kind')})"
        if seal.name == seals.HEAD:
            where = f"head seal (entry {seal.entry})"
        if not seal.verifies(key):
            report.add(
                f"{where}: not signed by the station key {fingerprint(key)} "
                "(signed with another key, or its statement was changed)",
                seal.entry,
            )
            continue
        if station and seal.statement.get("station") != station[0]:
            report.add(f"{where}: signed for station {seal.statement.get('station')!r}, "
                       f"not {station[0]!r}")
            continue
        good.append(seal)
        if seal.entry > last:
            report.add(
                f"{where}: the station signed entry {seal.entry}, but the log ends at entry "
                f"{last}: entries {last + 1}..{seal.entry} were cut off",
                last + 1,
            )
        elif computed.get(seal.entry) != seal.statement["head"]:
            before = [s.entry for s in good if s.entry < seal.entry
                      and computed.get(s.entry) == s.statement["head"]]
            since = f"after entry {max(before)}" if before else "from the start"
            report.add(
                f"{where}: the chain up to entry {seal.entry} is not the one the station "
                f"signed: rewritten {since} (edited, inserted or deleted entries, and the "
                "hashes recomputed)",
                (max(before) + 1) if before else 1,
            )
    _check_head(next((s for s in good if s is head), None), good, last, report)
    closings = [s for s in good if s.closing]
    close = closings[-1] if closings else None
    _check_closing(conn, close, report, paper)
    _check_export(conn, close, election, cvr_file, report)


def _check_head(
    head: seals.Seal | None, good: list[seals.Seal], last: int, report: Report
) -> None:
    """The head seal must name the last entry: entries after it were added by someone
    else, and a head older than a checkpoint was put back from an earlier copy."""
    if head is None:
        if last:
            report.add("audit: the log's head is not signed by the station", last)
        return
    report.signed_entry = head.entry
    if head.entry < last:
        report.add(
            f"audit: entries {head.entry + 1}..{last} were added after the last "
            f"entry the station signed ({head.entry})",
            head.entry + 1,
        )
    newest_kept = max((s.entry for s in good if s is not head), default=0)
    if head.entry < newest_kept:
        report.add(
            f"audit: the head seal names entry {head.entry}, older than the "
            f"checkpoint at entry {newest_kept} (an old head was put back)",
            head.entry + 1,
        )


def _check_closing(
    conn: sqlite3.Connection, close: seals.Seal | None, report: Report, paper: str | None
) -> None:
    results_row = conn.execute("SELECT body FROM results WHERE id = 1").fetchone()
    if close is None:
        if results_row is not None:
            report.add("results: stored, but no closing seal of the station signs them")
        if paper:
            report.add("paper: the store holds no closing seal to compare the protocol with")
        return
    report.paper_code = seals.paper_code(close)
    statement = close.statement
    if results_row is None:
        report.add(
            f"results: the station signed its closing at entry {close.entry}, but the store "
            "holds no results (removed)"
        )
    elif _results_digest(results_row[0]) != statement["results_sha256"]:
        report.add(f"results: the stored results are not those signed at closing "
                   f"(entry {close.entry})")
    current = cvr_set.manifest(conn)
    signed = cvr_set.kept(conn)
    if signed is not None and cvr_set.digest(signed) == statement["cvrs_sha256"]:
        for problem in cvr_set.compare(signed, current):
            report.add(problem)
    else:
        state = "removed" if signed is None else "changed"
        report.add(f"cvrs: the list of record hashes kept at closing was {state}")
        if cvr_set.digest(current) != statement["cvrs_sha256"]:
            report.add("cvrs: the cast vote records are not the set signed at closing")
    if paper is not None:
        given = "".join(paper.split()).lower()
        code = report.paper_code.replace(" ", "")
        if len(given) < 8 or not code.startswith(given):
            shown = paper.strip()[:40]  # what the paper says is input: echoed short
            report.add(
                f"paper: the protocol's audit seal {shown!r} is not the closing seal "
                f"of this store ({report.paper_code}): closed again, or another station's"
            )


def _check_export(
    conn: sqlite3.Connection,
    close: seals.Seal | None,
    election: Any,
    cvr_file: Path | None,
    report: Report,
) -> None:
    signed = close.statement.get("cvr_records_sha256") if close is not None else None
    if signed is None:
        if cvr_file is not None:
            report.add(f"cvr export {cvr_file}: no closing seal signs an export to compare with")
        return
    mine: list[Any] | None = None
    if election is not None:
        meta = dict(conn.execute("SELECT key, value FROM meta WHERE key IN ('station', 'mode')"))
        try:
            mine = cvr_set.export_records(
                conn, election, meta.get("station", ""), meta.get("mode", "official")
            )
        except ValueError as err:
            report.add(f"cvr export: {err}")
        if mine is not None and cvr_set.records_digest(mine) != signed:
            report.add("cvr export: the records written from this store are not those "
                       "signed at closing")
            mine = None
    if cvr_file is None:
        return
    given = _read_export(cvr_file, report)
    if given is None or cvr_set.records_digest(given) == signed:
        return
    report.add(f"cvr export {cvr_file}: its records are not those signed at closing")
    if mine is not None:
        for problem in cvr_set.compare_exports(mine, given, f"cvr export {cvr_file}"):
            report.add(problem)


def _read_export(path: Path, report: Report) -> list[Any] | None:
    try:
        size = path.stat().st_size
        if size > MAX_CVR_FILE:
            report.add(f"cvr export {path}: {size} bytes, more than an export can be")
            return None
        doc = json.loads(path.read_bytes())
    except OSError as err:
        report.add(f"cvr export {path}: cannot be read ({err.strerror or err})")
        return None
    except (ValueError, RecursionError):
        report.add(f"cvr export {path}: not JSON")
        return None
    records = doc.get("CVR", []) if isinstance(doc, dict) else None
    if not isinstance(records, list):
        report.add(f"cvr export {path}: not a CastVoteRecordReport (no CVR list)")
        return None
    return records


def _results_digest(body: str) -> str | None:
    try:
        return hashlib.sha256(dumps(json.loads(body))).hexdigest()
    except Exception:  # unreadable results match no digest
        return None


def _count(conn: sqlite3.Connection, sql: str) -> int:
    return conn.execute(sql).fetchone()[0]


def _check_counts(conn: sqlite3.Connection, entries: list[dict[str, Any]], report: Report) -> None:
    def named(entry: dict[str, Any], field_name: str) -> Any:
        # An entry counts once per sheet or issuance it names (a resent message is
        # logged once, but the log is read as it is); one naming none counts alone.
        return entry["detail"].get(field_name) or ("entry", entry["id"])

    cast_entries = {
        named(e, "sheet") for e in entries
        if e["kind"] == "ballot.cast" and isinstance(e["detail"], dict)
    }
    without_record = sum(1 for e in entries if e["kind"] == "ballot.cast_without_record")
    issued_entries = {
        named(e, "issuance") for e in entries
        if isinstance(e["detail"], dict) and (
            e["kind"] == "checkin.issued"
            or (e["kind"] == "checkin.override" and e["detail"].get("status") == "issued")
        )
    }
    sheets_cast = _count(conn, "SELECT COUNT(*) FROM sheets WHERE state = 'cast'")
    records = _count(conn, "SELECT COUNT(*) FROM cvrs")
    issued = _count(conn, "SELECT COUNT(*) FROM issuances")
    if sheets_cast != len(cast_entries):
        report.add(f"sheets: {sheets_cast} sheets are cast, the audit log records "
                   f"{len(cast_entries)} cast ballots")
    if records != len(cast_entries) - without_record:
        report.add(f"cvrs: {records} cast vote records, the audit log records "
                   f"{len(cast_entries) - without_record} ballots cast with a record")
    if issued != len(issued_entries):
        report.add(f"issuances: {issued} ballots issued, the audit log records "
                   f"{len(issued_entries)}")


def _check_results(
    conn: sqlite3.Connection, entries: list[dict[str, Any]], election: Any, report: Report
) -> None:
    row = conn.execute("SELECT body FROM results WHERE id = 1").fetchone()
    if row is None:
        return
    try:
        results = json.loads(row[0])
        if not isinstance(results, dict):
            raise ValueError
    except ValueError:
        report.add("results: the stored results are not readable")
        return
    produced = [e for e in entries if e["kind"] in RESULT_KINDS
                and isinstance(e["detail"], dict) and "results_sha256" in e["detail"]]
    if not produced:
        report.add("audit: no entry records the results that are stored")
    else:
        entry = produced[-1]
        if _results_digest(row[0]) != entry["detail"]["results_sha256"]:
            report.add(f"results: the stored results differ from those recorded in audit "
                       f"entry {entry['id']} ({entry['kind']})", entry["id"])
        for name, field_name in (("cast", "ballots_cast"), ("issued", "ballots_issued")):
            if entry["detail"].get(name) != results.get(field_name):
                report.add(f"results: {field_name} is {results.get(field_name)}, audit entry "
                           f"{entry['id']} says {entry['detail'].get(name)}", entry["id"])
    cast = _count(conn, "SELECT COUNT(*) FROM sheets WHERE state = 'cast'")
    issued = _count(conn, "SELECT COUNT(*) FROM issuances")
    if results.get("ballots_cast") != cast:
        report.add(f"results: ballots_cast is {results.get('ballots_cast')}, the store has "
                   f"{cast} cast sheets")
    if results.get("ballots_issued") != issued:
        report.add(f"results: ballots_issued is {results.get('ballots_issued')}, the store "
                   f"has {issued} issuances")
    _recount(conn, results, election, report)


def _kept_election(conn: sqlite3.Connection) -> Any:
    from controller.election.definition import Election, ElectionError

    row = conn.execute("SELECT value FROM meta WHERE key = 'election_definition'").fetchone()
    if row is None:
        return None
    try:
        return Election.from_dict(json.loads(row[0]), "the kept definition")
    except (ValueError, ElectionError):
        return None


def _recount(
    conn: sqlite3.Connection, results: dict[str, Any], election: Any, report: Report
) -> None:
    from controller.polls.tally import tally

    if election is None:
        if results.get("ballots_cast"):
            report.add("results: cannot recount: no election definition (give --election)")
        return
    if election.hash != results.get("election_hash"):
        report.add(f"results: made for election {str(results.get('election_hash'))[:16]}…, "
                   f"the definition given is {election.hash[:16]}…")
        return
    counted = tally(conn, election)
    report.recounted = True
    stated = results.get("contests")
    if not isinstance(stated, dict):
        report.add("results: no contests")
        return
    for cid in sorted(set(counted.contests) | set(stated)):
        mine, theirs = counted.contests.get(cid), stated.get(cid)
        if not isinstance(theirs, dict) or mine is None:
            report.add(f"results: contest {cid} is in only one of the results and the recount")
            continue
        options = theirs.get("options") if isinstance(theirs.get("options"), dict) else {}
        for oid in sorted(set(mine["options"]) | set(options)):
            a, b = options.get(oid), mine["options"].get(oid)
            if a != b:
                report.add(f"results: {cid} / {oid}: the results say {a}, "
                           f"the cast vote records count {b}")
        for name in ("undervotes", "overvotes", "blank"):
            if theirs.get(name) != mine.get(name):
                report.add(f"results: {cid} / {name}: the results say {theirs.get(name)}, "
                           f"the cast vote records count {mine.get(name)}")
