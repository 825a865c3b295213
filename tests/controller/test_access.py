"""Every route of the station's app against missing, forged, wrong-role and cross-site calls.

The routes come from the app itself, so a route added without a rule in
``controller.workers.permissions.ROUTES`` fails here (and is closed at run time).
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute
from starlette.routing import Route

from controller.dashboard.api import create_app
from controller.workers.permissions import ACTIONS, AUDITED_READS, PUBLIC, ROUTES
from controller.workers.roster import ROLES

# What a path parameter is replaced with: any value, the guard answers before the route.
SAMPLE = {"{record}": "r-00000001"}
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


def app_routes(station: Any) -> list[tuple[str, str]]:
    """(method, path) of every route the app serves, with its API docs on."""
    found = []
    for route in create_app(station, api_docs=True).routes:
        if isinstance(route, APIRoute | Route):
            for method in sorted(route.methods or ()):
                if method != "HEAD":
                    found.append((method, route.path))
    return found


def concrete(path: str) -> str:
    for name, value in SAMPLE.items():
        path = path.replace(name, value)
    return path


def state_of(ctx: Any) -> dict[str, Any]:
    """Everything a change would show in: every table's rows, the audit log apart from
    the entries that name a worker's refused or accepted call (and the seals that sign
    the log's head, which move with every entry)."""
    conn = sqlite3.connect(ctx.data / "station.db")
    try:
        tables = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name != 'audit'")]
        snapshot: dict[str, Any] = {t: conn.execute(f"SELECT * FROM {t}").fetchall()
                                    for t in tables}
        snapshot["meta"] = conn.execute(
            "SELECT * FROM meta WHERE key NOT LIKE 'seal:%' ORDER BY key").fetchall()
        snapshot["audit"] = conn.execute(
            "SELECT id, kind, detail FROM audit WHERE kind NOT LIKE 'worker.%' ORDER BY id"
        ).fetchall()
    finally:
        conn.close()
    return snapshot


def test_every_route_has_a_rule_and_every_rule_a_route(make_station) -> None:
    ctx = make_station(voters=2, http=False)
    served = app_routes(ctx.station)
    assert ("POST", "/api/polls/close") in served and ("GET", "/openapi.json") in served
    missing = [r for r in served if r not in ROUTES]
    assert missing == [], f"routes without an access rule: {missing}"
    stale = [r for r in ROUTES if r not in served]
    assert stale == [], f"rules for routes that do not exist: {stale}"
    assert all(action == PUBLIC or action in ACTIONS for action in ROUTES.values())
    # Only the login is open before logging in.
    assert sorted(r for r, a in ROUTES.items() if a == PUBLIC) == [
        ("GET", "/login"), ("POST", "/api/login")]


def test_a_route_without_a_rule_is_closed(make_station) -> None:
    from fastapi.testclient import TestClient

    from tests.controller.helpers import sign_in

    ctx = make_station(voters=2, http=False)
    app = create_app(ctx.station)

    @app.post("/api/forgotten")
    def forgotten() -> dict[str, str]:
        return {"done": "yes"}

    client = TestClient(app)
    sign_in(client, "chair")
    answer = client.post("/api/forgotten")
    assert answer.status_code == 403 and "no access rule" in answer.json()["detail"]


@pytest.fixture
def station(make_station):
    return make_station(voters=3, api_docs=True)


def test_no_session_forged_or_oversized_cookie_is_401(station) -> None:
    before = state_of(station)
    url = station.station.url
    forged = "A" * 43  # the shape of a token, not one the station made
    for method, path in app_routes(station.station):
        if ROUTES[(method, path)] == PUBLIC:
            continue
        for cookies, words in (
            ({}, "log in first"),
            ({"shailoo_session": forged}, "no such session"),
            ({"shailoo_session": "x" * 4000}, "malformed"),
            ({"shailoo_session": "a;b=c"}, "malformed"),
        ):
            with httpx.Client(base_url=url, cookies=cookies, timeout=10) as http:
                answer = http.request(method, concrete(path), headers={"X-CSRF-Token": "t"})
            where = (method, path, cookies and len(cookies["shailoo_session"]))
            if path not in ("/", "/docs"):
                assert answer.status_code == 401, (where, answer.text)
                assert words in answer.json()["detail"], (where, answer.text)
            else:  # a page: the login page instead
                assert answer.status_code == 303, (where, answer.text)
                assert answer.headers["location"] == "/login"
    assert state_of(station) == before


def test_wrong_roles_get_403_and_change_nothing(station) -> None:
    before = state_of(station)
    clients = {role: station.http(role) for role in ROLES}
    tried = 0
    for method, path in app_routes(station.station):
        action = ROUTES[(method, path)]
        if action == PUBLIC:
            continue
        for role in ROLES:
            if role in ACTIONS[action]:
                continue
            answer = clients[role].request(method, concrete(path), json=None)
            assert answer.status_code == 403, (method, path, role, answer.text)
            assert f"a {role} may not do {action}" == answer.json()["detail"]
            tried += 1
    assert tried >= 15  # every role but the chair is refused somewhere
    assert state_of(station) == before
    # Each refusal is in the audit log with the person.
    conn = sqlite3.connect(station.data / "station.db")
    refused = sum(
        1 for (detail,) in conn.execute("SELECT detail FROM audit WHERE kind = 'worker.action'")
        if json.loads(detail)["status"] == 403
    )
    conn.close()
    assert refused == sum(
        1 for m, p in app_routes(station.station)
        if ROUTES[(m, p)] != PUBLIC and (m in UNSAFE or ROUTES[(m, p)] in AUDITED_READS)
        for role in ROLES if role not in ACTIONS[ROUTES[(m, p)]]
    )


def test_cross_site_form_and_tokenless_calls_are_refused(station) -> None:
    before = state_of(station)
    url = station.station.url
    allowed = {action: next(r for r in ROLES if r in roles) for action, roles in ACTIONS.items()}
    unsafe = [(m, p) for m, p in app_routes(station.station) if m in UNSAFE]
    assert ("POST", "/api/polls/close") in unsafe and ("POST", "/api/login") in unsafe
    # Two sessions per role at most: a TOTP code is taken once, two fit in one window.
    first: dict[str, httpx.Client] = {}
    second: dict[str, httpx.Client] = {}
    for method, path in unsafe:
        action = ROUTES[(method, path)]
        role = "chair" if action == PUBLIC else allowed[action]
        if role not in first:
            first[role] = station.http(role)
        http = first[role]
        token = http.headers["X-CSRF-Token"]
        target = concrete(path)
        cases: list[tuple[dict[str, Any], int, str]] = [
            ({"headers": {"Origin": "http://evil.example"}, "json": {}}, 403, "cross-site"),
            ({"headers": {"Origin": "null"}, "json": {}}, 403, "cross-site"),
            ({"headers": {"Sec-Fetch-Site": "cross-site"}, "json": {}}, 403, "cross-site"),
            ({"headers": {"Sec-Fetch-Site": "same-site"}, "json": {}}, 403, "cross-site"),
            ({"data": {"force": "true"}}, 415, "form submissions are refused"),
            ({"files": {"f": b"x"}}, 415, "form submissions are refused"),
            ({"content": b"{}", "headers": {"Content-Type": "text/plain"}}, 415, "JSON"),
            ({"content": b"{}"}, 415, "JSON"),  # a body without a type
        ]
        def other_token(role: str) -> str:
            if role not in second:
                second[role] = station.http(role)
            return second[role].headers["X-CSRF-Token"]

        if action != PUBLIC:
            cases += [
                ({"headers": {"X-CSRF-Token": ""}}, 403, "CSRF"),
                ({"headers": {"X-CSRF-Token": "x" * 6000}}, 403, "CSRF"),
                ({"headers": {"X-CSRF-Token": "é" * 43}}, 403, "CSRF"),
                ({"headers": {"X-CSRF-Token": token[:-1] + ("A" if token[-1] != "A" else "B")}},
                 403, "CSRF"),
                ({"headers": {"X-CSRF-Token": other_token(role)}},
                 403, "CSRF"),  # another session's token
            ]
        for kw, status, words in cases:
            headers = dict(kw.pop("headers", {}))
            request = http.build_request(method, target, **kw)
            for name, value in headers.items():
                if value == "":
                    del request.headers[name]
                else:
                    request.headers[name] = value
            answer = http.send(request)
            assert answer.status_code == status, (method, path, headers, answer.text)
            assert words in answer.json()["detail"], (method, path, answer.text)
    assert state_of(station) == before
    # The same call, same-origin and with the token, goes through.
    chair = first["chair"]
    own = {"Origin": url, "Sec-Fetch-Site": "same-origin"}
    closed = chair.post("/api/polls/close", headers=own)
    assert closed.status_code == 200, closed.text
    assert chair.get("/api/status").json()["polls"] == "closed"


def test_openapi_is_off_unless_configured(make_station) -> None:
    plain = make_station(voters=2)
    http = plain.http("technician")
    for path in ("/openapi.json", "/docs", "/redoc"):
        assert http.get(path).status_code == 404
        assert httpx.get(plain.station.url + path).status_code == 404
    documented = make_station(voters=2, api_docs=True)
    assert httpx.get(documented.station.url + "/openapi.json").status_code == 401
    document = documented.http("member").get("/openapi.json")
    assert document.status_code == 200 and "/api/polls/close" in document.json()["paths"]
    assert "swagger" in documented.http("member").get("/docs").text.lower()
