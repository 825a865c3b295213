"""Validating documents against the NIST JSON schemas, with messages a person can act on.

The schemas are draft-04 with ``additionalProperties: false`` everywhere and ``@type``
telling the alternatives of each ``oneOf`` apart. A plain validator reports a wrong
or misspelt field inside such an alternative as "is not valid under any of the given
schemas"; ``validate`` instead follows the alternative the object's ``@type`` names and
reports what is wrong there (or that the ``@type`` itself is none of the allowed ones).

The schema files beside this module are the published ones, unchanged.

Formats are checked (``date``, and ``date-time`` through rfc3339-validator), so a
timestamp without a zone is an error, as the standards require.
"""

from __future__ import annotations

import itertools
import json
from collections import deque
from collections.abc import Iterable, Iterator
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import FormatChecker, validators
from jsonschema.exceptions import ValidationError, relevance

ELECTION_REPORT = "election_report"
CAST_VOTE_RECORDS = "cast_vote_records"
FILES = {
    ELECTION_REPORT: "NIST_V2_election_results_reporting.json",
    CAST_VOTE_RECORDS: "NIST_V0_cast_vote_records.json",
}
MAX_DEPTH = 40  # far deeper than any real report; keeps the validator's recursion bounded
MAX_ERRORS = 500  # a document this broken is not worth describing further
MAX_MESSAGES = 20
MAX_MESSAGE = 240


@cache
def load_schema(name: str) -> dict[str, Any]:
    """The schema ``name`` (``ELECTION_REPORT`` or ``CAST_VOTE_RECORDS``) as parsed JSON."""
    if name not in FILES:
        raise KeyError(f"no NIST schema called {name!r} (known: {', '.join(sorted(FILES))})")
    text = resources.files("controller.nist.schemas").joinpath(FILES[name]).read_text("utf-8")
    return json.loads(text)


def _referenced(node: Any) -> Iterator[str]:
    """The names of the definitions ``node`` refers to (``#/definitions/NAME``)."""
    todo = [node]
    while todo:
        item = todo.pop()
        if isinstance(item, dict):
            if isinstance(item.get("$ref"), str):
                yield item["$ref"].rsplit("/", 1)[-1]
            todo.extend(item.values())
        elif isinstance(item, list):
            todo.extend(item)


def _inlined(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with every ``$ref`` to a definition that cannot reach itself replaced
    by the definition: jsonschema looks a ``$ref`` up at each use, and a report has
    hundreds of thousands of them, so validating the inlined schema takes about half
    the time. References that recurse (an ``OrderedHeader`` inside another) stay."""
    definitions = schema["definitions"]
    edges = {name: set(_referenced(body)) for name, body in definitions.items()}
    recursive = set()
    for name in definitions:
        seen: set[str] = set()
        todo = list(edges[name])
        while todo:
            other = todo.pop()
            if other == name:
                recursive.add(name)
                break
            if other not in seen and other in edges:
                seen.add(other)
                todo.extend(edges[other])
    done: dict[str, Any] = {}

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str):
                name = ref.rsplit("/", 1)[-1]
                if name in recursive or name not in definitions:
                    return node
                if name not in done:
                    done[name] = inline(definitions[name])
                return done[name]
            return {key: inline(value) for key, value in node.items()}
        if isinstance(node, list):
            return [inline(item) for item in node]
        return node

    root = dict(inline({"$ref": schema["$ref"]}))
    root["definitions"] = {name: inline(definitions[name]) for name in sorted(recursive)}
    return root


@cache
def _validator(name: str) -> Any:
    schema = load_schema(name)
    cls = validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(_inlined(schema), format_checker=FormatChecker())


def depth(document: Any) -> int:
    """How deeply lists and objects nest in ``document`` (a scalar is 0), without recursion."""
    deepest = 0
    todo: deque[tuple[Any, int]] = deque([(document, 0)])
    while todo:
        node, level = todo.pop()
        if isinstance(node, dict):
            children: Iterable[Any] = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        deepest = max(deepest, level + 1)
        todo.extend((child, level + 1) for child in children)
    return deepest


def where(path: Iterable[Any]) -> str:
    """A document path written as ``Election[0].Contest[2].VotesAllowed``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(the document)"


def _shorten(text: str) -> str:
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 1] + "…"


def _branch_type(schema: dict[str, Any], branch: dict[str, Any]) -> str | None:
    ref = branch.get("$ref", "")
    target = schema["definitions"].get(ref.rsplit("/", 1)[-1]) if ref else branch
    enum = (target or {}).get("properties", {}).get("@type", {}).get("enum") or [None]
    return enum[0]


def _explain(error: ValidationError, schema: dict[str, Any]) -> str:
    """One error as ``path: message``, descending into the alternative ``@type`` names."""
    while error.validator in ("oneOf", "anyOf") and error.context:
        instance = error.instance
        branches = error.validator_value
        if isinstance(instance, dict) and isinstance(instance.get("@type"), str):
            types = [_branch_type(schema, b) for b in branches]
            if instance["@type"] not in types:
                allowed = ", ".join(t for t in types if t)
                at = where(list(error.absolute_path) + ["@type"])
                got = instance["@type"]
                return f"{at}: {got!r} is not one of the types allowed here ({allowed})"
            chosen = types.index(instance["@type"])
            inner = [e for e in error.context if e.relative_schema_path[0] == chosen]
            if not inner:
                break
            error = max(inner, key=relevance)
        else:
            error = max(error.context, key=relevance)
    message = error.message
    if error.validator == "pattern" and "T(" in str(error.validator_value):
        # The standard's DateTimeWithZone: say what it wants instead of quoting its regex.
        message = (
            f"{error.instance!r} is not a date and time in whole seconds with its zone "
            "(for example 2026-11-29T20:00:00Z or 2026-11-29T20:00:00+06:00)"
        )
    elif error.validator == "pattern":
        message = f"{error.instance!r} does not have the form the standard requires"
    return f"{where(error.absolute_path)}: {_shorten(message)}"


def validate(document: Any, schema_name: str) -> list[str]:
    """Every way ``document`` breaks the schema, most telling first; [] when it is valid."""
    if depth(document) > MAX_DEPTH:
        return [f"(the document): nested deeper than {MAX_DEPTH} levels"]
    schema = load_schema(schema_name)
    try:
        errors = list(itertools.islice(_validator(schema_name).iter_errors(document), MAX_ERRORS))
        if not errors:
            return []
        # One level at a time: the alternatives below are chosen by _explain, by @type.
        first = max(errors, key=relevance)
        messages = [_explain(first, schema)]
        places = {where(first.absolute_path)}
        for error in errors:
            text = _explain(error, schema)
            place = where(error.absolute_path)
            if error.validator == "format" and place in places:
                continue  # the pattern already said that this date-time is wrong
            places.add(place)
            if text not in messages:
                messages.append(text)
    except RecursionError:
        return ["(the document): nested too deeply to check"]
    if len(messages) > MAX_MESSAGES:
        more = len(messages) - MAX_MESSAGES
        messages = messages[:MAX_MESSAGES] + [f"and {more} more problems"]
    return messages
