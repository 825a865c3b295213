"""What the station's stores keep of the day's order (``docs/secrecy.md``).

The whole-day linking attack is ``tests/integration/test_secrecy_at_rest.py``; these
check each store's rule on its own: the reply cache holds no name, and no terminal's
answer after closing, compaction leaves records and images in key order in the file,
and no table has a time or row number for sheets and check-ins.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from controller.intake import images
from controller.polls.scrub import scrub_after_close
from controller.polls.state import open_polls
from controller.store.database import Store, set_meta
from tests.controller.helpers import wait_until


def _replies(ctx: Any) -> list[tuple[str, int, bytes, str | None]]:
    with ctx.station.store.read() as conn:
        rows = conn.execute(
            "SELECT device, req_seq, payload, answer FROM replies ORDER BY device, req_seq"
        )
        return [(r[0], r[1], bytes(r[2]), r[3]) for r in rows]


def _names_in(ctx: Any, voters: list[Any]) -> list[str]:
    text = json.dumps([(r[2].decode("utf-8", "replace"), r[3]) for r in _replies(ctx)])
    return [
        v.surname for v in voters if v.surname in text or json.dumps(v.surname)[1:-1] in text
    ]


def test_a_terminal_s_cached_answer_holds_no_name_and_is_gone_after_closing(make_station) -> None:
    ctx = make_station(voters=4)
    term = ctx.device("term-1")
    first, second = ctx.voters[0], ctx.voters[1]
    seq1, payload1 = term.seal("checkin.request", {"txn": "a", "mrz": first.mrz()})
    term.publish(payload1)
    answer = term.reply_to(seq1)
    assert answer.body["status"] == "issued"
    assert answer.body["voter"]["name"] == f"{first.surname} {first.given_names}"
    seq2 = term.send("checkin.request", {"txn": "b", "mrz": second.mrz()})
    assert term.reply_to(seq2).body["status"] == "issued"
    # Cached for a resend, without the name (the voter list row stands in for it).
    cached = [r for r in _replies(ctx) if r[0] == "term-1"]
    assert [r[1] for r in cached] == [seq1, seq2]
    assert all(r[2] == b"" and json.loads(r[3])["body"]["voter"] == {"row": v.row}
               for r, v in zip(cached, (first, second), strict=True))  # fmt: skip
    assert _names_in(ctx, ctx.voters) == []
    # A resent request gets the same answer, name and all, and changes nothing.
    term.publish(payload1)
    wait_until(lambda: len(term.replies_to(seq1)) == 2, what="the answer sent again")
    again = term.replies_to(seq1)[1]
    assert again.body == answer.body and again.seq == answer.seq
    with ctx.station.store.read() as conn:
        assert conn.execute("SELECT COUNT(*) FROM issuances").fetchone()[0] == 2
    assert _names_in(ctx, ctx.voters) == []

    # A scanner's answers (sheet ids, no person) stay; the terminals' go at closing, and
    # the database is compacted: the WAL file is left empty.
    scan = ctx.device("scan-1")
    voided = scan.request("ballot.returned", {"sheet": "scan-1-9-1", "reason": "jam"})
    assert voided.body["voided"] is True
    ctx.station.close_polls()
    assert [r[0] for r in _replies(ctx)] == ["scan-1"]
    assert (ctx.data / "station.db-wal").stat().st_size == 0


def _day(folder: Path, rows: list[tuple[str, bytes]]) -> Store:
    """A closed station whose records and images were written one by one in ``rows``'
    order, as ballots are cast."""
    store = Store(folder / "station.db")
    open_polls(store)
    for name, png in rows:
        with store.tx() as conn:
            conn.execute(
                "INSERT INTO cvrs (id, device, style, image_sha256, record) "
                "VALUES (?, 'scan-1', 's1', NULL, '{}')",
                (name,),
            )
            # An image spans overflow pages, allocated at the end of the file as written.
            images.keep(conn, name, png)
    with store.tx() as conn:
        set_meta(conn, "polls", "closed")
    return store


def _where(folder: Path, names: list[str]) -> dict[str, list[int]]:
    """Every byte offset of each name in the database and WAL files together."""
    data = b"".join(
        (folder / f).read_bytes() for f in ("station.db", "station.db-wal") if (folder / f).exists()
    )
    found: dict[str, list[int]] = {}
    for name in names:
        at = data.find(name.encode())
        while at != -1:
            found.setdefault(name, []).append(at)
            at = data.find(name.encode(), at + 1)
    return found


def test_after_compaction_the_file_does_not_depend_on_the_order_of_writing(tmp_path) -> None:
    rng = random.Random(7)
    rows = [(f"cvr-{rng.getrandbits(128):032x}", rng.randbytes(9000)) for _ in range(12)]
    names = [name for name, _ in rows]
    days = {"cast": tmp_path / "a", "reversed": tmp_path / "b"}
    stores = {}
    for label, folder in days.items():
        folder.mkdir()
        stores[label] = _day(folder, rows if label == "cast" else rows[::-1])
    # Before: where each record and image sits follows the order they were written in.
    assert _where(days["cast"], names) != _where(days["reversed"], names)
    for store in stores.values():
        assert scrub_after_close(store)
    # After: the same rows written in opposite orders sit at the same places, and the
    # WAL file is empty.
    assert _where(days["cast"], names) == _where(days["reversed"], names)
    assert all(len(at) >= 2 for at in _where(days["cast"], names).values())
    for label, folder in days.items():
        assert (folder / "station.db-wal").stat().st_size == 0
        with stores[label].read() as conn:
            assert images.load(conn, names[0]) == rows[0][1]
        stores[label].close()


def test_scrubbing_waits_for_the_close_and_keeps_the_scanners_answers(tmp_path) -> None:
    store = Store(tmp_path / "station.db")
    open_polls(store)
    with store.tx() as conn:
        for device, role in (("term-1", "idterminal"), ("scan-1", "scanner")):
            conn.execute("INSERT INTO devices (id, role) VALUES (?, ?)", (device, role))
            conn.execute(
                "INSERT INTO replies (device, req_seq, payload) VALUES (?, 1, x'00')", (device,)
            )
    assert scrub_after_close(store) is False  # polls open: the cache is still needed
    with store.read() as conn:
        assert conn.execute("SELECT COUNT(*) FROM replies").fetchone()[0] == 2
    with store.tx() as conn:
        set_meta(conn, "polls", "closed")
    assert scrub_after_close(store) is True
    with store.read() as conn:
        assert [r[0] for r in conn.execute("SELECT device FROM replies")] == ["scan-1"]
    store.close()


def test_no_table_keeps_a_time_or_row_number_for_sheets_ballots_and_check_ins(tmp_path) -> None:
    store = Store(tmp_path / "station.db")
    with store.read() as conn:
        for table in ("sheets", "cvrs", "kept_images", "adjudications"):
            columns = {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}
            assert not {c for c in columns if c.endswith("_at") or c in ("ts", "time")}, table
            sql = conn.execute(
                "SELECT sql FROM sqlite_master WHERE name = ?", (table,)
            ).fetchone()[0]
            assert sql.rstrip().endswith("WITHOUT ROWID"), table
        columns = {r[1] for r in conn.execute("PRAGMA table_info(issuances)")}
        assert columns == {"id", "voter_row", "device", "txn"}
    store.close()


def test_a_closed_station_that_crashed_before_the_scrub_does_it_at_its_next_start(
    make_station,
) -> None:
    ctx = make_station(voters=3, http=False)
    term = ctx.device("term-1")
    assert term.request("checkin.request", {"txn": "a", "mrz": ctx.voters[0].mrz()}).body[
        "status"
    ] == "issued"
    ctx.station.close_polls()
    ctx.station.stop()
    # As if the controller died between closing and scrubbing: an answer still cached.
    store = Store(ctx.data / "station.db")
    with store.tx() as conn:
        conn.execute(
            "INSERT INTO replies (device, req_seq, payload, answer) VALUES ('term-1', 99, x'', ?)",
            (json.dumps({"seq": 99, "body": {"voter": {"row": ctx.voters[0].row}}}),),
        )
    store.close()
    again = ctx.restart(http=False)
    with again.store.read() as conn:
        assert conn.execute("SELECT COUNT(*) FROM replies WHERE device = 'term-1'").fetchone()[
            0
        ] == 0
    assert (ctx.data / "station.db-wal").stat().st_size == 0
