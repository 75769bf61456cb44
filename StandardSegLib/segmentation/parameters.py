"""Method parameters: protocol defaults, then user overrides, into a typed frozen dataclass.

Each method declares its parameters as a frozen dataclass (field types: float, int, bool, str, their
Optional forms, or tuple[str, ...]). Values come first from the protocol (``segmentation.methods.<id>``),
then from the user (``--param KEY=VALUE`` strings or Python values). Unknown keys and missing required
values are errors that list what is known, so a typo never silently falls back to a default.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from typing import Any, Mapping, Optional, TypeVar

from StandardSegLib.errors import InputError

T = TypeVar("T")
_TRUE, _FALSE = {"true", "yes", "1", "on"}, {"false", "no", "0", "off"}


@dataclasses.dataclass(frozen=True)
class CommonOptions:
    """Options every method accepts: the VOI margin and the post-processing chain (in this order).

    ``voi_margin_mm``: margin kept between the result and the faces of the seed VOI (10 mm: the example
    value of the fdg-pet-ct-oncology protocol). ``keep_connected``: keep only components touching a seed.
    ``fill_holes``: fill cavities not connected to the VOI border. ``margin_mm``: grow (> 0) or shrink
    (< 0) by an exact Euclidean distance. ``smoothing_mm``: Gaussian sigma of a smooth-and-rethreshold
    step (0 = off).
    """

    voi_margin_mm: float = 10.0
    keep_connected: bool = True
    fill_holes: bool = True
    margin_mm: float = 0.0
    smoothing_mm: float = 0.0

    def __post_init__(self) -> None:
        if self.voi_margin_mm < 0:
            raise InputError(f"parameter voi_margin_mm: expected >= 0 mm, found {self.voi_margin_mm:g}")
        if self.smoothing_mm < 0:
            raise InputError(f"parameter smoothing_mm: expected >= 0 mm, found {self.smoothing_mm:g}")


def split_parameters(method_id: str, method_type: type, values: Mapping[str, Any]) -> tuple[dict, dict]:
    """(method values, common values) from one mapping; unknown keys raise InputError listing both sets."""
    method_names = {f.name for f in dataclasses.fields(method_type)}
    common_names = {f.name for f in dataclasses.fields(CommonOptions)}
    unknown = sorted(set(values) - method_names - common_names)
    if unknown:
        raise InputError(f"method {method_id}: unknown parameter(s) {', '.join(unknown)} (method parameters: "
                         f"{', '.join(sorted(method_names)) or 'none'}; common: {', '.join(sorted(common_names))})")
    return ({k: v for k, v in values.items() if k in method_names},
            {k: v for k, v in values.items() if k in common_names})


def build_parameters(cls: type[T], method_id: str, values: Mapping[str, Any]) -> T:
    """An instance of dataclass ``cls`` from ``values`` (strings are converted to the field types)."""
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for item in dataclasses.fields(cls):
        if item.name in values:
            kwargs[item.name] = _convert(method_id, item.name, hints[item.name], values[item.name])
        elif item.default is dataclasses.MISSING and item.default_factory is dataclasses.MISSING:
            raise InputError(f"method {method_id}: parameter '{item.name}' is required and has no default "
                             f"(set it in the protocol's segmentation.methods.{method_id} or give --param "
                             f"{item.name}=VALUE)")
    return cls(**kwargs)


def parse_assignments(texts: Optional[list[str]]) -> dict[str, str]:
    """``["KEY=VALUE", ...]`` (the CLI's --param) into a dict; InputError on a malformed item."""
    result: dict[str, str] = {}
    for text in texts or ():
        key, found, value = text.partition("=")
        if not found or not key.strip():
            raise InputError(f"--param '{text}': expected KEY=VALUE")
        result[key.strip()] = value.strip()
    return result


def _convert(method_id: str, name: str, kind: Any, value: Any) -> Any:
    where = f"method {method_id}: parameter {name}"
    origin, arguments = typing.get_origin(kind), typing.get_args(kind)
    if origin is typing.Union and type(None) in arguments:
        if value is None or (isinstance(value, str) and value.strip().lower() in ("", "none", "null")):
            return None
        kind = next(a for a in arguments if a is not type(None))
        origin, arguments = typing.get_origin(kind), typing.get_args(kind)
    if origin is tuple:
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, (list, tuple)):
            raise InputError(f"{where}: expected a list, found {value!r}")
        return tuple(str(item).strip() for item in items if str(item).strip())
    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        raise InputError(f"{where}: expected true or false, found {value!r}")
    if kind in (int, float):
        try:
            number = kind(value) if not isinstance(value, bool) else None
        except (TypeError, ValueError):
            number = None
        if number is None or (kind is float and math.isnan(number)):
            raise InputError(f"{where}: expected {'a whole number' if kind is int else 'a number'}, found {value!r}")
        return number
    return str(value)
