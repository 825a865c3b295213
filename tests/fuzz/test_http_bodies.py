"""The request-body limits in front of every route, fed generated bodies: a body
within the limits reaches the route byte for byte; one too deep or too large is
refused before any route or JSON parser sees it."""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st

from controller.dashboard.body_limits import MAX_BODY_BYTES, MAX_BODY_DEPTH, BodyLimits
from tests.fuzz.strategies import deep, depth, json_values

app = FastAPI()
app.add_middleware(BodyLimits)
reached: list[bytes] = []


@app.post("/echo")
async def echo(request: Request) -> dict[str, Any]:
    body = await request.body()
    reached.append(body)
    return {"json": json.loads(body)}


@app.post("/typed")
def typed(body: dict[str, Any]) -> dict[str, Any]:
    return {"keys": sorted(body)}


client = TestClient(app)


@given(json_values)
def test_a_body_within_the_limits_reaches_the_route_unchanged(value: Any) -> None:
    reached.clear()
    data = json.dumps(value).encode()
    response = client.post("/echo", content=data)
    if depth(value) > MAX_BODY_DEPTH:
        assert response.status_code == 400 and reached == []
    else:
        assert response.status_code == 200 and reached == [data]
        assert response.json()["json"] == value


@given(st.integers(MAX_BODY_DEPTH + 1, 200_000), st.sampled_from(["[", "{"]))
def test_a_deep_body_is_a_400_not_a_recursion_error(levels: int, opener: str) -> None:
    text = '{"a":%s}' % deep(min(levels, MAX_BODY_BYTES // 6), opener)
    response = client.post("/typed", content=text, headers={"content-type": "application/json"})
    assert response.status_code in (400, 413), response.text


def test_a_large_body_is_a_413_declared_or_not() -> None:
    big = b'{"a":"' + b"x" * MAX_BODY_BYTES + b'"}'
    reached.clear()
    assert client.post("/echo", content=big).status_code == 413

    def pieces():  # no content-length: sent in pieces, counted as they come
        for start in range(0, len(big), 4096):
            yield big[start:start + 4096]

    assert client.post("/echo", content=pieces()).status_code == 413
    assert client.post("/echo", content=b"{}", headers={"content-length": "x"}).status_code == 413
    assert reached == []


def test_reading_routes_are_not_held_up() -> None:
    assert client.get("/openapi.json").status_code == 200
