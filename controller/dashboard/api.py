"""The controller's HTTP side: REST API, server-sent events and the dashboard page.

``GET  /api/status``       station, mode, polls, devices and counts
``POST /api/polls/open``   open the polls
``POST /api/polls/close``  close the polls and return the results (``?force=true`` to
                           close while a scanner still holds an accepted sheet)
``GET  /api/results``      the results (409 while polls are not closed)
``GET  /api/audit/verify`` whether the audit chain is intact
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
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, HTMLResponse, StreamingResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from controller.dashboard import i18n
from controller.dashboard.body_limits import BodyLimits
from controller.polls.adjudication import MAX_BODY, AdjudicationError
from controller.polls.state import PollsError

if TYPE_CHECKING:
    from controller.station.app import Station

HEARTBEAT_S = 15.0
TEMPLATES = Path(__file__).resolve().parent / "templates"


def _sse(event: str, data: Any) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def create_app(station: Station) -> FastAPI:
    """The FastAPI application serving ``station``."""
    app = FastAPI(title="Shailoo station controller", docs_url=None, redoc_url=None)
    app.add_middleware(BodyLimits)
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape())
    page = env.get_template("index.html")

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
    def close_polls(force: bool = False) -> dict[str, Any]:
        """Close the polls; the body is the results document."""
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
    def override_checkin(body: dict[str, Any]) -> dict[str, Any]:
        """The chair issues a held check-in's ballot: ``{"txn", "reason"}``."""
        from controller.checkin.check_in import OverrideError

        txn, reason = body.get("txn"), body.get("reason")
        if not isinstance(txn, str) or not isinstance(reason, str):
            raise HTTPException(422, "the body must be {\"txn\": text, \"reason\": text}")
        try:
            return station.override_checkin(txn, reason)
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
    def audit_verify() -> dict[str, Any]:
        """Walk the audit chain."""
        ok, bad = station.verify_audit()
        return {"intact": ok, "first_bad_entry": bad}

    app.include_router(_adjudication_routes(station))

    @app.get("/api/events")
    async def events(request: Request) -> StreamingResponse:
        """Live status as server-sent events."""
        sub = station.hub.subscribe()

        async def stream() -> AsyncIterator[str]:
            try:
                yield "retry: 2000\n\n"
                yield _sse("status", await run_in_threadpool(station.status))
                while not sub.closed:
                    changes = await sub.wait(HEARTBEAT_S)
                    if sub.closed or await request.is_disconnected():
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
        """The dashboard page in the chosen language."""
        chosen = i18n.pick(
            lang, request.cookies.get("lang"), request.headers.get("accept-language")
        )
        current = station.status()
        closed = current["polls"] == "closed"
        results = flagged = None
        if closed:
            try:
                results = station.results()
            except PollsError:
                results = None  # closed, with results still to be produced
            flagged = station.flagged_ballots()
        html = page.render(
            lang=chosen,
            t=i18n.TEXTS[chosen],
            languages=i18n.LANGUAGES,
            language_names=i18n.NAMES,
            status=current,
            results=results,
            flagged=flagged,
            election=station.election,
        )
        response = HTMLResponse(html)
        if lang in i18n.LANGUAGES:
            response.set_cookie("lang", chosen, max_age=365 * 86400, samesite="strict")
        return response

    return app


def _adjudication_routes(station: Station) -> APIRouter:
    """The commission's routes, on one router: the place to require a role once people
    log in."""
    router = APIRouter(prefix="/api/adjudication")

    @router.get("")
    def flagged() -> dict[str, Any]:
        """The flagged ballots, in record-id order, and the protocol's counts."""
        try:
            return station.flagged_ballots()
        except AdjudicationError as err:
            raise HTTPException(err.status, str(err)) from None

    @router.post("/{record}")
    async def decide(record: str, request: Request) -> dict[str, Any]:
        """The commission's decision on marginal marks of one flagged ballot."""
        declared = request.headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY):
            raise HTTPException(413, f"a decision is at most {MAX_BODY} bytes")
        data = b""
        async for part in request.stream():
            data += part
            if len(data) > MAX_BODY:
                raise HTTPException(413, f"a decision is at most {MAX_BODY} bytes")
        try:
            body = json.loads(data)
        except (ValueError, UnicodeDecodeError):
            raise HTTPException(400, "the body is not JSON") from None
        try:
            return await run_in_threadpool(station.adjudicate, record, body)
        except AdjudicationError as err:
            raise HTTPException(err.status, str(err)) from None

    @router.get("/{record}/image")
    def image(record: str) -> FileResponse:
        """The scan of a flagged ballot (404 for any other id, or while polls are open)."""
        path = station.flagged_image(record)
        if path is None:
            raise HTTPException(404, "no flagged ballot image with that id")
        return FileResponse(path, media_type="image/png", headers={"Cache-Control": "no-store"})

    return router
