"""Wording shared by the protocol checks: key paths and found values as a reader sees them."""

from __future__ import annotations

import json
from typing import Any, Iterable, Mapping


def format_path(path: Iterable[Any]) -> str:
    """``window_presets.liver.window``, ``image_spec[2].value_mm``; the document root is "top level"."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "top level"


def describe_value(value: Any) -> str:
    """How a found value is shown in a message."""
    if value is None:
        return "an empty value"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return repr(value if len(value) <= 60 else value[:57] + "...")
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, Mapping):
        return "a mapping" if value else "an empty mapping"
    if isinstance(value, (list, tuple)):
        return f"a list of {len(value)} item{'s' if len(value) != 1 else ''}" if value else "an empty list"
    return f"{type(value).__name__} {value!s}"


def quoted(values: Iterable[Any]) -> str:
    return ", ".join(repr(value) if isinstance(value, str) else json.dumps(value) for value in values)
