"""The controller's HTTP side: REST API, server-sent events and the dashboard page.

``GET  /api/status``       station, mode, polls, devices and counts
``POST /api/polls/open``   open the polls
``POST /api/polls/close``  close the polls and return the results (``?force=true`` to
                           close while a scanner still holds an accepted sheet)
``GET  /api/results``      the results (409 while polls are not closed)
``GET  /api/audit/verify`` whether the audit chain, its signatures, the cast vote
                           records and the results agree (``intact``, ``problems``)
``GET  /api/cvr``          the cast vote records (NIST SP 1500-103) with their hashes
                           (409 while polls are not closed)
``GET  /api/adjudication`` the ballots flagged for the commission (a mark the reader
                           was unsure of) with their marks and decisions, and the
                           protocol's counts (409 while polls are open)
``POST /api/adjudication/{record}``  the commission's decision on marks of one of them:
                           ``{"by", "reason", "marks": [{"contest", "option",
                           "decision": "vote"|"not_vote"}]}``
``GET  /api/adjudication/{record}/image``  its scan (PNG), once polls are closed
``GET  /api/events``       ``text/event-stream``: an ``status`` event with the full
                           status at connect and after every change
``GET  /``                 the dashboard (``?lang=ky|ru|en``)
``GET  /login``            the login page
``POST /api/login``        ``{"worker", "pin", "code"}``: a session cookie and its CSRF token
``POST /api/logout``       end the session
``GET  /api/session``      who is logged in, the CSRF token, what the role may do
``GET  /openapi.json``, ``/docs``  only where the station is started with API docs on

Everything but the login needs a session, and each route a role
(``controller.workers.permissions``); state-changing calls need the session's CSRF
token in ``X-CSRF-Token`` and JSON bodies (``controller.dashboard.guard``).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import (
    HTMLResponse,
    JSONResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from jinja2 import Environment, FileSystemLoader, select_autoescape

from controller.dashboard import i18n
from controller.dashboard.body_limits import BodyLimits
from controller.dashboard.guard import COOKIE, AuditMiddleware, Guard, LoginRequired, read_json
from controller.polls.adjudication import MAX_BODY, AdjudicationError
from controller.polls.state import PollsError
from controller.store import audit
from controller.workers.permissions import actions_of
from controller.workers.sessions import LoginRefused, Session, SessionLimits, Sessions

if TYPE_CHECKING:
    from controller.station.app import Station

HEARTBEAT_S = 15.0
MAX_LOGIN_BODY = 1024
# Pages a person opens in the browser: without a session they lead to the login page.
PAGES = frozenset({"/", "/docs"})
MAX_OVERRIDE_BODY = 4096
TEMPLATES = Path(__file__).resolve().parent / "templates"


def _sse(event: str, data: Any) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def _session_doc(session: Session) -> dict[str, Any]:
    worker = session.worker
    return {
        "worker": worker.id,
        "name": worker.name,
        "role": worker.role,
        "csrf": session.csrf,
        "actions": sorted(actions_of(worker.role)),
    }


def create_app(
    station: Station, limits: SessionLimits | None = None, api_docs: bool = False
) -> FastAPI:
    """The FastAPI application serving ``station``; ``api_docs`` serves the OpenAPI
    document and its page (to logged-in workers) at ``/openapi.json`` and ``/docs``."""
    sessions = Sessions(station.setup.workers, limits or SessionLimits())
    guard = Guard(sessions)
    app = FastAPI(
        title="Shailoo station controller",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        dependencies=[Depends(guard)],
    )
    app.add_middleware(AuditMiddleware, station=station)
    # Outermost: a body too large or too deep is refused before anything reads it.
    app.add_middleware(BodyLimits)
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape())
    page = env.get_template("index.html")
    login_page = env.get_template("login.html")

    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, exc: LoginRequired) -> Response:
        if request.url.path in PAGES:
            lang = request.query_params.get("lang")
            where = f"/login?lang={lang}" if lang in i18n.LANGUAGES else "/login"
            return RedirectResponse(where, status_code=303)
        return JSONResponse({"detail": exc.detail}, status_code=401)

    def language(request: Request, lang: str | None) -> str:
        return i18n.pick(lang, request.cookies.get("lang"), request.headers.get("accept-language"))

    @app.get("/login", response_class=HTMLResponse)
    def login_form(request: Request, lang: str | None = None) -> HTMLResponse:
        """The login page."""
        chosen = language(request, lang)
        html = login_page.render(
            lang=chosen,
            t=i18n.TEXTS[chosen],
            languages=i18n.LANGUAGES,
            language_names=i18n.NAMES,
            station=station.station,
            mode=station.mode,
        )
        response = HTMLResponse(html)
        if lang in i18n.LANGUAGES:
            response.set_cookie("lang", chosen, max_age=365 * 86400, samesite="strict")
        return response

    @app.post("/api/login")
    async def login(request: Request) -> JSONResponse:
        """Log in with ``{"worker", "pin", "code"}``: the session cookie, and in the body
        the CSRF token every state-changing call must carry."""
        body = await read_json(request, MAX_LOGIN_BODY)
        if not isinstance(body, dict) or set(body) != {"worker", "pin", "code"} or not all(
            isinstance(v, str) for v in body.values()
        ):
            raise HTTPException(
                422, 'the body must be {"worker": text, "pin": text, "code": text}'
            )
        address = request.client.host if request.client else "unknown"
        known = sessions.worker(body["worker"])
        try:
            session = await run_in_threadpool(
                sessions.login, body["worker"], body["pin"], body["code"], address
            )
        except LoginRefused as refused:
            if refused.status != 429:
                await run_in_threadpool(
                    _audit_login, station, known.id if known else None, refused.reason
                )
            headers = {"Retry-After": str(refused.retry_after)} if refused.retry_after else None
            return JSONResponse({"detail": str(refused)}, refused.status, headers=headers)
        await run_in_threadpool(_audit_login, station, session.worker.id, "ok")
        response = JSONResponse(_session_doc(session))
        response.set_cookie(
            COOKIE,
            session.token,
            max_age=int(sessions.limits.absolute_s),
            path="/",
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return response

    @app.post("/api/logout")
    def logout(request: Request) -> JSONResponse:
        """End this session."""
        request.state.action = "session.logout"
        sessions.logout(request.state.session)
        response = JSONResponse({"logged_out": True})
        response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
        return response

    @app.get("/api/session")
    def session_info(request: Request) -> dict[str, Any]:
        """Who is logged in, the CSRF token and what the role may do."""
        return _session_doc(request.state.session)

    if api_docs:

        @app.get("/openapi.json", include_in_schema=False)
        def openapi_document() -> JSONResponse:
            """The OpenAPI document of this API."""
            return JSONResponse(app.openapi())

        @app.get("/docs", include_in_schema=False)
        def openapi_page() -> HTMLResponse:
            """The OpenAPI document as a page."""
            return get_swagger_ui_html(openapi_url="/openapi.json", title=app.title)

    @app.get("/api/status")
    def status() -> dict[str, Any]:
        """Station, polls, devices and counts."""
        return station.status()

    @app.post("/api/polls/open")
    def open_polls() -> dict[str, Any]:
        """Open the polls."""
        try:
            return {"polls": station.open_polls()}
        except PollsError as err:
            raise HTTPException(err.status, str(err)) from None

    @app.post("/api/polls/close")
    def close_polls(request: Request, force: bool = False) -> dict[str, Any]:
        """Close the polls; the body is the results document."""
        if force:
            guard.require(request, "polls.force_close")
        try:
            return station.close_polls(force=force)
        except PollsError as err:
            raise HTTPException(err.status, str(err)) from None

    @app.get("/api/results")
    def results() -> dict[str, Any]:
        """The results, once polls are closed."""
        try:
            return station.results()
        except PollsError as err:
            raise HTTPException(err.status, str(err)) from None

    @app.get("/api/checkin/held")
    def held_checkins() -> list[dict[str, Any]]:
        """Check-ins whose finger did not match, waiting for the chair."""
        return station.held_checkins()

    @app.post("/api/checkin/override")
    async def override_checkin(request: Request) -> dict[str, Any]:
        """The chair issues a held check-in's ballot: ``{"txn", "reason"}``."""
        from controller.checkin.check_in import OverrideError

        body = await read_json(request, MAX_OVERRIDE_BODY)
        txn = body.get("txn") if isinstance(body, dict) else None
        reason = body.get("reason") if isinstance(body, dict) else None
        if not isinstance(txn, str) or not isinstance(reason, str):
            raise HTTPException(422, "the body must be {\"txn\": text, \"reason\": text}")
        try:
            return await run_in_threadpool(station.override_checkin, txn, reason)
        except OverrideError as err:
            raise HTTPException(err.status, str(err)) from None

    @app.get("/api/printer")
    async def printer() -> dict[str, Any]:
        """The results printer's paper and cover, asked now (it can take seconds)."""
        return await run_in_threadpool(station.printer_status, True)

    @app.post("/api/results/print", status_code=202)
    def print_results(copies: int | None = None) -> dict[str, Any]:
        """Print the results protocol (again); the body is the print job."""
        try:
            return station.print_results(copies)
        except PollsError as err:
            raise HTTPException(err.status, str(err)) from None

    @app.get("/api/cvr")
    def cvr() -> dict[str, Any]:
        """The cast vote record report, once polls are closed, and what to sign of it."""
        from controller.nist.cvr import CvrError
        from controller.nist.export import export_cvrs

        if station.store is None:
            raise HTTPException(503, "the station is not running")
        try:
            export = export_cvrs(station.store, station.election, station.station, station.mode)
        except PollsError as err:
            raise HTTPException(err.status, str(err)) from None
        except CvrError as err:
            raise HTTPException(500, str(err)) from None
        return {
            "count": export.count,
            "records_sha256": export.records_sha256,
            "report_sha256": export.report_sha256,
            "report": export.report,
        }

    @app.get("/api/audit/verify")
    def audit_verify(request: Request) -> dict[str, Any]:
        """Check the audit chain, its signatures, the records and the results.

        A role that may not see the results (the technician) learns whether the
        records are intact and how many problems there are, not what they are: the
        recount's problems name vote counts."""
        report = station.verify_audit().to_json()
        session: Session = request.state.session
        if "results.view" not in actions_of(session.worker.role):
            report["problems_withheld"] = len(report["problems"])
            report["problems"] = []
            report["recounted"] = None
        return report

    _add_adjudication_routes(app, station)

    @app.get("/api/events")
    async def events(request: Request) -> StreamingResponse:
        """Live status as server-sent events."""
        session: Session = request.state.session
        sub = station.hub.subscribe()

        async def stream() -> AsyncIterator[str]:
            try:
                yield "retry: 2000\n\n"
                yield _sse("status", await run_in_threadpool(station.status))
                while not sub.closed:
                    changes = await sub.wait(HEARTBEAT_S)
                    if sub.closed or await request.is_disconnected():
                        break
                    if not sessions.alive(session):
                        # Logged out or expired: the page learns it when it reconnects.
                        break
                    if changes:
                        yield _sse("status", await run_in_threadpool(station.status))
                    else:
                        yield ": keepalive\n\n"  # lets both ends notice a dead connection
            finally:
                station.hub.unsubscribe(sub)

        return StreamingResponse(
            stream(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    @app.get("/", response_class=HTMLResponse)
    def dashboard(request: Request, lang: str | None = None) -> HTMLResponse:
        """The dashboard page in the chosen language, with what the worker's role may do."""
        chosen = language(request, lang)
        session: Session = request.state.session
        can = actions_of(session.worker.role)
        current = station.status()
        closed = current["polls"] == "closed"
        results = flagged = None
        if closed and "results.view" in can:
            try:
                results = station.results()
            except PollsError:
                results = None  # closed, with results still to be produced
        if closed and "adjudication.view" in can:
            flagged = station.flagged_ballots()
        html = page.render(
            session=session,
            can=can,
            lang=chosen,
            t=i18n.TEXTS[chosen],
            languages=i18n.LANGUAGES,
            language_names=i18n.NAMES,
            status=current,
            results=results,
            flagged=flagged,
            election=station.election,
            seal=station.paper_code() if results else None,
        )
        response = HTMLResponse(html)
        if lang in i18n.LANGUAGES:
            response.set_cookie("lang", chosen, max_age=365 * 86400, samesite="strict")
        return response

    return app


def _audit_login(station: Station, worker: str | None, outcome: str) -> None:
    store = station.store
    if store is None:
        return
    with store.tx() as conn:
        audit.append(conn, "worker.login", None, worker=worker, outcome=outcome)


def _add_adjudication_routes(app: FastAPI, station: Station) -> None:
    """The commission's routes (their roles: ``adjudication.*`` in
    ``controller.workers.permissions``). Added to the app itself, not through a router:
    the app's route list is what the access rules are checked against."""
    prefix = "/api/adjudication"

    @app.get(prefix)
    def flagged() -> dict[str, Any]:
        """The flagged ballots, in record-id order, and the protocol's counts."""
        try:
            return station.flagged_ballots()
        except AdjudicationError as err:
            raise HTTPException(err.status, str(err)) from None

    @app.post(prefix + "/{record}")
    async def decide(record: str, request: Request) -> dict[str, Any]:
        """The commission's decision on marginal marks of one flagged ballot."""
        body = await read_json(request, MAX_BODY)
        try:
            return await run_in_threadpool(station.adjudicate, record, body)
        except AdjudicationError as err:
            raise HTTPException(err.status, str(err)) from None

    @app.get(prefix + "/{record}/image")
    def image(record: str) -> Response:
        """The scan of a flagged ballot (404 for any other id, or while polls are open)."""
        png = station.flagged_image(record)
        if png is None:
            raise HTTPException(404, "no flagged ballot image with that id")
        return Response(png, media_type="image/png", headers={"Cache-Control": "no-store"})
