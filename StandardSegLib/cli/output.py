"""Printing results: stable JSON for machines, aligned text for people."""

from __future__ import annotations

import json
import sys
from typing import Any

from StandardSegLib.cli.third_party import pending_warnings
from StandardSegLib.jsonable import to_jsonable


def print_json(value: Any) -> None:
    """Print ``value`` as JSON; a top-level ``warnings`` list also gets the third-party warnings the command
    collected (``StandardSegLib.cli.third_party``), since they are kept off the terminal."""
    document = to_jsonable(value)
    if isinstance(document, dict) and isinstance(document.get("warnings"), list):
        document["warnings"] = document["warnings"] + pending_warnings()
    json.dump(document, sys.stdout, indent=2, allow_nan=False)
    sys.stdout.write("\n")


def print_table(rows: list[tuple[str, ...]], header: tuple[str, ...]) -> None:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows)]
    for row in (header, *rows):
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)).rstrip())
