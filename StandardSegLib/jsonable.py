"""Plain JSON values from what the library computes (numpy scalars and arrays, paths, NaN).

Every JSON the project writes (reports, truth files, CLI output) goes through here, so NaN and infinity
become ``null`` consistently instead of invalid JSON.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any


def to_jsonable(value: Any) -> Any:
    """Convert numpy scalars/arrays, paths and NaN/inf into plain JSON values (NaN/inf become null)."""
    if hasattr(value, "tolist"):  # numpy scalar or array
        value = value.tolist()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(key): to_jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(item) for item in value]
    if isinstance(value, Path):
        return str(value)
    return value
