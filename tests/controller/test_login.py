"""Logging in: PIN plus TOTP code, the session cookie, expiry, logout and the brake on
guessing; every refusal is clear and leaves no session behind."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from controller.workers.roster import TOTP_STEP, code_at
from controller.workers.sessions import MAX_FAILURES, SessionLimits
from tests.controller.helpers import WORKERS, code_for, wait_until

CHAIR = WORKERS["chair"]


def post_login(url: str, body: Any, source: str | None = None, **kw: Any) -> httpx.Response:
    """POST a login; ``source`` is another loopback address to send it from (the brake
    counts failures per address too)."""
    transport = httpx.HTTPTransport(local_address=source) if source else None
    with httpx.Client(transport=transport, timeout=30) as http:
        return http.post(url + "/api/login", json=body, **kw)


def logins(ctx: Any) -> list[dict[str, Any]]:
    conn = sqlite3.connect(ctx.data / "station.db")
    try:
        rows = conn.execute("SELECT detail FROM audit WHERE kind = 'worker.login' ORDER BY id")
        return [json.loads(r[0]) for r in rows]
    finally:
        conn.close()


def test_a_login_gives_a_strict_cookie_and_a_token(make_station) -> None:
    ctx = make_station(voters=2)
    url = ctx.station.url
    answer = post_login(url, {"worker": CHAIR.id, "pin": CHAIR.pin, "code": code_for(url)})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["worker"], body["role"], body["name"]) == (CHAIR.id, "chair", CHAIR.name)
    assert "polls.close" in body["actions"] and len(body["csrf"]) == 43
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith("shailoo_session=")
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
    assert {"httponly", "samesite", "path", "max-age"} <= attributes
    assert "samesite=strict" in cookie.lower()
    assert "secure" not in attributes  # plain HTTP on the station's own machine
    assert logins(ctx) == [{"worker": CHAIR.id, "outcome": "ok"}]
    with httpx.Client(base_url=url, cookies=answer.cookies) as http:
        assert http.get("/api/session").json()["worker"] == CHAIR.id


def test_wrong_pin_code_old_or_reused_code_are_refused(make_station) -> None:
    ctx = make_station(voters=2)
    url = ctx.station.url
    now = int(time.time() // TOTP_STEP)
    member = WORKERS["member"]
    wrong_code = next(
        c for c in ("000000", "111111", "222222") if c not in
        {code_at(CHAIR.secret, s) for s in (now - 1, now, now + 1, now + 2)}
    )
    cases = [
        ({"worker": CHAIR.id, "pin": "99999999", "code": code_at(CHAIR.secret, now)},
         "wrong PIN"),
        ({"worker": CHAIR.id, "pin": CHAIR.pin, "code": wrong_code}, "wrong or expired code"),
        ({"worker": CHAIR.id, "pin": CHAIR.pin, "code": code_at(CHAIR.secret, now - 4)},
         "wrong or expired code"),  # two minutes old
        ({"worker": CHAIR.id, "pin": CHAIR.pin, "code": code_at(CHAIR.secret, now + 4)},
         "wrong or expired code"),  # not yet
        ({"worker": CHAIR.id, "pin": CHAIR.pin, "code": code_at(member.secret, now)},
         "wrong or expired code; worker now locked"),  # another's code; the fifth failure
        ({"worker": "nobody", "pin": CHAIR.pin, "code": code_at(CHAIR.secret, now)},
         "unknown worker"),
    ]
    for n, (body, reason) in enumerate(cases):
        # Five failures of the chair's id lock it: the sixth of these is someone else's.
        answer = post_login(url, body, source=f"127.0.0.{20 + n}")
        assert answer.status_code == 401, (reason, answer.text)
        assert "login refused" in answer.json()["detail"]
        assert "set-cookie" not in answer.headers
    assert [e["outcome"] for e in logins(ctx)] == [r for _, r in cases]
    assert logins(ctx)[-1]["worker"] is None  # an unknown id is not written down
    # A code is taken once: the same code again is refused though everything is right.
    code = code_for(url, "member")
    first = post_login(url, {"worker": member.id, "pin": member.pin, "code": code})
    assert first.status_code == 200, first.text
    again = post_login(url, {"worker": member.id, "pin": member.pin, "code": code})
    assert again.status_code == 401 and logins(ctx)[-1]["outcome"] == "code already used"


def test_broken_forged_and_oversized_logins_are_refused(make_station) -> None:
    ctx = make_station(voters=2)
    url = ctx.station.url
    good = {"worker": CHAIR.id, "pin": CHAIR.pin, "code": "123456"}
    raw: list[tuple[dict[str, Any], int, str]] = [
        ({"content": b"{not json", "headers": {"content-type": "application/json"}}, 400,
         "not JSON"),
        ({"content": b"\xff\xfe", "headers": {"content-type": "application/json"}}, 400,
         "not JSON"),
        ({"content": b"[" * 500 + b"]" * 500, "headers": {"content-type": "application/json"}},
         400, "nests deeper"),
        ({"content": b'{"worker": "[[[[[[[[[[[[[[[[[[[[[[", "pin": "1", "code": "1"}',
          "headers": {"content-type": "application/json"}}, 401, "login refused"),
        ({"content": json.dumps({"worker": [[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]}).encode(),
          "headers": {"content-type": "application/json"}}, 400, "nests deeper"),
        ({"json": {**good, "pin": "1" * 2000}}, 413, "at most 1024 bytes"),
        ({"content": iter([b'{"worker": "' + b"a" * 5000 + b'"}']),
          "headers": {"content-type": "application/json"}}, 413, "at most 1024 bytes"),
        ({"json": [good]}, 422, "the body must be"),
        ({"json": {"worker": CHAIR.id, "pin": CHAIR.pin}}, 422, "the body must be"),
        ({"json": {**good, "role": "chair"}}, 422, "the body must be"),
        ({"json": {**good, "pin": 12345678}}, 422, "the body must be"),
        ({"data": good}, 415, "form submissions are refused"),
        ({"json": good, "headers": {"Origin": "http://evil.example"}}, 403, "cross-site"),
    ]
    for kw, status, words in raw:
        answer = httpx.post(url + "/api/login", timeout=30, **kw)
        assert answer.status_code == status, (kw.get("json"), answer.text)
        assert words in answer.json()["detail"], answer.text
    # Only the one well-formed body reached the credentials check.
    assert logins(ctx) == [{"worker": None, "outcome": "unknown worker"}]
    assert ctx.http("chair").get("/api/status").status_code == 200  # and nothing got locked


def test_repeated_failures_lock_the_worker_and_the_address(make_station) -> None:
    ctx = make_station(voters=2)
    url = ctx.station.url
    for _ in range(MAX_FAILURES):
        answer = post_login(url, {"worker": CHAIR.id, "pin": "10101010", "code": "123456"})
        assert answer.status_code == 401
    # Now even the right PIN and code wait: the answer says how long, and nothing is checked.
    locked = post_login(url, {"worker": CHAIR.id, "pin": CHAIR.pin, "code": code_for(url)})
    assert locked.status_code == 429 and "try again in" in locked.json()["detail"]
    assert 50 <= int(locked.headers["retry-after"]) <= 60
    secretary = WORKERS["secretary"]
    body = {"worker": secretary.id, "pin": secretary.pin, "code": code_for(url, "secretary")}
    assert post_login(url, body).status_code == 429  # the same address guessed too often
    # The failure that set the locks says so; attempts while locked add nothing.
    assert [e["outcome"] for e in logins(ctx)] == ["wrong PIN"] * (MAX_FAILURES - 1) + [
        "wrong PIN; address and worker now locked"]
    # From another address the secretary is not held up; the chair's id stays locked.
    assert post_login(url, body, source="127.0.0.9").status_code == 200
    chair = {"worker": CHAIR.id, "pin": CHAIR.pin, "code": code_for(url)}
    assert post_login(url, chair, source="127.0.0.9").status_code == 429


def test_sessions_expire_when_idle_and_after_their_lifetime(make_station) -> None:
    idle = make_station(voters=2, session_limits=SessionLimits(idle_s=2.0, absolute_s=60))
    http = idle.http("member")
    for _ in range(3):
        time.sleep(0.8)
        assert http.get("/api/status").status_code == 200  # a request keeps it alive
    time.sleep(2.5)
    expired = http.get("/api/status")
    assert expired.status_code == 401 and "expired" in expired.json()["detail"]
    assert http.get("/api/status").json()["detail"].startswith("no such session")

    short = make_station(voters=2, session_limits=SessionLimits(idle_s=30, absolute_s=3.0))
    before = time.monotonic()
    chair = short.http("chair")
    after = time.monotonic()
    while time.monotonic() < before + 2.0:  # active all along, younger than its lifetime
        assert chair.get("/api/status").status_code == 200
        time.sleep(0.2)
    token = chair.cookies["shailoo_session"]
    time.sleep(max(0.0, after + 3.3 - time.monotonic()))
    # The cookie's own lifetime ends too, so the browser stops sending it: the station
    # must refuse it all the same when someone does.
    assert chair.get("/api/status").json()["detail"] == "log in first"
    with httpx.Client(base_url=short.station.url, cookies={"shailoo_session": token},
                      headers={"X-CSRF-Token": chair.headers["X-CSRF-Token"]}) as kept:
        refused = kept.post("/api/polls/close")
        assert refused.status_code == 401 and "expired" in refused.json()["detail"]
        assert kept.get("/api/status").status_code == 401
    assert short.http("member").get("/api/status").json()["polls"] == "open"


def test_logout_ends_the_session_and_its_event_stream(make_station) -> None:
    ctx = make_station(voters=2)
    http = ctx.http("secretary")
    token = http.cookies["shailoo_session"]
    ended = threading.Event()

    def listen() -> None:
        with http.stream("GET", "/api/events", timeout=40) as response:
            assert response.status_code == 200
            for _ in response.iter_lines():
                pass
        ended.set()

    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    wait_until(lambda: ctx.station.hub.listeners == 1, what="stream open")
    no_token = httpx.post(ctx.station.url + "/api/logout", cookies={"shailoo_session": token})
    assert no_token.status_code == 403  # logging out is a change like any other
    out = http.post("/api/logout")
    assert out.status_code == 200 and 'shailoo_session=""' in out.headers["set-cookie"]
    ctx.station.hub.publish("test")  # the stream notices at its next change or heartbeat
    assert ended.wait(20)
    reused = httpx.get(ctx.station.url + "/api/status", cookies={"shailoo_session": token})
    assert reused.status_code == 401


def test_a_restarted_controller_forgets_every_session(make_station) -> None:
    ctx = make_station(voters=2)
    http = ctx.http("member")
    assert http.get("/api/status").status_code == 200
    ctx.restart()
    http.base_url = ctx.station.url  # a new port; the same cookie
    answer = http.get("/api/status")
    assert answer.status_code == 401 and "no such session" in answer.json()["detail"]


def test_the_dashboard_without_a_session_is_the_login_page(make_station) -> None:
    ctx = make_station(voters=2)
    page = httpx.get(ctx.station.url + "/?lang=ru")
    assert page.status_code == 303 and page.headers["location"] == "/login?lang=ru"
    odd = httpx.get(ctx.station.url + "/?lang=//evil.example")
    assert odd.headers["location"] == "/login"
    login = httpx.get(ctx.station.url + "/login?lang=ru")
    assert login.status_code == 200 and 'id="login"' in login.text
    assert "Вход для членов комиссии" in login.text and ctx.station.station in login.text
    # A member's page has no buttons that change the state and no results link.
    page = ctx.http("member").get("/?lang=en").text
    assert 'id="close-polls" data-action="polls.close" hidden' in page
    chair_page = ctx.http("chair").get("/?lang=en").text
    assert 'id="close-polls" data-action="polls.close" >' in chair_page


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=40,
)


@pytest.fixture(scope="module")
def login_app(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The app of a station that is not connected to anything: only its login is used."""
    from fastapi.testclient import TestClient

    from controller.dashboard.api import create_app
    from controller.station.app import Station
    from tests.controller.conftest import default_devices
    from tests.controller.helpers import load_test_election, make_voters, station_id
    from tests.controller.helpers import write_station as write

    folder = tmp_path_factory.mktemp("login")
    sid = station_id()
    setup = write(folder, sid, default_devices(), make_voters(2))
    station = Station(setup, folder / "data", election_loader=load_test_election)
    station.start(http=False, mqtt=False)
    try:
        yield TestClient(create_app(station))
    finally:
        station.stop()


@settings(max_examples=120, deadline=None, suppress_health_check=[
    HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(body=st.one_of(
    JSON_VALUES,
    st.fixed_dictionaries({"worker": st.text(max_size=40), "pin": st.text(max_size=20),
                           "code": st.text(max_size=8)}),
    st.binary(max_size=300),
))
def test_any_login_body_gets_a_clear_refusal(login_app: Any, body: Any) -> None:
    if isinstance(body, bytes):
        answer = login_app.post("/api/login", content=body,
                                headers={"content-type": "application/json"})
    else:
        answer = login_app.post("/api/login", json=body)
    assert answer.status_code in (400, 401, 413, 422, 429), (body, answer.text)
    assert isinstance(answer.json()["detail"], str) and "set-cookie" not in answer.headers
