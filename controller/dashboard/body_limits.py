"""Request bodies bounded in size and nesting before any route parses them.

FastAPI reads a JSON body with ``json.loads`` before the route runs; a body of a few
kilobytes of brackets makes that a ``RecursionError`` and a 500, and a body of
gigabytes is read whole. This ASGI middleware reads at most ``max_bytes`` of a
request body (413 beyond), measures its depth (400 beyond ``max_depth``) and only
then hands the same bytes to the application.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.responses import JSONResponse

from protocol.canonical import within

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# Every body the station takes is a small object: a decision, an override, a login.
MAX_BODY_BYTES = 64 * 1024
MAX_BODY_DEPTH = 8
READS_BODY = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class BodyLimits:
    """ASGI middleware: refuse oversized or deeply nested request bodies up front."""

    def __init__(
        self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES, max_depth: int = MAX_BODY_DEPTH
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_depth = max_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in READS_BODY:
            await self.app(scope, receive, send)
            return
        too_large = JSONResponse(
            {"detail": f"a request body is at most {self.max_bytes} bytes"}, status_code=413
        )
        declared = _header(scope, b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await too_large(scope, receive, send)
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the client left: nothing to answer
            body += message.get("body", b"")
            if len(body) > self.max_bytes:
                await too_large(scope, receive, send)
                return
            if not message.get("more_body", False):
                break
        if not within(body, self.max_depth):
            refused = JSONResponse(
                {"detail": f"the body nests deeper than {self.max_depth} levels"},
                status_code=400,
            )
            await refused(scope, receive, send)
            return
        await self.app(scope, _replay(bytes(body), receive), send)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return value.decode("latin-1").strip()
    return None


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that gives the body already read once, then waits as the real one."""
    sent = False

    async def again() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return again
