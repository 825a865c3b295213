"""Which role may do what, and which action each HTTP route is.

One table of actions, one of routes: the dashboard's guard looks every request up
here and refuses a route that has no rule, so a new route is closed until someone
decides who may use it.

| action | chair | secretary | member | technician |
|---|---|---|---|---|
| ``status.view``: status, events, dashboard, printer, own session | yes | yes | yes | yes |
| ``polls.open`` | yes | yes | | |
| ``polls.close``, ``polls.force_close`` (closing cannot be undone) | yes | | | |
| ``checkin.held.view``: check-ins waiting for the chair (names) | yes | yes | yes | |
| ``checkin.override``: issue a held check-in's ballot | yes | | | |
| ``adjudication.view``: flagged ballots and their scans, after closing | yes | yes | yes | |
| ``adjudication.decide``: the commission's decision on an unclear mark | yes | yes | | |
| ``results.view``: the results protocol | yes | yes | yes | |
| ``results.print``: print the protocol (again) | yes | yes | | |
| ``cvr.export``: cast vote records | yes | yes | | |
| ``audit.verify``: check the audit log, its seals, records and results | yes | yes | | yes |

The technician looks after devices: status and the audit check, never voters'
names, ballots or results before the commission publishes them.
"""

from __future__ import annotations

PUBLIC = "public"

ACTIONS: dict[str, frozenset[str]] = {
    "status.view": frozenset({"chair", "secretary", "member", "technician"}),
    "polls.open": frozenset({"chair", "secretary"}),
    "polls.close": frozenset({"chair"}),
    "polls.force_close": frozenset({"chair"}),
    "checkin.held.view": frozenset({"chair", "secretary", "member"}),
    "checkin.override": frozenset({"chair"}),
    "adjudication.view": frozenset({"chair", "secretary", "member"}),
    "adjudication.decide": frozenset({"chair", "secretary"}),
    "results.view": frozenset({"chair", "secretary", "member"}),
    "results.print": frozenset({"chair", "secretary"}),
    "cvr.export": frozenset({"chair", "secretary"}),
    "audit.verify": frozenset({"chair", "secretary", "technician"}),
}

# (method, route path as declared) -> action. PUBLIC: reachable before logging in.
ROUTES: dict[tuple[str, str], str] = {
    ("GET", "/login"): PUBLIC,
    ("POST", "/api/login"): PUBLIC,
    ("POST", "/api/logout"): "status.view",
    ("GET", "/api/session"): "status.view",
    ("GET", "/"): "status.view",
    ("GET", "/api/status"): "status.view",
    ("GET", "/api/events"): "status.view",
    ("GET", "/api/printer"): "status.view",
    ("POST", "/api/polls/open"): "polls.open",
    ("POST", "/api/polls/close"): "polls.close",
    ("GET", "/api/results"): "results.view",
    ("POST", "/api/results/print"): "results.print",
    ("GET", "/api/checkin/held"): "checkin.held.view",
    ("POST", "/api/checkin/override"): "checkin.override",
    ("GET", "/api/cvr"): "cvr.export",
    ("GET", "/api/audit/verify"): "audit.verify",
    ("GET", "/api/adjudication"): "adjudication.view",
    ("POST", "/api/adjudication/{record}"): "adjudication.decide",
    ("GET", "/api/adjudication/{record}/image"): "adjudication.view",
    ("GET", "/openapi.json"): "status.view",
    ("GET", "/docs"): "status.view",
}

# Reads that hand out the election's records: audited with the person, like changes.
AUDITED_READS = frozenset({"results.view", "cvr.export", "audit.verify"})


def allowed(role: str, action: str) -> bool:
    """True when a worker of ``role`` may do ``action`` (an unknown action: nobody)."""
    return role in ACTIONS.get(action, frozenset())


def actions_of(role: str) -> frozenset[str]:
    """Every action ``role`` may do."""
    return frozenset(action for action, roles in ACTIONS.items() if role in roles)
