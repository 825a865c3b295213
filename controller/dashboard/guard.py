"""Who may call what on the station's HTTP side: sessions, roles and CSRF in one place.

Every request passes ``Guard`` (a dependency of the whole app). It finds the route's
action in ``controller.workers.permissions.ROUTES`` and refuses, in this order:

* a route without a rule (403: closed until someone decides who may use it);
* for a state-changing method: a request a browser marks as coming from another site,
  by ``Origin`` (not this host) or ``Sec-Fetch-Site`` (not ``same-origin``) (403), and a
  body that is not JSON, form content types included (415);
* no session cookie, a malformed, unknown or expired one (401; the page redirects to
  the login);
* a role that may not do the action (403);
* for a state-changing method: no ``X-CSRF-Token`` header, or not the one bound to the
  session (403).

A client that is not a browser sends neither ``Origin`` nor ``Sec-Fetch-Site``; it
still needs the session and its token, which only a logged-in client has.

``AuditMiddleware`` writes one ``worker.action`` audit entry for every state-changing
request and every export made in a session that succeeded or was refused for the
role or the CSRF token, with the worker, the action and the answer's status, after the
change's own entries. A request refused as malformed changes nothing, the log included.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from fastapi import HTTPException, Request
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from controller.store import audit
from controller.workers.permissions import AUDITED_READS, PUBLIC, ROUTES, allowed
from controller.workers.sessions import Session, Sessions
from protocol.canonical import within

if TYPE_CHECKING:
    from controller.station.app import Station

COOKIE = "shailoo_session"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
MAX_JSON_DEPTH = 8


class LoginRequired(HTTPException):
    """401 for an API call; the dashboard page answers it with the login page."""


def _route_path(request: Request) -> str | None:
    route = request.scope.get("route")
    return getattr(route, "path", None)


def _cross_site(request: Request) -> bool:
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None and fetch_site != "same-origin":
        return True
    origin = request.headers.get("origin")
    if origin is None:
        return False
    host = request.headers.get("host", "")
    return origin != f"{request.url.scheme}://{host}"


def _has_body(request: Request) -> bool:
    length = request.headers.get("content-length")
    return "transfer-encoding" in request.headers or (length is not None and length != "0")


def _json_type(request: Request) -> bool:
    ctype = request.headers.get("content-type")
    if ctype is None:
        return not _has_body(request)
    return ctype.split(";", 1)[0].strip().lower() == "application/json"


class Guard:
    """The app-wide dependency: sets ``request.state.session`` and ``.action``."""

    def __init__(self, sessions: Sessions) -> None:
        self.sessions = sessions

    def __call__(self, request: Request) -> None:
        method = request.method.upper()
        if method == "HEAD":
            method = "GET"
        path = _route_path(request)
        action = ROUTES.get((method, path)) if path is not None else None
        if action is None:
            raise HTTPException(403, f"no access rule for {method} {path}: closed")
        request.state.action = action
        unsafe = method not in SAFE_METHODS
        if unsafe and _cross_site(request):
            raise HTTPException(403, "cross-site request refused")
        if unsafe and not _json_type(request):
            raise HTTPException(415, "send JSON (application/json): form submissions are refused")
        if action == PUBLIC:
            return
        # The live stream must not keep an idle session alive on a screen left open.
        session, why = self.sessions.lookup(
            request.cookies.get(COOKIE), touch=path != "/api/events"
        )
        if session is None:
            raise LoginRequired(401, why)
        request.state.session = session
        role = session.worker.role
        if not allowed(role, action):
            raise HTTPException(403, f"a {role} may not do {action}")
        if unsafe and not session.check_csrf(request.headers.get(CSRF_HEADER)):
            raise HTTPException(403, "missing or wrong CSRF token (X-CSRF-Token)")

    def require(self, request: Request, action: str) -> Session:
        """A further action a route needs in some cases (closing with force, say)."""
        session: Session = request.state.session
        request.state.action = action  # what the audit entry names, refused or done
        if not allowed(session.worker.role, action):
            raise HTTPException(403, f"a {session.worker.role} may not do {action}")
        return session


async def read_json(request: Request, limit: int) -> Any:
    """The request's JSON body, read at most ``limit`` bytes far (413 beyond, 400 for
    what is not JSON or nests deeper than any request of this API)."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise HTTPException(413, f"the body is at most {limit} bytes")
    data = b""
    async for part in request.stream():
        data += part
        if len(data) > limit:
            raise HTTPException(413, f"the body is at most {limit} bytes")
    # BodyLimits in front of the app bounds every body already; a route's own limit
    # may be tighter, and the depth is checked here too so the route never depends on it.
    if not within(data, MAX_JSON_DEPTH):
        raise HTTPException(400, f"the body nests deeper than {MAX_JSON_DEPTH} levels")
    try:
        body = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise HTTPException(400, "the body is not JSON") from None
    return body


class AuditMiddleware:
    """Audits, with the person, what a logged-in worker changed or exported."""

    def __init__(self, app: ASGIApp, station: Station) -> None:
        self.app = app
        self.station = station

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = {"code": 500}
        # The request inside shares this dict as ``request.state``.
        state = scope.setdefault("state", {})

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            session = state.get("session")
            action = state.get("action")
            unsafe = scope["method"].upper() not in SAFE_METHODS
            # What was done, and what a worker tried beyond their role; a request refused
            # as malformed changed nothing and leaves the log as it was.
            done_or_forbidden = status["code"] < 400 or status["code"] == 403
            if (
                session is not None
                and action is not None
                and (unsafe or action in AUDITED_READS)
                and done_or_forbidden
            ):
                await run_in_threadpool(self._append, session, action, status["code"])

    def _append(self, session: Session, action: str, status: int) -> None:
        store = self.station.store
        if store is None:
            return
        with store.tx() as conn:
            audit.append(
                conn,
                "worker.action",
                None,
                worker=session.worker.id,
                role=session.worker.role,
                action=action,
                status=status,
            )
