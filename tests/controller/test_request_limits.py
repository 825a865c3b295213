"""A running station's HTTP port, fed bodies that used to crash a route: too deep for
the JSON parser, too large to read, or large and sent in pieces without a length. Each is
refused with a 4xx and the station's state is what it was."""

from __future__ import annotations

from controller.dashboard.body_limits import MAX_BODY_BYTES
from tests.fuzz.strategies import deep

ROUTES = ("/api/checkin/override", "/api/polls/close", "/api/adjudication/x")


def test_deep_large_and_endless_bodies_are_refused_and_change_nothing(make_station) -> None:
    ctx = make_station(voters=3)
    with ctx.http() as http:
        before = http.get("/api/status").json()
        for route in ROUTES:
            deep_body = '{"txn":%s}' % deep(20_000)
            answer = http.post(route, content=deep_body,
                               headers={"content-type": "application/json"})
            assert answer.status_code == 400, (route, answer.status_code, answer.text)
            assert "nests deeper" in answer.json()["detail"]
            big = b'{"txn":"' + b"x" * (MAX_BODY_BYTES + 1) + b'"}'
            assert http.post(route, content=big).status_code == 413

            def pieces():  # chunked, no length declared: counted as it arrives
                yield b'{"txn":"'
                for _ in range(16):
                    yield b"x" * 65536

            assert http.post(route, content=pieces()).status_code == 413
        after = http.get("/api/status").json()
    assert after["polls"] == before["polls"] == "open"
    assert (after["checked_in"], after["cast"]) == (before["checked_in"], before["cast"])
