"""The linking attack on a station's files: pair check-ins with cast vote records.

Someone holding a copy of the station's work directory after the day (the data
folder, the logs, the device flash folders) knows the order of the check-ins (the
issuance numbers, the audit log) and tries to order the cast vote records the same
way. Each ``ballot_orders`` entry is one way to order the records from what is on
disk: table order, where each record's id or image hash sits in which file (the
database, its WAL and shared-memory files, logs; byte offsets follow page allocation,
cell placement and frame order), the times and inode numbers of files named after a
record, the sheet ids written next to a record id, audit entries naming a record. The
k-th voter checked in is then paired with the k-th record of each order (and of the
reverse order); a pair counts as linked when the record's votes equal that voter's
marks.

``chance`` is what pairing at random gets on the same day: a record's votes often
equal several voters' marks, so random pairing links some voters too.
"""

from __future__ import annotations

import json
import os
import random
import re
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CVR_ID = re.compile(rb"cvr-[0-9a-f]{32}")
Votes = dict[str, list[str]]


@dataclass
class Day:
    """What the attacker reads (``workdir``) and what the test knows (``marks``)."""

    workdir: Path
    marks: dict[str, Votes]  # voter id → what that voter marked (the test's ground truth)


def normalise(votes: Any) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """Votes as a comparable value: contests with at least one vote, options sorted."""
    return tuple(sorted((c, tuple(sorted(o))) for c, o in (votes or {}).items() if o))


def _database(workdir: Path) -> Path:
    found = sorted(workdir.rglob("station.db"))
    if not found:
        raise FileNotFoundError(f"no station.db under {workdir}")
    return found[0]


def read_only(path: Path) -> sqlite3.Connection:
    """The database opened without writing to it (an attacker's copy stays as it was)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    return conn


def _tables(conn: sqlite3.Connection) -> set[str]:
    return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def _columns(conn: sqlite3.Connection, table: str) -> set[str]:
    return {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}


def records(workdir: Path) -> dict[str, Votes]:
    """Every cast vote record on disk: id → votes."""
    with read_only(_database(workdir)) as conn:
        return {
            r["id"]: json.loads(r["record"])["votes"]
            for r in conn.execute("SELECT id, record FROM cvrs")
        }


def checkin_orders(workdir: Path) -> dict[str, list[str]]:
    """The orders of the check-ins (voter ids) that the files give."""
    orders: dict[str, list[str]] = {}
    with read_only(_database(workdir)) as conn:
        voters = conn.execute("SELECT row, voter_id FROM voters")
        voter_of = {r["row"]: r["voter_id"] for r in voters}
        cols = _columns(conn, "issuances")
        orders["issuance number"] = [
            voter_of[r[0]] for r in conn.execute("SELECT voter_row FROM issuances ORDER BY id")
        ]
        for col in sorted(cols - {"id", "voter_row", "device", "txn"}):
            orders[f"issuances.{col}"] = [
                voter_of[r[0]]
                for r in conn.execute(f"SELECT voter_row FROM issuances ORDER BY {col}, id")
            ]
        by_issuance = {
            r[0]: voter_of[r[1]] for r in conn.execute("SELECT id, voter_row FROM issuances")
        }
        audited = []
        for r in conn.execute("SELECT detail FROM audit WHERE kind LIKE 'checkin.%' ORDER BY id"):
            issuance = json.loads(r[0]).get("issuance")
            if issuance in by_issuance and by_issuance[issuance] not in audited:
                audited.append(by_issuance[issuance])
        orders["audit order of check-ins"] = audited
    return orders


def _files(workdir: Path) -> list[Path]:
    return sorted(p for p in workdir.rglob("*") if p.is_file() and not p.is_symlink())


def _byte_positions(workdir: Path, ids: Sequence[str]) -> dict[str, dict[str, list[int]]]:
    """For each file: where each record id (or its image hash) occurs, in bytes."""
    hashes = _image_hashes(workdir)
    needles = {i.encode(): i for i in ids}
    needles.update({h.encode(): i for i, h in hashes.items() if h})
    found: dict[str, dict[str, list[int]]] = {}
    for path in _files(workdir):
        data = path.read_bytes()
        spots: dict[str, list[int]] = {}
        for needle, record in needles.items():
            start = data.find(needle)
            while start != -1:
                spots.setdefault(record, []).append(start)
                start = data.find(needle, start + 1)
        if spots:
            found[str(path.relative_to(workdir))] = spots
    return found


def _image_hashes(workdir: Path) -> dict[str, str | None]:
    with read_only(_database(workdir)) as conn:
        return {r[0]: r[1] for r in conn.execute("SELECT id, image_sha256 FROM cvrs")}


def _sheet_order(workdir: Path) -> dict[str, int]:
    """Every sheet id the audit log names, by its first entry (the order of casting)."""
    order: dict[str, int] = {}
    with read_only(_database(workdir)) as conn:
        for r in conn.execute("SELECT id, detail FROM audit ORDER BY id"):
            sheet = json.loads(r[1]).get("sheet")
            if isinstance(sheet, str) and sheet not in order:
                order[sheet] = r[0]
    return order


def ballot_orders(workdir: Path) -> dict[str, list[str]]:
    """Every order of the cast vote records the attacker can derive from the files."""
    ids = sorted(records(workdir))
    orders: dict[str, list[str]] = {}
    with read_only(_database(workdir)) as conn:
        orders["cvrs table order"] = [r[0] for r in conn.execute("SELECT id FROM cvrs")]
        for table in sorted(_tables(conn)):
            cols = _columns(conn, table)
            key = next((c for c in ("cvr", "record", "name") if c in cols), None)
            if table != "cvrs" and key:
                listed = [r[0] for r in conn.execute(f"SELECT {key} FROM {table}")]
                orders[f"{table} table order"] = [i for i in dict.fromkeys(listed) if i in ids]
        audit_ids: list[str] = []
        for r in conn.execute("SELECT detail FROM audit ORDER BY id"):
            audit_ids += [m.decode() for m in CVR_ID.findall(r[0].encode())]
        orders["audit entries naming a record"] = list(dict.fromkeys(audit_ids))

    # Where ids and image hashes sit in each file: first and last byte offsets.
    for name, spots in _byte_positions(workdir, ids).items():
        orders[f"first offset in {name}"] = sorted(spots, key=lambda i: min(spots[i]))
        orders[f"last offset in {name}"] = sorted(spots, key=lambda i: max(spots[i]))

    # A record id written near a sheet id (a sheet's reading in a WAL frame, a freed page,
    # a log line) ties the record to that sheet, and the audit log orders the sheets.
    sheets = _sheet_order(workdir)
    near: dict[str, tuple[int, int]] = {}  # record → (distance in bytes, sheet's place)
    for path in _files(workdir):
        data = path.read_bytes()
        for m in CVR_ID.finditer(data):
            record = m.group().decode()
            if record not in ids:
                continue
            start = max(0, m.start() - 2048)
            window = data[start : m.end() + 2048]
            for sheet, place in sheets.items():
                at = window.find(sheet.encode())
                if at != -1:
                    distance = abs(start + at - m.start())
                    if record not in near or distance < near[record][0]:
                        near[record] = (distance, place)
    orders["nearest sheet id"] = sorted(near, key=lambda r: near[r][1])

    # Files named after a record (a kept image, say): their times and inode numbers.
    named = {}
    for path in _files(workdir):
        m = CVR_ID.search(path.name.encode())
        if m and m.group().decode() in ids:
            named[m.group().decode()] = os.stat(path)
    for field in ("st_ctime_ns", "st_mtime_ns", "st_atime_ns", "st_ino"):
        orders[f"file {field}"] = sorted(named, key=lambda i: getattr(named[i], field))
    return {name: order for name, order in orders.items() if order}


def linked(voters: Sequence[str], ballots: Sequence[str], day: Day, cvrs: dict[str, Votes]) -> int:
    """How many voters the pairing k-th voter ↔ k-th record links to their own votes."""
    return sum(
        normalise(day.marks[v]) == normalise(cvrs[b])
        for v, b in zip(voters, ballots, strict=False)
        if v in day.marks and b in cvrs
    )


def chance(day: Day, cvrs: dict[str, Votes], trials: int, seed: int = 0) -> list[int]:
    """The voters linked by ``trials`` random pairings of the voters with the records."""
    rng = random.Random(seed)
    voters = sorted(day.marks)
    ballots = sorted(cvrs)
    scores = []
    for _ in range(trials):
        rng.shuffle(ballots)
        scores.append(linked(voters, ballots, day, cvrs))
    return scores


def attack(day: Day) -> dict[str, int]:
    """Every pairing of a check-in order with a record order (and its reverse): voters linked."""
    cvrs = records(day.workdir)
    scores = {}
    pairings: list[tuple[str, Callable[[list[str]], list[str]]]] = [
        ("", lambda o: o),
        (" reversed", lambda o: o[::-1]),
    ]
    for vname, voters in checkin_orders(day.workdir).items():
        for bname, ballots in ballot_orders(day.workdir).items():
            for suffix, turn in pairings:
                scores[f"{vname} ↔ {bname}{suffix}"] = linked(voters, turn(ballots), day, cvrs)
    return scores
