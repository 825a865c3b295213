"""The dispatcher's routing table: one row per message type and sender role, and the
row alone decides how a message is prepared, applied, answered and followed up."""

from __future__ import annotations

from controller.station import dispatch
from controller.store import audit
from protocol import interface, messages
from tests.controller.helpers import wait_until

UP = [m for m in interface.MESSAGES if m["topic"] == "up"]


def test_each_type_and_role_has_one_row_named_from_the_protocol() -> None:
    keys = [(r.type, r.role) for r in dispatch.ROUTES]
    assert len(keys) == len(set(keys))
    names = {v for k, v in vars(messages).items() if k.isupper()}
    for route in dispatch.ROUTES:
        assert route.type in names and (route.reply is None or route.reply in names)
        # A reply carries what applying the message returned: no reply without apply.
        assert route.reply is None or route.apply is not None, route.type
        assert route.prepare is not None or route.apply is not None, route.type


def test_every_message_a_device_may_send_has_its_row_and_no_other_is_routed() -> None:
    for entry in UP:
        for role in entry["from"]:
            route = dispatch.route_for(entry["type"], role)
            assert route is not None and route.role in (None, role), (entry["type"], role)
            assert route.reply in (None, entry.get("reply")), (entry["type"], role)
    described = {(m["type"], role) for m in UP for role in m["from"]}
    for route in dispatch.ROUTES:
        roles = [route.role] if route.role else interface.ROLES
        assert all((route.type, role) in described for role in roles), route.type
    down = {m["type"] for m in interface.MESSAGES if m["topic"] == "down"}
    for mtype in down:
        assert all(dispatch.route_for(mtype, role) is None for role in interface.ROLES), mtype


def test_blobs_go_by_the_senders_role() -> None:
    scanner = dispatch.route_for(messages.BLOB_END, "scanner")
    terminal = dispatch.route_for(messages.BLOB_END, "idterminal")
    assert scanner is not None and terminal is not None and scanner is not terminal
    assert scanner.reply == messages.BALLOT_DECISION and terminal.reply is None
    assert terminal.role == "idterminal" and terminal.apply is None  # memory only


def test_a_type_of_another_role_finds_that_roles_row_and_an_unknown_type_none() -> None:
    route = dispatch.route_for(messages.CHECKIN_REQUEST, "scanner")
    assert route is not None and route.role == "idterminal"  # refused as wrong_role
    assert dispatch.route_for(messages.CHECKIN_RESULT, "idterminal") is None
    assert dispatch.route_for("no.such.type", "scanner") is None


def test_adding_a_message_type_is_adding_one_row(make_station, monkeypatch) -> None:
    seen: list[tuple[str, object]] = []

    def prepare(d, device, msg, polls):
        seen.append(("prepare", msg.body["n"]))
        return msg.body["n"] * 2

    def apply(d, conn, device, msg, polls, prepared):
        seen.append(("apply", prepared))
        audit.append(conn, "device.event", device, event="ping", detail=prepared)
        return {"doubled": prepared, "polls": polls}

    def after(d, device, msg):
        seen.append(("after", msg.seq))

    ping = dispatch.Route(
        "test.ping", "scanner", True, False, "test.pong", "devices", prepare, apply, after
    )
    monkeypatch.setattr(dispatch, "ROUTES", dispatch.ROUTES + (ping,))
    ctx = make_station()
    scan = ctx.device("scan-1")
    seq = scan.send("test.ping", {"n": 21})
    reply = scan.reply_to(seq)
    assert (reply.type, reply.body) == ("test.pong", {"doubled": 42, "polls": "open"})
    assert seen == [("prepare", 21), ("apply", 42), ("after", seq)]
    with ctx.station.store.read() as conn:
        assert [e["detail"]["detail"] for e in audit.entries(conn, "device.event")] == [42]
    # The same row refuses the type from a terminal, and a resent ping is not applied again.
    term = ctx.device("term-1")
    refused = term.send("test.ping", {"n": 1})
    term.hello(role="idterminal")
    assert term.replies_to(refused) == []
    scan.send("test.ping", {"n": 21}, seq=seq)
    wait_until(lambda: len(scan.replies_to(seq)) == 2, what="the reply sent again")
    assert scan.replies_to(seq)[1].body == reply.body
    assert [step for step, _ in seen] == ["prepare", "apply", "after"]
    with ctx.station.store.read() as conn:
        codes = [e["detail"]["code"] for e in audit.entries(conn, "message.refused")]
    assert codes == ["wrong_role"]
