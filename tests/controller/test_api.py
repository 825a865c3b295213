"""REST API, server-sent events and the server-rendered dashboard page."""

from __future__ import annotations

import json
import threading

import httpx

from controller.dashboard.i18n import TEXTS
from tests.controller.helpers import wait_until


def _events(response: httpx.Response):
    """Yield ``(event, data)`` pairs from a server-sent-event response."""
    event, data = None, []
    for line in response.iter_lines():
        if line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].strip())
        elif line == "" and data:
            yield event, json.loads("\n".join(data))
            event, data = None, []


def test_status_document(make_station) -> None:
    ctx = make_station(voters=7)
    status = ctx.http("technician").get("/api/status").json()
    assert status["station"] == ctx.station.station
    assert (status["mode"], status["polls"]) == ("test", "open")
    assert (status["voters"], status["checked_in"], status["cast"], status["pending"]) == (
        7,
        0,
        0,
        0,
    )
    assert [d["id"] for d in status["devices"]] == ["scan-1", "term-1", "term-2"]
    assert set(status["devices"][0]) == {
        "id",
        "role",
        "online",
        "fw",
        "fw_hash",
        "known",
        "last_seen",
    }


def test_events_stream_live_changes(make_station) -> None:
    ctx = make_station()
    term = ctx.device("term-1")
    with ctx.http() as http:
        with http.stream("GET", "/api/events") as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            events = _events(response)
            kind, first = next(events)
            assert kind == "status" and first["checked_in"] == 0
            reply = term.request("checkin.request", {"txn": "a", "mrz": ctx.voters[0].mrz()})
            assert reply.body["status"] == "issued"
            changed = next(s for k, s in events if k == "status" and s["checked_in"] == 1)
            assert changed["cast"] == 0
            http.post("/api/polls/close")
            closed = next(s for k, s in events if k == "status" and s["polls"] == "closed")
            assert closed["checked_in"] == 1


def test_open_streams_end_when_the_station_stops(make_station) -> None:
    ctx = make_station()
    ended = threading.Event()
    http = ctx.http("member")

    def listen() -> None:
        with http.stream("GET", "/api/events", timeout=30) as response:
            for _ in response.iter_lines():
                pass
        ended.set()

    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    hub = ctx.station.hub
    wait_until(lambda: hub.listeners == 1, what="stream open")
    ctx.station.stop()
    assert ended.wait(10)


def test_dashboard_languages_and_test_banner(make_station) -> None:
    ctx = make_station()
    with ctx.http("member") as http:
        default = http.get("/")
        assert default.status_code == 200
        assert TEXTS["ky"]["test_banner"] in default.text and 'lang="ky"' in default.text
        russian = http.get("/", params={"lang": "ru"})
        assert (
            TEXTS["ru"]["checked_in"] in russian.text and TEXTS["ru"]["test_banner"] in russian.text
        )
        assert russian.cookies.get("lang") == "ru"
        assert 'lang="ru"' in http.get("/").text  # the choice is remembered
        english = http.get("/", params={"lang": "en"})
        assert TEXTS["en"]["test_banner"] in english.text
        assert 'lang="en"' in http.get("/", params={"lang": "xx"}).text  # unknown: keep the last
        fresh = ctx.http("member").get("/", headers={"Accept-Language": "ru-RU,ru;q=0.9"})
        assert 'lang="ru"' in fresh.text


def test_official_station_has_no_test_banner(make_station) -> None:
    ctx = make_station(mode="official", firmware=[])
    page = ctx.http("member").get("/", params={"lang": "en"}).text
    assert TEXTS["en"]["test_banner"] not in page and TEXTS["en"]["official"] in page


def test_dashboard_shows_results_after_closing(make_station) -> None:
    ctx = make_station()
    with ctx.http() as http:
        assert 'id="results"' not in http.get("/").text
        checks = http.post("/api/polls/close").json()["checks"]
        page = http.get("/", params={"lang": "en"}).text
        russian = http.get("/", params={"lang": "ru"}).text
    assert 'id="results"' in page and "Mayor" in page and "Chyngyz" in page
    assert "Совет" in russian  # contest titles follow the page language
    for name in checks:  # every control check has its text in every language
        for lang, texts in TEXTS.items():
            assert f"check_{name}" in texts, (lang, name)
        assert TEXTS["en"][f"check_{name}"] in page
    # The closing seal's code, as the printed protocol carries it, for the commission.
    seal = ctx.station.paper_code()
    assert seal and f'<code id="audit-seal">{seal}</code>' in page
    assert TEXTS["ru"]["audit_seal"] in russian
