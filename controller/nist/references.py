"""Checking that every id in a NIST document points at an object of the right kind.

The schemas mark reference fields with ``refTypes`` but JSON Schema does not check
them: a ``GpUnitId`` naming nothing, or naming a party, validates. This module reads
the ``refTypes`` of the schema itself, so every reference field of the standard is
checked, and reports each bad one with the object and the field it is in. It also
requires ``@id``s to be unique; ``ncname_problems`` names those that are no XML
NCName (which the standards' XML form needs, and other tools' JSON often ignores).

Run it on a document that already passed ``schemas.validate``: it relies on each
object's ``@type`` being one the schema knows.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from controller.nist.schemas import load_schema, where


def is_ncname(value: object) -> bool:
    """True for an XML NCName: a letter or ``_``, then letters, digits, ``.``, ``-``, ``_``."""
    if not isinstance(value, str) or not value:
        return False
    if not (value[0].isalpha() or value[0] == "_"):
        return False
    return all(ch.isalnum() or ch in "._-" for ch in value[1:])


def short_type(type_name: str) -> str:
    """``ElectionResults.CandidateContest`` → ``CandidateContest``."""
    return type_name.rsplit(".", 1)[-1]


def objects(document: Any) -> Iterator[tuple[list[Any], dict[str, Any]]]:
    """Every object in ``document`` with its path, parents before children."""
    todo: list[tuple[list[Any], Any]] = [([], document)]
    while todo:
        path, node = todo.pop()
        if isinstance(node, dict):
            yield path, node
            todo.extend((path + [key], value) for key, value in reversed(list(node.items())))
        elif isinstance(node, list):
            todo.extend((path + [i], value) for i, value in reversed(list(enumerate(node))))


def shown(value: object) -> str:
    """``repr(value)``, cut short: a forged id of a megabyte makes no megabyte message."""
    text = repr(value)
    return text if len(text) <= 80 else text[:76] + "...'"


def describe(path: list[Any], obj: dict[str, Any]) -> str:
    """The object at ``path`` for a message: ``Election[0].Contest[1] (CandidateContest 'x')``."""
    kind = short_type(str(obj.get("@type", "object")))
    name = f" {shown(obj['@id'])}" if isinstance(obj.get("@id"), str) else ""
    return f"{where(path)} ({kind}{name})"


def index_ids(document: Any) -> tuple[dict[str, str], list[str]]:
    """``@id`` → ``@type`` of every identified object, and the ids given twice."""
    index: dict[str, str] = {}
    first_at: dict[str, str] = {}
    problems: list[str] = []
    for path, obj in objects(document):
        if "@id" not in obj:
            continue
        oid = obj["@id"]
        here = describe(path, obj)
        if oid in index:
            problems.append(f"{here}.@id: {shown(oid)} is already the @id of {first_at[oid]}")
            continue
        index[oid] = str(obj.get("@type", ""))
        first_at[oid] = here
    return index, problems


def ncname_problems(document: Any) -> list[str]:
    """Every ``@id`` that is no XML NCName: the XML form could not carry it (JSON can)."""
    return [
        f"{describe(path, obj)}.@id: {shown(obj['@id'])} is not an XML NCName "
        "(a letter or '_' first)"
        for path, obj in objects(document)
        if "@id" in obj and not is_ncname(obj["@id"])
    ]


@dataclass(frozen=True)
class BadReference:
    """A reference field naming nothing, or an object of a kind it may not name."""

    owner: str  # the short @type of the object holding the field: "BallotStyle"
    field: str  # the field's name: "GpUnitIds"
    value: str  # the id it names
    found: str | None  # the short @type of what it names; None when it names nothing
    message: str  # the place and what is wrong, for a person


def bad_references(document: Any, schema_name: str) -> list[BadReference]:
    """Every reference in ``document`` that names nothing or an object of the wrong kind."""
    definitions = load_schema(schema_name)["definitions"]
    index, _ = index_ids(document)
    out: list[BadReference] = []
    for path, obj in objects(document):
        definition = definitions.get(str(obj.get("@type", "")))
        if definition is None:
            continue
        owner = short_type(str(obj["@type"]))
        for key, prop in definition.get("properties", {}).items():
            if key not in obj:
                continue
            single = prop.get("refTypes")
            targets = single or prop.get("items", {}).get("refTypes")
            if not targets:
                continue
            values = [obj[key]] if single else obj[key]
            wanted = " or ".join(short_type(t) for t in targets)
            for i, value in enumerate(values):
                field = key if single else f"{key}[{i}]"
                found = index.get(value)
                if found is None:
                    message = (
                        f"{describe(path, obj)}.{field}: {shown(value)} points at nothing "
                        f"(it must name a {wanted})"
                    )
                    out.append(BadReference(owner, key, value, None, message))
                elif found not in targets:
                    message = (
                        f"{describe(path, obj)}.{field}: {shown(value)} is a {short_type(found)}, "
                        f"not a {wanted}"
                    )
                    out.append(BadReference(owner, key, value, short_type(found), message))
    return out


def check_references(document: Any, schema_name: str) -> list[str]:
    """Ids given twice, and every reference that names nothing or the wrong kind of object."""
    _, problems = index_ids(document)
    return problems + [bad.message for bad in bad_references(document, schema_name)]
