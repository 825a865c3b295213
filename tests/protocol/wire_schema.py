"""The AsyncAPI document's payload schemas as validators, and the message types the code uses.

``exchanged_types()`` reads the firmware's and the controller's source (``ast``, not
imports) and returns every message type found where a message type goes: the first
argument of ``send``/``send_durable``/``seal``/``_send``/``_queued``, a comparison
with ``<something>.type``, a key of ``handlers[...]``, a key of a routing table whose
values are ``Route(...)``, and the reply of a ``Route(...)``. A name stands for a
type when it is a constant of ``protocol.messages`` (or ``protocol.blob``'s
``BEGIN``/``CHUNK``/``END``); a literal string stands for itself.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

import jsonschema

from protocol import blob, messages
from protocol.asyncapi import DOCUMENT

ROOT = Path(__file__).resolve().parents[2]
SENDERS = {"send", "send_durable", "seal", "_send", "_queued", "seal_parts"}
CONSTANTS = {name: getattr(messages, name) for name in dir(messages) if name.isupper()}
CONSTANTS.update({"BEGIN": blob.BEGIN, "CHUNK": blob.CHUNK, "END": blob.END})


def document() -> dict[str, Any]:
    """The committed ``docs/asyncapi.json``."""
    return json.loads(DOCUMENT.read_text(encoding="utf-8"))


def validator(mtype: str, doc: dict[str, Any] | None = None) -> jsonschema.Draft7Validator:
    """A validator of the envelope header (``tag`` included) of message ``mtype``."""
    doc = doc or document()
    schema = doc["components"]["messages"][mtype]["payload"]
    if "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return jsonschema.Draft7Validator(schema)


def _value(node: ast.AST) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Name):
        return CONSTANTS.get(node.id)
    if isinstance(node, ast.Attribute):
        return CONSTANTS.get(node.attr)
    return None


def _is_message_type(node: ast.AST) -> bool:
    """``msg.type`` (or ``message.type``, ``reply.type``): the type of a received message."""
    return (isinstance(node, ast.Attribute) and node.attr == "type"
            and getattr(node.value, "id", None) in ("msg", "message", "reply", "m"))


def _is_route(node: ast.AST) -> bool:
    return isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Route"


def _route_types(node: ast.Call) -> list[ast.AST]:
    """A routing row's type (first argument), and any argument naming a message constant
    (its reply); literals elsewhere in the row are roles and labels."""
    found: list[ast.AST] = node.args[:1]
    found += [a for a in node.args[1:] if isinstance(a, (ast.Name, ast.Attribute))]
    found += [k.value for k in node.keywords if k.arg in ("type", "reply")]
    return found


def types_in(source: str) -> set[str]:
    """Message types used in one module's source."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        candidates: list[ast.AST] = []
        if isinstance(node, ast.Call):
            name = getattr(node.func, "attr", None) or getattr(node.func, "id", None)
            if name in SENDERS and node.args:
                # seal_parts(key, dev, dir, seq, type, ...) in protocol.envelope order
                at = 4 if name == "seal_parts" else 0
                if len(node.args) > at:
                    candidates.append(node.args[at])
            if _is_route(node):
                candidates += _route_types(node)
        elif isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            if any(_is_message_type(side) for side in sides):
                for side in sides:
                    if isinstance(side, (ast.Tuple, ast.List, ast.Set)):
                        candidates += side.elts
                    else:
                        candidates.append(side)
        elif isinstance(node, ast.Subscript):
            if getattr(node.value, "attr", None) == "handlers" or getattr(
                    node.value, "id", None) == "handlers":
                candidates.append(node.slice)
        elif isinstance(node, ast.Dict):
            if node.values and all(_is_route(v) for v in node.values):
                candidates += [k for k in node.keys if k is not None]
        for candidate in candidates:
            value = _value(candidate)
            if value is not None:
                found.add(value)
    return found


def exchanged_types(folders: tuple[str, ...] = ("firmware", "controller")) -> dict[str, set[str]]:
    """Message type -> files (relative paths) that use it, over ``folders``."""
    uses: dict[str, set[str]] = {}
    for folder in folders:
        for path in sorted((ROOT / folder).rglob("*.py")):
            for mtype in types_in(path.read_text(encoding="utf-8")):
                uses.setdefault(mtype, set()).add(path.relative_to(ROOT).as_posix())
    return uses
