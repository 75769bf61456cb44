"""Is a parsed protocol document a valid SOP? JSON types, then the JSON Schema, then semantic rules.

1. Only JSON values (YAML can also produce dates, non-text keys and NaN, which have no canonical JSON form
   and so no stable content hash).
2. ``Resources/Schemas/protocol.schema.json`` (JSON Schema draft 2020-12): structure, types, enumerations,
   the keys each image check needs; unknown keys are errors so that typos are caught. jsonschema's errors
   are translated into the project's one-line form.
3. :mod:`StandardSegLib.protocols.semantic_rules`: what the schema cannot express.

Every problem becomes one line ``<key.path[2].x>: expected <what>, found <what>`` prefixed with the file
name; the first problem is raised as ``ProtocolError``, with the count of further ones.
"""

from __future__ import annotations

import datetime as dt
import difflib
import json
import math
from functools import lru_cache
from typing import Any, Iterator, Mapping, Sequence

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match, by_relevance

from StandardSegLib.errors import ProtocolError
from StandardSegLib.protocols.messages import describe_value, format_path, quoted
from StandardSegLib.protocols.semantic_rules import mixed_preset_form_problems, semantic_problems
from StandardSegLib.resources import resource_path

SCHEMA_PARTS = ("Schemas", "protocol.schema.json")

KeyPath = Sequence[Any]


@lru_cache(maxsize=1)
def schema() -> dict[str, Any]:
    """The protocol JSON Schema shipped in ``Resources/Schemas``."""
    return json.loads(resource_path(*SCHEMA_PARTS).read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def _validator() -> Draft202012Validator:
    return Draft202012Validator(schema())


def _resolve(subschema: Any) -> Any:
    """Follow a local ``$ref`` (``#/$defs/name``) for describing an item schema."""
    while isinstance(subschema, Mapping) and "$ref" in subschema and len(subschema) == 1:
        target: Any = schema()
        for part in subschema["$ref"].lstrip("#/").split("/"):
            target = target[part]
        subschema = target
    return subschema


def describe_schema(subschema: Any) -> str:
    """A short phrase for what a schema accepts: "a number > 0", "one of 'fail', 'warn'"..."""
    subschema = _resolve(subschema)
    if not isinstance(subschema, Mapping):
        return "nothing here" if subschema is False else "any value"
    if "title" in subschema:
        return subschema["title"]
    if "const" in subschema:
        return quoted([subschema["const"]])
    if "enum" in subschema:
        return f"one of {quoted(subschema['enum'])}"
    kind = subschema.get("type")
    if isinstance(kind, list):
        return " or ".join(describe_schema({"type": item}) for item in kind)
    if kind in ("number", "integer"):
        noun = "a number" if kind == "number" else "a whole number"
        bounds = [f"{op} {subschema[key]:g}" for key, op in (("exclusiveMinimum", ">"), ("minimum", ">="),
                                                             ("exclusiveMaximum", "<"), ("maximum", "<="))
                  if key in subschema]
        return " ".join([noun, " and ".join(bounds)]).strip()
    if kind == "string":
        return "a non-empty text" if subschema.get("minLength") else "a text"
    if kind == "boolean":
        return "true or false"
    if kind == "object":
        return "a mapping"
    if kind == "array":
        items = describe_schema(subschema.get("items", True))
        low, high = subschema.get("minItems"), subschema.get("maxItems")
        if low is not None and low == high:
            count = f"a list of {low}"
        elif low:
            count = "a non-empty list" if low == 1 else f"a list of at least {low}"
        else:
            count = "a list"
        return f"{count} ({items} each)" if items != "any value" else count
    return "a valid value"


def _schema_message(error: ValidationError) -> str:
    where = format_path(error.absolute_path)
    keyword, instance = error.validator, error.instance
    if "propertyNames" in error.schema_path:  # the instance is a key of the mapping at ``where``
        keys_schema = _resolve(error.schema)
        if isinstance(keys_schema, Mapping) and "enum" in keys_schema:
            return f"{where}: unknown key {instance!r} (allowed: {', '.join(keys_schema['enum'])})"
        return f"{where}: expected keys that are {describe_schema(keys_schema)}, found {describe_value(instance)}"
    if keyword == "required":
        missing = [key for key in error.validator_value if key not in instance]
        return f"{where}: missing required key {missing[0]!r}"
    if keyword == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        unknown = next(key for key in instance if key not in allowed)
        guess = difflib.get_close_matches(unknown, allowed, n=1)
        hint = f"; did you mean {guess[0]!r}?" if guess else ""
        return f"{where}: unknown key {unknown!r} (allowed: {', '.join(allowed)}{hint})"
    if keyword == "uniqueItems":
        repeated = next(item for index, item in enumerate(instance) if item in instance[:index])
        return f"{where}: expected a list without repeats, found {describe_value(repeated)} more than once"
    if keyword == "minProperties":
        entries = "1 entry" if error.validator_value == 1 else f"{error.validator_value} entries"
        return f"{where}: expected at least {entries}, found {describe_value(instance)}"
    if keyword == "type" and error.validator_value == "object":
        return f"{where}: expected a mapping (key: value entries), found {describe_value(instance)}"
    return f"{where}: expected {describe_schema(error.schema)}, found {describe_value(instance)}"


def json_type_problems(value: Any, path: KeyPath = ()) -> Iterator[str]:
    """Values YAML can produce that JSON cannot hold (dates, non-text keys, NaN/infinity)."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                yield (f"{format_path(path)}: expected text keys, found the key {describe_value(key)} "
                       "(put it in quotes)")
            else:
                yield from json_type_problems(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from json_type_problems(item, (*path, index))
    elif isinstance(value, float) and not math.isfinite(value):
        yield f"{format_path(path)}: expected a finite number, found {value!r}"
    elif isinstance(value, (dt.date, dt.datetime, dt.time)):
        yield (f"{format_path(path)}: expected a text, number, list or mapping, found the date {value} "
               "(put it in quotes)")
    elif not isinstance(value, (str, int, float, bool, type(None))):
        yield f"{format_path(path)}: expected a text, number, list or mapping, found {describe_value(value)}"


#: Error ranking: jsonschema's own (shallow errors first), except that an unknown key beats a missing key
#: in the same mapping, because a typo ("windw") explains the missing key ("window").
_RELEVANCE = by_relevance(strong=frozenset({"additionalProperties"}))


def schema_problems(document: Any) -> list[str]:
    """Schema violations, the most relevant first (jsonschema's ``best_match``)."""
    errors = list(_validator().iter_errors(document))
    if not errors:
        return []
    best = best_match(errors, key=_RELEVANCE)
    return [_schema_message(best)] + [_schema_message(error) for error in errors if error is not best]


def validate_document(document: Any, file_label: str) -> None:
    """Raise ``ProtocolError`` ("<file>: <key.path>: expected ..., found ...") for the first problem."""
    problems = (list(json_type_problems(document)) or list(mixed_preset_form_problems(document))
                or schema_problems(document) or semantic_problems(document))
    if problems:
        more = f" (and {len(problems) - 1} more problem{'s' if len(problems) > 2 else ''})" if len(problems) > 1 else ""
        raise ProtocolError(f"{file_label}: {problems[0]}{more}")
